"""Labelled frames with ground truth: :func:`simulate_frames` and :func:`truth_table`.

Frame ``i`` of a run depends only on ``(seed, i)`` (its own random stream), so a run of
``n`` frames is the first ``n`` samples of :class:`~satlab.simulate.TrailDataset` with the
same seed and options, and any single frame can be regenerated alone.

Per frame: exposure, PSF (seeing drawn per frame where the preset has a range), stars
(scene), sky, then either trails (probability ``trail_fraction``), a hard negative
(probability ``hard_negative_fraction`` among the frames without trail) or neither.
The noise-free image goes through the detector chain of seed 002 Fig. 7. Ground truth
follows seed 002 §3.1: the trail mask is the unitary streak dilated by a disk whose
diameter is the PSF FWHM (for a jittered trail, the centre line its light shows), and

* ``snr_avg`` = mean noise-free trail signal per pixel inside the mask / sigma_bg,
* ``snr_tot`` = summed noise-free trail signal inside the mask / sigma_bg,

where sigma_bg is the width of a Gaussian fitted to the histogram of the same frame
*before* the streak was injected (same noise draws, trail left out).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError, SatlabWarning
from ..frames import as_frames, circular_footprint
from ..lines import TRAIL_UNITS
from .negatives import NEGATIVE_KINDS, apply_negative
from .optics import PSF
from .presets import Preset, get_preset
from .scenes import CatalogScene, CompositeScene, SimulatedScene, Stars
from .streaks import render_segments, streak_area, streak_mask, streak_path

__all__ = [
    "COLUMN_DEG",
    "TRUTH_COLUMNS",
    "gaussian_sigma",
    "simulate_frames",
    "truth_table",
    "versions",
]

SIDEREAL_ARCSEC_S = 15.041
# a ``column_fraction`` trail runs within this angle [deg] of the detector columns: up to
# 10 deg over a CHEOPS frame's 200 px it drifts 35 px across, which is what tells it from
# the straight smear column of a bright star
COLUMN_DEG = 10.0
# per-trail truth: name -> dtype (order of truth_table's columns after "frame")
TRUTH_COLUMNS = {
    "x0": "float64",
    "y0": "float64",
    "x1": "float64",
    "y1": "float64",
    "rho": "float64",
    "theta": "float64",
    "width_px": "float64",
    "length_px": "float64",
    "flux": "float64",
    "mag": "float64",
    "mag_visible": "float64",
    "snr_avg": "float64",
    "snr_tot": "float64",
    "rate_arcsec_s": "float64",
    "duration_s": "float64",
    "jitter_px": "float64",
}
# the geometry columns share the units of satlab.detect.trails() tables
TRUTH_UNITS = {
    "frame": "",
    **{k: TRAIL_UNITS[k] for k in TRUTH_COLUMNS if k in TRAIL_UNITS},
    "flux": "ADU",
    "mag": "mag",
    "mag_visible": "mag",
    "snr_avg": "",
    "snr_tot": "",
    "rate_arcsec_s": "arcsec/s",
    "duration_s": "s",
    "jitter_px": "px",
}

# truth columns whose Dataset variable needs another name ("flux" is the frames' pixels)
_VAR = {"flux": "trail_flux"}


@functools.lru_cache(maxsize=1)
def versions() -> dict:
    """Versions of the packages a simulation depends on (recorded with every run)."""
    from importlib.metadata import version

    from .._version import __version__

    out = {"satlab": __version__}
    for pkg in ("numpy", "scipy", "xarray", "astropy", "sgp4"):
        out[pkg] = version(pkg)
    return out


@dataclass
class _Plan:
    """One frame before the detector: what light and charge land where."""

    shape: tuple[int, int]
    exptime: float
    sky_photons: float
    psf: PSF
    stars: Stars
    bright_stars: Stars = field(default_factory=Stars.empty)
    photons_extra: object = 0.0
    extra_dark: object = 0.0
    electrons_extra: object = 0.0


@dataclass(frozen=True)
class _Options:
    trail_fraction: float
    hard_negative_fraction: float
    negative_kinds: tuple[str, ...]
    max_trails: int
    mag_range: tuple[float, float]
    rate_range: tuple[float, float]
    min_length_px: float
    truncation_fraction: float
    jitter_fraction: float
    variation_fraction: float
    start: np.datetime64
    scene: object
    snr_range: tuple[float, float] | None = None
    column_fraction: float = 0.0


def _check_options(preset: Preset, **kw) -> _Options:
    for name in (
        "trail_fraction",
        "hard_negative_fraction",
        "truncation_fraction",
        "jitter_fraction",
        "variation_fraction",
        "column_fraction",
    ):
        if not 0.0 <= kw[name] <= 1.0:
            raise InputError(f"{name}: expected a fraction in [0, 1], got {kw[name]}")
    kinds = NEGATIVE_KINDS if kw["negative_kinds"] is None else tuple(kw["negative_kinds"])
    bad = [k for k in kinds if k not in NEGATIVE_KINDS]
    if bad or not kinds:
        raise InputError(
            f"negative_kinds: expected a non-empty subset of {NEGATIVE_KINDS}, "
            f"got {kw['negative_kinds']!r}"
        )
    if int(kw["max_trails"]) < 1:
        raise InputError(f"max_trails: expected >= 1, got {kw['max_trails']}")
    mag = tuple(kw["mag_range"] or preset.mag_range)
    rate = tuple(kw["rate_range"] or preset.rate_range)
    if len(mag) != 2 or mag[0] > mag[1]:
        raise InputError(f"mag_range: expected (bright, faint) magnitudes, got {mag}")
    if len(rate) != 2 or not 0 < rate[0] <= rate[1]:
        raise InputError(f"rate_range: expected (slow, fast) > 0 arcsec/s, got {rate}")
    if not kw["min_length_px"] >= 0:
        raise InputError(f"min_length_px: expected >= 0 px, got {kw['min_length_px']}")
    snr = kw.get("snr_range")
    if snr is not None:
        snr = tuple(float(v) for v in snr)
        if len(snr) != 2 or not 0 < snr[0] <= snr[1]:
            raise InputError(f"snr_range: expected (low, high) S/N > 0, got {kw['snr_range']}")
    scene = kw["scene"] if kw["scene"] is not None else preset.scene
    if not isinstance(scene, (SimulatedScene, CatalogScene, CompositeScene)):
        raise InputError(
            f"scene: expected a SimulatedScene, CatalogScene or CompositeScene, "
            f"got {type(scene).__name__}"
        )
    if isinstance(scene, CompositeScene):
        scene = _LoadedComposite(scene.frames())
    try:
        start = np.datetime64(pd.Timestamp(kw["start"]).tz_localize(None), "ns")
    except (TypeError, ValueError) as exc:
        raise InputError(f"start: expected a UTC date-time, got {kw['start']!r}") from exc
    return _Options(
        trail_fraction=float(kw["trail_fraction"]),
        hard_negative_fraction=float(kw["hard_negative_fraction"]),
        negative_kinds=kinds,
        max_trails=int(kw["max_trails"]),
        mag_range=(float(mag[0]), float(mag[1])),
        rate_range=(float(rate[0]), float(rate[1])),
        min_length_px=float(kw["min_length_px"]),
        truncation_fraction=float(kw["truncation_fraction"]),
        jitter_fraction=float(kw["jitter_fraction"]),
        variation_fraction=float(kw["variation_fraction"]),
        start=start,
        scene=scene,
        snr_range=snr,
        column_fraction=float(kw["column_fraction"]),
    )


@dataclass(frozen=True, eq=False)
class _LoadedComposite:
    frames: xr.Dataset


def _visit(preset: Preset, seed: int) -> dict:
    """Visit-wide pointing: the telescope's ``pointing`` if set, else drawn from the seed."""
    rng = np.random.default_rng([seed, 0x5A7])
    visit = {
        "ra": float(rng.uniform(0, 360)),
        "dec": float(np.degrees(np.arcsin(rng.uniform(-1, 1)))),
        "roll0": float(rng.uniform(0, 360)),
    }
    pointing = preset.telescope.pointing
    if pointing is not None:
        icrs = pointing.icrs
        visit.update(ra=float(icrs.ra.deg), dec=float(icrs.dec.deg))
    return visit


