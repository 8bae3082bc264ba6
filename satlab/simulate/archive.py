"""The self-consistent sample archive: CHEOPS-like visits whose trails come from SGP4.

:func:`make_archive` builds a synthetic population (:mod:`.population`), a CHEOPS-like
observer (700 km dawn-dusk SSO), one visit per month, and for every frame finds the
catalogued objects that cross the field during the exposure with
:func:`satlab.orbits.predict` (coarse 2 s samples, then 20 ms samples around each
crossing). Sunlit crossers are rendered with the apparent magnitude

    m = m_std + 5 log10(range_km / 1000) - 2.5 log10(F(phase) / F(45 deg))

(standard magnitude, seed 001 eq. 2, and the phase law of a diffuse sphere ``F``,
normalised at 45 deg, the middle of CHEOPS's 0-60 deg phase range); objects in the
Earth's shadow are not. The pointing obeys CHEOPS's constraints (within 60 deg of the
anti-Sun direction, line of sight at least 100 km above the limb); in a share of the
visits (``crossing_fraction``) it is placed on the predicted track of a sunlit object
so that the archive holds trails at all.

Written into ``out``: ``CH_PR*_SCI_COR_SubArray_V0300.fits.gz`` files (one per visit;
calibrated electrons as DRP COR products; header ``OBSERVER`` restores the observer
through :func:`satlab.open_frames`), ``population.3le`` (element sets at every visit
epoch), ``satcat.csv``, ``truth.csv`` (one row per rendered trail, frames numbered in
time order as ``open_frames`` returns them), ``frames.csv`` (per frame: file, time,
hard-negative kind, number of trails) and ``archive.json`` (parameters, versions,
the magnitude law and the zero point).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError, OutputExistsError
from .population import MAG_LAW, cheops_observer_tle, make_population
from .presets import get_preset
from .scenes import CatalogScene, star_magnitudes
from .simulator import _check_options, _clip_to_field, _make_frame, versions

__all__ = ["make_archive"]

RE_KM = 6378.137
ORBIT_S = 98.77 * 60.0
ARCHIVE_COLUMNS = [
    "frame",
    "file",
    "time",
    "norad_id",
    "object_name",
    "object_type",
    "rcs_size",
    "launch_date",
    "mag_std",
    "range_km",
    "phase_angle_deg",
    "mag",
    "x0",
    "y0",
    "x1",
    "y1",
    "rho",
    "theta",
    "width_px",
    "length_px",
    "flux",
    "snr_avg",
    "snr_tot",
    "rate_arcsec_s",
    "duration_s",
]


def _gzip(path: Path) -> Path:
    """``path`` -> ``path.gz`` with no time stamp in the gzip header, so that a rebuild
    with the same seed gives byte-identical files."""
    import gzip

    target = path.with_name(path.name + ".gz")
    with path.open("rb") as src, target.open("wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as dst:
            dst.write(src.read())
    path.unlink()
    return target


def _unit(ra, dec):
    ra, dec = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def _diffuse_sphere(phase_deg):
    p = np.radians(phase_deg)
    return ((np.pi - p) * np.cos(p) + np.sin(p)) / np.pi


def _geometry_ok(los, obs_r, sun):
    """CHEOPS pointing rules: >= 120 deg from the Sun, >= 100 km above the Earth's limb."""
    rn = np.linalg.norm(obs_r, axis=-1)
    to_earth = np.degrees(np.arccos(np.clip(np.sum(los * -obs_r, -1) / rn, -1, 1)))
    limb = np.degrees(np.arcsin(np.clip((RE_KM + 100.0) / rn, -1, 1)))
    sun_u = sun / np.linalg.norm(sun, axis=-1, keepdims=True)
    to_sun = np.degrees(np.arccos(np.clip(np.sum(los * sun_u, -1), -1, 1)))
    above_limb = to_earth - np.degrees(np.arcsin(np.clip(RE_KM / rn, -1, 1)))
    return (to_earth > limb + 5.0) & (to_sun > 120.0), above_limb, to_sun


