"""PNG / TIFF / JPEG images (amateur and smart-telescope frames)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FileFormatError, FrameError, MissingFileError
from ._base import FrameFile

__all__ = ["IMAGE_SUFFIXES", "scan_image"]

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg"}
# Rec. 709 luminance weights, the ones skimage.color.rgb2gray uses; applied here to the raw
# values because rgb2gray would rescale integer ADU to [0, 1]
_LUMA = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)


def _decode(path: Path) -> np.ndarray:
    # tifffile reads every TIFF sample format (16-bit RGB, float); Pillow the rest. Both
    # close the file on failure, which imageio's plugin search does not.
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        return np.asarray(tifffile.imread(path))
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img)


def _load(path: Path) -> np.ndarray:
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    try:
        img = _decode(path)
    except Exception as exc:  # decoders raise many unrelated types
        raise FileFormatError(f"{path}: not a readable {path.suffix} image ({exc})") from exc
    if img.ndim == 3 and img.shape[-1] in (3, 4):
        img = img[..., :3].astype(np.float32) @ _LUMA
    elif img.ndim == 3 and img.shape[-1] == 2:  # grey + alpha
        img = img[..., 0]
    if img.ndim != 2:
        raise FrameError(f"{path}: expected a grayscale or RGB image, got shape {img.shape}")
    return img.astype(np.float32)[None]


def scan_image(path: Path) -> FrameFile:
    """Scan an image file; images carry no time, so ``time`` is NaT (noted)."""
    pixels = _load(path)  # headers of compressed images give no reliable shape without decoding
    _, ny, nx = pixels.shape
    return FrameFile(
        path,
        pixels.shape,
        {"exptime": np.full(1, np.nan)},
        {"instrument": "unknown"},
        np.ones((ny, nx), bool),
        lambda p: _load(p),
        ["image files carry no observation time: time is NaT"],
    )
