"""Synthetic element-set catalogues made from real ones, for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from .catalogue import Catalogue, read_tle

__all__ = ["synthetic_catalogue"]


def _verification_templates() -> Catalogue:
    """The valid element sets shipped with sgp4 (near-Earth and deep-space, real)."""
    import warnings

    import sgp4

    from ..errors import SatlabWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)  # its 3 deliberately invalid sets
        return read_tle(Path(sgp4.__file__).parent / "SGP4-VER.TLE", errors="skip").latest()


def _propagates(sat, jd: float, fr: float) -> bool:
    """SGP4 gives sane positions every 6 h over +-3 days (no decay, no runaway radius)."""
    apogee_km = (sat.alta + 1.0) * sat.radiusearthkm
    for d in np.arange(-3.0, 3.01, 0.25):
        err, r, _ = sat.sgp4(jd, fr + d)
        if err or np.linalg.norm(r) > 1.5 * apogee_km + 1000.0:
            return False
    return True


def synthetic_catalogue(
    n: int,
    epoch,
    *,
    seed: int,
    templates: Catalogue | None = None,
    spread_h: float = 24.0,
    first_id: int = 100001,
    deep_fraction: float | None = 0.15,
) -> Catalogue:
    """``n`` objects with real element shapes, new orientations and recent epochs.

    Each object copies the inclination, eccentricity, mean motion and drag of a template
    element set and draws a new node, argument of perigee and mean anomaly (uniform), so
    orbital planes and phases cover the sky; the epoch is ``epoch`` minus a uniform
    0..``spread_h`` hours. Lines are written with :func:`sgp4.exporter.export_tle`
    (valid checksums, Alpha-5 numbers from ``first_id``).

    Parameters
    ----------
    n : int
        Number of objects.
    epoch : datetime-like
        Latest epoch (UTC).
    seed : int
        Random seed; the parameters are recorded in ``catalogue.table.attrs``.
    templates : Catalogue, optional
        Element sets to copy shapes from; default the valid sets of sgp4's
        ``SGP4-VER.TLE``.
    spread_h : float
        Epochs are spread over this many hours before ``epoch``. Draws that SGP4 cannot
        propagate sanely over +-3 days of their epoch (decay) are redrawn.
    first_id : int
        Catalogue number of the first object (Alpha-5 above 99999, up to 339999).
    deep_fraction : float or None
        Share of objects drawn from deep-space templates (period >= 225 min); the real
        catalogue is ~85 % near-Earth. ``None`` draws templates uniformly (sgp4's
        verification file is 80 % deep space).
    """
    from sgp4.api import WGS72, Satrec
    from sgp4.exporter import export_tle

    from ._astro import as_utc_times, jd_pair, versions

    if n < 1 or first_id < 1 or first_id + n - 1 > 339999:
        raise InputError(f"n, first_id: need 1..339999 catalogue numbers, got {first_id}+{n}")
    templates = _verification_templates() if templates is None else templates
    rng = np.random.default_rng(seed)
    period_min = 2 * np.pi / np.array([s.no_kozai for s in templates.satrecs])
    deep = period_min >= 225.0
    weights = np.ones(len(templates))
    if deep_fraction is not None and deep.any() and (~deep).any():
        weights = np.where(deep, deep_fraction / deep.sum(), (1 - deep_fraction) / (~deep).sum())
    weights /= weights.sum()
    pick = rng.choice(len(templates), n, p=weights)
    t_end = as_utc_times(epoch)[0]
    back = (rng.uniform(0.0, spread_h, n) * 3.6e12).astype("timedelta64[ns]")
    jd, fr = jd_pair(t_end - back)
    epoch_1949 = (jd - 2433281.5) + fr  # days since 1949 December 31 00:00 UT
    angles = rng.uniform(0.0, 2 * np.pi, (n, 3))
    lines1, lines2, names = [], [], []
    for i in range(n):
        while True:  # some real shapes (high drag) decay under a new orientation: redraw
            base = templates.satrecs[pick[i]]
            sat = Satrec()
            sat.sgp4init(
                WGS72,
                "i",
                first_id + i,
                epoch_1949[i],
                base.bstar,
                base.ndot,
                base.nddot,
                base.ecco,
                angles[i, 0],
                base.inclo,
                angles[i, 1],
                base.no_kozai,
                angles[i, 2],
            )
            if not sat.error and _propagates(sat, jd[i], fr[i]):
                break
            pick[i] = rng.choice(len(templates), p=weights)
            angles[i] = rng.uniform(0.0, 2 * np.pi, 3)
        sat.intldesg = "26001A"
        line1, line2 = export_tle(sat)
        lines1.append(line1)
        lines2.append(line2)
        names.append(f"SYN {first_id + i}")
    cat = Catalogue.from_lines(lines1, lines2, names=names)
    cat.table.attrs["params"] = {
        "n": n,
        "epoch": str(t_end),
        "seed": seed,
        "spread_h": spread_h,
        "first_id": first_id,
        "deep_fraction": deep_fraction,
    }
    cat.table.attrs["versions"] = versions()
    return cat