def _psf_for(preset: Preset, rng) -> PSF:
    tel = preset.telescope
    if preset.r0_range is not None and tel.mode == "seeing":
        # 8 seeing values across the range keep the PSF cache small
        lo, hi = preset.r0_range
        tel = dataclasses.replace(tel, r0=float(np.linspace(lo, hi, 8)[rng.integers(8)]))
    return _telescope_psf(tel, preset.detector.pixel_size)


@functools.lru_cache(maxsize=64)
def _telescope_psf(tel, pixel_size: float) -> PSF:
    # the hot loop asks for the same few PSFs: skip Telescope.psf's own set-up per frame
    return tel.psf(pixel_size)


def _clip_to_field(p0, p1, shape, circular: bool):
    """Parameter range [t0, t1] of p0 + t (p1 - p0) inside the image (and crop circle)."""
    ny, nx = shape
    d = p1 - p0
    t0, t1 = 0.0, 1.0
    for lo, hi, p, dd in ((-0.5, nx - 0.5, p0[0], d[0]), (-0.5, ny - 0.5, p0[1], d[1])):
        if dd == 0:
            if not lo <= p <= hi:
                return None
            continue
        a, b = sorted(((lo - p) / dd, (hi - p) / dd))
        t0, t1 = max(t0, a), min(t1, b)
    if circular:
        c = np.array([(nx - 1) / 2, (ny - 1) / 2])
        r = min(shape) / 2
        f = p0 - c
        qa, qb, qc = d @ d, 2 * f @ d, f @ f - r * r
        disc = qb * qb - 4 * qa * qc
        if qa == 0 or disc <= 0:
            return None if qc > 0 else (t0, t1)
        s = np.sqrt(disc)
        t0, t1 = max(t0, (-qb - s) / (2 * qa)), min(t1, (-qb + s) / (2 * qa))
    return (t0, t1) if t1 > t0 else None


