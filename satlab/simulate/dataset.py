"""A torch ``Dataset`` of simulated frames, generated on the fly (issue 3, item 10).

Sample ``i`` is frame ``i`` of :func:`satlab.simulate.simulate_frames` with the same
seed and options, so it does not depend on the worker that draws it, on the batch or on
the order: a ``DataLoader`` with any ``num_workers`` yields the same samples.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from .presets import get_preset
from .simulator import _assemble, _check_options, _make_frame, _visit, versions

__all__ = ["TrailDataset"]

TARGETS = ("label", "mask")


class TrailDataset(Dataset):
    """Simulated training samples ``(image, target)`` generated per index.

    Parameters
    ----------
    preset : str or Preset
        Instrument preset (see :func:`satlab.simulate.simulate_frames`).
    length : int
        Number of samples (the epoch size).
    seed : int
        Seed; sample ``i`` is frame ``i`` of ``simulate_frames(preset, seed=seed, ...)``.
    target : {"label", "mask"}
        ``"label"``: a float32 scalar tensor, 1 if the frame holds a trail;
        ``"mask"``: the float32 trail mask ``(1, H, W)``.
    fill_value : float
        Value of pixels outside the footprint (NaN in frames; CHEOPS files store 0) [ADU].
    **options
        Any keyword of :func:`satlab.simulate.simulate_frames` (``trail_fraction``,
        ``hard_negative_fraction``, ``negative_kinds``, ``mag_range`` ...).

    Returns (per item)
    ------------------
    image : torch.Tensor float32 (1, H, W)
        Raw ADU, not normalised (use :func:`satlab.frames.arcsinh_normalise`).
    target : torch.Tensor float32, shape () or (1, H, W)
    """

    def __init__(
        self,
        preset="cheops",
        *,
        length: int,
        seed: int,
        target: str = "label",
        fill_value: float = 0.0,
        trail_fraction: float = 0.5,
        hard_negative_fraction: float = 0.3,
        **options,
    ):
        if target not in TARGETS:
            raise InputError(f"target: expected one of {TARGETS}, got {target!r}")
        if int(length) < 1:
            raise InputError(f"length: expected >= 1 samples, got {length}")
        self.preset = get_preset(preset)
        self.length = int(length)
        self.seed = int(seed)
        self.target = target
        self.fill_value = float(fill_value)
        defaults = {
            "negative_kinds": None,
            "max_trails": 1,
            "mag_range": None,
            "snr_range": None,
            "rate_range": None,
            "min_length_px": 10.0,
            "truncation_fraction": 0.1,
            "jitter_fraction": 0.2,
            "variation_fraction": 0.3,
            "column_fraction": 0.0,
            "scene": None,
            "start": "2021-01-01T00:00:00",
        }
        unknown = set(options) - set(defaults)
        if unknown:
            raise InputError(
                f"TrailDataset: unknown option(s) {sorted(unknown)}; expected "
                f"keywords of simulate_frames: {sorted(defaults)}"
            )
        self.params = {
            **defaults,
            **options,
            "trail_fraction": trail_fraction,
            "hard_negative_fraction": hard_negative_fraction,
        }
        self._opts = _check_options(self.preset, **self.params)
        self._visit = _visit(self.preset, self.seed)
        # what a training run records next to its weights
        self.provenance = {
            "preset": self.preset.name,
            "seed": self.seed,
            "length": self.length,
            "target": target,
            "params": {k: v for k, v in self.params.items() if k != "scene"},
            "scene": type(self.params["scene"]).__name__,
            "versions": versions(),
        }

    def __len__(self) -> int:
        return self.length

    def frames(self, indices):
        """The samples ``indices`` as simulated frames with their truth (xarray)."""
        params = {"preset": self.preset.name, "seed": self.seed, **self.params}
        params["scene"] = type(self.params["scene"]).__name__
        return _assemble(self.preset, self._opts, self.seed, list(indices), params)

    def __getitem__(self, index: int):
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        index = int(index) % self.length
        # the frame alone, without building an xarray Dataset per sample (same pixels)
        # the pixels and the target only: no truth table, no mask for a label target
        image, mask, rows, _ = _make_frame(
            self.preset,
            self._opts,
            self.seed,
            index,
            self._visit,
            with_mask=self.target == "mask",
            with_truth=False,
        )
        image[np.isnan(image)] = self.fill_value  # the frame is ours: fill in place
        x = torch.from_numpy(image)[None]
        if self.target == "label":
            y = torch.tensor(float(bool(rows)), dtype=torch.float32)
        else:
            y = torch.from_numpy(mask.astype(np.float32))[None]
        return x, y
