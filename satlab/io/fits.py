"""Generic FITS images and cubes, and satlab's own FITS cube export."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, FrameError, SatlabWarning
from ._base import FrameFile, check_complete, open_fits

__all__ = ["scan_fits", "write_fits"]

FRAMES_EXT = "FRAMES"  # satlab's per-frame table in exported cubes
VALID_EXT = "VALID"


def _image_hdu(path: Path, hdul):
    for i, hdu in enumerate(hdul):
        if hdu.is_image and int(hdu.header.get("NAXIS", 0)) > 0:
            return i, hdu
    raise FileFormatError(f"{path}: no image HDU with data (HDUs: {[h.name for h in hdul]})")


def _header_times(path: Path, header, n: int, exptime: float):
    """Mid-exposure UTC times from DATE-AVG, DATE-OBS or MJD-OBS (+ EXPTIME / 2)."""
    from astropy.time import Time, TimeDelta

    half = 0.0 if not np.isfinite(exptime) else exptime / 2.0
    t0 = None
    try:
        if "DATE-AVG" in header:
            t0, half = Time(header["DATE-AVG"], scale="utc"), 0.0
        elif "DATE-OBS" in header:
            t0 = Time(header["DATE-OBS"], scale="utc")
        elif "MJD-AVG" in header:
            t0, half = Time(float(header["MJD-AVG"]), format="mjd", scale="utc"), 0.0
        elif "MJD-OBS" in header:
            t0 = Time(float(header["MJD-OBS"]), format="mjd", scale="utc")
    except ValueError as exc:
        raise FileFormatError(f"{path}: unreadable time keyword ({exc})") from exc
    if t0 is None:
        return None
    step = exptime if np.isfinite(exptime) else 0.0
    offsets = half + step * np.arange(n)
    if n > 1:
        warnings.warn(
            f"{path}: a {n}-frame cube with one start time; frames are assumed back to back "
            f"({step} s apart)",
            SatlabWarning,
            stacklevel=4,
        )
    return (t0 + TimeDelta(offsets, format="sec")).utc.datetime64


def _header_pointing(header, ny: int, nx: int, n: int) -> tuple[dict, dict]:
    """ra/dec of the image centre, roll and pixel scale from a celestial WCS, if any."""
    from astropy.wcs import WCS, FITSFixedWarning

    from .wcs import cd_to_orientation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(header).celestial
        except Exception:  # noqa: BLE001 - a broken WCS means no pointing, not no frames
            return {}, {}
    if not wcs.has_celestial or wcs.naxis != 2:
        return {}, {}
    ra, dec = wcs.all_pix2world([[(nx - 1) / 2.0, (ny - 1) / 2.0]], 0)[0]
    m = wcs.pixel_scale_matrix
    roll, scale, parity = cd_to_orientation(m[0, 0], m[0, 1], m[1, 0], m[1, 1])
    coords = {"ra": np.full(n, ra), "dec": np.full(n, dec), "roll": np.full(n, float(roll))}
    return coords, {"pixel_scale": float(scale), "parity": int(parity)}


def _read_image(path: Path, index: int) -> np.ndarray:
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdul:
        data = hdul[index].data
        out = np.array(data, dtype=np.float32)  # native byte order, BSCALE/BZERO applied
    if out.ndim == 2:
        out = out[None]
    out[~np.isfinite(out)] = np.nan
    return out


def scan_fits(path: Path) -> FrameFile:
    """Scan a FITS image or cube (primary or first image HDU), reading no pixels."""
    with open_fits(path) as hdul:
        index, hdu = _image_hdu(path, hdul)
        label = f"{index} ({hdu.name or 'PRIMARY'})"
        check_complete(path, hdu, label)
        naxis = int(hdu.header["NAXIS"])
        if naxis not in (2, 3):
            raise FrameError(
                f"{path}: HDU {label} has {naxis} axes; expected a 2-D image or a "
                "3-D (frame, y, x) cube"
            )
        shape = tuple(int(hdu.header[f"NAXIS{k}"]) for k in range(naxis, 0, -1))
        n, ny, nx = (1, *shape) if naxis == 2 else shape
        header = hdu.header
        attrs = {"instrument": str(header.get("INSTRUME", "unknown")).strip() or "unknown"}
        if FRAMES_EXT in hdul:
            coords, extra = _satlab_table(path, hdul, n)
            attrs.update(extra)
            valid = (
                np.asarray(hdul[VALID_EXT].data, dtype=bool)
                if VALID_EXT in hdul
                else np.ones((ny, nx), bool)
            )
        else:
            exptime = float(header.get("EXPTIME", header.get("EXPOSURE", np.nan)))
            times = _header_times(path, header, n, exptime)
            notes = [] if times is not None else ["no DATE-AVG/DATE-OBS/MJD-OBS: time is NaT"]
            coords = {"exptime": np.full(n, exptime)}
            if times is not None:
                coords["time"] = times
            pointing, extra = _header_pointing(header, ny, nx, n)
            coords.update(pointing)
            attrs.update(extra)
            valid = np.ones((ny, nx), bool)
            for key, name in (("GAIN", "gain"), ("MAGZERO", "zero_point")):
                if key in header:
                    attrs[name] = float(header[key])
            return FrameFile(
                path, (n, ny, nx), coords, attrs, valid, lambda p: _read_image(p, index), notes
            )
    return FrameFile(path, (n, ny, nx), coords, attrs, valid, lambda p: _read_image(p, index))


def _satlab_table(path: Path, hdul, n: int) -> tuple[dict, dict]:
    table = hdul[FRAMES_EXT].data
    if len(table) != n:
        raise FileFormatError(
            f"{path}: HDU {FRAMES_EXT} has {len(table)} rows for {n} frames in the cube"
        )
    coords = {
        "time": np.array(table["TIME"], dtype="datetime64[ns]"),
        "exptime": np.asarray(table["EXPTIME"], dtype=float),
    }
    for col in ("RA", "DEC", "ROLL"):
        values = np.asarray(table[col], dtype=float)
        if np.isfinite(values).any():
            coords[col.lower()] = values
    attrs = json.loads(hdul[FRAMES_EXT].header.get("SLATTRS", "{}"))
    return coords, attrs


def write_fits(frames, path, *, overwrite: bool = False) -> Path:
    """Write frames as one FITS cube that :func:`satlab.open_frames` reads back exactly.

    Layout: primary HDU the float32 ``(frame, y, x)`` cube (NaN kept); ``FRAMES`` binary
    table with ``TIME`` (ISO UTC, mid-exposure), ``EXPTIME`` [s], ``RA``, ``DEC``, ``ROLL``
    [deg] per frame and the Dataset attrs as JSON in header card ``SLATTRS``; ``VALID``
    uint8 footprint image.
    """
    from astropy.io import fits

    from ..frames import as_frames

    ds = as_frames(frames)
    path = Path(path)
    n = ds.sizes["frame"]
    primary = fits.PrimaryHDU(np.asarray(ds["flux"].values, dtype=np.float32))
    primary.header["INSTRUME"] = str(ds.attrs.get("instrument", "unknown"))
    primary.header["ORIGIN"] = "satlab"
    times = ds["time"].values.astype("datetime64[ns]").astype(str)
    cols = [
        fits.Column("TIME", "29A", array=times),
        fits.Column("EXPTIME", "D", unit="s", array=ds["exptime"].values),
    ]
    for name in ("ra", "dec", "roll"):
        values = ds[name].values if name in ds.coords else np.full(n, np.nan)
        cols.append(fits.Column(name.upper(), "D", unit="deg", array=values))
    table = fits.BinTableHDU.from_columns(cols, name=FRAMES_EXT)
    table.header["SLATTRS"] = json.dumps(_jsonable(ds.attrs))
    valid = fits.ImageHDU(ds["valid"].values.astype(np.uint8), name=VALID_EXT)
    fits.HDUList([primary, table, valid]).writeto(path, overwrite=overwrite)
    return path


def _jsonable(attrs: dict) -> dict:
    out = {}
    for key, value in attrs.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
    return out
