"""Debris videos for tracking (seed 003 §3.2, the SDTD simulation).

Each of ``K`` line-source objects has a parameter set ``S_k^t = {x, y, l, w, theta, v}``
(eq. 4): centre, length, width, angle and speed. The centre moves by
``v (cos theta, sin theta)`` per frame (eq. 5, ``Delta t = 1``); each frame draws the
``l x w`` rectangle at angle ``theta`` (here pixel-exact, :mod:`.streaks`), with random
brightness noise, convolves it with the instrument PSF (seed 003 eq. 6 uses a Gaussian;
the preset's seeing PSF is one) and applies random truncation. Rectangles wholly out of
the image are left out of that frame. Dense scenes have ``K > 3`` objects.

The star field and sky are fixed over the video (one pointing); the noise is drawn
anew each frame through the detector chain.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from ..frames import as_frames
from ..lines import line_from_points
from .presets import get_preset
from .simulator import TRUTH_UNITS, _footprint, _psf_for, versions
from .streaks import streak_area, streak_mask, streak_path

__all__ = ["VIDEO_COLUMNS", "simulate_video", "video_truth"]

VIDEO_COLUMNS = {
    "object_id": "int64",
    "x0": "float64",
    "y0": "float64",
    "x1": "float64",
    "y1": "float64",
    "rho": "float64",
    "theta": "float64",
    "width_px": "float64",
    "length_px": "float64",
    "xc": "float64",
    "yc": "float64",
    "angle_deg": "float64",
    "speed_px": "float64",
    "mag": "float64",
    "truncated": "bool",
}


def _check_range(name, value, positive=True):
    lo, hi = (float(v) for v in value)
    if not (lo <= hi and (lo > 0 if positive else lo >= 0)):
        raise InputError(f"{name}: expected (min, max) with 0 < min <= max, got {value}")
    return lo, hi


def simulate_video(
    preset="ztf-like",
    n_frames: int = 8,
    *,
    seed: int,
    n_objects: int | None = None,
    dense: bool = False,
    length_range=(10.0, 60.0),
    width_range=(1.0, 3.0),
    speed_range=(2.0, 15.0),
    mag_range=None,
    truncation_prob: float = 0.2,
    brightness_noise: float = 0.15,
    start="2021-01-01T00:00:00",
) -> xr.Dataset:
    """A video of ``K`` moving line-source objects with per-frame truth and object ids.

    Parameters
    ----------
    preset : str or Preset
        Instrument (``"ztf-like"`` is seed 003's ZTF background).
    n_frames : int
        Frames ``T``.
    seed : int
        Seed of the video.
    n_objects : int, optional
        ``K``; default 1-3, or 4-8 when ``dense``.
    dense : bool
        A dense scene (``K > 3``, seed 003's dense debris type).
    length_range, width_range : (min, max)
        Line length and width [px].
    speed_range : (min, max)
        Displacement per frame [px].
    mag_range : (bright, faint), optional
        Object magnitude [mag]; default the preset's.
    truncation_prob : float
        Probability per object and frame of a random truncation (part of the line cut).
    brightness_noise : float
        Relative scatter of an object's brightness from frame to frame.
    start : str or datetime
        UTC time of the first frame.

    Returns
    -------
    xarray.Dataset
        Frames (``flux``, ``valid``, ``time``, ``exptime``) plus ``trail_mask (frame, y,
        x)`` and, on dim ``trail`` (one entry per object and frame it appears in),
        ``trail_frame`` and the columns of :data:`VIDEO_COLUMNS`; see :func:`video_truth`.
    """
    p = get_preset(preset)
    if int(n_frames) < 1:
        raise InputError(f"n_frames: expected >= 1, got {n_frames}")
    if n_objects is not None and int(n_objects) < 1:
        raise InputError(f"n_objects: expected >= 1 objects, got {n_objects}")
    if not 0 <= truncation_prob <= 1:
        raise InputError(f"truncation_prob: expected a probability, got {truncation_prob}")
    if not brightness_noise >= 0:
        raise InputError(f"brightness_noise: expected >= 0, got {brightness_noise}")
    lengths = _check_range("length_range", length_range, positive=False)
    widths = _check_range("width_range", width_range)
    speeds = _check_range("speed_range", speed_range, positive=False)
    mags = _check_range("mag_range", mag_range or p.mag_range, positive=False)
    params = {
        "preset": p.name,
        "n_frames": int(n_frames),
        "seed": int(seed),
        "n_objects": n_objects,
        "dense": dense,
        "length_range": lengths,
        "width_range": widths,
        "speed_range": speeds,
        "mag_range": mags,
        "truncation_prob": truncation_prob,
        "brightness_noise": brightness_noise,
        "start": str(start),
    }

    rng = np.random.default_rng([seed, 0xD0])
    shape = p.shape
    ny, nx = shape
    exptime = float(p.exptimes[0])
    det = p.detector_for(exptime)
    psf = _psf_for(p, rng)
    tel, scale = p.telescope, p.pixel_scale
    stars = p.scene.draw(rng, shape, scale)
    sky = float(tel.photon_rate(rng.uniform(*p.sky_mag))) * scale**2 * exptime
    background = np.full(shape, sky)
    psf.add_points(background, stars.x, stars.y, tel.photon_rate(stars.mag) * exptime)
    valid = _footprint(p, shape)

    k = (
        int(n_objects)
        if n_objects is not None
        else int(rng.integers(4, 9) if dense else rng.integers(1, 4))
    )
    objs = {
        "xc": rng.uniform(0, nx - 1, k),
        "yc": rng.uniform(0, ny - 1, k),
        "length": rng.uniform(*lengths, k),
        "width": rng.uniform(*widths, k),
        "angle": rng.uniform(0, 2 * np.pi, k),
        "speed": rng.uniform(*speeds, k),
        "mag": rng.uniform(*mags, k),
    }
    images, masks, rows = [], [], []
    for t in range(int(n_frames)):
        frame_rng = np.random.default_rng([seed, 0xD1, t])
        debris = np.zeros(shape)
        mask = np.zeros(shape, bool)
        for j in range(k):
            u = np.array([np.cos(objs["angle"][j]), np.sin(objs["angle"][j])])
            c = np.array([objs["xc"][j], objs["yc"][j]]) + objs["speed"][j] * t * u
            half = objs["length"][j] / 2
            s0, s1 = -half, half
            truncated = bool(frame_rng.random() < truncation_prob)
            if truncated:
                cut = frame_rng.uniform(0.2, 0.6) * 2 * half
                s0, s1 = (s0 + cut, s1) if frame_rng.random() < 0.5 else (s0, s1 - cut)
            a, b = c + s0 * u, c + s1 * u
            path = streak_path(*a, *b)
            area, total = streak_area(shape, path, width=objs["width"][j])
            if not area.any():
                continue  # wholly out of the image: neglected in this frame (seed 003)
            gain = max(0.0, 1 + brightness_noise * frame_rng.standard_normal())
            photons = float(tel.photon_rate(objs["mag"][j])) * exptime * gain
            debris += area * (photons / total)
            mask |= streak_mask(shape, path, psf.fwhm_px + objs["width"][j] - 1) & valid
            rho, theta = line_from_points(*a, *b)
            rows.append(
                {
                    "trail_frame": t,
                    "object_id": j,
                    "x0": a[0],
                    "y0": a[1],
                    "x1": b[0],
                    "y1": b[1],
                    "rho": rho,
                    "theta": theta,
                    "width_px": float(np.hypot(psf.fwhm_px, objs["width"][j])),
                    "length_px": float(s1 - s0),
                    "xc": c[0],
                    "yc": c[1],
                    "angle_deg": float(np.degrees(objs["angle"][j]) % 360),
                    "speed_px": objs["speed"][j],
                    "mag": objs["mag"][j],
                    "truncated": truncated,
                }
            )
        image = det.expose(background + psf.convolve(debris).clip(0), frame_rng)
        image[~valid] = np.nan
        images.append(image)
        masks.append(mask)

    time = pd.Timestamp(start).tz_localize(None) + pd.to_timedelta(
        exptime * (np.arange(int(n_frames)) + 0.5), unit="s"
    )
    attrs = {
        "instrument": p.instrument,
        "pixel_scale": scale,
        "gain": det.sensitivity,
        "source": f"satlab.simulate.simulate_video preset={p.name} seed={seed}",
        "simulation": json.dumps({"params": params, "versions": versions()}, default=str),
    }
    ds = as_frames(np.stack(images), time=time, exptime=exptime, valid=valid, attrs=attrs)
    ds["trail_mask"] = (("frame", "y", "x"), np.stack(masks))
    truth = pd.DataFrame(rows, columns=["trail_frame", *VIDEO_COLUMNS])
    ds["trail_frame"] = ("trail", truth["trail_frame"].to_numpy(dtype=np.int64))
    for name, dtype in VIDEO_COLUMNS.items():
        ds[name] = ("trail", truth[name].to_numpy(dtype=dtype))
    return ds


def video_truth(ds: xr.Dataset) -> pd.DataFrame:
    """One row per object and frame: ``frame``, ``object_id`` and the line geometry.

    Columns as :data:`VIDEO_COLUMNS` (endpoints, ``rho``/``theta`` per seed 001 eq. 1,
    centre ``xc``/``yc``, ``angle_deg``, ``speed_px`` per frame, ``truncated``).
    """
    if "object_id" not in ds:
        raise InputError("ds: expected a video from satlab.simulate.simulate_video")
    df = pd.DataFrame({"frame": ds["trail_frame"].values.astype(np.int64)})
    for name, dtype in VIDEO_COLUMNS.items():
        df[name] = ds[name].values.astype(dtype)
    df.attrs["units"] = {
        **{k: v for k, v in TRUTH_UNITS.items() if k in df},
        "object_id": "",
        "xc": "px",
        "yc": "px",
        "angle_deg": "deg",
        "speed_px": "px/frame",
        "truncated": "",
    }
    return df
