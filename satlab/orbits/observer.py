"""Where the telescope is: a ground site or a spacecraft flying a TLE (e.g. CHEOPS)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ._astro import as_utc_times, jd_pair, teme_to_gcrs_matrices

__all__ = ["Observer"]

MIN_HEIGHT_M = -500.0  # below the Dead Sea shore: a sign or unit mistake
MAX_GROUND_HEIGHT_M = 100_000.0  # above this use a spacecraft observer


def _float(value, unit: str, name: str) -> float:
    if hasattr(value, "to_value"):  # astropy Quantity / Angle
        value = value.to_value(unit)
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: expected a number [{unit}], got {value!r}") from exc
    if not np.isfinite(out):
        raise InputError(f"{name}: expected a finite number [{unit}], got {out}")
    return out


@dataclass(frozen=True)
class Observer:
    """An observing site on the ground or in orbit.

    Build one with :meth:`ground` or :meth:`from_tle`; store it in frames with
    ``frames.attrs["observer"] = observer.to_attr()`` and read it back with
    :meth:`from_attr`.
    """

    kind: str
    lat_deg: float | None = None
    lon_deg: float | None = None
    height_m: float | None = None
    line1: str | None = None
    line2: str | None = None
    name: str = ""

    @classmethod
    def ground(cls, lat_deg, lon_deg, height_m=0.0, *, name: str = "") -> Observer:
        """A site on the WGS84 ellipsoid.

        Parameters
        ----------
        lat_deg, lon_deg : float or astropy Quantity
            Geodetic latitude and east longitude [deg].
        height_m : float or astropy Quantity
            Height above the ellipsoid [m], between -500 m and 100 km.
        name : str, optional
            Site name, kept in :meth:`to_attr`.
        """
        lat = _float(lat_deg, "deg", "lat_deg")
        lon = _float(lon_deg, "deg", "lon_deg")
        h = _float(height_m, "m", "height_m")
        if not -90.0 <= lat <= 90.0:
            raise InputError(f"lat_deg: expected -90..90 deg, got {lat}")
        if not MIN_HEIGHT_M <= h <= MAX_GROUND_HEIGHT_M:
            raise InputError(
                f"height_m: expected {MIN_HEIGHT_M:g}..{MAX_GROUND_HEIGHT_M:g} m above the "
                f"WGS84 ellipsoid, got {h} (metres, not km? a spacecraft needs Observer.from_tle)"
            )
        lon = (lon + 180.0) % 360.0 - 180.0
        return cls("ground", lat_deg=lat, lon_deg=lon, height_m=h, name=name)

    @classmethod
    def from_tle(cls, line1: str, line2: str, *, name: str = "") -> Observer:
        """A spacecraft observer propagated with SGP4 from one element set.

        Raises
        ------
        satlab.errors.CatalogueError
            If the lines are not a valid TLE (layout, checksum, elements).
        """
        from .catalogue import _parse_tle_text

        text = f"{line1.rstrip()}\n{line2.rstrip()}\n"
        records, _ = _parse_tle_text(text, "observer TLE", "raise", True)
        if len(records) != 1:
            raise InputError(f"observer TLE: expected one element set, got {len(records)}")
        _, line1, line2, _ = records[0]
        return cls("spacecraft", line1=line1, line2=line2, name=name)

    @classmethod
    def from_catalogue(cls, catalogue, norad_id: int, time, *, name: str = "") -> Observer:
        """The spacecraft ``norad_id`` flying its element set closest in time to ``time``.

        Seed 001 computed CHEOPS's position from its TLE closest to each observation: use
        this per visit (frames carry one element set in ``attrs["observer"]``).

        Raises
        ------
        satlab.errors.InputError
            If ``catalogue`` holds no element set of ``norad_id``.
        """
        from .predict import select_epochs

        own = catalogue.select(norad_id)
        if not len(own):
            raise InputError(f"norad_id: {norad_id} is not in the catalogue")
        row = int(select_epochs(own, time)["row"].values[0, 0])
        chosen = own.table.iloc[row]
        return cls.from_tle(chosen["line1"], chosen["line2"], name=name or chosen["name"])

    def to_attr(self) -> str:
        """A JSON string for ``frames.attrs["observer"]`` (FITS- and Zarr-safe)."""
        fields = {k: v for k, v in self.__dict__.items() if v is not None and v != ""}
        return json.dumps(fields, sort_keys=True)

    @classmethod
    def from_attr(cls, text) -> Observer:
        """Inverse of :meth:`to_attr`; an :class:`Observer` passes through unchanged."""
        if isinstance(text, Observer):
            return text
        try:
            fields = json.loads(text) if isinstance(text, str) else dict(text)
            kind = fields["kind"]
        except (TypeError, ValueError, KeyError) as exc:
            raise InputError(
                f"observer: expected the JSON written by Observer.to_attr(), got {text!r:.80}"
            ) from exc
        if kind == "ground":
            return cls.ground(
                fields["lat_deg"],
                fields["lon_deg"],
                fields.get("height_m", 0.0),
                name=fields.get("name", ""),
            )
        if kind == "spacecraft":
            return cls.from_tle(fields["line1"], fields["line2"], name=fields.get("name", ""))
        raise InputError(f"observer: kind must be 'ground' or 'spacecraft', got {kind!r}")

    def posvel_gcrs(self, times, *, rotations=None) -> tuple[np.ndarray, np.ndarray]:
        """GCRS position [km] and velocity [km/s] at ``times``, arrays (T, 3).

        ``rotations`` (the (T, 3, 3) TEME -> GCRS matrices) may be passed in when the
        caller already has them.

        Raises
        ------
        satlab.errors.InputError
            If SGP4 cannot propagate a spacecraft observer to one of the times.
        """
        t64 = as_utc_times(times)
        if self.kind == "ground":
            from ._astro import ground_posvel

            return ground_posvel(self.lat_deg, self.lon_deg, self.height_m, t64)
        from sgp4.api import SGP4_ERRORS, Satrec

        sat = Satrec.twoline2rv(self.line1, self.line2)
        err, r, v = sat.sgp4_array(*jd_pair(t64))
        if err.any():
            k = int(np.flatnonzero(err)[0])
            raise InputError(
                f"observer {self.name or self.line1[2:7]}: SGP4 cannot propagate the "
                f"spacecraft to {t64[k]} ({SGP4_ERRORS[int(err[k])]})"
            )
        rot = teme_to_gcrs_matrices(t64) if rotations is None else rotations
        return np.einsum("tij,tj->ti", rot, r), np.einsum("tij,tj->ti", rot, v)

    def __str__(self) -> str:
        if self.kind == "ground":
            return (
                f"ground observer {self.name} ({self.lat_deg:+.4f} deg, {self.lon_deg:+.4f} deg, "
                f"{self.height_m:.0f} m)"
            ).replace("  ", " ")
        return f"spacecraft observer {self.name or self.line1[2:7]}"
