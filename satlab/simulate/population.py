"""A synthetic, physically consistent object population: 3LE history and SATCAT.

Classes (fractions of ``n``): a Walker-like constellation (550 km, 53 deg, 12 planes),
sun-synchronous payloads (500-800 km), rocket bodies, debris clouds from fragmentation
events, MEO navigation satellites and GEO satellites. Each object has mean elements at a
reference epoch built with :meth:`sgp4.api.Satrec.sgp4init` (WGS72, no drag so SGP4
holds over the years) and one element set per requested epoch, advanced with SGP4's own
secular rates (node, perigee, mean anomaly) and written with
:func:`sgp4.exporter.export_tle`: a real 3LE history that :func:`satlab.orbits.read_tle`
reads, as Space-Track serves it.

Brightness: the standard magnitude (at 1000 km, seed 001 eq. 2) follows

    m_std = m0 + trend * (launch_year - 2015) + size_term + N(0, sigma)

with newer objects brighter (``trend`` < 0, seed 001 Fig. 11), LARGE objects brighter
and SMALL ones fainter; ``m0`` and ``sigma`` are set so that the population has the mean
and spread seed 001 measured (13.4 +- 1.7). :data:`MAG_LAW` holds the constants.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["MAG_LAW", "Population", "cheops_observer_tle", "make_population"]

MU_KM3_S2 = 398600.8  # WGS72, as SGP4
RE_KM = 6378.135
J2 = 0.001082616
SGP4_EPOCH = np.datetime64("1949-12-31T00:00:00", "ns")
MAG_LAW = {
    "mean": 13.4,
    "std": 1.7,
    "trend_per_year": -0.08,
    "reference_year": 2015.0,
    "size_term": {"LARGE": -0.8, "MEDIUM": 0.0, "SMALL": 1.2},
}
CLASSES = {  # name: fraction of the population
    "constellation": 0.30,
    "sso": 0.20,
    "rocket_body": 0.12,
    "debris": 0.24,
    "meo": 0.06,
    "geo": 0.08,
}
FRAGMENTATIONS = ["2007-01-11", "2009-02-10", "2021-11-15", "2015-02-03", "2018-06-12"]


def _mean_motion(alt_km):
    """Mean motion [rad/min] of a circular orbit at ``alt_km``."""
    a = RE_KM + np.asarray(alt_km, float)
    return np.sqrt(MU_KM3_S2 / a**3) * 60.0


def _sso_inclination(alt_km):
    """Inclination [deg] whose J2 node drift follows the mean Sun (sun-synchronous)."""
    a = RE_KM + np.asarray(alt_km, float)
    n = np.sqrt(MU_KM3_S2 / a**3)
    rate = 2 * np.pi / (365.2422 * 86400.0)
    return np.degrees(np.arccos(-rate / (1.5 * J2 * (RE_KM / a) ** 2 * n)))


def _satrec(satnum, epoch, ecc, incl_deg, node_deg, argp_deg, ma_deg, n_rad_min):
    from sgp4.api import WGS72, Satrec

    days = (np.datetime64(epoch, "ns") - SGP4_EPOCH) / np.timedelta64(1, "D")
    sat = Satrec()
    sat.sgp4init(
        WGS72,
        "i",
        int(satnum),
        float(days),
        0.0,
        0.0,
        0.0,
        float(ecc),
        np.radians(argp_deg),
        np.radians(incl_deg),
        np.radians(ma_deg),
        float(n_rad_min),
        np.radians(node_deg),
    )
    return sat


def _at_epoch(sat, epoch):
    """The element set of ``sat`` re-epoched by SGP4's secular rates (no drag)."""
    dt_min = (np.datetime64(epoch, "ns") - _sat_epoch(sat)) / np.timedelta64(1, "m")
    return _satrec(
        sat.satnum,
        epoch,
        sat.ecco,
        np.degrees(sat.inclo),
        np.degrees(sat.nodeo + sat.nodedot * dt_min) % 360,
        np.degrees(sat.argpo + sat.argpdot * dt_min) % 360,
        np.degrees(sat.mo + sat.mdot * dt_min) % 360,
        sat.no_kozai,
    )


def _sat_epoch(sat) -> np.datetime64:
    jd = sat.jdsatepoch + sat.jdsatepochF
    return SGP4_EPOCH + np.timedelta64(round((jd - 2433281.5) * 86400e6), "us")


