"""Array preparation shared by inference (:mod:`satlab.detect`) and training (:mod:`satlab.train`).

Both sides must feed a network exactly the same way, so the steps live here once:
binning (mean of the good pixels), seed 002 eq. 1 (:func:`satlab.frames.arcsinh_normalise`)
over the good pixels, bad pixels set to 0 (the normalised sky level), and padding to the
sizes a network needs.
Inputs are numpy ``(n, y, x)`` arrays in ADU; outputs are float32 torch tensors
``(n, 1, y', x')``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..frames import arcsinh_normalise
from .registry import ModelSpec

__all__ = ["bin_mean", "frame_input", "pad_to", "window_input", "window_starts"]

# the MobileNetV2 backbone halves the image five times
MIN_CLASSIFY_PX = 32


def bin_mean(flux: np.ndarray, good: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the good pixels in ``factor x factor`` blocks, and which blocks have any.

    Binning before eq. 1 makes the normalisation ``factor**2`` times cheaper; the
    statistics are then those of the network's (binned) pixels.
    """
    if factor == 1:
        return flux, good
    g = torch.from_numpy(np.ascontiguousarray(good, dtype=np.float32))[:, None]
    f = torch.from_numpy(np.where(good, flux, np.float32(0)))[:, None]
    count = F.avg_pool2d(pad_to(g, multiple=factor), factor)
    total = F.avg_pool2d(pad_to(f, multiple=factor), factor)
    mean = (total / count.clamp_min(1e-12))[:, 0].numpy()
    return mean, (count > 0)[:, 0].numpy()


def _normalise(flux: np.ndarray, good: np.ndarray) -> torch.Tensor:
    norm = arcsinh_normalise(flux, mask=good)
    return torch.from_numpy(np.where(good & np.isfinite(norm), norm, np.float32(0)))[:, None]


def pad_to(x: torch.Tensor, *, multiple: int = 1, minimum: int = 1) -> torch.Tensor:
    """Zero-pad the last two axes at the end to ``>= minimum`` and a multiple of ``multiple``."""
    h, w = x.shape[-2:]
    th = -(-max(h, minimum) // multiple) * multiple
    tw = -(-max(w, minimum) // multiple) * multiple
    if (th, tw) == (h, w):
        return x
    return F.pad(x, (0, tw - w, 0, th - h))


def frame_input(flux: np.ndarray, good: np.ndarray, spec: ModelSpec) -> torch.Tensor:
    """Whole frames ``(n, y, x)`` [ADU] -> network input ``(n, 1, y / bin, x / bin)``.

    Binned by ``spec.bin`` (mean of the good pixels), normalised per frame over its good
    (binned) pixels, bad pixels 0, zero-padded to what the architecture needs (32 px for
    MobileNetV2, multiples of 4 for the UNet).
    """
    x = _normalise(*bin_mean(flux, good, spec.bin))
    if spec.task == "segment":
        return pad_to(x, multiple=4)
    return pad_to(x, minimum=MIN_CLASSIFY_PX)


def window_starts(size: int, window: int, step: int) -> np.ndarray:
    """Start offsets [px] of windows of ``window`` px every ``step`` px covering ``size`` px.

    The last window is aligned with the far edge; a frame smaller than one window gets a
    single window at 0 (the caller pads).
    """
    if size <= window:
        return np.zeros(1, dtype=int)
    starts = np.arange(0, size - window, step)
    return np.unique(np.append(starts, size - window))


def window_input(
    flux: np.ndarray, good: np.ndarray, spec: ModelSpec
) -> tuple[torch.Tensor, tuple[np.ndarray, np.ndarray]]:
    """Frames ``(n, y, x)`` -> windows ``(n * n_windows, 1, w / bin, w / bin)`` and their starts.

    Windows of ``spec.window`` px overlap by ``spec.overlap`` px; each is normalised on
    its own good pixels (seed 002 eq. 1 per cutout). Frames smaller than a window are
    padded with bad pixels. Starts are in binned pixels.
    """
    b = spec.bin
    flux, good = bin_mean(flux, good, b)
    w = spec.window // b
    ny, nx = flux.shape[1:]
    py, px = max(ny, w), max(nx, w)
    if (py, px) != (ny, nx):
        flux = np.pad(flux, ((0, 0), (0, py - ny), (0, px - nx)), constant_values=np.nan)
        good = np.pad(good, ((0, 0), (0, py - ny), (0, px - nx)), constant_values=False)
    step = (spec.window - spec.overlap) // b
    ys = window_starts(py, w, step)
    xs = window_starts(px, w, step)
    view = np.lib.stride_tricks.sliding_window_view
    index = (slice(None), ys[:, None], xs[None, :])
    cut = view(flux, (w, w), axis=(1, 2))[index].reshape(-1, w, w)
    sel = view(good, (w, w), axis=(1, 2))[index].reshape(-1, w, w)
    return _normalise(cut, sel), (ys, xs)
