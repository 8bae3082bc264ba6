"""Find trails: frame scores (:func:`classify`) and pixel probabilities (:func:`segment`).

xarray in, xarray out: results carry the input's ``frame`` coords so they
``xr.merge`` with it, and dask-backed frames stay lazy (each chunk of frames is scored
when computed). torch loads on the first call, not on ``import satlab.detect``.

>>> import satlab.detect as sd
>>> scores = sd.classify(frames)                 # trail_score(frame), 0..1
>>> one = frames.isel(frame=[3])
>>> prob = sd.segment(one)                       # trail_prob(frame, y, x), 0..1
>>> found = sd.trails(prob)                      # one row per trail: rho, theta, ends, width
>>> sharp = sd.refine(prob, found, frames=one)   # trail_prob with the fitted bands' edges
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import InputError
from .frames import as_frames
from .lines import refine, trails

__all__ = ["classify", "refine", "segment", "trails"]


# --- neural-network inference (classify, segment) -------------------------------------


@functools.cache
def _tune_malloc() -> None:
    """Keep glibc from returning freed activations to the OS after every batch.

    With the default thresholds each large torch buffer is an mmap/munmap pair; raising
    them made batched MobileNetV2 inference up to 3.6x faster on satlab's CPU benchmark.
    Process-wide, so done once, on the first CPU inference, and only with glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or "libc.so" not in name:
        return
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt"):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


@functools.lru_cache(maxsize=8)
def _network(name: str, weights: str | None, device: str, stamp):
    """A loaded network; ``stamp`` (the file's mtime and size) renews it when retrained."""
    import torch

    from .models import load_model

    net = load_model(name, weights=weights).to(torch.device(device))
    if device == "cpu":
        net = net.to(memory_format=torch.channels_last)
    return net


def _setup(model, device, weights):
    from .device import resolve_device
    from .models import get_spec

    spec = get_spec(model)
    dev = resolve_device(device)
    if dev.type == "cpu":
        _tune_malloc()
    path = spec.weights_path if weights is None else Path(weights)
    stamp = (path.stat().st_mtime_ns, path.stat().st_size) if path.is_file() else None
    net = _network(spec.name, None if weights is None else str(weights), str(dev), stamp)
    return spec, dev, net


def _run(net, x, dev):
    """Logits of ``net`` on a CPU batch ``x``, float32 on the CPU."""
    import torch

    x = x.to(dev, non_blocking=True)
    if dev.type == "cpu":
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        if dev.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                return net(x).float().cpu()
        return net(x).float().cpu()


def _batch_size(batch_size, dev, default_cpu: int) -> int:
    if batch_size is None:
        return 4 * default_cpu if dev.type == "cuda" else default_cpu
    if int(batch_size) < 1:
        raise InputError(f"batch_size: expected a positive integer, got {batch_size!r}")
    return int(batch_size)


def _inputs(frames, what: str) -> tuple[xr.Dataset, xr.DataArray, xr.DataArray]:
    """Validated frames, flux with whole-frame chunks, and the footprint in memory."""
    ds = as_frames(frames)
    flux = ds["flux"]
    if flux.chunks:
        flux = flux.chunk({"y": -1, "x": -1})
    else:
        _warn_empty_frames(ds.satlab.good, what)  # lazy input is not read just to warn
    return ds, flux, ds["valid"].load()


def _warn_empty_frames(good: xr.DataArray, what: str) -> None:
    empty = np.flatnonzero(~good.values.any(axis=(1, 2)))
    if empty.size:
        from .errors import SatlabWarning

        warnings.warn(
            f"frames: {empty.size} frame(s) without any finite pixel inside 'valid' "
            f"(indices {empty[:10].tolist()}); their {what} is NaN",
            SatlabWarning,
            stacklevel=3,
        )


# Mirror images (dims flipped) whose scores ``flips=True`` averages: test-time
# augmentation, as a trail's mirror image is a trail (training flips frames left-right).
# Transposes are left out: read-out smear and hot columns run along the detector columns,
# and transposed they look like trails (on satlab evaluate trail-unet --n 300, averaging
# with the transpose cut the pixel TPR at 1e-5 FPR from 55 to 51 %).
FLIPS = ((), (-1,), (-2,), (-2, -1))