def _draw_trail(preset: Preset, opts: _Options, rng, shape, exptime, circular):
    """Geometry and brightness of one object crossing the field during the exposure."""
    ny, nx = shape
    scale = preset.pixel_scale
    centre = np.array([(nx - 1) / 2, (ny - 1) / 2])
    # no draw at fraction 0: sets made without the option keep their random streams
    column = opts.column_fraction > 0 and rng.random() < opts.column_fraction
    for _ in range(100):
        if circular:
            r = 0.45 * min(shape) * np.sqrt(rng.random())
            a = rng.uniform(0, 2 * np.pi)
            p = centre + r * np.array([np.cos(a), np.sin(a)])
        else:
            p = np.array([rng.uniform(0, nx - 1), rng.uniform(0, ny - 1)])
        if column:  # along y, the detector columns, either way
            phi = np.pi * (rng.integers(2) + 0.5) + np.radians(rng.uniform(-1, 1) * COLUMN_DEG)
        else:
            phi = rng.uniform(0, 2 * np.pi)
        u = np.array([np.cos(phi), np.sin(phi)])
        big = 2.0 * (nx + ny)
        chord = _clip_to_field(p - big * u, p + big * u, shape, circular)
        if chord is None:
            continue
        a_in = p - big * u + chord[0] * 2 * big * u
        chord_len = (chord[1] - chord[0]) * 2 * big
        rate = float(np.exp(rng.uniform(*np.log(opts.rate_range))))
        travel = rate * exptime / scale  # px covered during the exposure
        need = min(opts.min_length_px, travel, chord_len)
        s0 = rng.uniform(-travel + need, chord_len - need)
        s1 = s0 + travel
        if rng.random() < opts.truncation_fraction:  # e.g. the object enters Earth's shadow
            cut = rng.uniform(max(s0, 0.0) + need, max(min(s1, chord_len), need + s0 + 1e-9))
            s0, s1 = (s0, cut) if rng.random() < 0.5 else (cut - need, s1)
        a_pt, b_pt = a_in + s0 * u, a_in + s1 * u
        vis = _clip_to_field(a_pt, b_pt, shape, circular)
        if vis is None or (vis[1] - vis[0]) * (s1 - s0) < need - 1e-9:
            continue
        return {
            "a": a_pt,
            "b": b_pt,
            "visible": (a_pt + vis[0] * (b_pt - a_pt), a_pt + vis[1] * (b_pt - a_pt)),
            "rate": rate,
            "mag": float(rng.uniform(*opts.mag_range)),
            "jitter": rng.random() < opts.jitter_fraction,
            "vary": rng.random() < opts.variation_fraction,
        }
    raise InputError(
        f"min_length_px={opts.min_length_px}: no trail of that length fits the {nx}x{ny} field "
        f"at rates {opts.rate_range} arcsec/s and exposure {exptime} s"
    )


def _seen_path(psf, a, b, jitter: dict) -> np.ndarray:
    """The path the trail's light shows: the jitter's wave as the PSF smooths it.

    Across the trail, the light's centre line is the path's wave convolved with the PSF
    along the trail: a sine of the same period whose amplitude and phase the kernel's
    transfer at that period sets (the 24-px CHEOPS donut keeps 3 % of a 10-px wave, two
    thirds of a 60-px one). Seed 002's mask is the linear streak dilated by the FWHM
    disk; satlab's dilates this centre line, so a jittered trail's mask marks where its
    light falls and not a wave no image holds.
    """
    if not jitter:
        return streak_path(*a, *b)
    half = psf.size // 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    along = (x * (b[0] - a[0]) + y * (b[1] - a[1])) / np.hypot(*(b - a))
    h = (psf.kernel * np.exp(-2j * np.pi * along / jitter["jitter_period_px"])).sum()
    return streak_path(
        *a,
        *b,
        jitter_px=jitter["jitter_px"] * abs(h),
        jitter_period_px=jitter["jitter_period_px"],
        jitter_phase=jitter["jitter_phase"] + np.angle(h),
    )