def cheops_observer_tle(epoch="2020-01-01T00:00:00") -> tuple[str, str]:
    """A CHEOPS-like observer: 700 km dawn-dusk sun-synchronous orbit (TLE lines).

    The node is 90 deg east of the mean Sun at ``epoch`` (06:00 / 18:00 local time) and
    stays there: the inclination is sun-synchronous and the element set has no drag.
    """
    from sgp4.exporter import export_tle

    t = pd.Timestamp(epoch)
    days = (t - pd.Timestamp("2000-01-01T12:00:00")) / pd.Timedelta(days=1)
    sun_lon = (280.46 + 0.9856474 * days) % 360  # mean longitude of the Sun [deg]
    sat = _satrec(
        99001,
        t.to_datetime64(),
        0.0012,
        _sso_inclination(700.0),
        (sun_lon + 90.0) % 360,
        90.0,
        0.0,
        _mean_motion(700.0),
    )
    return export_tle(sat)


class Population:
    """Objects (SATCAT table) with their reference element sets.

    Attributes
    ----------
    satcat : pandas.DataFrame
        Space-Track SATCAT columns (``NORAD_CAT_ID``, ``OBJECT_NAME``, ``OBJECT_TYPE``,
        ``RCS_SIZE``, ``LAUNCH_DATE``, ``DECAY_DATE`` ...) plus satlab's truth columns
        ``MAG_STD`` (standard magnitude) and ``CLASS``.
    satrecs : list of sgp4 Satrec
        Reference element set per object (same order).
    """

    def __init__(self, satcat: pd.DataFrame, satrecs: list):
        self.satcat = satcat
        self.satrecs = satrecs

    def __len__(self) -> int:
        return len(self.satcat)

    def alive(self, time) -> np.ndarray:
        """Boolean per object: launched and not decayed at ``time``."""
        t = np.datetime64(pd.Timestamp(time).tz_localize(None), "ns")
        launch = self.satcat["LAUNCH_DATE"].to_numpy(dtype="datetime64[ns]")
        decay = pd.to_datetime(self.satcat["DECAY_DATE"]).to_numpy(dtype="datetime64[ns]")
        return (launch <= t) & (np.isnat(decay) | (decay > t))

    def three_line(self, epochs) -> str:
        """3LE text: one element set per object alive at each of ``epochs``."""
        from sgp4.exporter import export_tle

        out = []
        for epoch in epochs:
            alive = np.flatnonzero(self.alive(epoch))
            for i in alive:
                l1, l2 = export_tle(_at_epoch(self.satrecs[i], np.datetime64(epoch, "ns")))
                out.append(f"0 {self.satcat['OBJECT_NAME'].iloc[i]}\n{l1}\n{l2}\n")
        return "".join(out)

    def satcat_csv(self) -> str:
        """The SATCAT as CSV text (Space-Track vocabulary)."""
        return self.satcat.to_csv(index=False)


def _dates(rng, n, lo, hi):
    lo, hi = (pd.Timestamp(v).value for v in (lo, hi))
    return pd.to_datetime(rng.uniform(lo, hi, n).astype(np.int64)).normalize()


