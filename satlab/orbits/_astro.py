"""Times, the TEME -> GCRS rotation and the Sun, shared by observers and predictions.

Everything returns plain float arrays (km, km/s, rotation matrices); astropy does the
astronomy once per time, numpy applies it to every object.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import InputError, SatlabWarning

_UNIX_JD = 2440587.5
DAY_S = 86400.0
C_KM_S = 299792.458
AU_KM = 149597870.7
EARTH_RADIUS_KM = 6378.137  # WGS84 equatorial radius, for the Earth-shadow test


def versions() -> dict:
    """Versions behind a prediction or identification, recorded in result attrs."""
    from importlib.metadata import version

    from .._version import __version__

    return {"satlab": __version__, **{p: version(p) for p in ("sgp4", "astropy", "pyerfa")}}


def as_utc_times(times, *, name: str = "times") -> np.ndarray:
    """1-D datetime64[ns] UTC from astropy Time, datetime64, pandas or datetime input."""
    import pandas as pd

    if hasattr(times, "scale") and hasattr(times, "utc"):  # astropy Time
        times = times.utc.to_datetime(leap_second_strict="silent")
    arr = np.atleast_1d(np.asarray(times)).ravel()
    if arr.dtype.kind == "M":  # naive datetime64 is UTC by satlab's convention
        out = arr.astype("datetime64[ns]")
    else:
        try:
            stamps = pd.to_datetime(arr.astype(object), utc=True)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name}: expected UTC datetimes, got {times!r:.80}") from exc
        out = stamps.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    if np.isnat(out).any():
        raise InputError(f"{name}: {int(np.isnat(out).sum())} time(s) are NaT; expected datetimes")
    return out


def jd_pair(t64: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC Julian date split as sgp4 wants it (whole + fraction) for full precision."""
    days = (t64 - np.datetime64("1970-01-01T00:00:00", "ns")) / np.timedelta64(1, "D")
    whole = np.floor(days)
    return _UNIX_JD + whole, days - whole


def astropy_time(t64: np.ndarray):
    from astropy.time import Time

    return Time(t64, scale="utc", format="datetime64")


def _quiet_iers(func, *args):
    """Run an astropy transform; IERS-table extrapolation becomes one SatlabWarning."""
    from astropy.utils import iers
    from astropy.utils.exceptions import AstropyWarning
    from erfa import ErfaWarning

    # offline, astropy's IERS-A predictions age; past 30 days astropy raises for times
    # beyond them: satlab extrapolates with the warning below instead
    with warnings.catch_warnings(record=True) as caught, iers.conf.set_temp("auto_max_age", None):
        warnings.simplefilter("always", AstropyWarning)
        warnings.simplefilter("always", ErfaWarning)
        out = func(*args)
    if caught:
        warnings.warn(
            "times outside astropy's Earth-orientation (IERS) or leap-second tables: "
            f"positions may be off by arcseconds ({str(caught[0].message)[:120]})",
            SatlabWarning,
            stacklevel=4,
        )
    return out


def teme_to_gcrs_matrices(t64: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations taking TEME vectors to GCRS at each time.

    astropy's TEME -> ITRS -> CIRS -> GCRS chain is, for geocentric vectors,
    ``C(t)^T R3(GMST82 - ERA)``: polar motion enters and leaves again, and UT1 only through
    the slowly varying GMST82 - ERA (a second of UT1 moves it by 2e-12 rad), so UTC stands
    in for UT1. satlab builds that product with erfa directly, 100x faster than a frame
    transform per call; the tests check it against astropy's TEME frame (to 1 mm at GEO)
    and the positions against skyfield.
    """
    import erfa

    def run():
        t = astropy_time(t64)
        tt = t.tt
        c2i = erfa.c2i06a(tt.jd1, tt.jd2)  # GCRS -> CIRS (IAU 2006/2000A)
        theta = erfa.gmst82(t.jd1, t.jd2) - erfa.era00(t.jd1, t.jd2)
        rz = erfa.rz(theta, np.broadcast_to(np.eye(3), (len(t64), 3, 3)).copy())
        return np.einsum("tji,tjk->tik", c2i, rz)

    return _quiet_iers(run)


def ground_posvel(lat_deg, lon_deg, height_m, t64):
    """GCRS position [km] and velocity [km/s] of a WGS84 site, (T, 3) each."""

    def run():
        from astropy import units as u
        from astropy.coordinates import EarthLocation

        loc = EarthLocation.from_geodetic(lon_deg * u.deg, lat_deg * u.deg, height_m * u.m)
        pos, vel = loc.get_gcrs_posvel(astropy_time(t64))
        return pos.xyz.to_value(u.km).T, vel.xyz.to_value(u.km / u.s).T

    return _quiet_iers(run)


def sun_gcrs_km(t64: np.ndarray) -> np.ndarray:
    """Geocentric Sun position [km], ICRS axes, (T, 3); light time ignored (20").

    erfa's epv00 is the series astropy's built-in ephemeris evaluates; called directly it
    costs microseconds instead of two ``get_body_barycentric`` calls.
    """
    import erfa

    def run():
        tt = astropy_time(t64).tt  # TT for TDB: 1.7 ms apart, 10 m of Earth motion
        heliocentric, _ = erfa.epv00(tt.jd1, tt.jd2)
        return -heliocentric["p"] * AU_KM

    return _quiet_iers(run)