def _trail_photons(preset, trail, rng, shape, exptime, psf):
    """The unitary streak [photons] before the PSF (pixel-exact) and the path its light shows.

    Only the part of the path within ``margin`` px (the PSF kernel's size) of the image is
    drawn (a fast object covers thousands of px in an exposure); its photons are those of
    the time spent along that part. They are drawn on the image padded by ``margin`` on every side:
    the trail goes on beyond the detector's edge, and the PSF carries that light onto
    the edge pixels (a trail drawn on the image alone would fade over the last half PSF).
    """
    ny, nx = shape
    margin = psf.size
    a, b = trail["a"], trail["b"]
    t = _clip_to_field(a + margin, b + margin, (ny + 2 * margin, nx + 2 * margin), False)
    a, b = a + t[0] * (b - a), a + t[1] * (b - a)
    length = float(np.hypot(*(b - a)))
    jitter = {}
    if trail["jitter"]:
        jitter = {
            "jitter_px": rng.uniform(0.3, 2.0),
            "jitter_period_px": rng.uniform(10.0, 60.0),
            "jitter_phase": rng.uniform(0, 2 * np.pi),
        }
    trail["jitter_px"] = jitter.get("jitter_px", 0.0)
    path = streak_path(*a, *b, **jitter)
    weights = None
    if trail["vary"]:
        s = (np.arange(len(path) - 1) + 0.5) / (len(path) - 1)
        period = rng.uniform(0.1, 1.0)  # tumbling period as a fraction of the trail
        weights = 1 + rng.uniform(0.1, 0.8) * np.sin(2 * np.pi * s / period + rng.uniform(0, 7))
        weights *= rng.lognormal(0.0, 0.1, s.size)  # scintillation
        # what a photometer can see: the mean brightness over the visible part alone
        d = b - a
        sv = [float(np.dot(np.asarray(v) - a, d) / np.dot(d, d)) for v in trail["visible"]]
        s_mid = (np.arange(weights.size) + 0.5) / weights.size
        seen = (s_mid >= min(sv)) & (s_mid <= max(sv))
        if seen.any():
            trail["visible_dmag"] = -2.5 * np.log10(weights[seen].mean() / weights.mean())
    padded = (ny + 2 * margin, nx + 2 * margin)
    area, total = streak_area(padded, path + margin, weights=weights)
    duration = min(length * preset.pixel_scale / trail["rate"], exptime)
    photons = area * (float(preset.telescope.photon_rate(trail["mag"])) * duration / total)
    return photons, _seen_path(psf, a, b, jitter)


