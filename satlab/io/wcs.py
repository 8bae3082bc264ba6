"""Pointing, roll and pixel scale from CD matrices, and back.

satlab keeps a frame's orientation as three numbers: the ICRS pointing of the image
centre (``ra``, ``dec``), ``roll`` (position angle of the detector +y axis, east of north,
deg) and ``pixel_scale`` (arcsec/px), plus the dataset-wide ``parity`` (sign of det CD).
These functions are vectorised over frames (a CHEOPS visit has thousands of per-frame
WCS rows), which astropy's one-WCS-at-a-time objects are not; :func:`frame_wcs` rebuilds
a real :class:`astropy.wcs.WCS` for any single frame, and the tests check one against
the other.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cd_to_orientation", "frame_wcs", "orientation_to_cd", "tan_pixel_to_world"]


def cd_to_orientation(cd11, cd12, cd21, cd22):
    """Roll [deg], pixel scale [arcsec/px] and parity from CD matrix elements [deg/px]."""
    cd11, cd12, cd21, cd22 = (np.asarray(v, dtype=float) for v in (cd11, cd12, cd21, cd22))
    roll = np.degrees(np.arctan2(cd12, cd22)) % 360.0
    det = cd11 * cd22 - cd12 * cd21
    scale = np.sqrt(np.abs(det)) * 3600.0
    parity = np.where(det < 0, -1, 1)
    return roll, scale, parity


def orientation_to_cd(roll_deg, pixel_scale_arcsec, parity=-1):
    """CD matrix elements (cd11, cd12, cd21, cd22) [deg/px]; inverts :func:`cd_to_orientation`."""
    r = np.radians(np.asarray(roll_deg, dtype=float))
    s = np.asarray(pixel_scale_arcsec, dtype=float) / 3600.0
    c, n = np.cos(r), np.sin(r)
    if parity < 0:  # x grows to the west at roll 0: the usual sky view
        return -s * c, s * n, s * n, s * c
    return s * c, s * n, -s * n, s * c


def tan_pixel_to_world(px, py, crpix1, crpix2, crval1, crval2, cd11, cd12, cd21, cd22):
    """Gnomonic (TAN) pixel -> ICRS (ra, dec) [deg], vectorised over frames.

    Pixel coordinates are 0-based (numpy), CRPIX 1-based (FITS). The inverse gnomonic
    projection of a plane offset (xi east, eta north) is the point at position angle
    atan2(xi, eta) and angular distance atan(|(xi, eta)|) from CRVAL.
    """
    dx = np.asarray(px, dtype=float) + 1.0 - crpix1
    dy = np.asarray(py, dtype=float) + 1.0 - crpix2
    xi = np.radians(cd11 * dx + cd12 * dy)
    eta = np.radians(cd21 * dx + cd22 * dy)
    ra0, dec0 = np.radians(crval1), np.radians(crval2)
    # standard inverse gnomonic formulae (Calabretta & Greisen 2002, TAN)
    denom = np.cos(dec0) - eta * np.sin(dec0)
    ra = ra0 + np.arctan2(xi, denom)
    dec = np.arctan2(np.sin(dec0) + eta * np.cos(dec0), np.hypot(xi, denom))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def frame_wcs(frames, index: int = 0):
    """A TAN :class:`astropy.wcs.WCS` for one frame from its ``ra``/``dec``/``roll``.

    Raises
    ------
    satlab.errors.FrameError
        If the frames carry no pointing or no ``pixel_scale`` attr.
    """
    from astropy.wcs import WCS

    from ..errors import FrameError

    missing = [c for c in ("ra", "dec", "roll") if c not in frames.coords]
    if missing or "pixel_scale" not in frames.attrs:
        raise FrameError(
            f"frames: a WCS needs coords ra, dec, roll and attr pixel_scale; missing "
            f"{missing + ([] if 'pixel_scale' in frames.attrs else ['pixel_scale'])}"
        )
    f = frames.isel(frame=index)
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crpix = [(frames.sizes["x"] + 1) / 2.0, (frames.sizes["y"] + 1) / 2.0]
    w.wcs.crval = [float(f["ra"]), float(f["dec"])]
    cd11, cd12, cd21, cd22 = orientation_to_cd(
        float(f["roll"]), float(frames.attrs["pixel_scale"]), int(frames.attrs.get("parity", -1))
    )
    w.wcs.cd = [[cd11, cd12], [cd21, cd22]]
    return w
