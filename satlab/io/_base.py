"""What every reader returns for one file: shapes and per-frame metadata, no pixels."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, MissingFileError


@dataclass
class FrameFile:
    """One scanned file: enough to build a lazy Dataset without reading a pixel.

    ``read(path)`` returns the float32 ``(frame, y, x)`` pixels, invalid pixels NaN.
    """

    path: Path
    shape: tuple[int, int, int]
    coords: dict[str, np.ndarray]
    attrs: dict
    valid: np.ndarray
    read: Callable[[Path], np.ndarray]
    notes: list[str] = field(default_factory=list)


def open_fits(path: Path):
    """Open a FITS file lazily, turning astropy's generic errors into ones that name it."""
    from astropy.io import fits

    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdul = fits.open(path, memmap=True, lazy_load_hdus=False)
        except (OSError, ValueError, TypeError) as exc:
            raise FileFormatError(f"{path}: not a readable FITS file ({exc})") from exc
    for w in caught:
        if "truncated" in str(w.message):
            hdul.close()
            raise FileFormatError(f"{path}: truncated FITS file ({w.message})")
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return hdul


def check_complete(path: Path, hdu, label: str) -> None:
    """Raise if an HDU's data run past the end of the file (a truncated download)."""
    info = hdu.fileinfo()
    if info is None:
        return
    nbytes = abs(int(hdu.header.get("BITPIX", 8))) // 8
    for axis in range(1, int(hdu.header.get("NAXIS", 0)) + 1):
        nbytes *= int(hdu.header.get(f"NAXIS{axis}", 0))
    if info["datLoc"] + nbytes > path.stat().st_size:
        raise FileFormatError(
            f"{path}: HDU {label} is truncated: expected {nbytes} data bytes from offset "
            f"{info['datLoc']}, the file has {path.stat().st_size} bytes"
        )