def gaussian_sigma(values) -> float:
    """Width of a Gaussian fitted to the histogram of ``values`` (seed 002 §3.1's sigma_bg).

    The fit is the weighted least-squares parabola through the log of the histogram
    counts (Caruana's method with Guo's weights), over the core within 3 MAD-sigma of the
    median, so stars and trails in the wings do not widen it.
    """
    v = np.asarray(values).ravel()
    if v.dtype.kind != "f":
        v = v.astype(np.float64)
    finite = np.isfinite(v)
    if not finite.all():
        v = v[finite]
    if v.size < 10:
        raise InputError(f"values: expected at least 10 finite pixels, got {v.size}")
    # the fit window only needs rough centre and width: ~2000 pixels will do
    sub = v[:: max(1, v.size // 2000)].astype(np.float64)
    med = float(np.median(sub))
    mad = 1.4826 * float(np.median(np.abs(sub - med)))
    if mad == 0:
        return float(np.std(v))
    nbins = max(int(6 * mad / max(mad / 6, 1e-6)), 1)
    width = 6 * mad / nbins
    # np.histogram's binning by hand (in the data's precision): several times faster
    scaled = (v - v.dtype.type(med - 3 * mad)) * v.dtype.type(1 / width)
    counts = np.bincount(scaled[(scaled >= 0) & (scaled < nbins)].astype(np.intp), minlength=nbins)
    centres = (np.arange(nbins) + 0.5) * width - 3 * mad
    ok = counts > 0
    if ok.sum() < 3:
        return mad
    coef = np.polyfit(centres[ok] / mad, np.log(counts[ok]), 2, w=counts[ok])
    return float(mad * np.sqrt(-0.5 / coef[0])) if coef[0] < 0 else mad


def _footprint(preset: Preset, shape):
    return _cached_footprint(bool(preset.circular), tuple(shape)).copy()


@functools.lru_cache(maxsize=8)
def _cached_footprint(circular: bool, shape):
    return circular_footprint(shape) if circular else np.ones(shape, bool)


def _make_frame(
    preset: Preset,
    opts: _Options,
    seed: int,
    index: int,
    visit: dict,
    *,
    with_mask: bool = True,
    with_truth: bool = True,
):
    """Frame ``index`` of run ``seed``: (ADU image, mask, truth rows, frame info).

    ``visit`` holds the pointing (``ra``, ``dec``, ``roll0``); the sample archive also
    fixes ``exptime``, ``roll``, ``target_mag`` and ``trails`` (objects from SGP4) there.
    A training sample that needs no trail mask (``with_mask=False``: an all-False mask)
    or no truth table (``with_truth=False``: rows hold the geometry only, without the
    fitted sigma_bg, fluxes and S/N) skips that work; its pixels are the same.
    """
    rng = np.random.default_rng([seed, index])
    exptime = float(visit.get("exptime", preset.exptimes[rng.integers(len(preset.exptimes))]))
    det = preset.detector_for(exptime)
    composite = isinstance(opts.scene, _LoadedComposite)
    if composite:
        bg_frames = opts.scene.frames
        k = int(rng.integers(bg_frames.sizes["frame"]))
        background = bg_frames["flux"].values[k].astype(float)
        shape = background.shape
        valid = bg_frames["valid"].values & np.isfinite(background)
        bg_exp = float(bg_frames["exptime"].values[k])
        exptime = bg_exp if np.isfinite(bg_exp) else exptime
    else:
        shape = preset.shape
        valid = _footprint(preset, shape)
    cadence = max(preset.exptimes)
    t_mid = (index + 0.5) * cadence
    roll = visit.get("roll", (visit["roll0"] + preset.roll_rate * t_mid) % 360.0)
    psf = _psf_for(preset, rng)
    scale = preset.pixel_scale
    tel = preset.telescope
    sky = float(tel.photon_rate(rng.uniform(*preset.sky_mag))) * scale**2 * exptime
    if composite:
        stars = Stars.empty()
    else:
        stars = opts.scene.draw(rng, shape, scale, ra=visit["ra"], dec=visit["dec"], roll=roll)
    if preset.target_mag is not None and not composite:
        c = np.array([(shape[1] - 1) / 2, (shape[0] - 1) / 2]) + rng.normal(0, 1.0, 2)
        tmag = visit.get("target_mag", rng.uniform(*preset.target_mag))
        stars = Stars(np.array([c[0]]), np.array([c[1]]), np.array([tmag])).concat(stars)
    plan = _Plan(shape=shape, exptime=exptime, sky_photons=sky, psf=psf, stars=stars)

    kind = ""
    has_trail = rng.random() < opts.trail_fraction
    if "trails" in visit:
        has_trail = bool(visit["trails"])
    if not has_trail and rng.random() < opts.hard_negative_fraction:
        kind = str(opts.negative_kinds[rng.integers(len(opts.negative_kinds))])
        apply_negative(kind, plan, rng, preset)
    trails = []
    if "trails" in visit:
        trails = [dict(tr) for tr in visit["trails"]]
    elif has_trail:
        for _ in range(int(rng.integers(1, opts.max_trails + 1))):
            trails.append(_draw_trail(preset, opts, rng, shape, exptime, preset.circular))

    # noise-free light of the scene [photons]
    gain = det.quantum_efficiency * det.sensitivity
    if composite:
        scene_photons = None
    else:
        allstars = plan.stars.concat(plan.bright_stars)
        rates = tel.photon_rate(allstars.mag) * exptime
        if preset.sidereal_trails:
            points = _sidereal_stars(allstars, rates, shape, exptime, scale)
            scene_photons = plan.psf.convolve(points).clip(0)
        else:
            scene_photons = np.zeros(shape, np.float32)
            plan.psf.add_points(scene_photons, allstars.x, allstars.y, rates)
        scene_photons += sky + plan.photons_extra
        if det.readout_time > 0:
            scene_photons += det.smear(scene_photons)
            scene_photons += _offfield_smear(plan, det, tel, shape, exptime)
    signals, rows, masks = [], [], []
    if opts.snr_range is not None and trails:
        # the noise a drawn snr_avg refers to (seed 002 §3.1): the real background's, or
        # the expected noise at the typical simulated background (sky, smear, star wings)
        if composite:
            noise = gaussian_sigma(background[valid])
        else:
            noise = det.noise_sigma(float(np.median(scene_photons[valid][::9])), exptime)
    for tr in trails:
        m = plan.psf.size
        photons, seen = _trail_photons(preset, tr, rng, shape, exptime, plan.psf)
        signal = plan.psf.convolve(photons)[m : m + shape[0], m : m + shape[1]]
        # below 1e-6 of the peak the float32 FFT holds only round-off: exact zeros there
        signal[signal < 1e-6 * signal.max()] = 0.0
        signals.append(signal)
        if with_mask or with_truth or opts.snr_range is not None:
            # seed 002: the mask is the unitary streak convolved with a disk of the PSF FWHM
            masks.append(streak_mask(shape, seen, plan.psf.fwhm_px) & valid)
        if opts.snr_range is not None and masks[-1].any():
            # brightness from a drawn snr_avg over that noise
            target = float(np.exp(rng.uniform(*np.log(opts.snr_range))))
            mean_adu = float(signal[masks[-1]].mean()) * gain
            scale = target * noise / max(mean_adu, 1e-30)
            signal *= np.float32(scale)
            tr["mag"] -= 2.5 * np.log10(scale)
        (vx0, vy0), (vx1, vy1) = tr["visible"]
        tr["duration"] = np.hypot(vx1 - vx0, vy1 - vy0) * preset.pixel_scale / tr["rate"]
    trail_photons = np.sum(signals, axis=0) if signals else None

    if composite:
        e_tr = (
            det.quantum_efficiency * rng.poisson(trail_photons)
            if trail_photons is not None
            else 0.0
        )
        image = background + e_tr * det.sensitivity
    else:
        # one draw of photon, dark and read noise for the scene and its trails together
        photons = scene_photons if trail_photons is None else scene_photons + trail_photons
        e = det.charge(photons, rng, exptime=exptime, extra_dark=plan.extra_dark)
        image = det.digitise(e + plan.electrons_extra)
    if not with_truth:  # the trails' geometry alone
        keys = ("x0", "y0", "x1", "y1")
        rows = [dict(zip(keys, np.ravel(tr["visible"]), strict=True)) for tr in trails]
    elif trails:
        # seed 002 fits sigma_bg to the background without the trails: a composite's real
        # background, else the pixels where trail light stays below 1 % of the photon
        # noise (all, if too few are left)
        if composite:
            sigma_bg = gaussian_sigma(background[valid])
        else:
            quiet = valid & (trail_photons < 0.01 * np.sqrt(scene_photons))
            sigma_bg = gaussian_sigma(image[quiet if quiet.sum() >= 1000 else valid])
        mosaic = det.bayer_gain()
        for tr, sig, mask in zip(trails, signals, masks, strict=True):
            adu = sig * gain
            if mosaic is not None:
                adu = adu * mosaic  # the white balance of each pixel's colour
            inside = adu[mask].astype(np.float64)
            (x0, y0), (x1, y1) = tr["visible"]
            rows.append(
                {
                    "x0": x0,
                    "y0": y0,
                    "x1": x1,
                    "y1": y1,
                    "width_px": plan.psf.fwhm_px,
                    "length_px": float(np.hypot(x1 - x0, y1 - y0)),
                    "flux": float(adu[valid].sum(dtype=np.float64)),
                    "mag": tr["mag"],
                    "mag_visible": tr["mag"] + tr.get("visible_dmag", 0.0),
                    "snr_avg": float(inside.mean() / sigma_bg) if inside.size else 0.0,
                    "snr_tot": float(inside.sum() / sigma_bg),
                    "rate_arcsec_s": tr["rate"],
                    "duration_s": tr["duration"],
                    "jitter_px": tr["jitter_px"],
                }
            )
    image = np.asarray(image, dtype=np.float32)
    image[~valid] = np.nan
    mask = np.logical_or.reduce(masks) if masks and with_mask else np.zeros(shape, bool)
    info = {
        "t_mid": t_mid,
        "exptime": exptime,
        "roll": roll,
        "kind": kind,
        "n_stars": len(plan.stars) + len(plan.bright_stars),
    }
    return image, mask, rows, info


def _sidereal_stars(stars: Stars, photons, shape, exptime, scale):
    """Stars trailing along +x at the sidereal rate (the mount tracks a GEO object)."""
    half = SIDEREAL_ARCSEC_S * exptime / scale / 2
    return render_segments(shape, stars.x - half, stars.y, stars.x + half, stars.y, photons)


def _offfield_smear(plan, det, tel, shape, exptime):
    """Smear columns of bright stars outside the field (their light never lands in it)."""
    out = np.zeros(shape)
    ny, nx = shape
    half = plan.psf.size // 2
    cols = plan.psf.kernel.sum(axis=0)
    for x, y, mag in zip(*plan.bright_stars.astuple(), strict=True):
        if -0.5 <= y < ny - 0.5:
            continue  # inside: already in the image and smeared with it
        # each of the nexp reads smears readout_time seconds of the star's light
        total = float(tel.photon_rate(mag)) * det.readout_time * det.nexp
        xi = round(x) + np.arange(-half, half + 1)
        ok = (xi >= 0) & (xi < nx)
        out[:, xi[ok]] += total * cols[ok] / ny
    return out


def simulate_frames(
    preset="cheops",
    n: int = 16,
    *,
    seed: int,
    trail_fraction: float = 0.5,
    hard_negative_fraction: float = 0.0,
    negative_kinds=None,
    max_trails: int = 1,
    mag_range=None,
    snr_range=None,
    rate_range=None,
    min_length_px: float = 10.0,
    truncation_fraction: float = 0.1,
    jitter_fraction: float = 0.2,
    variation_fraction: float = 0.3,
    column_fraction: float = 0.0,
    scene=None,
    start="2021-01-01T00:00:00",
) -> xr.Dataset:
    """Simulated, labelled frames of an instrument in satlab's frame data model.

    Parameters
    ----------
    preset : str or Preset
        ``"cheops"``, ``"evscope1"``, ``"evscope2"``, ``"geo-sensor"``, ``"ztf-like"``
        (see :mod:`satlab.simulate.presets`) or a :class:`Preset`.
    n : int
        Number of frames.
    seed : int
        Seed of the run; frame ``i`` depends only on ``(seed, i)``.
    trail_fraction : float
        Probability that a frame holds at least one trail.
    hard_negative_fraction : float
        Probability that a frame without trail holds a hard negative.
    negative_kinds : sequence of str, optional
        Hard-negative kinds drawn from (default all of :data:`NEGATIVE_KINDS`).
    max_trails : int
        Trails per trail frame, drawn uniformly in ``1..max_trails``.
    mag_range : (bright, faint), optional
        Apparent magnitude of the objects [mag]; default the preset's.
    snr_range : (low, high), optional
        Draw each trail's brightness from its S/N instead: ``snr_avg`` (seed 002 §3.1, the
        mean trail signal in the mask over the background noise) log-uniform in this
        range; ``mag`` in the truth is then the magnitude that gives it. (0.2, 30) matches
        the S/N distribution of seed 002's test set. The draw divides by the expected
        noise at the median background level; the realised ``snr_avg`` in the truth uses
        the fitted sigma_bg: typically 10 % (at most ~30 %) lower on CHEOPS frames, much
        lower on Bayer mosaics, whose colour gains widen the fitted background.
    rate_range : (slow, fast), optional
        Angular rate of the objects [arcsec/s], log-uniform; default the preset's.
    min_length_px : float
        Shortest visible trail [px] (shorter only if the object moves less in the exposure).
    truncation_fraction, jitter_fraction, variation_fraction : float
        Probabilities that a trail is cut short inside the field, follows a wavy path, or
        varies in brightness along its length (tumbling plus scintillation).
    column_fraction : float
        Probability that a trail runs within :data:`COLUMN_DEG` of the detector columns
        (``y``), where read-out smear runs too; the others take any direction. Training
        sets raise it so that a network sees enough such trails to tell them from smear.
    scene : SimulatedScene, CatalogScene or CompositeScene, optional
        What is behind the trails; default the preset's simulated star field.
    start : str or datetime
        UTC start of the run; frames follow each other every ``max(preset.exptimes)`` s.

    Returns
    -------
    xarray.Dataset
        Frames (``flux (frame, y, x)`` [ADU], ``valid``, coords ``time``, ``exptime``,
        ``ra``, ``dec``, ``roll``) plus the truth: ``trail_mask (frame, y, x)``,
        ``label (frame)`` (1 = at least one trail), ``negative_kind (frame)`` ("" or the
        kind), ``n_stars (frame)`` and, on dim ``trail``, ``trail_frame`` and the columns
        of :data:`TRUTH_COLUMNS` (see :func:`truth_table`), the trail flux as
        ``trail_flux`` since ``flux`` holds the pixels. ``attrs["simulation"]`` is a
        JSON record of the parameters, seed and package versions.

    Raises
    ------
    satlab.errors.InputError
        Unknown preset or negative kind, fractions outside [0, 1], impossible ranges.
    """
    p = get_preset(preset)
    if int(n) < 1:
        raise InputError(f"n: expected >= 1 frames, got {n}")
    params = {
        "preset": p.name,
        "n": int(n),
        "seed": int(seed),
        "trail_fraction": trail_fraction,
        "hard_negative_fraction": hard_negative_fraction,
        "negative_kinds": None if negative_kinds is None else list(negative_kinds),
        "max_trails": max_trails,
        "mag_range": mag_range,
        "snr_range": snr_range,
        "rate_range": rate_range,
        "min_length_px": min_length_px,
        "truncation_fraction": truncation_fraction,
        "jitter_fraction": jitter_fraction,
        "variation_fraction": variation_fraction,
        "column_fraction": column_fraction,
        "scene": type(scene).__name__ if scene is not None else "preset",
        "start": str(start),
    }
    opts = _check_options(
        p,
        trail_fraction=trail_fraction,
        hard_negative_fraction=hard_negative_fraction,
        negative_kinds=negative_kinds,
        max_trails=max_trails,
        mag_range=mag_range,
        snr_range=snr_range,
        rate_range=rate_range,
        min_length_px=min_length_px,
        truncation_fraction=truncation_fraction,
        jitter_fraction=jitter_fraction,
        variation_fraction=variation_fraction,
        column_fraction=column_fraction,
        scene=scene,
        start=start,
    )
    return _assemble(p, opts, int(seed), range(int(n)), params)


def _assemble(p: Preset, opts: _Options, seed: int, indices, params: dict) -> xr.Dataset:
    from ..lines import line_from_points

    visit = _visit(p, seed)
    images, masks, infos, rows = [], [], [], []
    for i in indices:
        image, mask, trs, info = _make_frame(p, opts, seed, i, visit)
        images.append(image)
        masks.append(mask)
        infos.append(info)
        for r in trs:
            rho, theta = line_from_points(r["x0"], r["y0"], r["x1"], r["y1"])
            rows.append({"trail_frame": i, **r, "rho": rho, "theta": theta})
    info = pd.DataFrame(infos)
    time = opts.start + pd.to_timedelta(info["t_mid"].to_numpy(), unit="s").to_numpy()
    composite = isinstance(opts.scene, _LoadedComposite)
    valid = opts.scene.frames["valid"].values if composite else _footprint(p, images[0].shape)
    attrs = {
        "instrument": p.instrument if not composite else "composite",
        "pixel_scale": p.pixel_scale,
        "parity": -1,
        "gain": p.detector.sensitivity,
        "zero_point": float(
            2.5
            * np.log10(
                p.telescope.photon_rate(0.0)
                * p.detector.quantum_efficiency
                * p.detector.sensitivity
            )
        ),
        "source": f"satlab.simulate preset={p.name} seed={seed}",
        "simulation": json.dumps({"params": params, "versions": versions()}, default=str),
    }
    with warnings.catch_warnings():
        # NaN outside the crop is the data model's policy, not news
        warnings.simplefilter("ignore", SatlabWarning)
        ds = as_frames(
            np.stack(images),
            time=time,
            exptime=info["exptime"].to_numpy(),
            valid=valid,
            attrs=attrs,
        )
    ds = ds.assign_coords(
        frame=np.asarray(list(indices)),
        ra=("frame", np.full(len(info), visit["ra"])),
        dec=("frame", np.full(len(info), visit["dec"])),
        roll=("frame", info["roll"].to_numpy()),
    )
    ds["trail_mask"] = (("frame", "y", "x"), np.stack(masks))
    with_trail = {r["trail_frame"] for r in rows}
    ds["label"] = ("frame", np.asarray([i in with_trail for i in indices], dtype=np.int64))
    ds["negative_kind"] = ("frame", info["kind"].to_numpy().astype(str))
    ds["n_stars"] = ("frame", info["n_stars"].to_numpy().astype(np.int64))
    truth = pd.DataFrame(rows, columns=["trail_frame", *TRUTH_COLUMNS])
    ds["trail_frame"] = ("trail", truth["trail_frame"].to_numpy(dtype=np.int64))
    for name, dtype in TRUTH_COLUMNS.items():
        var = _VAR.get(name, name)
        ds[var] = ("trail", truth[name].to_numpy(dtype=dtype))
        ds[var].attrs["units"] = TRUTH_UNITS[name]
    return ds


def truth_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per simulated trail: ``frame`` plus the truth columns.

    Columns ``frame, x0, y0, x1, y1, rho, theta, width_px, length_px, flux, mag,
    mag_visible, snr_avg, snr_tot, rate_arcsec_s, duration_s, jitter_px``: the same names
    and conventions (seed 001 eq. 1, :mod:`satlab.lines`) as :func:`satlab.detect.trails`.
    ``jitter_px`` is the amplitude of the telescope jitter that waves the trail's path
    (``jitter_fraction``; 0 for a straight trail; NaN in sets saved before satlab recorded
    it): the mask follows the wave as the PSF smooths it (the centre line of the trail's
    light), the line and its endpoints do not.
    Endpoints are those of the visible part; ``flux`` is the noise-free trail signal inside
    the footprint [ADU]; ``mag`` is the object's mean magnitude over the exposure and
    ``mag_visible`` its mean over the visible part of the trail (they differ for a
    tumbling object, ``variation_fraction``): the reference for trail photometry.
    ``attrs["units"]`` gives each column's unit. Only the trails of the frames ``ds``
    holds are listed (``frame`` labels; a selection such as ``ds.isel(frame=[3])`` keeps
    the per-trail variables of every frame). No trail: the typed empty table and a
    :class:`SatlabWarning`.
    """
    if "trail_frame" not in ds:
        raise InputError(
            "ds: expected simulated frames with a 'trail_frame' variable "
            "(from satlab.simulate.simulate_frames)"
        )
    df = pd.DataFrame({"frame": ds["trail_frame"].values.astype(np.int64)})
    for name, dtype in TRUTH_COLUMNS.items():
        var = _VAR.get(name, name)
        if name == "jitter_px" and var not in ds:  # a set saved before satlab recorded it
            df[name] = np.nan
        else:
            df[name] = ds[var].values.astype(dtype)
    if "frame" in ds.coords:
        # frames selected with isel/sel keep every trail's truth: only theirs count
        df = df[df["frame"].isin(ds["frame"].values)].reset_index(drop=True)
    df.attrs["units"] = dict(TRUTH_UNITS)
    if df.empty:
        warnings.warn(
            "truth_table: the frames hold no simulated trail", SatlabWarning, stacklevel=2
        )
    return df