def _frame_wcs(ra, dec, roll, scale, shape):
    from ..io.wcs import frame_wcs

    ny, nx = shape
    one = xr.Dataset(
        coords={"ra": ("frame", [ra]), "dec": ("frame", [dec]), "roll": ("frame", [roll])},
        attrs={"pixel_scale": scale, "parity": -1},
    ).assign_coords(x=np.arange(nx), y=np.arange(ny))
    return frame_wcs(one, 0)


def _pixels(wcs, ra, dec, ra0, dec0):
    """Pixel positions; NaN beyond 20 deg from the pointing, where TAN is of no use."""
    near = np.degrees(np.arccos(np.clip(_unit(ra, dec) @ _unit(ra0, dec0), -1, 1))) < 20.0
    x, y = wcs.all_world2pix(np.where(near, ra, ra0), np.where(near, dec, dec0), 0)
    return np.where(near, x, np.nan), np.where(near, y, np.nan)


def _crossings(cat, obs, t0, exptime, pointing, roll, preset, margin, satcat):
    """Sunlit objects crossing the field during the exposure starting at ``t0``."""
    from ..orbits import predict

    shape, scale = preset.shape, preset.pixel_scale
    ny, nx = shape
    ra0, dec0 = pointing
    wcs = _frame_wcs(ra0, dec0, roll, scale, shape)
    coarse = t0 + (np.linspace(0.0, exptime, 31) * 1e9).astype("timedelta64[ns]")
    pr = predict(cat, coarse, obs)
    x, y = _pixels(wcs, pr["ra"].values, pr["dec"].values, ra0, dec0)
    centre = np.array([(nx - 1) / 2, (ny - 1) / 2])
    reach = np.hypot(nx, ny) / 2 + margin
    found = []
    for i in range(x.shape[0]):
        p = np.stack([x[i], y[i]], axis=-1) - centre
        a, b = p[:-1], p[1:]
        d = b - a
        t = np.clip(-np.sum(a * d, 1) / np.maximum(np.sum(d * d, 1), 1e-12), 0, 1)
        miss = np.hypot(*(a + t[:, None] * d).T)
        near = np.flatnonzero(np.isfinite(miss) & (miss <= reach))
        if near.size == 0:
            continue
        # fine samples over the near part, about 2 px apart (at least 20 ms)
        j0, j1 = near[0], near[-1] + 1
        span_px = float(np.nansum(np.hypot(*d[j0:j1].T)))
        n_fine = int(np.clip(span_px / 2.0, 50, 3000))
        seconds = np.linspace(0.0, 2.0 * (j1 - j0), n_fine)
        fine = coarse[j0] + (seconds * 1e9).astype("timedelta64[ns]")
        one = cat.select([int(pr["norad_id"].values[i])])
        fp = predict(one, fine, obs)
        fx, fy = _pixels(wcs, fp["ra"].values[0], fp["dec"].values[0], ra0, dec0)
        inside = (np.abs(fx - centre[0]) < nx / 2 + margin) & (
            np.abs(fy - centre[1]) < ny / 2 + margin
        )
        if inside.sum() < 2:
            continue
        k = np.flatnonzero(inside)
        k0, k1 = k[0], k[-1]
        mid = (k0 + k1) // 2
        if not bool(fp["sunlit"].values[0, mid]):
            continue  # in the Earth's shadow: no trail
        a_px = np.array([fx[k0], fy[k0]])
        b_px = np.array([fx[k1], fy[k1]])
        vis = _clip_to_field(a_px, b_px, shape, preset.circular)
        if vis is None:
            continue
        duration = seconds[k1] - seconds[k0]
        rng_km = float(fp["range_km"].values[0, mid])
        phase = float(fp["phase_angle_deg"].values[0, mid])
        row = satcat.loc[int(pr["norad_id"].values[i])]
        mag = (
            row["MAG_STD"]
            + 5 * np.log10(rng_km / 1000.0)
            - 2.5 * np.log10(_diffuse_sphere(phase) / _diffuse_sphere(45.0))
        )
        found.append(
            {
                "a": a_px,
                "b": b_px,
                "visible": (a_px + vis[0] * (b_px - a_px), a_px + vis[1] * (b_px - a_px)),
                "rate": float(np.hypot(*(b_px - a_px)) * scale / max(duration, 1e-3)),
                "mag": float(mag),
                "jitter": False,
                "vary": False,
                "extra": {
                    "norad_id": int(row.name),
                    "object_name": row["OBJECT_NAME"],
                    "object_type": row["OBJECT_TYPE"],
                    "rcs_size": row["RCS_SIZE"],
                    "launch_date": row["LAUNCH_DATE"],
                    "mag_std": float(row["MAG_STD"]),
                    "range_km": rng_km,
                    "phase_angle_deg": phase,
                },
            }
        )
    return found


