"""The frame data model, the normalisations the models use, and the ``.satlab`` accessor.

Frames are an :class:`xarray.Dataset` with

* ``flux`` (``frame, y, x``, float32): pixel values, ADU unless ``attrs["unit"]`` says otherwise;
* ``valid`` (``y, x``, bool): the instrument footprint (e.g. the CHEOPS circular crop);
* coords on ``frame``: ``time`` (datetime64[ns], UTC, mid-exposure), ``exptime`` (s) and,
  where known, ``ra``, ``dec`` (deg, ICRS, pointing of the image centre) and ``roll`` (deg,
  position angle of the detector +y axis, east of north);
* attrs: ``instrument``, ``pixel_scale`` (arcsec/px), ``observer``, ``zero_point``, ``gain``,
  ``source`` and, with a WCS, ``parity`` (sign of det CD; -1 for the usual north-up,
  east-left sky).

NaN / inf policy: every non-finite pixel becomes NaN in ``flux`` (never zero, which would
read as real sky) and stays there; ``valid`` is the static footprint only. Consumers use
:attr:`SatlabAccessor.good` (``valid & isfinite(flux)``) for the usable pixels of each
frame. Both stay lazy for dask-backed input.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from .errors import FrameError, InputError, SatlabWarning

__all__ = [
    "FRAME_DIMS",
    "SatlabAccessor",
    "arcsinh_normalise",
    "arcsinh_stretch",
    "as_frames",
    "circular_footprint",
    "zscale_stretch",
]

FRAME_DIMS = ("frame", "y", "x")


def _native_float32(values):
    """Float32 in native byte order; lazy arrays stay lazy."""
    dtype = np.dtype(values.dtype)
    if dtype.kind not in "biuf":
        raise FrameError(f"flux: expected a numeric array, got dtype {dtype}")
    return values.astype(np.float32)


def _as_flux_array(data) -> xr.DataArray:
    if isinstance(data, xr.Dataset):
        if "flux" not in data:
            raise FrameError(
                f"frames Dataset: expected a 'flux' variable, found {sorted(data.data_vars)}"
            )
        return data["flux"]
    if isinstance(data, xr.DataArray):
        return data
    if hasattr(data, "shape") and hasattr(data, "dtype"):
        ndim = len(data.shape)
        if ndim == 2:
            return xr.DataArray(data, dims=("y", "x"))
        if ndim == 3:
            return xr.DataArray(data, dims=FRAME_DIMS)
        raise FrameError(
            f"frames: expected a (y, x) image or a (frame, y, x) cube, got {ndim} dims "
            f"of shape {tuple(data.shape)}"
        )
    raise FrameError(
        f"frames: expected an xarray Dataset/DataArray or an array, got {type(data).__name__}"
    )


def _frame_coord(values, n: int, name: str, dtype) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.shape != (n,):
        raise FrameError(f"{name}: expected one value per frame ({n}), got shape {arr.shape}")
    return arr


def _to_datetime64(values, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.datetime64("NaT", "ns"))
    if hasattr(values, "to_datetime") and hasattr(values, "scale"):  # astropy Time
        values = values.utc.to_datetime(leap_second_strict="silent")
    try:
        # via pandas: parses strings and drops any timezone after converting to UTC
        import pandas as pd

        stamps = pd.to_datetime(np.atleast_1d(values), utc=True).tz_localize(None)
    except (TypeError, ValueError) as exc:
        raise FrameError(f"time: expected UTC datetimes, got {values!r:.80}") from exc
    return _frame_coord(stamps.to_numpy(dtype="datetime64[ns]"), n, "time", "datetime64[ns]")


def as_frames(
    data,
    *,
    time=None,
    exptime=None,
    valid=None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Validate and convert anything frame-like into satlab frames.

    Parameters
    ----------
    data : xarray.Dataset, xarray.DataArray, numpy or dask array
        A Dataset with ``flux``, a DataArray ``(frame, y, x)`` or ``(y, x)``, or a bare
        2-D / 3-D array. Integer and big-endian data are converted to native float32.
    time : array-like of datetime, astropy.time.Time, optional
        Mid-exposure UTC time per frame; overrides a ``time`` coord already present.
    exptime : float or array-like, optional
        Exposure time per frame [s].
    valid : array-like of bool, optional
        Footprint mask ``(y, x)``; combined (AND) with one already present.
    attrs : mapping, optional
        Extra Dataset attrs (``instrument``, ``pixel_scale`` ...).

    Returns
    -------
    xarray.Dataset
        Frames as described in :mod:`satlab.frames`; input coords on ``frame`` are kept so
        that results merge back with it. Dask-backed input stays lazy.
    """
    if _is_frames(data) and time is None and exptime is None and valid is None and not attrs:
        return data  # already validated: no copy, no second warning
    flux = _as_flux_array(data)
    if flux.ndim == 2:
        if set(flux.dims) != {"y", "x"}:
            raise FrameError(f"flux: expected dims ('y', 'x') for an image, got {flux.dims}")
        flux = flux.expand_dims("frame")
    if set(flux.dims) != set(FRAME_DIMS) or flux.ndim != 3:
        raise FrameError(f"flux: expected dims {FRAME_DIMS}, got {flux.dims}")
    flux = flux.transpose(*FRAME_DIMS)
    if 0 in flux.shape:
        raise FrameError(f"flux: expected a non-empty cube, got shape {flux.shape}")
    values = _native_float32(flux.data)
    # inf -> NaN; NaN stays NaN (see the module policy); np.where dispatches to dask
    flux = flux.copy(data=np.where(np.isfinite(values), values, np.float32(np.nan)))
    flux.name = "flux"
    flux.attrs = dict(flux.attrs)

    n = flux.sizes["frame"]
    ds = flux.to_dataset() if not isinstance(data, xr.Dataset) else data.assign(flux=flux)
    if isinstance(data, xr.Dataset):
        ds = ds.transpose(*FRAME_DIMS, ...)

    if time is not None or "time" not in ds.coords:
        ds = ds.assign_coords(time=("frame", _to_datetime64(time, n)))
    elif ds["time"].dtype.kind != "M":
        ds = ds.assign_coords(time=("frame", _to_datetime64(ds["time"].values, n)))
    if exptime is not None or "exptime" not in ds.coords:
        exp = np.nan if exptime is None else exptime
        exp = _frame_coord(exp, n, "exptime", np.float64)
        if np.any(exp <= 0):
            raise InputError(f"exptime: expected positive seconds, got min {np.nanmin(exp)}")
        ds = ds.assign_coords(exptime=("frame", exp))

    mask = np.ones(flux.shape[1:], dtype=bool)
    if "valid" in ds:
        mask &= np.asarray(ds["valid"].values, dtype=bool)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != mask.shape:
            raise FrameError(f"valid: expected shape {mask.shape} (y, x), got {valid.shape}")
        mask &= valid
    ds["valid"] = (("y", "x"), mask)

    ds.attrs = dict(ds.attrs)  # never write into the caller's attrs
    if attrs:
        ds.attrs.update(attrs)
    ds.attrs.setdefault("instrument", "unknown")
    warn_non_finite(ds)
    return ds


