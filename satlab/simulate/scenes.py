"""What the telescope looks at (seed 002 §2.1.2 / §2.2): simulated, catalogue and composite scenes.

* :class:`SimulatedScene`: random star positions; magnitudes from an exponential
  magnitude PDF ``dN/dm ~ 10^(slope m)``. Seed 002 Fig. 2 takes its PDF from Gaia DR3
  star counts; their high-latitude average is ``log10 N(<m) = 0.35 (m - 10) + 0.9`` stars
  per deg^2 (about 8 per deg^2 to m = 10 and 500 to m = 15), which is the default here;
  ``density`` scales it (crowded Galactic fields are 10-100 times denser).
* :class:`CatalogScene`: real stars from a catalogue (Hipparcos from the ``cedar-solve``
  wheel: :func:`hipparcos_catalogue`), projected through the frame's TAN WCS.
* :class:`CompositeScene`: real background images (FITS, PNG, frames) into which the
  simulator injects noise-free streaks, as seed 002 trains its networks.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, MissingFileError

__all__ = [
    "CatalogScene",
    "CompositeScene",
    "SimulatedScene",
    "Stars",
    "hipparcos_catalogue",
    "star_magnitudes",
]

DEG2_PER_ARCSEC2 = 1.0 / 3600.0**2


@dataclass(frozen=True)
class Stars:
    """Stars in a frame: pixel positions (x, y) [px] and magnitudes."""

    x: np.ndarray
    y: np.ndarray
    mag: np.ndarray

    def __len__(self) -> int:
        return int(self.x.size)

    def concat(self, other: Stars) -> Stars:
        return Stars(
            *(np.concatenate([a, b]) for a, b in zip(self.astuple(), other.astuple(), strict=True))
        )

    def astuple(self):
        return self.x, self.y, self.mag

    @classmethod
    def empty(cls) -> Stars:
        return cls(np.zeros(0), np.zeros(0), np.zeros(0))


def star_magnitudes(rng, n: int, mag_range: tuple[float, float], slope: float = 0.35):
    """``n`` magnitudes from ``dN/dm ~ 10^(slope m)`` truncated to ``mag_range`` (inverse CDF)."""
    lo, hi = mag_range
    k = slope * np.log(10.0)
    u = rng.random(n)
    return lo + np.log1p(u * np.expm1(k * (hi - lo))) / k


@dataclass(frozen=True)
class SimulatedScene:
    """Random stars with the magnitude PDF of seed 002 Fig. 2.

    Parameters
    ----------
    mag_range : (bright, faint)
        Magnitudes drawn [mag].
    density : float
        Multiplier of the mean star density (1 = high Galactic latitude).
    slope : float
        ``d log10 N / dm`` of the cumulative counts.
    """

    mag_range: tuple[float, float] = (8.0, 17.0)
    density: float = 1.0
    slope: float = 0.35

    def __post_init__(self):
        if not self.mag_range[0] < self.mag_range[1]:
            raise InputError(
                f"mag_range: expected (bright, faint) with bright < faint, got {self.mag_range}"
            )
        if not self.density >= 0:
            raise InputError(f"density: expected >= 0, got {self.density}")

    def expected_count(self, shape, pixel_scale: float) -> float:
        """Mean number of stars in a ``shape`` field of ``pixel_scale`` [arcsec/px]."""
        area_deg2 = shape[0] * shape[1] * pixel_scale**2 * DEG2_PER_ARCSEC2
        lo, hi = self.mag_range

        def cum(m):
            return 10.0 ** (self.slope * (m - 10.0) + 0.9)

        return self.density * area_deg2 * (cum(hi) - cum(lo))

    def draw(self, rng, shape, pixel_scale: float, **_) -> Stars:
        """Stars uniformly placed in the field (pointing and roll are irrelevant here)."""
        n = rng.poisson(self.expected_count(shape, pixel_scale))
        return Stars(
            rng.uniform(-0.5, shape[1] - 0.5, n),
            rng.uniform(-0.5, shape[0] - 0.5, n),
            star_magnitudes(rng, n, self.mag_range, self.slope),
        )


@dataclass(frozen=True)
class CatalogScene:
    """Real stars from a catalogue table with ``ra_deg``, ``dec_deg``, ``mag`` columns."""

    catalogue: pd.DataFrame

    def __post_init__(self):
        missing = {"ra_deg", "dec_deg", "mag"} - set(self.catalogue.columns)
        if missing:
            raise InputError(
                f"catalogue: missing column(s) {sorted(missing)}; expected ra_deg, dec_deg, mag"
            )

    def draw(self, rng, shape, pixel_scale: float, *, ra, dec, roll, parity=-1, **_) -> Stars:
        """Catalogue stars inside the field at pointing (``ra``, ``dec``) [deg], ``roll`` [deg]."""
        import xarray as xr

        from ..io.wcs import frame_wcs

        ny, nx = shape
        cat = self.catalogue
        # cheap cone cut before the WCS: stars within the field's circumscribed circle
        radius = np.hypot(nx, ny) * pixel_scale / 3600.0
        c = np.cos(np.radians(cat["dec_deg"].to_numpy()))
        d_ra = (cat["ra_deg"].to_numpy() - ra + 180.0) % 360.0 - 180.0
        near = np.hypot(d_ra * c, cat["dec_deg"].to_numpy() - dec) < radius
        sub = cat[near]
        if sub.empty:
            return Stars.empty()
        one = xr.Dataset(
            coords={"ra": ("frame", [ra]), "dec": ("frame", [dec]), "roll": ("frame", [roll])},
            attrs={"pixel_scale": pixel_scale, "parity": parity},
        ).assign_coords(x=np.arange(nx), y=np.arange(ny))
        x, y = frame_wcs(one, 0).all_world2pix(sub["ra_deg"], sub["dec_deg"], 0)
        keep = (x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)
        return Stars(np.asarray(x)[keep], np.asarray(y)[keep], sub["mag"].to_numpy()[keep])


def hipparcos_catalogue(*, cache_dir=None, download: bool = False) -> pd.DataFrame:
    """The Hipparcos star table shipped in the ``cedar-solve`` wheel (optional extra).

    ``cedar-solve`` cannot be installed beside satlab (it pins ``numpy<2``), so satlab
    reads ``tetra3/data/default_database.npz`` (array ``star_table``: ra, dec [rad],
    x, y, z, mag) straight from the wheel, a zip file. Fetch it once with
    ``pip download --no-deps cedar-solve -d CACHE`` (or ``download=True``, or
    ``satlab simulate frames --catalog hipparcos --download-catalog``).

    Parameters
    ----------
    cache_dir : path, optional
        Where the wheel is looked for / downloaded; default ``$SATLAB_CACHE`` or
        ``~/.cache/satlab``.
    download : bool
        Run ``pip download`` if no wheel is cached.

    Returns
    -------
    pandas.DataFrame
        ``ra_deg``, ``dec_deg``, ``mag``.

    Raises
    ------
    satlab.errors.MissingFileError
        No cached wheel and ``download`` is false, or the download failed.
    """
    cache = Path(cache_dir or os.environ.get("SATLAB_CACHE", "~/.cache/satlab")).expanduser()
    wheels = sorted(cache.glob("cedar_solve-*.whl"))
    if not wheels and download:
        import subprocess
        import sys

        cache.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "cedar-solve",
            "-d",
            str(cache),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = sorted(cache.glob("cedar_solve-*.whl"))
        if not wheels:
            raise MissingFileError(
                f"pip download cedar-solve into {cache} failed: {done.stderr.strip()[-300:]}"
            )
    if not wheels:
        raise MissingFileError(
            f"{cache}: no cedar_solve-*.whl; the Hipparcos catalogue is an optional download: "
            f"run `pip download --no-deps cedar-solve -d {cache}` or pass download=True"
        )
    with zipfile.ZipFile(wheels[-1]) as zf, zf.open("tetra3/data/default_database.npz") as fh:
        import io

        table = np.load(io.BytesIO(fh.read()))["star_table"]
    return pd.DataFrame(
        {
            "ra_deg": np.degrees(table[:, 0]) % 360.0,
            "dec_deg": np.degrees(table[:, 1]),
            "mag": table[:, 5].astype(float),
        }
    )


@dataclass(frozen=True)
class CompositeScene:
    """Real background images into which noise-free streaks are injected (seed 002 §3.1).

    Parameters
    ----------
    background : path, glob, array, DataArray or Dataset
        FITS / PNG / CHEOPS files or frames (anything :func:`satlab.open_frames` or
        :func:`satlab.as_frames` takes). Background frames are drawn at random per
        simulated frame. Values are taken as ADU.
    """

    background: object

    def frames(self):
        """The backgrounds as satlab frames (loaded into memory)."""
        from ..frames import as_frames
        from ..io import open_frames

        bg = self.background
        if isinstance(bg, (str, os.PathLike, list, tuple)):
            bg = open_frames(bg)
        ds = as_frames(bg)
        return ds.load()
