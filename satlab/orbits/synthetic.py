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


def synthetic_catalogue(
    n: int,
    epoch,
    *,
    seed: int,
    templates: Catalogue | None = None,
    spread_h: float = 24.0,
    first_id: int = 100001,
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
        propagate over +-3 days of their epoch are redrawn.
    first_id : int
        Catalogue number of the first object (Alpha-5 above 99999, up to 339999).
    """
    from sgp4.api import WGS72, Satrec
    from sgp4.exporter import export_tle

    from ._astro import as_utc_times, jd_pair

    if n < 1 or first_id < 1 or first_id + n - 1 > 339999:
        raise InputError(f"n, first_id: need 1..339999 catalogue numbers, got {first_id}+{n}")
    templates = _verification_templates() if templates is None else templates
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(templates), n)
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
            err = [sat.sgp4(jd[i], fr[i] + d)[0] for d in (-3.0, 0.0, 3.0)]
            if not sat.error and not any(err):
                break
            pick[i] = rng.integers(0, len(templates))
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
    }
    return cat