def _crossing_time(rng, cat, obs, month, mag_std):
    """A (time, ra, dec) in ``month`` where a sunlit object is legal to point at.

    Among 400 random times of the month, the object-time pairs that CHEOPS could point at
    are ranked by trail surface brightness (flux per arcsec of trail, ``10^(-0.4 m) /
    rate``) and one of the best five is drawn: most catalogued objects would leave no
    visible trail in a CHEOPS frame, and the archive is meant to show some.
    """
    from ..orbits import predict
    from ..orbits._astro import sun_gcrs_km

    span = (month + pd.offsets.MonthEnd(0) - month) / pd.Timedelta(seconds=1)
    times = np.sort(
        np.datetime64(month, "ns") + (rng.uniform(0, span, 400) * 1e9).astype("timedelta64[ns]")
    )
    pr = predict(cat, times, obs)
    obs_r, _ = obs.posvel_gcrs(times)
    los = _unit(pr["ra"].values, pr["dec"].values)
    ok, _, _ = _geometry_ok(los, obs_r[None], sun_gcrs_km(times)[None])
    ok &= pr["sunlit"].values & np.isfinite(pr["ra"].values)
    if not ok.any():
        return None
    obj, when = np.nonzero(ok)
    m = mag_std.reindex(pr["norad_id"].values[obj]).to_numpy() + 5 * np.log10(
        pr["range_km"].values[obj, when] / 1000.0
    )
    surface = 10 ** (-0.4 * m) / pr["rate_arcsec_s"].values[obj, when]
    pick = int(rng.choice(np.argsort(surface)[::-1][:5]))
    i, t = obj[pick], when[pick]
    return times[t], float(pr["ra"].values[i, t]), float(pr["dec"].values[i, t])


def _random_pointing(rng, obs, t):
    """A direction CHEOPS may point at, at time ``t``."""
    from ..orbits._astro import sun_gcrs_km

    obs_r, _ = obs.posvel_gcrs(np.array([t]))
    sun = sun_gcrs_km(np.array([t]))
    while True:
        ra, dec = rng.uniform(0, 360), np.degrees(np.arcsin(rng.uniform(-1, 1)))
        if _geometry_ok(_unit(ra, dec)[None], obs_r, sun)[0][0]:
            return float(ra), float(dec)


def _visit_stars(rng, preset, ra0, dec0):
    """The visit's background stars in a 150" disk (sky-fixed, so they turn with roll)."""
    scene = preset.scene
    n = rng.poisson(scene.expected_count((300, 300), preset.pixel_scale) * np.pi / 4)
    r = 150.0 * np.sqrt(rng.random(n))
    pa = rng.uniform(0, 2 * np.pi, n)
    dec = dec0 + r * np.cos(pa) / 3600.0
    ra = ra0 + r * np.sin(pa) / 3600.0 / np.cos(np.radians(dec0))
    mags = star_magnitudes(rng, n, scene.mag_range, scene.slope)
    return pd.DataFrame({"ra_deg": ra % 360, "dec_deg": dec, "mag": mags})


