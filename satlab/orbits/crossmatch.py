"""Name the catalogued objects that made detected trails (seed 001, section 3.2).

For each frame the catalogue is first cut with a coarse prefilter: an object can only
appear in the field if its orbital plane crosses the field's cone of sight within its
perigee-apogee shell (numpy over the whole catalogue), and if its SGP4 state at
mid-exposure, moved in straight lines, comes near the cone (one SGP4 call for the few per
cent left). The survivors are propagated with SGP4 across the exposure, and for every
(trail, candidate) pair the time of closest approach to the trail is refined. A
candidate is a *strict* match when its track passes within ``radius_arcsec`` of the
trail and its motion is within ``angle_tol_deg`` of the trail's direction; trails whose
geometry is unreliable keep their best candidate within ``relaxed_radius_arcsec`` as
*relaxed*. A chi-squared residual (CSR) of the trail's points about the predicted track
then feeds an IQR outlier cut (Q3 + 1.5 IQR) over all associations.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import FrameError, InputError, SatlabWarning
from ..frames import as_frames
from ..io.wcs import orientation_to_cd, tan_pixel_to_world
from ._astro import (
    C_KM_S,
    as_utc_times,
    jd_pair,
    sun_gcrs_km,
    teme_to_gcrs_matrices,
    versions,
)
from .catalogue import EARTH_RADIUS_KM as WGS72_RADIUS_KM
from .catalogue import Catalogue
from .observer import Observer
from .predict import ARCSEC_PER_RAD, apparent, propagate_rows, select_epochs

__all__ = ["MATCH_COLUMNS", "crossmatch", "prefilter"]

N_SAMPLES = 13  # SGP4 samples across an exposure (5 s apart for 60 s)
N_CSR_POINTS = 16  # points along the trail for the CSR
PLANE_MARGIN_KM = 25.0  # SGP4 periodic terms move an orbital plane by ~10 km in LEO
PLANE_MARGIN_DEG = 0.2  # node drift and luni-solar wobble within a few days (deep space)
SHELL_MARGIN_KM = 50.0  # short-period radius changes and drag within the window
SHELL_MARGIN_DEEP = 0.03  # and for deep-space sets, this fraction of the apogee radius
LUNAR_REGIME_KM = 100_000.0  # apogees beyond this skip the plane test
CSR_FLOOR = 1.0  # an RMS offset within the trail width is never an outlier
CURVATURE_KM = 10.0  # departure from straight-line motion over half a minute (8 m/s^2)

MATCH_COLUMNS = {
    "trail": "int64",
    "frame": "int64",
    "norad_id": "Int64",
    "name": "object",
    "sep_arcsec": "float64",
    "angle_diff_deg": "float64",
    "csr": "float64",
    "range_km": "float64",
    "phase_angle_deg": "float64",
    "sunlit": "boolean",
    "rate_arcsec_s": "float64",
    "time_closest": "datetime64[ns]",
    "epoch_age_h": "float64",
    "object_type": "object",
    "rcs_size": "object",
    "launch_date": "datetime64[ns]",
    "match": "object",
    "best": "bool",
}
MATCH_UNITS = {
    "sep_arcsec": "arcsec",
    "angle_diff_deg": "deg",
    "range_km": "km",
    "phase_angle_deg": "deg",
    "rate_arcsec_s": "arcsec/s",
    "epoch_age_h": "h",
    "csr": "",
}


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _radec_to_unit(ra_deg, dec_deg):
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def _angle(a, b):
    """Angle between unit vectors [rad], accurate at small angles."""
    return np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1))


def _pa_of_direction(p, d):
    """Position angle [deg, east of north] of tangent direction ``d`` at unit vector ``p``."""
    east = _unit(np.stack([-p[..., 1], p[..., 0], np.zeros_like(p[..., 0])], axis=-1))
    north = np.cross(p, east)
    return np.degrees(np.arctan2(np.sum(d * east, -1), np.sum(d * north, -1)))


# --- the coarse prefilter ---------------------------------------------------------------


def _elements(catalogue: Catalogue) -> dict:
    """Per-row orbital-plane and shell numbers, computed once per catalogue."""
    cached = getattr(catalogue, "_plane_cache", None)
    if cached is not None:
        return cached
    sats = catalogue.satrecs
    out = {
        "inclo": np.array([s.inclo for s in sats], dtype=float),
        "nodeo": np.array([s.nodeo for s in sats], dtype=float),
        "nodedot": np.array([s.nodedot for s in sats], dtype=float),  # rad/min
        "jd_epoch": np.array([s.jdsatepoch + s.jdsatepochF for s in sats], dtype=float),
        "r_apogee": np.array([s.alta + 1.0 for s in sats], dtype=float) * WGS72_RADIUS_KM,
        "r_perigee": np.array([s.altp + 1.0 for s in sats], dtype=float) * WGS72_RADIUS_KM,
        "deep": np.array([2 * np.pi / s.no_kozai >= 225.0 for s in sats], dtype=bool),
    }
    catalogue._plane_cache = out
    return out


def prefilter(catalogue: Catalogue, rows, time, obs_teme, axis_teme, cone_rad, exptime_s):
    """Rows of ``catalogue`` that can be inside a cone of sight; a superset, never a miss.

    Parameters
    ----------
    catalogue : Catalogue
    rows : array of int
        Candidate element-set rows (one per object, from :func:`select_epochs`).
    time : numpy.datetime64
        Time the orbital planes are evaluated at (the node drifts with J2).
    obs_teme : array (K, 3)
        Observer positions [km, TEME] at K times evenly spread over the exposure (first
        and last at its ends). The plane test uses five of them with half the step
        between them as slack.
    axis_teme : array (3,)
        Unit vector of the cone axis (TEME).
    cone_rad : float
        Cone half-angle [rad]: field radius plus search radius.
    exptime_s : float
        Exposure [s], centred on ``time``.

    Returns
    -------
    numpy.ndarray
        The subset of ``rows`` whose orbital plane crosses the cone inside the object's
        perigee-apogee shell for one of five observer positions, and whose SGP4 state
        at ``time``, moved in straight lines to those positions' times, comes close
        enough to the cone.
    """
    el = _elements(catalogue)
    rows = np.asarray(rows)
    jd, fr = jd_pair(np.atleast_1d(np.asarray(time, dtype="datetime64[ns]")))
    dt_min = ((jd[0] - el["jd_epoch"][rows]) + fr[0]) * 1440.0
    node = el["nodeo"][rows] + el["nodedot"][rows] * dt_min
    inc = el["inclo"][rows]
    h = np.stack([np.sin(inc) * np.sin(node), -np.sin(inc) * np.cos(node), np.cos(inc)], -1)
    # deep-space sets: luni-solar periodic terms move the radius by a few per cent
    margin = SHELL_MARGIN_KM + np.where(
        el["deep"][rows], SHELL_MARGIN_DEEP * el["r_apogee"][rows], 0
    )
    coarse = np.unique(np.linspace(0, len(obs_teme) - 1, 5).round().astype(int))
    tau = np.linspace(-exptime_s / 2, exptime_s / 2, len(obs_teme))[coarse]  # s
    plane_obs = obs_teme[coarse]
    r_far = el["r_apogee"][rows] + margin
    r_near = el["r_perigee"][rows] - margin
    sin_a = np.sin(cone_rad)
    # the observer moves between samples: half a step of slack in every distance
    step = np.max(np.linalg.norm(np.diff(plane_obs, axis=0), axis=-1), initial=0.0)
    delta = PLANE_MARGIN_KM + r_far * np.radians(PLANE_MARGIN_DEG) + step / 2
    hu = h @ axis_teme
    # per observer position (K) and object (N): the stretch of the line of sight inside
    # the object's shell, widened by the cone's lateral extent, is [0, s_max] minus the
    # part (s_in1, s_in2) below perigee
    b = (plane_obs @ axis_teme)[:, None]
    oo = np.sum(plane_obs**2, axis=-1)[:, None]
    slack = (np.sqrt(oo) + r_far) * sin_a + step / 2
    s_max = _far_root(b, oo, r_far + slack)
    s_in1, s_in2 = _roots(b, oo, np.maximum(r_near - slack, 0.0))
    # |h.o + s h.u| <= s sin(a) + delta: two linear inequalities c + d s <= 0
    ho = plane_obs @ h.T
    lo = np.zeros_like(ho)
    hi = s_max
    for c, d in ((ho - delta, hu - sin_a), (-ho - delta, -hu - sin_a)):
        with np.errstate(divide="ignore", invalid="ignore"):
            root = -c / d
        hi = np.where(d > 0, np.minimum(hi, root), hi)
        lo = np.where(d < 0, np.maximum(lo, root), lo)
        hi = np.where((d == 0) & (c > 0), -1.0, hi)
    # feasible s must also avoid the inside of the perigee sphere
    before = lo <= np.minimum(hi, s_in1)
    after = np.maximum(lo, s_in2) <= hi
    keep = ((lo <= hi) & (before | after)).any(axis=0)
    # beyond ~1e5 km the Moon tilts the osculating plane by degrees: no plane test there
    keep |= el["r_apogee"][rows] > LUNAR_REGIME_KM
    rows = rows[keep]
    return rows[_near_line_of_sight(catalogue, rows, time, plane_obs, tau, axis_teme, cone_rad)]


def _near_line_of_sight(catalogue, rows, time, obs_teme, tau, axis, cone_rad):
    """One SGP4 state at mid-exposure, moved in straight lines to each observer sample:
    does the object come close enough to the cone?

    Between samples the relative position moves along a chord (plus at most
    ``CURVATURE_KM`` of orbital curvature over half a minute), so an object further than
    half the largest chord from the cone at every sample cannot enter it.
    """
    from sgp4.api import SatrecArray

    if not len(rows):
        return np.zeros(0, dtype=bool)
    jd, fr = jd_pair(np.atleast_1d(np.asarray(time, dtype="datetime64[ns]")))
    err, r, v = SatrecArray(list(catalogue.satrecs[rows])).sgp4(jd, fr)
    q = r[:, 0][None] + tau[:, None, None] * v[:, 0][None] - obs_teme[:, None]  # (K, N, 3)
    along = q @ axis
    perp = np.linalg.norm(q - along[..., None] * axis, axis=-1)
    beyond = perp - np.maximum(along, 0.0) * np.tan(cone_rad)  # km outside the cone
    beyond = np.where(along > 0, beyond, np.linalg.norm(q, axis=-1))  # behind the observer
    chord = np.linalg.norm(np.diff(q, axis=0), axis=-1).max(axis=0, initial=0.0)
    return (err[:, 0] == 0) & (beyond.min(axis=0) <= chord / 2 + CURVATURE_KM)


def _roots(b, oo, radius):
    """Ray parameters where |o + s u| = radius (unit u, b = o.u); NaN-free, s1 <= s2.

    No crossing gives an empty inside interval (s1 = s2 = -inf), so every s is outside.
    """
    disc = b * b - (oo - radius * radius)
    root = np.sqrt(np.maximum(disc, 0.0))
    inside = disc > 0
    return np.where(inside, -b - root, -np.inf), np.where(inside, -b + root, -np.inf)


def _far_root(b, oo, radius):
    """Largest ray parameter still inside the sphere ``radius`` (-1 if none)."""
    _, s2 = _roots(b, oo, radius)
    return np.where(np.isfinite(s2), s2, -1.0)


def _in_orbit(catalogue: Catalogue, epochs) -> np.ndarray:
    """(object, time) mask: launched and not decayed, where the SATCAT says so."""
    t = epochs["time"].to_numpy()
    ids = epochs["norad_id"].to_numpy()
    table = catalogue.table
    ok = np.ones((len(ids), len(t)), dtype=bool)
    for col, after in (("launch_date", True), ("decay_date", False)):
        if col not in table:
            continue
        per_object = table.drop_duplicates("norad_id").set_index("norad_id")[col]
        dates = pd.to_datetime(per_object.reindex(ids)).to_numpy(dtype="datetime64[ns]")
        known = ~np.isnat(dates)
        if after:
            ok &= ~known[:, None] | (t[None, :] >= dates[:, None])
        else:
            ok &= ~known[:, None] | (t[None, :] < dates[:, None])
    return ok


# --- inputs -----------------------------------------------------------------------------


def _check_trails(trails, n_frames: int) -> pd.DataFrame:
    if not isinstance(trails, pd.DataFrame):
        raise InputError(f"trails: expected a pandas DataFrame, got {type(trails).__name__}")
    missing = [c for c in ("frame", "x0", "y0", "x1", "y1") if c not in trails]
    if missing:
        raise InputError(
            f"trails: missing column(s) {missing}; expected frame, x0, y0, x1, y1 [px] "
            "(the table satlab.detect.trails returns)"
        )
    frame = pd.to_numeric(trails["frame"], errors="coerce")
    bad = frame.isna() | (frame < 0) | (frame >= n_frames) | (frame % 1 != 0)
    if bad.any():
        raise InputError(
            f"trails: column 'frame' must index the {n_frames} frame(s); got "
            f"{trails['frame'][bad].tolist()[:5]}"
        )
    return trails


def _frame_observers(frames, observer, used) -> list[Observer]:
    """The observer of each frame in ``used``: the keyword, a per-frame ``observer``
    coord (archives whose files carry different element sets) or ``attrs["observer"]``."""
    if observer is not None:
        return [Observer.from_attr(observer)] * len(used)
    if "observer" in frames.coords:
        texts = [str(t) for t in frames["observer"].values[used]]
    elif "observer" in frames.attrs:
        texts = [frames.attrs["observer"]] * len(used)
    else:
        raise InputError(
            "frames: attrs['observer'] is missing; store Observer.to_attr() there or pass observer="
        )
    parsed = {text: Observer.from_attr(text) for text in set(texts)}
    return [parsed[text] for text in texts]


def _frame_orientation(frames):
    missing = [c for c in ("ra", "dec", "roll") if c not in frames.coords]
    missing += [] if "pixel_scale" in frames.attrs else ["pixel_scale"]
    if missing:
        raise FrameError(
            "frames: crossmatch needs the pointing (coords ra, dec, roll) and attr "
            f"pixel_scale; missing {missing}"
        )
    exptime = frames["exptime"].values.astype(float)
    if not np.isfinite(exptime).all():
        raise FrameError("frames: coord 'exptime' [s] must be known for every frame")
    return (
        frames["ra"].values.astype(float),
        frames["dec"].values.astype(float),
        frames["roll"].values.astype(float),
        float(frames.attrs["pixel_scale"]),
        int(frames.attrs.get("parity", -1)),
        exptime,
    )


# --- the procedure ----------------------------------------------------------------------


def crossmatch(
    trails: pd.DataFrame,
    frames,
    catalogue: Catalogue,
    *,
    radius_arcsec: float = 250.0,
    angle_tol_deg: float = 6.0,
    relaxed_radius_arcsec: float = 350.0,
    window_h: float = 48.0,
    observer=None,
    min_length_px: float = 10.0,
    iqr_factor: float = 1.5,
    light_time: bool = True,
    tle_sigma_km: float = 1.0,
) -> pd.DataFrame:
    """Identify the catalogued object behind each trail (seed 001, section 3.2).

    Parameters
    ----------
    trails : pandas.DataFrame
        One row per trail: ``frame`` (position in ``frames``), ``x0, y0, x1, y1``
        [px, 0-based pixel centres], optionally ``width_px`` (default 1 px). Extra columns
        (``rho``, ``theta`` ...) are ignored.
    frames : xarray.Dataset
        Frames with coords ``time``, ``exptime`` [s], ``ra``, ``dec`` [deg], ``roll``
        [deg] and attrs ``pixel_scale`` [arcsec/px], ``parity`` and (unless ``observer``
        is given) ``observer``.
    catalogue : Catalogue
        Element sets (history files welcome: the set closest in time is used).
    radius_arcsec : float
        Strict match: the predicted track passes within this distance of the trail's
        midpoint during the exposure [arcsec].
    angle_tol_deg : float
        Strict match: |predicted motion direction - trail direction| at most this [deg].
    relaxed_radius_arcsec : float
        Trails with unreliable geometry keep their closest candidate within this
        distance [arcsec] as a relaxed match.
    window_h : float
        Element sets further than this from the frame time are not used [h]; seed 001's
        96 h window is +-48 h.
    observer : Observer or str, optional
        Overrides the frames' observer (``attrs["observer"]``, or a per-frame
        ``observer`` coord when the files of an archive carry different ones).
    min_length_px : float
        Trails shorter than this or than twice their width (or with non-finite
        endpoints) have unreliable geometry [px].
    light_time : bool
        Compare the trail with light-time corrected (astrometric) positions, the frame
        the star-fitted WCS measures in; at 1000 km range a LEO object moves ~15"
        during the 3 ms its light travels.
    tle_sigma_km : float
        Position uncertainty of an element set [km] (seed 001: ~1 km), added in
        quadrature to the trail width in the CSR.
    iqr_factor : float
        Associations with CSR above Q3 + ``iqr_factor`` x IQR (over all strict and
        relaxed associations, when there are at least 4) are rejected; a CSR below 1
        (RMS offset within the trail width) never is.

    Returns
    -------
    pandas.DataFrame
        One row per (trail, candidate), and one row with ``match="none"`` for a trail
        without candidates: ``trail`` (row position in ``trails``), ``frame``,
        ``norad_id``, ``name``, ``sep_arcsec``, ``angle_diff_deg`` (direction of the
        predicted track over the trail's stretch minus the trail's, wrapped to
        [-90, 90)), ``csr`` (mean squared offset of the trail points from the predicted
        track, in units of the trail width and the element-set uncertainty at that range
        added in quadrature), ``range_km``,
        ``phase_angle_deg``, ``sunlit``, ``rate_arcsec_s``, ``time_closest``,
        ``epoch_age_h``, ``object_type``, ``rcs_size``, ``launch_date``, ``match``
        ("strict", "relaxed", "rejected", "none") and ``best`` (the lowest-CSR strict or
        relaxed candidate of each trail). ``attrs`` hold units, parameters and counts.
    """
    frames = as_frames(frames)
    if not isinstance(catalogue, Catalogue):
        raise InputError(
            f"catalogue: expected a satlab.orbits.Catalogue (read_tle), got "
            f"{type(catalogue).__name__}"
        )
    for name, value in (
        ("radius_arcsec", radius_arcsec),
        ("angle_tol_deg", angle_tol_deg),
        ("relaxed_radius_arcsec", relaxed_radius_arcsec),
        ("window_h", window_h),
        ("iqr_factor", iqr_factor),
    ):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"{name}: expected a positive number, got {value}")
    trails = _check_trails(trails, frames.sizes["frame"])
    params = {
        "radius_arcsec": radius_arcsec,
        "angle_tol_deg": angle_tol_deg,
        "relaxed_radius_arcsec": relaxed_radius_arcsec,
        "window_h": window_h,
        "min_length_px": min_length_px,
        "iqr_factor": iqr_factor,
        "light_time": light_time,
        "tle_sigma_km": tle_sigma_km,
    }
    if trails.empty:
        return _result([], params, "no trails given")
    ra0, dec0, roll, scale, parity, exptime = _frame_orientation(frames)
    ny, nx = frames.sizes["y"], frames.sizes["x"]
    frame_of = trails["frame"].to_numpy(dtype=int)
    used = np.unique(frame_of)
    unknown = used[~np.isfinite(np.stack([ra0[used], dec0[used], roll[used]])).all(axis=0)]
    if len(unknown):
        raise FrameError(
            f"frames: ra/dec/roll are NaN for frame(s) {unknown[:5].tolist()} holding trails; "
            "a pointing is needed to place the trails on the sky"
        )
    t_mid = as_utc_times(frames["time"].values[used], name="frames.time")

    # rotations and observer states for every sample time of every frame in one call
    offsets = np.linspace(-0.5, 0.5, N_SAMPLES)[None, :] * exptime[used, None]  # s
    t_all = t_mid[:, None] + (offsets * 1e9).astype("timedelta64[ns]")
    rot_all = teme_to_gcrs_matrices(t_all.ravel()).reshape(len(used), N_SAMPLES, 3, 3)
    observers = _frame_observers(frames, observer, used)
    obs_r = np.empty((len(used), N_SAMPLES, 3))
    obs_v = np.empty((len(used), N_SAMPLES, 3))
    for ob in set(observers):
        sel = np.array([o == ob for o in observers])
        r_o, v_o = ob.posvel_gcrs(t_all[sel].ravel(), rotations=rot_all[sel].reshape(-1, 3, 3))
        obs_r[sel] = r_o.reshape(-1, N_SAMPLES, 3)
        obs_v[sel] = v_o.reshape(-1, N_SAMPLES, 3)
    sun = sun_gcrs_km(t_mid)
    epochs = select_epochs(catalogue, t_mid, window_h=window_h)
    row_of = epochs["row"].to_numpy()
    age_of = epochs["epoch_age_h"].to_numpy()
    no_elements = int((_in_orbit(catalogue, epochs) & (row_of < 0)).any(axis=1).sum())

    # trail geometry on the sky
    cd = orientation_to_cd(roll[frame_of], scale, parity)
    cx, cy = (nx + 1) / 2.0, (ny + 1) / 2.0
    x0, y0, x1, y1 = (trails[c].to_numpy(dtype=float) for c in ("x0", "y0", "x1", "y1"))
    width = trails["width_px"].to_numpy(dtype=float) if "width_px" in trails else np.ones(len(x0))
    width = np.where(np.isfinite(width) & (width > 1.0), width, 1.0)
    finite = np.isfinite([x0, y0, x1, y1]).all(axis=0)
    # shorter than twice its width a trail is a blob: its direction is not measured
    reliable = finite & (np.hypot(x1 - x0, y1 - y0) >= np.maximum(min_length_px, 2 * width))
    frac = np.linspace(0.0, 1.0, N_CSR_POINTS)
    px = np.where(finite[:, None], x0[:, None] + frac * (x1 - x0)[:, None], (nx - 1) / 2)
    py = np.where(finite[:, None], y0[:, None] + frac * (y1 - y0)[:, None], (ny - 1) / 2)
    args = (cx, cy, ra0[frame_of, None], dec0[frame_of, None], *(c[:, None] for c in cd))
    pts = _radec_to_unit(*tan_pixel_to_world(px, py, *args))  # (trail, point, 3)
    ref = _unit(pts[:, 0] + pts[:, -1])  # trail midpoint (pointing if no geometry)
    half_diag = np.radians(scale * np.hypot(nx, ny) / 2 / 3600)
    cone = half_diag + np.radians(max(radius_arcsec, relaxed_radius_arcsec) / 3600)

    records = []
    n_candidates = 0
    for k, f in enumerate(used):
        in_frame = np.flatnonzero(frame_of == f)
        valid_rows = row_of[:, k][row_of[:, k] >= 0]
        rot = rot_all[k]
        axis = _radec_to_unit(ra0[f], dec0[f])
        obs_teme = np.einsum("kji,kj->ki", rot, obs_r[k])  # R^T: GCRS -> TEME
        axis_teme = rot[N_SAMPLES // 2].T @ axis
        cand = prefilter(catalogue, valid_rows, t_mid[k], obs_teme, axis_teme, cone, exptime[f])
        n_candidates += len(cand)
        r, v, _ = propagate_rows(catalogue.satrecs[cand], t_all[k], rot)
        sun_k = np.broadcast_to(sun[k], (N_SAMPLES, 3))
        geo = apparent(r, v, obs_r[k], obs_v[k], sun_k, light_time=light_time)
        track = _ObserverTrack(t_all[k], obs_r[k], obs_v[k])
        for j in in_frame:
            records.extend(
                _match_trail(
                    j,
                    f,
                    k,
                    cand,
                    geo,
                    catalogue,
                    track,
                    rot[N_SAMPLES // 2],
                    sun[k],
                    ref[j],
                    pts[j],
                    reliable[j],
                    width[j] * scale,
                    age_of,
                    row_of,
                    params,
                )
            )
    out = _result(records, params, None, trails=len(trails))
    out.attrs["objects_without_elements"] = no_elements  # in orbit but without elements
    out.attrs["candidates_after_prefilter"] = n_candidates
    if no_elements:
        warnings.warn(
            f"crossmatch: {no_elements} catalogued object(s) have no element set within "
            f"+-{window_h:g} h of at least one frame and could not be candidates there",
            SatlabWarning,
            stacklevel=2,
        )
    return out


def _refine(sat, t0, t_lo, t_hi, ref, rot, obs_spline, step_s, light_time):
    """Time of closest approach to ``ref`` by Newton steps on the apparent motion."""
    t = t0
    for _ in range(6):
        p, w, _, _ = _state(sat, t, rot, obs_spline, light_time)
        if p is None:
            return None
        off = ref - np.dot(ref, p) * p
        ww = np.dot(w, w)
        dt = np.clip(np.dot(off, w) / ww if ww > 0 else 0.0, -step_s, step_s)
        t_new = min(max(t + dt, t_lo), t_hi)
        if abs(t_new - t) < 1e-3:
            t = t_new
            break
        t = t_new
    return t


def _state(sat, t, rot, obs_spline, light_time):
    """Unit line of sight, its rate of change [rad/s], and GCRS r, v at ``t`` [s]."""
    jd, fr = obs_spline.jd0, obs_spline.fr0 + t / 86400.0
    err, r, v = sat.sgp4(jd, fr)
    if err:
        return None, None, None, None
    r = rot @ np.asarray(r)
    v = rot @ np.asarray(v)
    o, ov = obs_spline(t), obs_spline.velocity(t)
    rel = r - o
    if light_time:  # one iteration: the next changes the position by micrometres
        rel = rel - v * np.linalg.norm(rel) / C_KM_S
    rng = np.linalg.norm(rel)
    p = rel / rng
    vr = v - ov
    w = (vr - np.dot(vr, p) * p) / rng
    return p, w, r, v


class _ObserverTrack:
    """Cubic Hermite spline of the observer's GCRS position over the exposure (scipy)."""

    def __init__(self, t64, obs_r, obs_v):
        from scipy.interpolate import CubicHermiteSpline

        jd, fr = jd_pair(t64[:1])
        self.jd0, self.fr0 = float(jd[0]), float(fr[0])
        self.t64 = t64
        self.t = (t64 - t64[0]) / np.timedelta64(1, "s")
        self._spline = CubicHermiteSpline(self.t, obs_r, obs_v, axis=0)
        self.velocity = self._spline.derivative()

    def __call__(self, t):
        return self._spline(t)


