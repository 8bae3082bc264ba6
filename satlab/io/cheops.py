"""CHEOPS Level-1 SubArray products (``CH_PR*_SCI_COR_SubArray_V*.fits``), read and write.

HDUs are found by EXTNAME, never by index: the cube ``SCI_COR_SubArray`` (also ``CAL`` /
``RAW``; n x 200 x 200, big-endian float64) and the table ``SCI_COR_ImageMetadata`` with
``UTC_TIME`` / ``MJD_TIME`` / ``BJD_TIME`` (mid-exposure), the per-frame WCS columns
``CRPIX1/2``, ``CRVAL1/2``, ``CD1_1``..``CD2_2`` (pointing and roll come from these; there is
no ``ROLL_ANGLE`` column), ``LOS_TO_EARTH_ANGLE`` and ``LOS_TO_SUN_ANGLE``.

Each frame's exposure is ``TEXPTIME`` (the on-board co-add of ``NEXP`` exposures of
``EXPTIME`` s) when present, else ``EXPTIME * NEXP``. Pixels outside the 200-px circular
crop (0 or NaN in real files) become NaN and ``valid`` is the crop.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, FrameError, InputError
from ..frames import circular_footprint
from ._base import FrameFile, check_complete, open_fits
from .wcs import cd_to_orientation, orientation_to_cd, tan_pixel_to_world

__all__ = ["FILE_GLOB", "cheops_filename", "is_cheops", "scan_cheops", "write_cheops_subarray"]

FILE_GLOB = "CH_PR*_SCI_COR_SubArray_V*.fits"
_CUBE = re.compile(r"^SCI_(COR|CAL|RAW)_SUBARRAY$", re.IGNORECASE)
_WCS_COLS = ("CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CD1_1", "CD1_2", "CD2_1", "CD2_2")
_HEADER_ATTRS = {
    "TARGNAME": "target_name",
    "RA_TARG": "ra_targ",
    "DEC_TARG": "dec_targ",
    "MAG_G": "mag_g",
    "MAG_CHPS": "mag_chps",
    "NEXP": "nexp",
    "EXPTIME": "exptime_single",
    "TEXPTIME": "texptime",
}


def is_cheops(path: Path, hdul=None) -> bool:
    """True if the file name or any EXTNAME marks a CHEOPS SubArray product."""
    if re.search(r"SCI_(COR|CAL|RAW)_SubArray", path.name, re.IGNORECASE):
        return True
    return hdul is not None and any(_CUBE.match(h.name or "") for h in hdul)


def _find(hdul, path: Path, kind: str):
    for hdu in hdul:
        if _CUBE.match(hdu.name or ""):
            level = _CUBE.match(hdu.name).group(1).upper()
            if kind == "cube":
                return hdu
            name = f"SCI_{level}_IMAGEMETADATA"
            if name in hdul:
                return hdul[name]
            raise FileFormatError(
                f"{path}: extension SCI_{level}_ImageMetadata not found (HDUs: "
                f"{[h.name for h in hdul]}); it holds the per-frame times and WCS"
            )
    raise FileFormatError(
        f"{path}: no SCI_COR_SubArray / SCI_CAL_SubArray / SCI_RAW_SubArray extension "
        f"(HDUs: {[h.name for h in hdul]})"
    )


def _times(path: Path, meta, extname: str) -> np.ndarray:
    from astropy.time import Time

    names = {c.upper() for c in meta.columns.names}
    if "UTC_TIME" in names:
        return Time(np.char.strip(np.asarray(meta.data["UTC_TIME"]).astype(str)), scale="utc")
    if "MJD_TIME" in names:
        return Time(np.asarray(meta.data["MJD_TIME"], dtype=float), format="mjd", scale="utc")
    raise FileFormatError(
        f"{path}: extension {extname} has no UTC_TIME or MJD_TIME column (found "
        f"{sorted(names)}); satlab needs mid-exposure UTC times per frame"
    )


def _read_cube(path: Path, extname: str, valid: np.ndarray) -> np.ndarray:
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdul:
        out = np.array(hdul[extname].data, dtype=np.float32)  # big-endian f64 -> native f32
    out[:, ~valid] = np.nan
    out[~np.isfinite(out)] = np.nan
    return out


def scan_cheops(path: Path) -> FrameFile:
    """Scan a CHEOPS SubArray file: headers and the metadata table, no pixels."""
    with open_fits(path) as hdul:
        cube = _find(hdul, path, "cube")
        meta = _find(hdul, path, "meta")
        check_complete(path, cube, cube.name)
        naxis = int(cube.header.get("NAXIS", 0))
        if naxis != 3:
            raise FrameError(
                f"{path}: extension {cube.name} has {naxis} axes; expected a (frame, y, x) cube"
            )
        n, ny, nx = (int(cube.header[f"NAXIS{k}"]) for k in (3, 2, 1))
        if len(meta.data) != n:
            raise FileFormatError(
                f"{path}: extension {meta.name} has {len(meta.data)} rows for {n} frames in "
                f"{cube.name}"
            )
        time = _times(path, meta, meta.name)
        names = {c.upper() for c in meta.columns.names}
        header = {**hdul[0].header, **cube.header}
        attrs = {"instrument": "CHEOPS", "source": str(path)}
        for key, name in _HEADER_ATTRS.items():
            if key in header:
                value = header[key]
                attrs[name] = value.strip() if isinstance(value, str) else value
        exptime = _exptime(path, header)
        coords = {"time": time.datetime64, "exptime": np.full(n, exptime)}
        if "BJD_TIME" in names:
            coords["bjd_time"] = np.asarray(meta.data["BJD_TIME"], dtype=float)
        for col in ("LOS_TO_EARTH_ANGLE", "LOS_TO_SUN_ANGLE"):
            if col in names:
                coords[col.lower()] = np.asarray(meta.data[col], dtype=float)
        if all(c in names for c in _WCS_COLS):
            w = {c: np.asarray(meta.data[c], dtype=float) for c in _WCS_COLS}
            ra, dec = tan_pixel_to_world((nx - 1) / 2.0, (ny - 1) / 2.0, *(w[c] for c in _WCS_COLS))
            roll, scale, parity = cd_to_orientation(w["CD1_1"], w["CD1_2"], w["CD2_1"], w["CD2_2"])
            coords.update(ra=ra, dec=dec, roll=roll)
            attrs["pixel_scale"] = float(np.median(scale))
            attrs["parity"] = int(np.sign(np.median(parity)))
        valid = circular_footprint((ny, nx))
        extname = cube.name
    return FrameFile(
        path, (n, ny, nx), coords, attrs, valid, lambda p: _read_cube(p, extname, valid)
    )


def _exptime(path: Path, header) -> float:
    if "TEXPTIME" in header:
        return float(header["TEXPTIME"])
    if "EXPTIME" in header:
        return float(header["EXPTIME"]) * float(header.get("NEXP", 1))
    raise FileFormatError(f"{path}: no TEXPTIME or EXPTIME keyword; expected the exposure [s]")


def cheops_filename(
    time, *, programme: str = "100001", target: str = "000001", version: str = "0300"
) -> str:
    """A CHEOPS-style product name:
    ``CH_PR<prog>_TG<target>_TU<start>_SCI_COR_SubArray_V<ver>.fits``."""
    import pandas as pd

    stamp = pd.Timestamp(time).strftime("%Y-%m-%dT%H-%M-%S")
    return f"CH_PR{programme}_TG{target}_TU{stamp}_SCI_COR_SubArray_V{version}.fits"


def write_cheops_subarray(
    path,
    flux,
    time,
    *,
    ra,
    dec,
    roll,
    exptime_single: float,
    nexp: int = 1,
    pixel_scale: float = 1.0,
    parity: int = -1,
    target_name: str = "SIMULATED",
    ra_targ: float | None = None,
    dec_targ: float | None = None,
    mag_g: float | None = None,
    mag_chps: float | None = None,
    los_to_earth_angle=None,
    los_to_sun_angle=None,
    outside_value: float = 0.0,
    level: str = "COR",
    overwrite: bool = False,
) -> Path:
    """Write a CHEOPS-layout SubArray file with the real extension and column names.

    Parameters
    ----------
    flux : array (n, ny, nx)
        Pixel values; written big-endian float64 as in DRP products.
    time : array of datetime64 or astropy Time
        Mid-exposure UTC per frame.
    ra, dec, roll : float or array (n,)
        Pointing of the image centre and roll [deg] per frame.
    exptime_single, nexp
        Individual exposure [s] and number co-added on board; ``TEXPTIME`` is their product.
    outside_value : float
        Value outside the circular crop (real products use 0 or NaN).
    """
    from astropy.io import fits
    from astropy.time import Time

    flux = np.asarray(flux, dtype=">f8")
    if flux.ndim != 3:
        raise InputError(f"flux: expected (frame, y, x), got shape {flux.shape}")
    if exptime_single <= 0 or nexp < 1:
        raise InputError(
            f"exptime_single/nexp: expected > 0 and >= 1, got {exptime_single}, {nexp}"
        )
    n, ny, nx = flux.shape
    flux = flux.copy()
    flux[:, ~circular_footprint((ny, nx))] = outside_value
    t = Time(time, scale="utc") if not isinstance(time, Time) else time.utc
    if t.shape != (n,):
        raise InputError(f"time: expected {n} values, got shape {t.shape}")
    ra, dec, roll = (np.broadcast_to(np.asarray(v, dtype=float), (n,)) for v in (ra, dec, roll))
    cd11, cd12, cd21, cd22 = orientation_to_cd(roll, pixel_scale, parity)
    cols = [
        fits.Column("UTC_TIME", "26A", array=np.asarray(t.isot)),
        fits.Column("MJD_TIME", "D", unit="day", array=t.mjd),
        fits.Column("BJD_TIME", "D", unit="day", array=t.tdb.jd),
        fits.Column("CRPIX1", "D", array=np.full(n, (nx + 1) / 2.0)),
        fits.Column("CRPIX2", "D", array=np.full(n, (ny + 1) / 2.0)),
        fits.Column("CRVAL1", "D", unit="deg", array=ra),
        fits.Column("CRVAL2", "D", unit="deg", array=dec),
        fits.Column("CD1_1", "D", array=np.broadcast_to(cd11, (n,))),
        fits.Column("CD1_2", "D", array=np.broadcast_to(cd12, (n,))),
        fits.Column("CD2_1", "D", array=np.broadcast_to(cd21, (n,))),
        fits.Column("CD2_2", "D", array=np.broadcast_to(cd22, (n,))),
    ]
    for name, values in (
        ("LOS_TO_EARTH_ANGLE", los_to_earth_angle),
        ("LOS_TO_SUN_ANGLE", los_to_sun_angle),
    ):
        if values is not None:
            cols.append(fits.Column(name, "D", unit="deg", array=np.broadcast_to(values, (n,))))
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "CHEOPS"
    primary.header["ORIGIN"] = "satlab"
    cube = fits.ImageHDU(flux, name=f"SCI_{level}_SubArray")
    h = cube.header
    h["TARGNAME"] = target_name
    h["RA_TARG"] = float(ra[0] if ra_targ is None else ra_targ)
    h["DEC_TARG"] = float(dec[0] if dec_targ is None else dec_targ)
    h["EXPTIME"] = (float(exptime_single), "[s] individual exposure")
    h["NEXP"] = (int(nexp), "exposures co-added per image")
    h["TEXPTIME"] = (float(exptime_single) * int(nexp), "[s] total exposure per image")
    for key, value in (("MAG_G", mag_g), ("MAG_CHPS", mag_chps)):
        if value is not None:
            h[key] = float(value)
    meta = fits.BinTableHDU.from_columns(cols, name=f"SCI_{level}_ImageMetadata")
    path = Path(path)
    fits.HDUList([primary, cube, meta]).writeto(path, overwrite=overwrite)
    return path