def make_archive(
    out,
    *,
    seed: int,
    start="2020-03",
    end="2025-06",
    frames_per_visit: int = 4,
    n_objects: int = 300,
    crossing_fraction: float = 0.7,
    hard_negative_fraction: float = 0.1,
    overwrite: bool = False,
) -> dict:
    """Write the CHEOPS-like sample archive into ``out`` (see the module docstring).

    Parameters
    ----------
    out : path
        Output directory (created; must be empty unless ``overwrite``).
    seed : int
        Seed; the same seed and parameters give the same files.
    start, end : str
        First and last month of the visits (one visit per month).
    frames_per_visit : int
        60 s frames (4 x 15 s co-added) per visit.
    n_objects : int
        Size of the synthetic population.
    crossing_fraction : float
        Share of visits pointed at a sunlit object's predicted track.
    hard_negative_fraction : float
        Probability of a hard negative in a frame without trail.
    overwrite : bool
        Replace an existing archive in ``out``.

    Returns
    -------
    dict
        Paths written (``frames``, ``tle``, ``satcat``, ``truth``, ``meta``) and counts.
    """
    from ..io import write_cheops_subarray
    from ..io.cheops import cheops_filename
    from ..lines import line_from_points
    from ..orbits import Observer, read_tle
    from ..orbits._astro import sun_gcrs_km

    if int(frames_per_visit) < 1:
        raise InputError(f"frames_per_visit: expected >= 1, got {frames_per_visit}")
    if not 0 <= crossing_fraction <= 1:
        raise InputError(f"crossing_fraction: expected a fraction, got {crossing_fraction}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out}: not empty; pass overwrite=True (--overwrite)")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("CH_PR*_SCI_COR_SubArray_V*.fits*"):
        old.unlink()
    months = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="MS")
    if len(months) == 0:
        raise InputError(f"start/end: no month from {start} to {end}")
    preset = get_preset("cheops")
    exptime = 60.0
    det = preset.detector_for(exptime)
    rng = np.random.default_rng([seed, 0xA2C])
    pop = make_population(n_objects, seed=seed, end=months[-1] + pd.offsets.MonthEnd(0))
    l1, l2 = cheops_observer_tle()
    obs = Observer.from_tle(l1, l2, name="CHEOPS-SIM")
    satcat = pop.satcat.set_index("NORAD_CAT_ID")
    # each visit: a start (on an object's track in crossing_fraction of them) and pointing
    starts, pointings = [], []
    for month in months:
        hit = None
        if rng.random() < crossing_fraction:
            mid_month = np.datetime64(month + pd.Timedelta(days=14), "ns")
            hit = _crossing_time(
                rng, read_tle(pop.three_line([mid_month])), obs, month, satcat["MAG_STD"]
            )
        if hit is None:
            start = np.datetime64(month, "ns") + np.timedelta64(
                int(rng.uniform(0, 26 * 86400)), "s"
            )
            pointings.append(_random_pointing(rng, obs, start))
        else:
            k = int(rng.integers(frames_per_visit))
            start = hit[0] - np.timedelta64(int((k + rng.uniform(0.1, 0.9)) * exptime * 1e9), "ns")
            off, pa = rng.uniform(0, 40.0) / 3600, rng.uniform(0, 2 * np.pi)
            dec = hit[2] + off * np.cos(pa)
            pointings.append(((hit[1] + off * np.sin(pa) / np.cos(np.radians(dec))) % 360, dec))
        starts.append(start)
    epochs = [t - np.timedelta64(6, "h") for t in starts]
    tle_text = pop.three_line(epochs)
    (out / "population.3le").write_text(tle_text)
    (out / "satcat.csv").write_text(pop.satcat_csv())
    catalogue = read_tle(tle_text)
    opts_kw = dict(
        trail_fraction=0.0,
        hard_negative_fraction=hard_negative_fraction,
        negative_kinds=("cosmic_rays", "hot_pixels", "stray_light", "earth_limb", "ghost"),
        max_trails=1,
        mag_range=None,
        rate_range=None,
        min_length_px=0.0,
        truncation_fraction=0.0,
        jitter_fraction=0.0,
        variation_fraction=0.0,
        column_fraction=0.0,
        start="2020-01-01",
    )
    truth, frame_rows, files, index = [], [], [], 0
    for v, (t0, epoch) in enumerate(zip(starts, epochs, strict=True)):
        # TLE epochs keep 1e-8 day: match this visit's element sets within a second
        age = catalogue.table["epoch"].to_numpy(dtype="datetime64[ns]") - epoch
        rows = np.flatnonzero(np.abs(age) < np.timedelta64(1, "s"))
        cat = catalogue.take(rows)
        begins = [
            t0 + np.timedelta64(int(k * exptime * 1e9), "ns") for k in range(frames_per_visit)
        ]
        mids = np.array([b + np.timedelta64(int(exptime / 2 * 1e9), "ns") for b in begins])
        ra, dec = pointings[v]
        roll0 = float(rng.uniform(0, 360))
        stars = _visit_stars(rng, preset, ra, dec)
        opts = _check_options(preset, scene=CatalogScene(stars), **opts_kw)
        target_mag = float(rng.uniform(*preset.target_mag))
        images, rolls = [], []
        for k, (b, mid) in enumerate(zip(begins, mids, strict=True)):
            roll = (roll0 + 360.0 * (k + 0.5) * exptime / ORBIT_S) % 360
            trails = _crossings(
                cat,
                obs,
                b,
                exptime,
                (ra, dec),
                roll,
                preset,
                preset.telescope.psf(13.0).size,
                satcat,
            )
            visit = {
                "ra": ra,
                "dec": dec,
                "roll0": roll0,
                "roll": roll,
                "exptime": exptime,
                "target_mag": target_mag,
                "trails": trails,
            }
            image, _, rows_k, info = _make_frame(preset, opts, seed, index, visit)
            frame_rows.append(
                {
                    "frame": index,
                    "file_index": v,
                    "time": str(mid),
                    "negative_kind": info["kind"],
                    "n_trails": len(rows_k),
                }
            )
            images.append((image - det.offset * det.nexp) / det.sensitivity)
            rolls.append(roll)
            for tr, r in zip(trails, rows_k, strict=True):
                rho, theta = line_from_points(r["x0"], r["y0"], r["x1"], r["y1"])
                truth.append(
                    {
                        **tr["extra"],
                        **r,
                        "rho": rho,
                        "theta": theta,
                        "flux": r["flux"] / det.sensitivity,
                        "frame": index,
                        "time": str(mid),
                    }
                )
                truth[-1]["file_index"] = v
            index += 1
        obs_r, _ = obs.posvel_gcrs(mids)
        _, above_limb, to_sun = _geometry_ok(_unit(ra, dec)[None], obs_r, sun_gcrs_km(mids))
        name = cheops_filename(t0, programme="100042", target=f"{v + 1:06d}")
        write_cheops_subarray(
            out / name,
            np.nan_to_num(np.stack(images), nan=0.0),
            mids,
            ra=ra,
            dec=dec,
            roll=np.array(rolls),
            exptime_single=exptime / det.nexp,
            nexp=det.nexp,
            pixel_scale=preset.pixel_scale,
            target_name=f"SIM-TARGET-{v + 1:03d}",
            mag_g=target_mag,
            mag_chps=target_mag,
            los_to_earth_angle=above_limb,
            los_to_sun_angle=to_sun,
            observer=obs.to_attr(),
            overwrite=True,
        )
        name = _gzip(out / name).name
        files.append(name)
    df = pd.DataFrame(truth)
    if df.empty:
        df = pd.DataFrame(columns=[*ARCHIVE_COLUMNS, "file_index"])
    df["file"] = [files[i] for i in df["file_index"]]
    df = df[ARCHIVE_COLUMNS]
    df.to_csv(out / "truth.csv", index=False)
    per_frame = pd.DataFrame(frame_rows)
    per_frame.insert(1, "file", [files[i] for i in per_frame.pop("file_index")])
    per_frame.to_csv(out / "frames.csv", index=False)
    meta = {
        "params": {
            "seed": seed,
            "start": str(start),
            "end": str(end),
            "frames_per_visit": frames_per_visit,
            "n_objects": n_objects,
            "crossing_fraction": crossing_fraction,
            "hard_negative_fraction": hard_negative_fraction,
        },
        "versions": versions(),
        "observer": obs.to_attr(),
        "mag_law": MAG_LAW,
        "phase_law": "diffuse sphere, normalised at 45 deg",
        "pixel_unit": "e- (calibrated, as SCI_COR)",
        "zero_point_e": float(
            2.5 * np.log10(preset.telescope.photon_rate(0.0) * det.quantum_efficiency)
        ),
        "frames": index,
        "trails": len(df),
        "visits": len(files),
    }
    (out / "archive.json").write_text(json.dumps(meta, indent=2, default=str))
    return {
        "frames": out / "CH_PR*_SCI_COR_SubArray_V*.fits.gz",
        "tle": out / "population.3le",
        "satcat": out / "satcat.csv",
        "truth": out / "truth.csv",
        "meta": out / "archive.json",
        "frame_table": out / "frames.csv",
        "n_frames": index,
        "n_trails": len(df),
    }