def _is_frames(data) -> bool:
    return (
        isinstance(data, xr.Dataset)
        and "flux" in data
        and data["flux"].dims == FRAME_DIMS
        and data["flux"].dtype == np.float32
        and "valid" in data
        and data["valid"].dims == ("y", "x")
        and data["valid"].dtype == bool
        and "time" in data.coords
        and data["time"].dtype == np.dtype("datetime64[ns]")
        and "exptime" in data.coords
    )


def warn_non_finite(ds: xr.Dataset) -> None:
    """Count masked pixels in memory; dask input is not read just to count them."""
    if not isinstance(ds["flux"].data, np.ndarray):
        return
    bad = int((~np.isfinite(ds["flux"].values) & ds["valid"].values).sum())
    if bad:
        warnings.warn(
            f"flux: {bad} non-finite pixel value(s) inside the footprint are NaN in 'flux' "
            "and excluded by frames.satlab.good",
            SatlabWarning,
            stacklevel=3,
        )


def circular_footprint(shape: tuple[int, int], diameter: float | None = None) -> np.ndarray:
    """Boolean mask of the circle inscribed in ``shape`` (the CHEOPS SubArray crop).

    Parameters
    ----------
    shape : (ny, nx)
    diameter : float, optional
        Circle diameter [px]; default ``min(shape)``.
    """
    ny, nx = shape
    d = float(min(shape) if diameter is None else diameter)
    y, x = np.ogrid[:ny, :nx]
    r2 = (y - (ny - 1) / 2) ** 2 + (x - (nx - 1) / 2) ** 2
    return r2 <= (d / 2) ** 2


# --- normalisations ---------------------------------------------------------------------


