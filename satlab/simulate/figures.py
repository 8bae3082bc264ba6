"""Contact sheets of simulated frames as PNG (docs figures; Pillow only, no plotting stack).

``python -m satlab.simulate.figures docs/figures`` writes one PNG per preset and one per
hard-negative kind: each panel is a frame in a ZScale stretch, its trail mask outlined in
red where it has one, and a caption.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..frames import zscale_stretch
from .negatives import NEGATIVE_KINDS
from .presets import PRESETS
from .simulator import simulate_frames

__all__ = ["contact_sheet", "write_docs_figures"]


def contact_sheet(ds, path, *, captions=None, columns: int = 4, panel: int = 256):
    """Write the frames of ``ds`` (with optional ``trail_mask``) as one PNG.

    Parameters
    ----------
    ds : xarray.Dataset
        Frames, e.g. from :func:`satlab.simulate.simulate_frames`.
    path : path-like
        Output PNG.
    captions : list of str, optional
        One caption per frame.
    columns : int
        Panels per row.
    panel : int
        Panel side [px] (frames are resized to fit).
    """
    from PIL import Image, ImageDraw

    stretched = zscale_stretch(ds).values
    n = stretched.shape[0]
    rows = -(-n // columns)
    sheet = Image.new("RGB", (columns * panel, rows * (panel + 16)), "white")
    draw = ImageDraw.Draw(sheet)
    for i in range(n):
        grey = (np.nan_to_num(stretched[i], nan=0.0) * 255).astype(np.uint8)
        rgb = np.repeat(grey[..., None], 3, axis=2)
        if "trail_mask" in ds:
            m = ds["trail_mask"].values[i]
            edge = m & ~(
                np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1)
            )
            rgb[edge] = (255, 40, 40)
        img = Image.fromarray(rgb)
        img.thumbnail(
            (panel, panel),
            Image.Resampling.NEAREST if max(grey.shape) <= panel else Image.Resampling.LANCZOS,
        )
        if max(img.size) < panel:
            img = img.resize(
                (panel, round(panel * img.size[1] / img.size[0])), Image.Resampling.NEAREST
            )
        x, y = (i % columns) * panel, (i // columns) * (panel + 16)
        sheet.paste(img, (x, y + 16))
        if captions:
            draw.text((x + 3, y + 2), captions[i], fill="black")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return Path(path)


def write_docs_figures(out_dir, *, seed: int = 3) -> list[Path]:
    """One contact sheet per preset and per hard-negative kind into ``out_dir``."""
    out = Path(out_dir)
    written = []
    for name in PRESETS:
        ds = simulate_frames(name, 4, seed=seed, trail_fraction=0.75)
        caps = [f"{name} label={int(v)}" for v in ds["label"].values]
        written.append(contact_sheet(ds, out / f"simulate_{name}.png", captions=caps))
    for kind in NEGATIVE_KINDS:
        ds = simulate_frames(
            "cheops",
            4,
            seed=seed,
            trail_fraction=0.0,
            hard_negative_fraction=1.0,
            negative_kinds=[kind],
        )
        written.append(
            contact_sheet(
                ds, out / f"simulate_negative_{kind}.png", captions=[f"cheops {kind}"] * 4
            )
        )
    return written


if __name__ == "__main__":  # pragma: no cover
    for p in write_docs_figures(sys.argv[1] if len(sys.argv) > 1 else "docs/figures"):
        print(p)
