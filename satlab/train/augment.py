"""Seed 001 §2.3 on-the-fly augmentation with :mod:`torchvision.transforms.v2`.

Applied to the network input (already binned and normalised, so the fill value 0 is the
sky level): rotation up to 20 deg, shifts up to 20 %, shear 0.2, zoom 20 %, horizontal
flips, brightness 80-120 %. Trail masks move with their image.

``keep_columns=True`` (the UNet's recipe and the classifier's fine-tuning) drops the
rotation and the shear that tilts detector columns. Read-out smear and hot columns always
run along the columns; rotated, they look like trails within 20 deg of the columns,
labelled as negatives. Seed 001 needed the rotations to multiply a small set of real
trails; simulated trails already come at every angle.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from ..errors import InputError

__all__ = ["AugmentedSet", "RandomBrightness", "seed001_augmentation"]


class RandomBrightness(v2.Transform):
    """Multiply images (not masks) by a factor drawn uniformly in ``factors``.

    Not :class:`~torchvision.transforms.v2.ColorJitter`: that clamps float images to
    [0, 1], and normalised pixels are signed.
    """

    def __init__(self, factors=(0.8, 1.2)):
        super().__init__()
        self.factors = tuple(float(f) for f in factors)

    def make_params(self, flat_inputs):
        lo, hi = self.factors
        return {"factor": lo + (hi - lo) * float(torch.rand(()))}

    def transform(self, inpt, params):
        if isinstance(inpt, tv_tensors.Mask):
            return inpt
        return inpt * params["factor"]


def seed001_augmentation(
    *,
    degrees: float = 20.0,
    shift: float = 0.2,
    shear: float = 0.2,
    zoom: float = 0.2,
    brightness=(0.8, 1.2),
    keep_columns: bool = False,
) -> v2.Compose:
    """The seed 001 pipeline as a :class:`torchvision.transforms.v2.Compose`.

    ``shear`` is a shear factor (Keras' ``shear_range`` read as ``tan`` of the angle:
    0.2 -> 11.3 deg; read as degrees it would do nothing visible).
    ``keep_columns=True`` keeps detector columns vertical: no rotation (``degrees`` must
    be 0) and shear only along the columns (each column slides along itself).
    """
    if keep_columns and degrees:
        raise InputError(f"degrees: expected 0 with keep_columns=True, got {degrees}")
    angle = math.degrees(math.atan(shear))
    return v2.Compose(
        [
            v2.RandomAffine(
                degrees=degrees,
                translate=(shift, shift),
                scale=(1 - zoom, 1 + zoom),
                shear=(0.0, 0.0, -angle, angle) if keep_columns else (-angle, angle, -angle, angle),
                interpolation=v2.InterpolationMode.BILINEAR,
                fill=0.0,
            ),
            v2.RandomHorizontalFlip(),
            RandomBrightness(brightness),
        ]
    )


class AugmentedSet(Dataset):
    """Network inputs with their targets, augmented on the fly.

    Parameters
    ----------
    x : torch.Tensor (n, 1, h, w)
        Binned, normalised inputs.
    mask : torch.Tensor (n, 1, h, w)
        Trail-pixel fraction of each input pixel (0..1).
    label : torch.Tensor (n,), optional
        Frame labels; ``None`` makes the (augmented) mask the target.
    transform : callable, optional
        A v2 transform; ``None`` returns the samples unchanged.
    keep : float
        A positive whose augmented mask keeps less than this fraction of its trail
        pixels (shifted or zoomed out of the frame) is used un-augmented, so that no
        label points at an empty frame.
    """

    def __init__(self, x, mask, label=None, *, transform=None, keep: float = 0.5):
        self.x, self.mask, self.label = x, mask, label
        self.transform, self.keep = transform, keep

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        x, m = self.x[i], self.mask[i]
        if self.transform is not None:
            xa, ma = self.transform(tv_tensors.Image(x), tv_tensors.Mask(m))
            total = float(m.sum())
            if total == 0 or float(ma.sum()) >= self.keep * total:
                x, m = xa.as_subclass(torch.Tensor), ma.as_subclass(torch.Tensor)
        if self.label is None:
            return x, m
        return x, self.label[i]
