"""Archive loading: FITS images and cubes, CHEOPS SubArray products, PNG/TIFF/JPEG, Zarr.

:func:`open_frames` is the one entry. A single file loads into memory (unless ``chunks``
is given); a glob, a directory or a list of several files becomes one lazy, dask-backed
Dataset along ``frame`` (one chunk per file), sorted by time, whose pixels are read only
when computed. Per-file scalar metadata that differ between files (a CHEOPS visit's target
name and magnitude, say) become per-frame coords; a ``file`` coord names each frame's file.
"""

from __future__ import annotations

import glob as _glob
import os
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import FrameError, InputError, MissingFileError, OutputExistsError, SatlabWarning
from ..frames import FRAME_DIMS, as_frames, warn_non_finite
from ._base import FrameFile, open_fits
from .cheops import is_cheops, scan_cheops, write_cheops_subarray
from .fits import scan_fits, write_fits
from .images import IMAGE_SUFFIXES, scan_image

__all__ = ["open_frames", "scan", "write_cheops_subarray", "write_fits", "write_zarr"]

_FITS_SUFFIXES = {".fits", ".fit", ".fts", ".fits.gz", ".fit.gz"}
INSTRUMENTS = ("cheops", "fits", "image")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fits.gz" if name.endswith(".fits.gz") else path.suffix.lower()


def _is_zarr(path: Path) -> bool:
    return path.is_dir() and (
        path.suffix == ".zarr" or (path / "zarr.json").exists() or (path / ".zgroup").exists()
    )


def _resolve(path_or_glob) -> list[Path]:
    if isinstance(path_or_glob, (list, tuple)):
        paths = [Path(p) for p in path_or_glob]
        if not paths:
            raise MissingFileError("open_frames: an empty list of files")
        return paths
    text = os.fspath(path_or_glob)
    path = Path(text).expanduser()
    if path.is_dir() and not _is_zarr(path):
        paths = sorted(
            p
            for p in path.iterdir()
            if p.is_file() and _suffix(p) in _FITS_SUFFIXES | IMAGE_SUFFIXES
        )
        if not paths:
            raise MissingFileError(f"{path}: directory holds no FITS or image files")
        return paths
    if any(ch in text for ch in "*?["):
        paths = sorted(Path(p) for p in _glob.glob(os.path.expanduser(text)))
        if not paths:
            raise MissingFileError(f"{text}: the glob matched no files")
        return paths
    if not path.exists():
        raise MissingFileError(f"{path}: no such file or directory")
    return [path]


def scan(path: Path, *, instrument: str | None = None) -> FrameFile:
    """Scan one file with the reader its format (or ``instrument``) calls for."""
    if instrument not in (None, *INSTRUMENTS):
        raise InputError(f"instrument: expected one of {INSTRUMENTS} or None, got {instrument!r}")
    suffix = _suffix(path)
    if instrument == "image" or (instrument is None and suffix in IMAGE_SUFFIXES):
        return scan_image(path)
    if instrument == "cheops":
        return scan_cheops(path)
    if instrument is None and is_cheops(path):
        return scan_cheops(path)
    if instrument is None:
        with open_fits(path) as hdul:
            if is_cheops(path, [h.name for h in hdul]):
                return scan_cheops(path)
    return scan_fits(path)


def _check_shapes(files: list[FrameFile]) -> None:
    first = files[0]
    for f in files[1:]:
        if f.shape[1:] != first.shape[1:]:
            raise FrameError(
                f"mixed frame shapes: {first.path} has {first.shape[1:]} (y, x) but {f.path} "
                f"has {f.shape[1:]}; open them separately or crop to one shape"
            )


def _coords(files: list[FrameFile]) -> dict[str, np.ndarray]:
    keys = dict.fromkeys(["time", *(k for f in files for k in f.coords)])
    out = {}
    for key in keys:
        parts = []
        for f in files:
            n = f.shape[0]
            if key in f.coords:
                parts.append(np.asarray(f.coords[key]))
            elif key == "time":
                parts.append(np.full(n, np.datetime64("NaT", "ns")))
            else:
                parts.append(np.full(n, np.nan))
        out[key] = np.concatenate(parts)
    # per-file scalars that differ between files become per-frame coords
    shared = set(files[0].attrs).intersection(*(f.attrs for f in files[1:]))
    for key in set().union(*(f.attrs for f in files)) - {"source"}:
        values = [f.attrs.get(key) for f in files]
        if key not in shared or any(v != values[0] for v in values[1:]):
            out[key] = np.concatenate(
                [np.full(f.shape[0], f.attrs.get(key), dtype=object) for f in files]
            )
            if all(isinstance(v, (int, float)) for v in values):
                out[key] = out[key].astype(float)
            else:
                out[key] = out[key].astype(str)
    out["file"] = np.concatenate([np.full(f.shape[0], f.path.name) for f in files])
    return out