def make_population(n: int = 300, *, seed: int, end="2025-06-30") -> Population:
    """A synthetic population of ``n`` objects (see the module docstring).

    Parameters
    ----------
    n : int
        Number of objects (>= 12).
    seed : int
        Seed; the same seed gives the same population.
    end : date
        Last date of the population (launches before it; decays may be later).
    """
    if int(n) < 12:
        raise InputError(f"n: expected >= 12 objects (every class represented), got {n}")
    rng = np.random.default_rng([seed, 0x909])
    counts = {k: round(f * n) for k, f in CLASSES.items()}
    counts["debris"] += int(n) - sum(counts.values())
    rows, sats = [], []
    ref = np.datetime64("2020-01-01T00:00:00", "ns")
    norad = 70001
    end = pd.Timestamp(end)
    for cls, k in counts.items():
        for j in range(k):
            ecc, alt, incl = 0.0005, 550.0, 53.0
            node, ma, argp = rng.uniform(0, 360, 3)
            decay = pd.NaT
            if cls == "constellation":
                plane = j % 12
                node, ma = plane * 30.0, (j // 12) * 360.0 / max(1, k // 12) + plane * 7.5
                launch = pd.Timestamp("2019-06-01") + pd.Timedelta(
                    days=int(plane * 170 + rng.integers(0, 60))
                )
                otype, size, name = (
                    "PAYLOAD",
                    rng.choice(["MEDIUM", "LARGE"], p=[0.6, 0.4]),
                    (f"SIMLINK-{j + 1:04d}"),
                )
                if rng.random() < 0.1:
                    decay = launch + pd.Timedelta(days=int(rng.integers(700, 1500)))
            elif cls == "sso":
                alt = rng.uniform(500, 800)
                incl = _sso_inclination(alt)
                launch = _dates(rng, 1, "1998-01-01", end)[0]
                otype, size = "PAYLOAD", rng.choice(["LARGE", "MEDIUM", "SMALL"], p=[0.5, 0.4, 0.1])
                name = f"SIMSAT-SSO-{j + 1:03d}"
            elif cls == "rocket_body":
                alt, ecc = rng.uniform(600, 1000), rng.uniform(0.0, 0.03)
                incl = float(rng.choice([65.0, 71.0, 74.0, 82.5, 98.5]))
                launch = _dates(rng, 1, "1990-01-01", end)[0]
                otype, size, name = "ROCKET BODY", "LARGE", f"SIM R/B {j + 1:03d}"
            elif cls == "debris":
                event = pd.Timestamp(FRAGMENTATIONS[j % len(FRAGMENTATIONS)])
                alt, ecc = rng.uniform(650, 1000), rng.uniform(0.0, 0.02)
                incl = [98.6, 74.0, 82.6, 98.8, 97.9][j % len(FRAGMENTATIONS)] + rng.normal(0, 0.3)
                launch = event
                otype = "DEBRIS" if rng.random() > 0.08 else "UNKNOWN"
                size = rng.choice(["SMALL", "MEDIUM", "LARGE"], p=[0.6, 0.35, 0.05])
                name = f"SIM DEB {event.year} {j + 1:03d}"
                if event.year == 2021 and rng.random() < 0.6:
                    decay = event + pd.Timedelta(days=int(rng.integers(300, 1000)))
            elif cls == "meo":
                alt, ecc, incl = 20180.0, rng.uniform(0, 0.01), 55.0 + rng.normal(0, 0.5)
                launch = _dates(rng, 1, "1995-01-01", end)[0]
                otype, size, name = "PAYLOAD", "LARGE", f"SIMNAV-{j + 1:02d}"
            else:
                alt, ecc, incl = 35786.0, rng.uniform(0, 0.0005), rng.uniform(0, 2.0)
                launch = _dates(rng, 1, "1995-01-01", end)[0]
                otype, size, name = "PAYLOAD", "LARGE", f"SIMGEO-{j + 1:02d}"
            sats.append(_satrec(norad, ref, ecc, incl, node, argp, ma, _mean_motion(alt)))
            period = 2 * np.pi / _mean_motion(alt)
            rows.append(
                {
                    "NORAD_CAT_ID": norad,
                    "OBJECT_NAME": name,
                    "OBJECT_ID": f"{launch.year}-{rng.integers(1, 200):03d}{chr(65 + j % 26)}",
                    "OBJECT_TYPE": otype,
                    "RCS_SIZE": str(size),
                    "LAUNCH_DATE": launch.strftime("%Y-%m-%d"),
                    "DECAY_DATE": "" if pd.isna(decay) else decay.strftime("%Y-%m-%d"),
                    "PERIOD": round(float(period), 2),
                    "INCLINATION": round(float(incl), 2),
                    "APOGEE": round(float(alt * (1 + ecc) + RE_KM * ecc), 0),
                    "PERIGEE": round(float(alt * (1 - ecc) - RE_KM * ecc), 0),
                    "COUNTRY": "SIM",
                    "CLASS": cls,
                }
            )
            norad += 1
    satcat = pd.DataFrame(rows)
    years = pd.to_datetime(satcat["LAUNCH_DATE"]).dt.year + 0.5
    size = satcat["RCS_SIZE"].map(MAG_LAW["size_term"]).to_numpy(float)
    trend = MAG_LAW["trend_per_year"] * (years.to_numpy() - MAG_LAW["reference_year"])
    systematic = trend + size
    sigma = np.sqrt(max(MAG_LAW["std"] ** 2 - systematic.var(), 0.1))
    mag = systematic + rng.normal(0.0, sigma, len(satcat))
    satcat["MAG_STD"] = np.round(MAG_LAW["mean"] + mag - mag.mean(), 3)
    return Population(satcat, sats)