def _match_trail(
    j,
    f,
    k,
    cand,
    geo,
    catalogue,
    track,
    rot,
    sun,
    ref,
    pts,
    reliable,
    sigma_arcsec,
    age_of,
    row_of,
    params,
):
    """Candidate rows for trail ``j`` in frame ``f`` (the k-th frame with trails)."""
    relaxed_rad = np.radians(params["relaxed_radius_arcsec"] / 3600)
    if len(cand) == 0:
        return [_none_row(j, f)]
    d = _angle(geo["los"], ref)  # (candidate, sample)
    dt = track.t[1] - track.t[0]
    path = 1.2 * np.maximum(geo["rate_arcsec_s"][:, 1:], geo["rate_arcsec_s"][:, :-1]) * dt
    lower = np.nanmin((d[:, 1:] + d[:, :-1] - path / ARCSEC_PER_RAD) / 2, axis=1, initial=np.inf)
    near = np.flatnonzero(lower <= relaxed_rad)
    if not len(near):
        return [_none_row(j, f)]
    rows = []
    for c in near:
        sat = catalogue.satrecs[cand[c]]
        kk = int(np.nanargmin(d[c]))
        lt = params["light_time"]
        t_star = _refine(sat, track.t[kk], track.t[0], track.t[-1], ref, rot, track, dt, lt)
        if t_star is None:
            continue
        p, w, r_s, v_s = _state(sat, t_star, rot, track, lt)
        sep = np.degrees(_angle(p, ref)) * 3600
        if sep > params["relaxed_radius_arcsec"]:
            continue
        o_s, ov_s = track(t_star)[None], track.velocity(t_star)[None]
        g = apparent(r_s[None], v_s[None], o_s, ov_s, sun[None], light_time=lt)
        if reliable:
            diff, resid = _compare_track(sat, pts, ref, t_star, track, rot, lt, dt, p, w)
            sigma = np.hypot(
                sigma_arcsec, params["tle_sigma_km"] / g["range_km"][0] * ARCSEC_PER_RAD
            )
            csr = float(np.mean((resid / sigma) ** 2))
        else:
            diff, csr = np.nan, np.nan
        row_idx = cand[c]
        obj = np.flatnonzero(row_of[:, k] == row_idx)
        table_row = catalogue.table.iloc[row_idx]
        rows.append(
            {
                "trail": j,
                "frame": f,
                "norad_id": int(table_row["norad_id"]),
                "name": table_row["name"],
                "sep_arcsec": float(sep),
                "angle_diff_deg": float(diff),
                "csr": csr,
                "range_km": float(g["range_km"][0]),
                "phase_angle_deg": float(g["phase_angle_deg"][0]),
                "sunlit": bool(g["sunlit"][0]),
                "rate_arcsec_s": float(g["rate_arcsec_s"][0]),
                "time_closest": track.t64[0] + np.timedelta64(round(t_star * 1e9), "ns"),
                "epoch_age_h": float(age_of[obj[0], k]) if len(obj) else np.nan,
                "object_type": table_row.get("object_type", pd.NA),
                "rcs_size": table_row.get("rcs_size", pd.NA),
                "launch_date": table_row.get("launch_date", pd.NaT),
                "match": _criterion(sep, diff, reliable, params),
            }
        )
    if not rows:
        return [_none_row(j, f)]
    if not reliable:  # only the closest candidate within the relaxed radius counts
        closest = int(np.argmin([row["sep_arcsec"] for row in rows]))
        for i, row in enumerate(rows):
            row["match"] = "relaxed" if i == closest else "rejected"
    return rows