def open_frames(path_or_glob, *, instrument: str | None = None, chunks=None) -> xr.Dataset:
    """Open FITS / CHEOPS / image files or a Zarr store as satlab frames.

    Parameters
    ----------
    path_or_glob : str, path-like or list of them
        A file, a glob (``"archive/CH_PR*_SCI_COR_SubArray_V*.fits"``), a directory, a
        list of files, or a Zarr store written by :func:`write_zarr`.
    instrument : {"cheops", "fits", "image"}, optional
        Force a reader; by default the format is recognised from names and EXTNAMEs.
    chunks : int or dict, optional
        Frames per dask chunk (``{"frame": 64}``). Given, even one file loads lazily.

    Returns
    -------
    xarray.Dataset
        Frames (see :mod:`satlab.frames`) with a ``file`` coord; ``attrs["source"]`` is
        what was opened.

    Raises
    ------
    satlab.errors.MissingFileError
        Nothing at the path, or a glob that matches nothing.
    satlab.errors.FileFormatError
        Not FITS / truncated / a CHEOPS file missing an extension or time column.
    satlab.errors.FrameError
        Wrong number of dims, or files of mixed shapes (both named).
    """
    first = Path(os.fspath(path_or_glob)) if not isinstance(path_or_glob, (list, tuple)) else None
    if first is not None and _is_zarr(first):
        ds = xr.open_zarr(
            first, chunks={} if chunks is None else _chunk_dict(chunks), consolidated=False
        )
        return as_frames(ds, attrs={"source": str(first)})
    paths = _resolve(path_or_glob)
    if len(paths) > 8:  # headers are I/O-bound; threads overlap the reads
        with ThreadPoolExecutor(4) as pool:
            files = list(pool.map(lambda p: scan(p, instrument=instrument), paths))
    else:
        files = [scan(p, instrument=instrument) for p in paths]
    _check_shapes(files)
    if len(files) == 1 and chunks is None:
        data = files[0].read(files[0].path)
    else:
        import dask
        import dask.array as da

        data = da.concatenate(
            [
                da.from_delayed(dask.delayed(f.read)(f.path), f.shape, dtype=np.float32)
                for f in files
            ]
        )
        if chunks is not None:
            data = data.rechunk(_chunk_dict(chunks)["frame"])
    valid = np.logical_and.reduce([f.valid for f in files])
    attrs = {k: v for k, v in files[0].attrs.items() if all(f.attrs.get(k) == v for f in files)}
    attrs["source"] = os.fspath(path_or_glob) if first is not None else f"{len(paths)} files"
    coords = {k: ("frame", v) for k, v in _coords(files).items()}
    ds = xr.Dataset(
        {"flux": (FRAME_DIMS, data), "valid": (("y", "x"), valid)}, coords=coords, attrs=attrs
    )
    order = np.argsort(ds["time"].values, kind="stable")
    if np.any(order != np.arange(order.size)):
        ds = ds.isel(frame=order)
    for note, count in Counter(n for f in files for n in f.notes).items():
        warnings.warn(f"{note} ({count} file(s), e.g. {paths[0]})", SatlabWarning, stacklevel=2)
    ds = as_frames(ds)
    warn_non_finite(ds)  # as_frames takes an already-valid Dataset as it is
    return ds


def _chunk_dict(chunks) -> dict:
    if isinstance(chunks, int):
        return {"frame": chunks}
    if isinstance(chunks, dict) and "frame" in chunks:
        return dict(chunks)
    raise InputError(f"chunks: expected an int or a dict with key 'frame', got {chunks!r}")


def write_zarr(frames, store, *, mode: str = "w-", **kwargs):
    """Write frames to a Zarr store (lazy input is streamed chunk by chunk).

    Returns the store path. ``mode="w-"`` refuses to overwrite an existing store, so a
    rerun never silently loses what an earlier run wrote.
    """
    if mode == "w-" and Path(store).exists():
        raise OutputExistsError(f"{store}: already exists; pass mode='w' to replace it")
    ds = as_frames(frames)
    ds.attrs = {k: v for k, v in ds.attrs.items() if _zarr_attr(v)}
    for name in ds.variables:
        ds[name].encoding = {}
        if ds[name].dtype.kind == "U":  # variable-length strings have a Zarr v3 spec
            ds[name] = ds[name].astype(object)
    # consolidated metadata is not part of Zarr v3 (zarr warns); v3 reads fine without it
    ds.to_zarr(store, mode=mode, consolidated=False, **kwargs)
    return store


def _zarr_attr(value) -> bool:
    return isinstance(value, (str, int, float, bool, np.integer, np.floating))
