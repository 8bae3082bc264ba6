"""Hard negatives: the look-alikes that fooled the first CHEOPS model (seed 001 §2.3, Fig. 2).

Each kind changes one frame's plan (its stars, PSF, extra light, extra dark current or
extra charge) and never adds a trail:

``cosmic_rays``
    a burst of sharp charge tracks (not PSF-blurred), as in the South Atlantic Anomaly;
``hot_pixels``
    extra hot pixels and a hot column segment;
``readout_smear``
    a very bright star inside or just outside the crop and its vertical shutterless
    read-out smear (seed 001 footnotes: saturated sources inside and outside the crop);
``stray_light``
    a smooth large-scale glow with a gradient;
``earth_limb``
    a steep, straight-edged brightening when the line of sight nears the Earth's limb;
``ghost``
    an internal reflection of a bright star: a faint out-of-focus pupil image;
``crowded``
    a dense star field with a chance alignment of stars on a line;
``pointing_drift``
    every star elongated along the same direction (the PSF smeared by the drift).
"""

from __future__ import annotations

import numpy as np

from .scenes import Stars, star_magnitudes
from .streaks import render_segments

__all__ = ["NEGATIVE_KINDS", "apply_negative"]

NEGATIVE_KINDS = (
    "cosmic_rays",
    "hot_pixels",
    "readout_smear",
    "stray_light",
    "earth_limb",
    "ghost",
    "crowded",
    "pointing_drift",
)


def _grid(shape):
    ny, nx = shape
    return np.mgrid[0:ny, 0:nx].astype(float)


def _cosmic_rays(plan, rng, preset):
    ny, nx = plan.shape
    k = int(rng.integers(8, 40))
    x, y = rng.uniform(0, nx - 1, k), rng.uniform(0, ny - 1, k)
    length = rng.exponential(4.0, k)
    a = rng.uniform(0, np.pi, k)
    dx, dy = 0.5 * length * np.cos(a), 0.5 * length * np.sin(a)
    charge = rng.lognormal(np.log(3000.0), 0.8, k)  # e-
    hits = render_segments(plan.shape, x - dx, y - dy, x + dx, y + dy, charge)
    plan.electrons_extra = plan.electrons_extra + hits


def _hot_pixels(plan, rng, preset):
    ny, nx = plan.shape
    dark = np.zeros(plan.shape)
    n = rng.integers(20, 120)
    dark[rng.integers(0, ny, n), rng.integers(0, nx, n)] = rng.lognormal(np.log(30.0), 1.0, n)
    col, start = rng.integers(0, nx), rng.integers(0, ny // 2)
    dark[start:, col] += rng.uniform(2.0, 20.0)
    plan.extra_dark = plan.extra_dark + dark * plan.exptime


def _readout_smear(plan, rng, preset):
    ny, nx = plan.shape
    bright = (preset.target_mag or preset.scene.mag_range)[0] - rng.uniform(3.0, 6.0)
    y = rng.choice([rng.uniform(0, ny - 1), rng.uniform(-60, -20), rng.uniform(ny + 20, ny + 60)])
    x = rng.uniform(0.1 * nx, 0.9 * nx)
    plan.bright_stars = plan.bright_stars.concat(
        Stars(np.array([x]), np.array([y]), np.array([bright]))
    )


def _stray_light(plan, rng, preset):
    yy, xx = _grid(plan.shape)
    ny, nx = plan.shape
    a = rng.uniform(0, 2 * np.pi)
    ramp = ((xx - nx / 2) * np.cos(a) + (yy - ny / 2) * np.sin(a)) / max(nx, ny) + 0.5
    cx, cy = rng.uniform(-0.5, 1.5) * nx, rng.uniform(-0.5, 1.5) * ny
    sigma = rng.uniform(0.3, 0.8) * max(nx, ny)
    blob = np.exp(-0.5 * ((xx - cx) ** 2 + (yy - cy) ** 2) / sigma**2)
    level = plan.sky_photons * rng.uniform(1.0, 8.0)
    plan.photons_extra = plan.photons_extra + level * (0.5 * ramp.clip(0) + blob)


def _earth_limb(plan, rng, preset):
    yy, xx = _grid(plan.shape)
    ny, nx = plan.shape
    a = rng.uniform(0, 2 * np.pi)
    d = (xx - nx / 2) * np.cos(a) + (yy - ny / 2) * np.sin(a) - rng.uniform(-0.4, 0.6) * nx
    width = rng.uniform(3.0, 30.0)
    level = plan.sky_photons * rng.uniform(2.0, 30.0)
    plan.photons_extra = plan.photons_extra + level * 0.5 * (1 + np.tanh(d / width))


def _ghost(plan, rng, preset):
    yy, xx = _grid(plan.shape)
    ny, nx = plan.shape
    cx, cy = rng.uniform(0.1, 0.9) * nx, rng.uniform(0.1, 0.9) * ny
    r_out = rng.uniform(15.0, 60.0)
    r_in = r_out * rng.uniform(0.2, 0.5)
    r = np.hypot(xx - cx, yy - cy)
    edge = rng.uniform(1.0, 4.0)
    pupil = 1 / (1 + np.exp((r - r_out) / edge)) - 1 / (1 + np.exp((r - r_in) / edge))
    level = plan.sky_photons * rng.uniform(0.3, 3.0)
    plan.photons_extra = plan.photons_extra + level * pupil


def _crowded(plan, rng, preset):
    ny, nx = plan.shape
    dense = preset.scene.__class__(
        mag_range=preset.scene.mag_range, density=rng.uniform(20, 100), slope=preset.scene.slope
    )
    plan.stars = plan.stars.concat(dense.draw(rng, plan.shape, preset.pixel_scale))
    # chance alignment: a few stars nearly on one line
    k = rng.integers(4, 9)
    a = rng.uniform(0, np.pi)
    x0, y0 = rng.uniform(0.2, 0.8) * nx, rng.uniform(0.2, 0.8) * ny
    s = np.sort(rng.uniform(-0.4, 0.4, k)) * max(nx, ny)
    jitter = rng.normal(0, 1.0, k)
    xs = x0 + s * np.cos(a) - jitter * np.sin(a)
    ys = y0 + s * np.sin(a) + jitter * np.cos(a)
    lo, hi = preset.scene.mag_range
    mags = star_magnitudes(rng, k, (lo, lo + 0.6 * (hi - lo)), preset.scene.slope)
    plan.stars = plan.stars.concat(Stars(xs, ys, mags))


def _pointing_drift(plan, rng, preset):
    length = rng.uniform(3.0, 15.0)
    a = rng.uniform(0, 2 * np.pi)
    plan.psf = plan.psf.smeared(length * np.cos(a), length * np.sin(a))


_APPLY = {
    "cosmic_rays": _cosmic_rays,
    "hot_pixels": _hot_pixels,
    "readout_smear": _readout_smear,
    "stray_light": _stray_light,
    "earth_limb": _earth_limb,
    "ghost": _ghost,
    "crowded": _crowded,
    "pointing_drift": _pointing_drift,
}


def apply_negative(kind: str, plan, rng, preset) -> None:
    """Add the hard negative ``kind`` (one of :data:`NEGATIVE_KINDS`) to a frame plan."""
    _APPLY[kind](plan, rng, preset)