def _compare_track(sat, pts, ref, t_star, track, rot, light_time, step_s, p, w):
    """Direction difference [deg] and offsets [arcsec] of the trail points from the track.

    The track is predicted over the same stretch as the trail (between the closest
    approaches to its two ends) and compared chord to chord: seen from a moving observer
    a slow object's track curves, and a line fitted to its trail is the chord.
    """
    ends = [
        _refine(sat, t_star, track.t[0], track.t[-1], e, rot, track, step_s, light_time)
        for e in (pts[0], pts[-1])
    ]
    if None in ends or abs(ends[1] - ends[0]) < 1e-3:  # too short to curve: the tangent
        pred_dir, mid = w, p
        pole = _unit(np.cross(p, w))
        offsets = np.arcsin(np.clip(pts @ pole, -1, 1))
    else:
        times = np.linspace(min(ends), max(ends), N_CSR_POINTS)
        los = np.array([_state(sat, t, rot, track, light_time)[0] for t in times])
        mid = _unit(los[0] + los[-1])
        pred_dir = (los[-1] - los[0]) * np.sign(ends[1] - ends[0])
        offsets = _polyline_distance(pts, los)
    trail_dir = pts[-1] - pts[0]
    diff = _pa_of_direction(mid, pred_dir) - _pa_of_direction(ref, trail_dir)
    return (diff + 90.0) % 180.0 - 90.0, np.degrees(offsets) * 3600