def arcsinh_normalise(images: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
    """Seed 002 eq. 1 on the last two axes: ``arcsinh((D - mean) / std)``.

    ``mean`` and ``std`` are taken per image over finite (and ``mask``-ed) pixels; NaN
    pixels stay NaN. A constant image maps to zeros rather than dividing by zero.
    """
    d = np.asarray(images, dtype=np.float32)
    sel = np.isfinite(d) if mask is None else np.isfinite(d) & mask
    use = np.where(sel, d, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN images give NaN, kept
        mu = np.nanmean(use, axis=(-2, -1), keepdims=True)
        sigma = np.nanstd(use, axis=(-2, -1), keepdims=True)
    sigma = np.where(sigma > 0, sigma, np.float32(1))
    return np.arcsinh((d - mu) / sigma).astype(np.float32)


def _per_frame(frames, func, name: str, **kwargs) -> xr.DataArray:
    ds = as_frames(frames)
    return xr.apply_ufunc(
        func,
        ds["flux"],
        input_core_dims=[["y", "x"]],
        output_core_dims=[["y", "x"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        kwargs=kwargs,
    ).rename(name)


def arcsinh_stretch(frames) -> xr.DataArray:
    """Arcsinh-normalised flux (seed 002 eq. 1) per frame, footprint statistics only."""
    mask = as_frames(frames)["valid"].values
    return _per_frame(frames, arcsinh_normalise, "flux_arcsinh", mask=mask)


def _zscale(images: np.ndarray, contrast: float) -> np.ndarray:
    from astropy.visualization import ZScaleInterval

    out = np.empty(images.shape, dtype=np.float32)
    interval = ZScaleInterval(contrast=contrast)
    for idx in np.ndindex(images.shape[:-2]):
        img = images[idx]
        finite = img[np.isfinite(img)]
        if finite.size == 0:
            out[idx] = np.nan
            continue
        vmin, vmax = interval.get_limits(finite)
        span = vmax - vmin if vmax > vmin else 1.0
        out[idx] = np.clip((img - vmin) / span, 0, 1)
    return out


def zscale_stretch(frames, *, contrast: float = 0.25) -> xr.DataArray:
    """Flux mapped to [0, 1] between astropy's ZScale limits, per frame (NaN kept)."""
    if not 0 < contrast <= 1:
        raise InputError(f"contrast: expected 0 < contrast <= 1, got {contrast}")
    return _per_frame(frames, _zscale, "flux_zscale", contrast=contrast)


# --- the accessor -----------------------------------------------------------------------


@xr.register_dataset_accessor("satlab")
@xr.register_dataarray_accessor("satlab")
class SatlabAccessor:
    """``obj.satlab``: satlab on any frames-like xarray object (stateless).

    Each method validates its object with :func:`as_frames` and returns a new object;
    the original is never modified.
    """

    def __init__(self, obj):
        self._obj = obj

    @property
    def frames(self) -> xr.Dataset:
        """The object as validated satlab frames."""
        return as_frames(self._obj)

    @property
    def good(self) -> xr.DataArray:
        """``valid & isfinite(flux)`` per frame: the pixels every measurement may use."""
        ds = self.frames
        return (np.isfinite(ds["flux"]) & ds["valid"]).rename("good")

    def arcsinh(self) -> xr.DataArray:
        """See :func:`arcsinh_stretch`."""
        return arcsinh_stretch(self._obj)

    def zscale(self, *, contrast: float = 0.25) -> xr.DataArray:
        """See :func:`zscale_stretch`."""
        return zscale_stretch(self._obj, contrast=contrast)

    def summary(self) -> dict:
        """Shape, time span, exposure and pointing, without reading any pixel."""
        ds = self.frames
        times = ds["time"].values
        finite_t = times[~np.isnat(times)]
        out = {
            "instrument": ds.attrs.get("instrument", "unknown"),
            "frames": int(ds.sizes["frame"]),
            "shape": (int(ds.sizes["y"]), int(ds.sizes["x"])),
            "start": str(finite_t.min()) if finite_t.size else None,
            "end": str(finite_t.max()) if finite_t.size else None,
            "exptime_s": float(np.nanmedian(ds["exptime"].values))
            if np.isfinite(ds["exptime"].values).any()
            else None,
            "lazy": not isinstance(ds["flux"].data, np.ndarray),
            "footprint_fraction": float(ds["valid"].mean()),
        }
        if "ra" in ds.coords:
            out["ra_deg"] = float(np.nanmedian(ds["ra"].values))
            out["dec_deg"] = float(np.nanmedian(ds["dec"].values))
        if "pixel_scale" in ds.attrs:
            out["pixel_scale_arcsec"] = float(ds.attrs["pixel_scale"])
        return out

    def to_zarr(self, store, **kwargs):
        """Write frames to Zarr; :func:`satlab.open_frames` reads them back."""
        from .io import write_zarr

        return write_zarr(self._obj, store, **kwargs)

    def to_fits(self, path, **kwargs):
        """Write frames as one FITS cube; :func:`satlab.open_frames` reads it back."""
        from .io import write_fits

        return write_fits(self._obj, path, **kwargs)

    def browse(self, **kwargs):
        """A :class:`satlab.widgets.FrameBrowser` of these frames (in a notebook)."""
        from .widgets import FrameBrowser

        return FrameBrowser(self._obj, **kwargs)

    def review(self, scores, **kwargs):
        """A :class:`satlab.widgets.DetectionReview` of these frames and their scores."""
        from .widgets import DetectionReview

        return DetectionReview(self._obj, scores, **kwargs)