def _score_block(flux, valid, *, spec, dev, net, batch_size, flips):
    """Scores (n,) of a numpy block of frames (n, y, x) with footprint (y, x)."""
    import torch

    from .models.preprocess import frame_input, window_input

    good = np.isfinite(flux) & valid
    n = flux.shape[0]
    out = np.empty(n, dtype=np.float32)
    for i in range(0, n, batch_size):
        logits = 0.0
        for d in FLIPS if flips else FLIPS[:1]:
            f, g = np.flip(flux[i : i + batch_size], d), np.flip(good[i : i + batch_size], d)
            if spec.task == "windows":
                x, (ys, xs) = window_input(f, g, spec)
                per = len(ys) * len(xs)
                win = torch.cat(
                    [
                        _run(net, x[j : j + batch_size * per], dev)
                        for j in range(0, len(x), batch_size * per)
                    ]
                )
                # seed 002: the image score is the highest window score
                logits = logits + win.reshape(len(f), per).amax(dim=1)
            else:
                logits = logits + _run(net, frame_input(f, g, spec), dev).reshape(len(f))
        out[i : i + len(f)] = torch.sigmoid(logits / (len(FLIPS) if flips else 1)).numpy()
    out[~good.any(axis=(1, 2))] = np.nan
    return out


def classify(
    frames,
    *,
    model: str = "trail-mobilenetv2",
    device="auto",
    flips: bool = False,
    batch_size: int | None = None,
    weights=None,
) -> xr.DataArray:
    """Probability that each frame holds a satellite or debris trail.

    Parameters
    ----------
    frames : xarray.Dataset, xarray.DataArray or array
        Anything :func:`satlab.frames.as_frames` accepts, of any size (frames smaller
        than the network input are padded). Pixels outside ``valid`` or non-finite are
        ignored (``frames.satlab.good``). Dask-backed frames stay lazy.
    model : {"trail-mobilenetv2", "trail-cnn"}
        ``"trail-mobilenetv2"`` (seed 001) scores the whole frame;
        ``"trail-cnn"`` (seed 002) scores 128-px windows overlapping by 20 px and keeps
        the highest. See :func:`satlab.models.model_card` for their measured metrics.
    device : str or torch.device
        ``"auto"`` (CUDA with float16 autocast, else MPS, else CPU), ``"cpu"``, ``"cuda"``.
    flips : bool
        Average the logits over the frame and its mirror images (left-right, up-down and
        both), at four times the cost (296 CHEOPS frames/s at batch 16 on a 2-core CPU,
        against 1215). On the frames of ``satlab evaluate trail-mobilenetv2 --n 1000``
        this raises the ROC AUC from 0.9936 to 0.9945 and the recall at 1 % FPR from
        94.7 to 96.0 %; at 0.8 recall moves from 93.5 to 92.9 % and specificity from
        99.2 to 99.8 %.
    batch_size : int, optional
        Frames per network call; default 16 on the CPU (faster there than larger
        batches), 64 on a GPU.
    weights : str or Path, optional
        A safetensors file (e.g. from ``satlab train``) instead of the shipped weights.

    Returns
    -------
    xarray.DataArray
        ``trail_score`` (``frame``), float32 in [0, 1], with the input's frame coords;
        attrs ``model``, ``threshold`` (the model's default decision threshold, 0.8
        for the classifiers) and ``flips`` (1 or 0). Frames without any usable pixel
        score NaN (with a :class:`~satlab.errors.SatlabWarning`).

    Raises
    ------
    satlab.errors.ModelError
        Unknown model name (the message lists the known ones) or bad weights file.
    satlab.errors.InputError
        ``model`` is a segmentation model, or bad ``device`` / ``batch_size``.
    """
    spec, dev, net = _setup(model, device, weights)
    if spec.task not in ("classify", "windows"):
        raise InputError(
            f"model: {spec.name!r} is a segmentation model; use segment(), or one of the "
            "classifiers 'trail-mobilenetv2', 'trail-cnn'"
        )
    _, flux, valid = _inputs(frames, "trail_score")
    score = xr.apply_ufunc(
        _score_block,
        flux,
        valid,
        input_core_dims=[["y", "x"], ["y", "x"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        kwargs={
            "spec": spec,
            "dev": dev,
            "net": net,
            "batch_size": _batch_size(batch_size, dev, 16),
            "flips": bool(flips),
        },
    )
    score.name = "trail_score"
    score.attrs = {
        "model": spec.name,
        "threshold": spec.threshold,
        "flips": int(bool(flips)),
        "units": "probability",
    }
    return score


def _tile_weight(shape: tuple[int, int], border: int, at_edge, *, low: float = 1e-3) -> np.ndarray:
    """Averaging weight of one tile: 1 inside, ``low`` in its ``border``-px margin.

    Seed 002 averages the scores of all windows covering a pixel and discards the
    ``border``-px band where a pixel has a single score; here a tile's margin counts
    only where no tile interior covers the pixel (i.e. at the frame's own edges).
    ``low=0`` drops margins altogether, for tilings whose interiors cover every pixel.
    """
    w = np.ones(shape, dtype=np.float32)
    if border > 0:
        top, bottom, left, right = at_edge
        low = np.float32(low)
        if not top:
            w[:border] = low
        if not bottom:
            w[-border:] = low
        if not left:
            w[:, :border] = low
        if not right:
            w[:, -border:] = low
    return w


# One pass over a 4096x4096 frame (2048x2048 network px) peaked at 3.5 GB: frames larger
# than ONE_PASS_TILE^2 network px go through tiles of that side, each pixel scored by a
# tile in which it lies a halo or more from the edges: ONE_PASS_HALO px, or the UNet's
# reach (3 * 2**depth - 1 network px either side, 47 for four stages) if that is more,
# so the result is the one pass's; network calls take at most ONE_PASS_TILE^2 px.
ONE_PASS_TILE = 1024
ONE_PASS_HALO = 128


def _segment_block(flux, valid, *, spec, dev, net, batch_size, step, border, flips):
    """Trail probabilities (n, y, x) of a numpy block of frames (n, y, x)."""
    import torch.nn.functional as F

    from .models.preprocess import frame_input

    good = np.isfinite(flux) & valid
    n, ny, nx = flux.shape
    out = np.empty(flux.shape, dtype=np.float32)
    b = spec.bin
    if step is None:
        batch_size = max(1, min(batch_size, ONE_PASS_TILE**2 // (-(-ny // b) * -(-nx // b))))
    for i in range(0, n, batch_size):
        rows = slice(i, i + batch_size)
        for d in FLIPS if flips else FLIPS[:1]:
            # mirrored before padding: the frame keeps its place on the pooling grid
            x = frame_input(np.flip(flux[rows], d), np.flip(good[rows], d), spec)
            prob = _tiled_prob(
                x, spec=spec, dev=dev, net=net, batch_size=batch_size, step=step, border=border
            )
            if b > 1:
                # back to detector pixels: the PSF is wider than a bin, so bilinear is enough
                prob = F.interpolate(prob[:, None], scale_factor=b, mode="bilinear")[:, 0]
            prob = np.flip(prob[:, :ny, :nx].numpy(), d)
            out[rows] = prob if d == () else out[rows] + prob
        if flips:
            out[rows] /= len(FLIPS)
    out[~good.any(axis=(1, 2))] = np.nan
    return out


def _tiled_prob(x, *, spec, dev, net, batch_size, step, border):
    """Trail probabilities (n, hy, hx) of network inputs ``x`` (n, 1, hy, hx)."""
    import torch

    from .models.preprocess import window_starts

    hy, hx = x.shape[-2:]
    b = spec.bin
    budget = ONE_PASS_TILE**2
    margin, low, per_call = border // b, 1e-3, max(1, batch_size // len(x))
    if step is None and hy * hx <= budget:
        tiles_y, tiles_x, ty, tx = np.zeros(1, int), np.zeros(1, int), hy, hx
    elif step is None:
        # strides and tiles stay multiples of 2**depth: the pooling grid is the pass's
        ty, tx = min(hy, ONE_PASS_TILE), min(hx, ONE_PASS_TILE)
        halo = max(ONE_PASS_HALO, 3 * 2 ** spec.config.get("depth", 2))
        s = ONE_PASS_TILE - 2 * halo
        tiles_y, tiles_x = window_starts(hy, ty, s), window_starts(hx, tx, s)
        # interiors abut: each pixel takes the one pass's score from one of them
        margin, low, per_call = halo, 0.0, max(1, budget // (ty * tx * len(x)))
    else:
        # tile and step in network pixels; tiles stay multiples of the UNet's 2**depth
        ty, tx = min(hy, spec.window // b), min(hx, spec.window // b)
        s = max(1, step // b)
        tiles_y, tiles_x = window_starts(hy, ty, s), window_starts(hx, tx, s)
    acc = torch.zeros((len(x), hy, hx))
    wsum = torch.zeros((hy, hx))
    crops = [(y0, x0) for y0 in tiles_y for x0 in tiles_x]
    for j in range(0, len(crops), per_call):
        group = crops[j : j + per_call]
        batch = torch.cat([x[..., y0 : y0 + ty, x0 : x0 + tx] for y0, x0 in group])
        prob = torch.sigmoid(_run(net, batch, dev)).reshape(len(group), len(x), ty, tx)
        for (y0, x0), p in zip(group, prob, strict=True):
            edge = (y0 == 0, y0 + ty == hy, x0 == 0, x0 + tx == hx)
            w = torch.from_numpy(_tile_weight((ty, tx), margin, edge, low=low))
            acc[:, y0 : y0 + ty, x0 : x0 + tx] += p * w
            wsum[y0 : y0 + ty, x0 : x0 + tx] += w
    return acc / wsum


def segment(
    frames,
    *,
    model: str = "trail-unet",
    device="auto",
    step: int | None = None,
    border: int = 10,
    flips: bool = True,
    batch_size: int | None = None,
    weights=None,
) -> xr.DataArray:
    """Per-pixel probability of belonging to a trail (seed 002 §3.2 UNet).

    Parameters
    ----------
    frames : xarray.Dataset, xarray.DataArray or array
        Anything :func:`satlab.frames.as_frames` accepts, any size. Dask-backed frames
        stay lazy and are segmented chunk by chunk.
    model : str
        A segmentation model (``"trail-unet"``).
    device : str or torch.device
        As in :func:`classify`.
    step : int or None
        ``None`` (default) runs the fully convolutional network over the whole frame at
        once (once per mirror image, see ``flips``).
        A number tiles the frame with 256-px tiles this far apart [px] and gives each pixel
        the average score of the tiles covering it (seed 002 used 10 px). Against seed
        002's step 10 without mirror images, on CHEOPS-like 1032x768 frames
        (``benchmarks/detect.py --only-steps``; pixel TPR at 1e-5 FPR / precision at 90 %
        recall), the default one pass gives 67.9 / 88.8 % against 67.1 / 89.5 % on 8
        frames (``--step-frames 8 --seed 200``) and 71.6 / 99.4 % against 71.2 / 99.0 % on
        24 (``--step-frames 24 --seed 300``), within 1 point, at 5.5 Mpix/s against 0.02.
        Frames over 2048x2048 px go through 2048-px tiles overlapping by more than the
        network's reach: the one pass's probabilities in bounded memory (a 4096x4096
        frame: 6.4 s per mirror image and a 1.9 GB peak; a single pass peaked at 3.5 GB).
        Frames no larger than a tile are always one pass.
    border : int
        Width [px] of a tile's margin that counts only where no tile interior covers the
        pixel (seed 002's 10-px border rule).
    flips : bool
        Average the probabilities over the frame and its mirror images (left-right,
        up-down and both; the network runs four times). On ``satlab evaluate trail-unet
        --n 300`` this lifts the pixel TPR at 1e-5 FPR from 55.1 to 58.4 % and the
        precision at 90 % recall from 96.3 to 97.5 %. ``False`` runs the network once.
    batch_size : int, optional
        Tiles per network call; default 8 on the CPU, 32 on a GPU.
    weights : str or Path, optional
        A safetensors file instead of the shipped weights.

    Returns
    -------
    xarray.DataArray
        ``trail_prob`` (``frame, y, x``), float32 in [0, 1], NaN outside ``valid``;
        the input's coords; attrs ``model``, ``threshold``, ``step_px`` (0 for one
        whole-frame pass), ``border_px``, ``flips`` (1 or 0), ``units``.
    """
    spec, dev, net = _setup(model, device, weights)
    if spec.task != "segment":
        raise InputError(
            f"model: {spec.name!r} is a classifier; use classify(), or the segmentation "
            "model 'trail-unet'"
        )
    if step is not None and (int(step) != step or step < 1):
        raise InputError(f"step: expected a positive number of pixels or None, got {step!r}")
    if int(border) != border or border < 0:
        raise InputError(f"border: expected a non-negative number of pixels, got {border!r}")
    ds, flux, valid = _inputs(frames, "trail_prob")
    prob = xr.apply_ufunc(
        _segment_block,
        flux,
        valid,
        input_core_dims=[["y", "x"], ["y", "x"]],
        output_core_dims=[["y", "x"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        kwargs={
            "spec": spec,
            "dev": dev,
            "net": net,
            "batch_size": _batch_size(batch_size, dev, 8),
            "step": None if step is None else int(step),
            "border": int(border),
            "flips": bool(flips),
        },
    )
    prob = prob.where(ds["valid"]).transpose("frame", "y", "x").astype(np.float32)
    prob.name = "trail_prob"
    prob.attrs = {
        "model": spec.name,
        "threshold": spec.threshold,
        "step_px": 0 if step is None else int(step),  # netCDF attrs cannot hold None
        "border_px": int(border),
        "flips": int(bool(flips)),
        "units": "probability",
    }
    return prob
