"""The detector (seed 002 §2.3): every parameter of §2.3.1 and the noise chain of Fig. 7.

Order of the chain (Fig. 7), on a noise-free image in photons:

1. photon noise: Poisson with the pixel value as expectation (``photon_noise``);
2. photons -> electrons: times the quantum efficiency;
3. dark current: Poisson with expectation ``dark_current x exposure`` (hot pixels are
   pixels with a much larger dark current);
4. read noise: normal, zero mean, variance ``readout_noise_variance``; CMOS row and
   column banding (seed 000's sensor) are read-out offsets added here;
5. gain: times ``sensitivity`` [ADU/e-], plus ``offset`` [ADU];
6. digitisation: integer part, truncated to ``[0, 2^bitdepth - 1]``;
7. Bayer mosaic: each pixel times the white-balance gain of its colour (``bayer_order``).

Co-added frames (CHEOPS adds ``nexp`` exposures on board) are one pass of the chain with
the read variance and offset of ``nexp`` reads and a ``nexp``-times larger range; the
per-exposure truncation (at most ``nexp`` ADU) is the only thing this leaves out.
A shutterless CCD smears each column during the frame transfer (``readout_time``): the
smear is ``readout_time / exposure`` of the column's light spread over the column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

__all__ = ["BAYER_ORDERS", "Detector"]

BAYER_ORDERS = ("RGGB", "BGGR", "GRBG", "GBRG")


@dataclass(frozen=True)
class Detector:
    """A detector and its noise (seed 002 §2.3.1 plus banding, hot pixels and smear).

    Parameters
    ----------
    resolution : (width, height)
        Image size [px].
    pixel_size : float
        Pixel pitch [um].
    exposure_time : float
        Exposure per frame [s] (the co-added total when ``nexp > 1``).
    quantum_efficiency : float
        [e-/photon], in (0, 1].
    photon_noise : bool
        Apply Poisson photon noise.
    readout_noise_variance : float
        Read-noise variance per read [e-^2].
    dark_current : float
        [e-/s/px].
    offset : float
        Constant offset per read [ADU].
    bitdepth : int
        ADC bits, 1..32.
    sensitivity : float
        Gain [ADU/e-].
    bayer_order : str, optional
        ``"RGGB"``, ``"BGGR"``, ``"GRBG"`` or ``"GBRG"``; ``None`` for a monochrome sensor.
    white_balance : (r, g, b)
        Relative gain of each colour channel (used with ``bayer_order``).
    nexp : int
        Exposures co-added per frame.
    readout_time : float
        Frame-transfer time of a shutterless sensor [s]; 0 for none.
    banding_row, banding_column : float
        Standard deviation of per-row / per-column read-out offsets [e-] (CMOS banding).
    hot_pixel_fraction : float
        Fraction of pixels with ``hot_pixel_current`` dark current.
    hot_pixel_current : float
        Dark current of a hot pixel [e-/s].
    sensor_seed : int
        Seed of the fixed pattern (which pixels are hot).
    poisson_limit : float
        Expected photons per pixel from which photon (and dark) noise is drawn from the
        normal limit of the Poisson law (see :meth:`electrons`); ``inf`` for exact Poisson.
    """

    resolution: tuple[int, int]
    pixel_size: float
    exposure_time: float
    quantum_efficiency: float = 0.8
    photon_noise: bool = True
    readout_noise_variance: float = 25.0
    dark_current: float = 0.1
    offset: float = 100.0
    bitdepth: int = 16
    sensitivity: float = 1.0
    bayer_order: str | None = None
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    nexp: int = 1
    readout_time: float = 0.0
    banding_row: float = 0.0
    banding_column: float = 0.0
    hot_pixel_fraction: float = 0.0
    hot_pixel_current: float = 200.0
    sensor_seed: int = 0
    poisson_limit: float = 100.0
    _hot: np.ndarray = field(init=False, repr=False, compare=False)
    _dark_rate: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        w, h = self.resolution
        if int(w) < 1 or int(h) < 1:
            raise InputError(f"resolution: expected (width, height) >= 1 px, got {self.resolution}")
        if not self.pixel_size > 0:
            raise InputError(f"pixel_size: expected > 0 um, got {self.pixel_size}")
        if not self.exposure_time > 0:
            raise InputError(f"exposure_time: expected > 0 s, got {self.exposure_time}")
        if not 0 < self.quantum_efficiency <= 1:
            raise InputError(
                f"quantum_efficiency: expected 0 < QE <= 1 e-/ph, got {self.quantum_efficiency}"
            )
        for name in (
            "readout_noise_variance",
            "dark_current",
            "readout_time",
            "banding_row",
            "banding_column",
            "hot_pixel_current",
        ):
            if not getattr(self, name) >= 0:
                raise InputError(f"{name}: expected >= 0, got {getattr(self, name)}")
        if not (isinstance(self.bitdepth, (int, np.integer)) and 1 <= self.bitdepth <= 32):
            raise InputError(f"bitdepth: expected an integer in 1..32, got {self.bitdepth!r}")
        if not self.sensitivity > 0:
            raise InputError(f"sensitivity: expected > 0 ADU/e-, got {self.sensitivity}")
        if self.bayer_order is not None and self.bayer_order not in BAYER_ORDERS:
            raise InputError(
                f"bayer_order: expected one of {BAYER_ORDERS} or None, got {self.bayer_order!r}"
            )
        if len(self.white_balance) != 3 or min(self.white_balance) <= 0:
            raise InputError(f"white_balance: expected 3 gains > 0, got {self.white_balance}")
        if int(self.nexp) < 1:
            raise InputError(f"nexp: expected >= 1 co-added exposures, got {self.nexp}")
        if not 0 <= self.hot_pixel_fraction < 1:
            raise InputError(
                f"hot_pixel_fraction: expected 0 <= fraction < 1, got {self.hot_pixel_fraction}"
            )
        rng = np.random.default_rng(self.sensor_seed)
        hot = rng.random((int(h), int(w))) < self.hot_pixel_fraction
        object.__setattr__(self, "_hot", hot)
        rate = np.where(hot, self.hot_pixel_current, self.dark_current).astype(np.float32)
        object.__setattr__(self, "_dark_rate", rate)

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx) [px]."""
        return int(self.resolution[1]), int(self.resolution[0])

    @property
    def saturation(self) -> float:
        """Largest ADU value of a frame (``nexp`` co-added reads)."""
        return float(self.nexp * (2.0**self.bitdepth - 1))

    def dark_map(self, exptime: float | None = None) -> np.ndarray:
        """Expected dark electrons per pixel, hot pixels included [e-]."""
        t = self.exposure_time if exptime is None else exptime
        return self._dark_rate * np.float32(t)

    def bayer_gain(self) -> np.ndarray | None:
        """White-balance gain per pixel for the mosaic, or ``None`` for a mono sensor."""
        if self.bayer_order is None:
            return None
        r, g, b = self.white_balance
        gains = {"R": r, "G": g, "B": b}
        cell = np.array(
            [[gains[c] for c in self.bayer_order[:2]], [gains[c] for c in self.bayer_order[2:]]]
        )
        ny, nx = self.shape
        return np.tile(cell, ((ny + 1) // 2, (nx + 1) // 2))[:ny, :nx]

    def smear(self, photons: np.ndarray) -> np.ndarray:
        """Shutterless read-out smear of a noise-free frame ``(..., y, x)`` [photons].

        Each of the ``nexp`` reads moves the charge through every row for
        ``readout_time``: a fraction ``readout_time / (exposure_time / nexp)`` of each
        column's light spreads evenly along that column.
        """
        if self.readout_time <= 0:
            return np.zeros_like(photons)
        single = self.exposure_time / self.nexp
        column = photons.sum(axis=-2, keepdims=True) * (self.readout_time / single)
        return np.broadcast_to(column / photons.shape[-2], photons.shape).copy()

    def electrons(
        self,
        photons: np.ndarray,
        rng: np.random.Generator,
        *,
        exptime: float | None = None,
        extra_dark: np.ndarray | None = None,
    ) -> np.ndarray:
        """Steps 1-3 of Fig. 7: photon noise, QE, dark current [e-], ``(y, x)``.

        Where a pixel expects at least ``poisson_limit`` photons, its photon and dark
        counts are drawn together from their normal limit (same mean and variance; the
        photon term's skewness is below ``poisson_limit^-1/2``, 10 % by default, and far
        less once read noise is added): numpy's Poisson sampler costs several normal
        draws, and those pixels are most of a sky-limited frame.
        """
        return self._charge(photons, rng, exptime, extra_dark, read_variance=0.0)

    def charge(
        self,
        photons: np.ndarray,
        rng: np.random.Generator,
        *,
        exptime: float | None = None,
        extra_dark: np.ndarray | None = None,
    ) -> np.ndarray:
        """Steps 1-4 of Fig. 7: :meth:`electrons` plus :meth:`read_noise` [e-], ``(y, x)``.

        In the normal regime the photon, dark and read noises of a pixel are one normal
        draw with their summed variance (a sum of independent normals is normal), which
        halves the cost of a sky-limited frame; banding is drawn as in :meth:`read_noise`.
        """
        e = self._charge(
            photons, rng, exptime, extra_dark, read_variance=self.readout_noise_variance * self.nexp
        )
        return e + self._banding(e.shape, rng)

    def _charge(self, photons, rng, exptime, extra_dark, *, read_variance: float):
        qe = np.float32(self.quantum_efficiency)
        dark = self.dark_map(exptime)
        if extra_dark is not None:
            dark = dark + extra_dark
        dark = np.broadcast_to(dark, photons.shape)
        photons = np.asarray(photons, dtype=np.float32)
        big = photons >= self.poisson_limit if self.photon_noise else np.zeros(photons.shape, bool)
        rv = np.float32(read_variance)
        if big.all():  # a sky-limited frame: one draw, no masking
            d = dark.astype(np.float32)
            draw = rng.standard_normal(photons.shape, dtype=np.float32)
            return qe * photons + d + draw * np.sqrt(qe * qe * photons + d + rv)
        e = np.empty(photons.shape, dtype=np.float32)
        if big.any():
            lam, d = photons[big], dark[big].astype(np.float32)
            draw = rng.standard_normal(lam.size, dtype=np.float32)
            e[big] = qe * lam + d + draw * np.sqrt(qe * qe * lam + d + rv)
        small = ~big
        lam = photons[small]
        photo = rng.poisson(lam) if self.photon_noise else lam
        e[small] = qe * photo + rng.poisson(dark[small])
        if read_variance:
            e[small] += rng.standard_normal(int(small.sum()), dtype=np.float32) * np.sqrt(rv)
        return e

    def read(self, electrons: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Steps 4-7 of Fig. 7: read noise, banding, gain, offset, digitisation, Bayer [ADU]."""
        return self.digitise(electrons + self.read_noise(electrons.shape, rng))

    def read_noise(self, shape, rng: np.random.Generator) -> np.ndarray:
        """Step 4 of Fig. 7: read noise plus row and column banding [e-], ``(..., y, x)``."""
        sigma = np.sqrt(self.readout_noise_variance * self.nexp)
        e = rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma)
        return e + self._banding(shape, rng)

    def _banding(self, shape, rng: np.random.Generator):
        ny, nx = shape[-2:]
        e = np.float32(0.0)
        if self.banding_row:
            e = e + rng.normal(0.0, self.banding_row, (ny, 1)).astype(np.float32)
        if self.banding_column:
            e = e + rng.normal(0.0, self.banding_column, (1, nx)).astype(np.float32)
        return e

    def digitise(self, electrons: np.ndarray) -> np.ndarray:
        """Steps 5-7 of Fig. 7: gain, offset, digitisation, Bayer white balance [ADU]."""
        adu = electrons * np.float32(self.sensitivity) + np.float32(self.offset * self.nexp)
        adu = np.clip(np.floor(adu), 0.0, self.saturation)
        gain = self.bayer_gain()
        if gain is not None:
            adu = adu * gain.astype(np.float32)
        return adu.astype(np.float32)

    def expose(self, photons, rng, *, exptime: float | None = None, extra_dark=None):
        """The whole chain of Fig. 7 on a noise-free image [photons] -> ADU (float32)."""
        return self.digitise(self.charge(photons, rng, exptime=exptime, extra_dark=extra_dark))

    def noise_sigma(self, photons_per_px: float = 0.0, exptime: float | None = None) -> float:
        """Expected noise of a flat region [ADU] (photon, dark, read), for checks."""
        t = self.exposure_time if exptime is None else exptime
        var_e = (
            (photons_per_px * self.quantum_efficiency**2 if self.photon_noise else 0.0)
            + self.dark_current * t
            + self.readout_noise_variance * self.nexp
            + self.banding_row**2
            + self.banding_column**2
        )
        return float(np.sqrt(var_e) * self.sensitivity)