def _polyline_distance(points, vertices):
    """Angular distance [rad] of unit vectors to a polyline of unit vectors (small angles)."""
    a, b = vertices[:-1], vertices[1:]
    d = b - a
    t = np.clip(np.einsum("psk,sk->ps", points[:, None] - a[None], d) / np.sum(d * d, -1), 0, 1)
    nearest = a[None] + t[..., None] * d[None]
    return np.linalg.norm(points[:, None] - nearest, axis=-1).min(axis=1)


def _criterion(sep, diff, reliable, params) -> str:
    if not reliable:
        return "relaxed"
    ok = sep <= params["radius_arcsec"] and abs(diff) <= params["angle_tol_deg"]
    return "strict" if ok else "rejected"


def _none_row(j, f) -> dict:
    return {"trail": j, "frame": f, "match": "none"}


_MISSING = {"Int64": pd.NA, "boolean": pd.NA, "float64": np.nan, "object": pd.NA}


def _result(records, params, reason, *, trails=0) -> pd.DataFrame:
    """The typed match table; plain numpy on the records, one DataFrame at the end
    (pandas per-column work dominated the time of a one-trail call)."""
    match = np.array([r["match"] for r in records], dtype=object)
    csr = np.array([r.get("csr", np.nan) for r in records], dtype=float)
    sep = np.array([r.get("sep_arcsec", np.nan) for r in records], dtype=float)
    trail = np.array([r["trail"] for r in records], dtype=np.int64)
    assoc = np.isin(match, ["strict", "relaxed"]) & np.isfinite(csr)
    if assoc.sum() >= 4:  # Tukey's fence needs a distribution, not a handful
        q1, q3 = np.percentile(csr[assoc], [25, 75])
        fence = max(q3 + params["iqr_factor"] * (q3 - q1), CSR_FLOOR)
        match[assoc & (csr > fence)] = "rejected"
        params = {**params, "csr_fence": float(fence)}
    rank = np.where(match == "strict", 0, np.where(match == "relaxed", 1, 9))
    order = np.lexsort(
        (np.nan_to_num(sep, nan=np.inf), np.nan_to_num(csr, nan=np.inf), rank, trail)
    )
    best = np.zeros(len(records), dtype=bool)
    seen = set()
    for i in order:
        if rank[i] < 9 and trail[i] not in seen:
            best[i] = True
            seen.add(trail[i])
    order = np.lexsort((np.nan_to_num(csr, nan=np.inf), ~best, trail))
    columns = {}
    for col, dtype in MATCH_COLUMNS.items():
        if col == "match":
            values = match[order]
        elif col == "best":
            values = best[order]
        else:
            fill = _MISSING.get(dtype, pd.NaT)
            values = [records[i].get(col, fill) for i in order]
        if dtype in _MISSING:
            columns[col] = pd.array(values, dtype=dtype)
        elif dtype.startswith("datetime"):
            columns[col] = pd.to_datetime(pd.Series(values, dtype=object)).astype(dtype)
        else:
            columns[col] = np.asarray(values, dtype=dtype)
    df = pd.DataFrame(columns)
    df.attrs["units"] = dict(MATCH_UNITS)
    df.attrs["params"] = params
    df.attrs["versions"] = versions()
    if reason:
        warnings.warn(f"crossmatch: nothing to match; {reason}", SatlabWarning, stacklevel=3)
    elif not best.any():
        warnings.warn(
            f"crossmatch: none of the {trails} trail(s) was identified", SatlabWarning, stacklevel=3
        )
    return df
