"""Vectorised SGP4 predictions: where each catalogued object appears from an observer."""

from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr

from ..errors import InputError, SatlabWarning
from ._astro import (
    C_KM_S,
    EARTH_RADIUS_KM,
    as_utc_times,
    jd_pair,
    sun_gcrs_km,
    teme_to_gcrs_matrices,
    versions,
)
from .catalogue import Catalogue
from .observer import Observer

__all__ = ["NON_PHYSICAL", "NO_ELEMENTS", "STALE_DAYS", "predict", "select_epochs"]

ARCSEC_PER_RAD = 206264.80624709636
NO_ELEMENTS = -1  # ``sgp4_error`` code: no element set within ``window_h`` of the time
# ``sgp4_error`` code: SGP4 returned a radius far outside the orbit (past decay its drag
# polynomial runs backwards and yields positions at lunar distance with error code 0)
NON_PHYSICAL = 7
STALE_DAYS = 30.0  # element sets older than this give LEO positions off by many km: warn

_SECONDS_BITS = 34  # 2**34 s = 544 years of epochs per object in the search key


def select_epochs(catalogue: Catalogue, times, *, window_h: float | None = None):
    """The element set closest in time for each object and time.

    Parameters
    ----------
    catalogue : Catalogue
        Possibly a history file with several epochs per object.
    times : astropy.time.Time, datetime64 array or pandas timestamps
        Observation times (UTC).
    window_h : float, optional
        Accept only element sets within +-``window_h`` hours of the time (seed 001 uses
        +-48 h); ``None`` takes the closest whatever its age.

    Returns
    -------
    xarray.Dataset
        Dims ``(object, time)``: ``row`` (int, positional row in ``catalogue.table``, -1
        where no element set qualifies) and ``epoch_age_h`` (time minus epoch [h], NaN
        where none); coords ``norad_id(object)``, ``time(time)``.
    """
    if window_h is not None and not window_h > 0:
        raise InputError(f"window_h: expected a positive number of hours or None, got {window_h}")
    t64 = as_utc_times(times)
    table = catalogue.table
    codes, ids = _object_codes(table["norad_id"].to_numpy())
    epochs = table["epoch"].to_numpy(dtype="datetime64[ns]")
    if len(ids) == len(table):  # one element set per object: nothing to search
        rows = np.broadcast_to(np.argsort(codes)[:, None], (len(ids), len(t64))).copy()
    else:
        rows = _nearest_rows(codes, epochs, len(ids), t64)
    age_h = (t64[None, :] - epochs[rows]) / np.timedelta64(1, "h")
    if window_h is not None:
        far = np.abs(age_h) > window_h
        rows[far] = -1
        age_h[far] = np.nan
    return xr.Dataset(
        {
            "row": (("object", "time"), rows),
            "epoch_age_h": (("object", "time"), age_h, {"units": "h"}),
        },
        coords={"norad_id": ("object", ids), "time": ("time", t64)},
    )


