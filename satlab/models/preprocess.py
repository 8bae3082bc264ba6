"""Array preparation shared by inference (:mod:`satlab.detect`) and training (:mod:`satlab.train`).

Both sides must feed a network exactly the same way, so the steps live here once:
seed 002 eq. 1 (:func:`satlab.frames.arcsinh_normalise`) over the good pixels, bad pixels
set to 0 (the normalised sky level), binning, and padding to the sizes a network needs.
Inputs are numpy ``(n, y, x)`` arrays in ADU; outputs are float32 torch tensors
``(n, 1, y', x')``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..frames import arcsinh_normalise
from .registry import ModelSpec

__all__ = ["bin_images", "frame_input", "pad_to", "window_input", "window_starts"]

# the MobileNetV2 backbone halves the image five times
MIN_CLASSIFY_PX = 32


def _normalise(flux: np.ndarray, good: np.ndarray) -> np.ndarray:
    norm = arcsinh_normalise(flux, mask=good)
    return np.where(good & np.isfinite(norm), norm, np.float32(0))


def pad_to(x: torch.Tensor, *, multiple: int = 1, minimum: int = 1) -> torch.Tensor:
    """Zero-pad the last two axes at the end to ``>= minimum`` and a multiple of ``multiple``."""
    h, w = x.shape[-2:]
    th = -(-max(h, minimum) // multiple) * multiple
    tw = -(-max(w, minimum) // multiple) * multiple
    if (th, tw) == (h, w):
        return x
    return F.pad(x, (0, tw - w, 0, th - h))


def bin_images(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Average ``factor x factor`` pixel blocks of ``(n, c, y, x)`` (edges zero-padded)."""
    if factor == 1:
        return x
    return F.avg_pool2d(pad_to(x, multiple=factor), factor)


def frame_input(flux: np.ndarray, good: np.ndarray, spec: ModelSpec) -> torch.Tensor:
    """Whole frames ``(n, y, x)`` [ADU] -> network input ``(n, 1, y / bin, x / bin)``.

    Normalised per frame over its good pixels, binned by ``spec.bin``, zero-padded to
    what the architecture needs (32 px for MobileNetV2, multiples of 4 for the UNet).
    """
    x = torch.from_numpy(_normalise(flux, good))[:, None]
    x = bin_images(x, spec.bin)
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
    padded with bad pixels.
    """
    ny, nx = flux.shape[1:]
    w = spec.window
    py, px = max(ny, w), max(nx, w)
    if (py, px) != (ny, nx):
        flux = np.pad(flux, ((0, 0), (0, py - ny), (0, px - nx)), constant_values=np.nan)
        good = np.pad(good, ((0, 0), (0, py - ny), (0, px - nx)), constant_values=False)
    ys = window_starts(py, w, w - spec.overlap)
    xs = window_starts(px, w, w - spec.overlap)
    view = np.lib.stride_tricks.sliding_window_view
    cut = view(flux, (w, w), axis=(1, 2))[:, ys][:, :, xs]
    sel = view(good, (w, w), axis=(1, 2))[:, ys][:, :, xs]
    cut = cut.reshape(-1, w, w)
    sel = sel.reshape(-1, w, w)
    x = torch.from_numpy(_normalise(cut, sel))[:, None]
    return bin_images(x, spec.bin), (ys, xs)