def _object_codes(norad_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Code of each row's object (0..n-1, in order of first appearance) and the ids."""
    ids, first, codes = np.unique(norad_ids, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[codes], ids[order]


def _nearest_rows(codes, epochs, n_obj, t64) -> np.ndarray:
    """Row of the nearest epoch per (object, time), one searchsorted for all objects."""
    base = min(epochs.min(), t64.min())
    sec = lambda t: ((t - base) // np.timedelta64(1, "s")).astype(np.int64)  # noqa: E731
    key = (codes.astype(np.int64) << _SECONDS_BITS) + sec(epochs)
    order = np.argsort(key, kind="stable")
    skey = key[order]
    q = (np.arange(n_obj, dtype=np.int64)[:, None] << _SECONDS_BITS) + sec(t64)[None, :]
    pos = np.searchsorted(skey, q)
    lo = np.clip(pos - 1, 0, len(skey) - 1)
    hi = np.clip(pos, 0, len(skey) - 1)
    obj = np.arange(n_obj)[:, None]
    lo_ok = codes[order[lo]] == obj
    hi_ok = codes[order[hi]] == obj
    d_lo = np.where(lo_ok, np.abs(q - skey[lo]), np.iinfo(np.int64).max)
    d_hi = np.where(hi_ok, np.abs(skey[hi] - q), np.iinfo(np.int64).max)
    return order[np.where(d_hi < d_lo, hi, lo)]


def propagate_rows(satrecs, t64, rot):
    """SGP4 for element sets ``satrecs`` at ``t64``: GCRS r [km], v [km/s], error codes.

    Returns arrays (N, T, 3), (N, T, 3), (N, T); positions with an error are NaN,
    including :data:`NON_PHYSICAL` ones (radius beyond 1.5 x the apogee + 1000 km).
    """
    from sgp4.api import SatrecArray

    if len(satrecs) == 0:
        empty = np.empty((0, len(t64), 3))
        return empty, empty.copy(), np.empty((0, len(t64)), dtype=np.int8)
    err, r, v = SatrecArray(list(satrecs)).sgp4(*jd_pair(t64))
    apogee_km = (np.array([s.alta for s in satrecs]) + 1.0) * EARTH_RADIUS_KM
    wild = np.linalg.norm(r, axis=-1) > 1.5 * apogee_km[:, None] + 1000.0
    err = np.where((err == 0) & wild, NON_PHYSICAL, err).astype(np.int8)
    r = np.einsum("tij,ntj->nti", rot, r)
    v = np.einsum("tij,ntj->nti", rot, v)
    bad = err != 0
    r[bad] = np.nan
    v[bad] = np.nan
    return r, v, err


def apparent(r, v, obs_r, obs_v, sun, *, light_time: bool = False) -> dict:
    """Topocentric geometry of objects at GCRS r, v (..., T, 3) from an observer (T, 3).

    Returns a dict of arrays (..., T): ``ra``, ``dec`` [deg], ``range_km``,
    ``rate_arcsec_s``, ``motion_pa_deg``, ``sunlit``, ``phase_angle_deg``, and the unit
    line-of-sight vectors ``los`` (..., T, 3).
    """
    rel = r - obs_r
    if light_time:
        # SGP4 cannot take a different time per object, so the retarded position is
        # r - v tau: for tau < 0.2 s the neglected acceleration term is below a centimetre.
        for _ in range(2):
            tau = np.linalg.norm(r - obs_r, axis=-1, keepdims=True) / C_KM_S
            rel = r - v * tau - obs_r
    rng = np.linalg.norm(rel, axis=-1)
    los = rel / rng[..., None]
    ra = np.arctan2(los[..., 1], los[..., 0])
    dec = np.arcsin(np.clip(los[..., 2], -1.0, 1.0))
    # apparent angular motion: the part of the relative velocity across the line of sight
    v_rel = v - obs_v
    w = (v_rel - np.sum(v_rel * los, axis=-1, keepdims=True) * los) / rng[..., None]
    east = np.stack([-np.sin(ra), np.cos(ra), np.zeros_like(ra)], axis=-1)
    north = np.stack([-np.sin(dec) * np.cos(ra), -np.sin(dec) * np.sin(ra), np.cos(dec)], axis=-1)
    rate = np.linalg.norm(w, axis=-1) * ARCSEC_PER_RAD
    pa = np.degrees(np.arctan2(np.sum(w * east, -1), np.sum(w * north, -1))) % 360.0
    # Earth shadow: a cylinder of the equatorial radius behind the Earth (the penumbra
    # lasts seconds for LEO and is not modelled)
    s_hat = sun / np.linalg.norm(sun, axis=-1, keepdims=True)
    along = np.sum(r * s_hat, axis=-1)
    perp = np.linalg.norm(r - along[..., None] * s_hat, axis=-1)
    sunlit = (along > 0) | (perp > EARTH_RADIUS_KM)
    to_sun = sun - r
    to_obs = obs_r - r
    cos_phase = np.sum(to_sun * to_obs, -1) / (
        np.linalg.norm(to_sun, axis=-1) * np.linalg.norm(to_obs, axis=-1)
    )
    finite = np.isfinite(rng)
    return {
        "ra": np.degrees(ra) % 360.0,
        "dec": np.degrees(dec),
        "range_km": rng,
        "rate_arcsec_s": rate,
        "motion_pa_deg": np.where(finite, pa, np.nan),
        "sunlit": sunlit & finite,
        "phase_angle_deg": np.degrees(np.arccos(np.clip(cos_phase, -1.0, 1.0))),
        "los": los,
    }


def predict(
    catalogue: Catalogue,
    times,
    observer,
    *,
    light_time: bool = False,
    window_h: float | None = None,
) -> xr.Dataset:
    """Positions of every catalogued object as seen by ``observer`` at ``times``.

    SGP4 runs vectorised (:class:`sgp4.api.SatrecArray`) over all (object, time) pairs;
    TEME vectors are rotated to GCRS with astropy's TEME frame. For each object and time
    the element set closest in time is used (see :func:`select_epochs`).

    Parameters
    ----------
    catalogue : Catalogue
        From :func:`~satlab.orbits.read_tle`.
    times : astropy.time.Time, datetime64 array or pandas timestamps
        UTC times; a scalar gives a ``time`` dim of length 1.
    observer : Observer or str
        An :class:`Observer` or its :meth:`Observer.to_attr` string.
    light_time : bool
        Correct positions for light travel time (the object where it was when the light
        left it); default geometric.
    window_h : float, optional
        Use only element sets within +-``window_h`` hours; other positions are NaN with
        ``sgp4_error`` = :data:`NO_ELEMENTS` (-1).

    Returns
    -------
    xarray.Dataset
        Dims ``(object, time)``: ``ra``, ``dec`` [deg, ICRS], ``range_km``,
        ``rate_arcsec_s`` (apparent angular speed), ``motion_pa_deg`` (position angle of
        the apparent motion, east of north), ``sunlit`` (outside the Earth's cylindrical
        shadow), ``phase_angle_deg`` (Sun-object-observer), ``sgp4_error`` (0 fine, 1-7
        error codes below, -1 no element set in the window; positions NaN where non-zero)
        and ``epoch_age_h``; coords ``norad_id``, ``name`` (object) and ``time``.
        SGP4 error codes: 1 mean eccentricity, 2 mean motion, 3 perturbed eccentricity
        out of range, 4 semi-latus rectum < 0, 6 decayed, and satlab's 7
        (:data:`NON_PHYSICAL`) for positions SGP4 returns without an error code beyond
        the orbit (after decay).

    Notes
    -----
    Everything is computed in memory, a few hundred bytes per (object, time) pair at the
    peak: split long time series (30,000 objects at 1,000 times would need ~10 GB).

    Warns
    -----
    SatlabWarning
        When positions are flagged (SGP4 errors, no element set), when an element set is
        more than 30 days from a time, or when the catalogue is empty.
    """
    if not isinstance(catalogue, Catalogue):
        raise InputError(
            "catalogue: expected a satlab.orbits.Catalogue (from read_tle), got "
            f"{type(catalogue).__name__}"
        )
    observer = Observer.from_attr(observer)
    t64 = as_utc_times(times)
    epochs = select_epochs(catalogue, t64, window_h=window_h)
    rows = epochs["row"].to_numpy()
    n_obj = rows.shape[0]
    if n_obj == 0:
        warnings.warn("predict: the catalogue is empty; no positions", SatlabWarning, stacklevel=2)
    rot = teme_to_gcrs_matrices(t64)
    obs_r, obs_v = observer.posvel_gcrs(t64, rotations=rot)
    needed, inverse = np.unique(rows[rows >= 0], return_inverse=True)
    r_u, v_u, e_u = propagate_rows(catalogue.satrecs[needed], t64, rot)
    gather = np.full(rows.shape, -1)
    gather[rows >= 0] = inverse
    t_idx = np.broadcast_to(np.arange(len(t64)), rows.shape)
    ok = gather >= 0
    r = np.full((*rows.shape, 3), np.nan)
    v = np.full((*rows.shape, 3), np.nan)
    err = np.full(rows.shape, NO_ELEMENTS, dtype=np.int8)
    r[ok] = r_u[gather[ok], t_idx[ok]]
    v[ok] = v_u[gather[ok], t_idx[ok]]
    err[ok] = e_u[gather[ok], t_idx[ok]]
    geo = apparent(r, v, obs_r, obs_v, sun_gcrs_km(t64), light_time=light_time)
    _warn_flags(err, epochs["epoch_age_h"].to_numpy(), epochs["norad_id"].to_numpy())

    names = catalogue.table.drop_duplicates("norad_id").set_index("norad_id")["name"]
    dims = ("object", "time")
    units = {
        "ra": "deg",
        "dec": "deg",
        "range_km": "km",
        "rate_arcsec_s": "arcsec/s",
        "motion_pa_deg": "deg",
        "phase_angle_deg": "deg",
    }
    data = {k: (dims, geo[k], {"units": u}) for k, u in units.items()}
    data["sunlit"] = (dims, geo["sunlit"])
    data["sgp4_error"] = (dims, err)
    data["epoch_age_h"] = epochs["epoch_age_h"]
    ids = epochs["norad_id"].to_numpy()
    ds = xr.Dataset(
        data,
        coords={
            "norad_id": ("object", ids),
            "name": ("object", names.reindex(ids).to_numpy(dtype=str)),
            "time": ("time", t64),
        },
        attrs={
            "observer": observer.to_attr(),
            "frame": "ICRS",
            "light_time": int(light_time),
            "window_h": np.nan if window_h is None else float(window_h),
            "versions": json.dumps(versions()),
        },
    )
    return ds


def _warn_flags(err: np.ndarray, age_h: np.ndarray, ids: np.ndarray) -> None:
    failed = err > 0
    if failed.any():
        codes = sorted({int(c) for c in err[failed]})
        bad_ids = ids[failed.any(axis=1)]
        warnings.warn(
            f"predict: {int(failed.sum())} position(s) of {len(bad_ids)} object(s) are NaN "
            f"(SGP4 error codes {codes}; e.g. NORAD {bad_ids[:5].tolist()})",
            SatlabWarning,
            stacklevel=3,
        )
    missing = err == NO_ELEMENTS
    if missing.any():
        warnings.warn(
            f"predict: {int(missing.any(axis=1).sum())} object(s) have no element set within "
            f"the window at {int(missing.sum())} (object, time) pair(s); positions NaN",
            SatlabWarning,
            stacklevel=3,
        )
    with np.errstate(invalid="ignore"):
        stale = np.abs(age_h) > STALE_DAYS * 24
    if stale.any():
        warnings.warn(
            f"predict: {int(stale.any(axis=1).sum())} object(s) use element sets more than "
            f"{STALE_DAYS:g} days from the time (see epoch_age_h); positions may be off by "
            "many km",
            SatlabWarning,
            stacklevel=3,
        )
