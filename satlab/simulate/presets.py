"""Instrument presets: telescope + detector + the scenes and objects they usually see.

=============  ==========  =============================================================
preset         size (x,y)  what it is
=============  ==========  =============================================================
``cheops``     200 x 200   CHEOPS SubArray: 32 cm, 1"/px, defocused donut (r90 16.5 px),
                           circular 200-px crop, 30-60 s on-board co-adds, rolling field,
                           shutterless read-out smear (seed 001)
``evscope1``   664 x 496   Unistellar eVscope 1: 11.4 cm, 1.72"/px, seeing-limited
                           (r0 2-4.5 cm), 150 ms (seed 002)
``evscope2``   1032 x 768  eVscope 2: 1.33"/px, Bayer RGGB sensor, 150 ms (seed 002)
``geo-sensor`` 512 x 512   GEO survey CMOS (seed 000): 0.1-2 s, row/column banding, hot
                           pixels; tracks the satellite, so GEO objects are near-points
                           and the stars trail at the sidereal rate
``ztf-like``   256 x 256   ZTF-like 1.2 m Schmidt cut-outs, 1"/px, 30 s (debris videos,
                           seed 003)
=============  ==========  =============================================================

Object brightness and speed are drawn per trail: apparent magnitude uniform in
``mag_range`` and angular rate log-uniform in ``rate_range`` [arcsec/s]; the trail length
is the shorter of its path across the field and ``rate x exposure``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from ..errors import InputError
from .detector import Detector
from .optics import Telescope
from .scenes import SimulatedScene

__all__ = ["PRESETS", "Preset", "fixed_psf", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """Everything that makes an instrument's frames.

    Attributes
    ----------
    name, instrument : str
        Preset name and the ``instrument`` attr of the frames.
    telescope, detector
        Optics and sensor.
    exptimes : tuple of float
        Exposures drawn per frame [s] (the detector's ``nexp`` scales with them).
    single_exptime : float
        One on-board exposure [s] when frames are co-added (CHEOPS), else 0.
    scene : SimulatedScene
        Default star field.
    sky_mag : (bright, faint)
        Sky surface brightness [mag/arcsec^2] drawn per frame.
    mag_range : (bright, faint)
        Apparent magnitude of simulated objects [mag].
    rate_range : (slow, fast)
        Angular rate of simulated objects [arcsec/s].
    target_mag : (bright, faint) or None
        A target star at the field centre (CHEOPS points at a bright star).
    circular : bool
        CHEOPS circular crop as the ``valid`` footprint.
    roll_rate : float
        Field rotation [deg/s] (CHEOPS is nadir-locked: one turn per orbit).
    sidereal_trails : bool
        The mount tracks the object: stars trail at the sidereal rate.
    r0_range : (min, max) or None
        Fried parameter drawn per frame [m] (seeing-limited presets).
    """

    name: str
    instrument: str
    telescope: Telescope
    detector: Detector
    exptimes: tuple[float, ...]
    single_exptime: float = 0.0
    scene: SimulatedScene = dataclasses.field(default_factory=SimulatedScene)
    sky_mag: tuple[float, float] = (20.0, 21.0)
    mag_range: tuple[float, float] = (5.0, 10.0)
    rate_range: tuple[float, float] = (100.0, 3000.0)
    target_mag: tuple[float, float] | None = None
    circular: bool = False
    roll_rate: float = 0.0
    sidereal_trails: bool = False
    r0_range: tuple[float, float] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.detector.shape

    @property
    def pixel_scale(self) -> float:
        """[arcsec/px]"""
        return self.telescope.pixel_scale(self.detector.pixel_size)

    def detector_for(self, exptime: float) -> Detector:
        """The detector set to ``exptime`` [s] (and the matching number of co-adds)."""
        return _detector_for(self, float(exptime))

    def replace(self, **changes) -> Preset:
        """A copy with fields changed (e.g. a new ``detector`` or ``mag_range``)."""
        return dataclasses.replace(self, **changes)


@functools.lru_cache(maxsize=64)
def _detector_for(preset: Preset, exptime: float) -> Detector:
    nexp = max(1, round(exptime / preset.single_exptime)) if preset.single_exptime else 1
    return dataclasses.replace(preset.detector, exposure_time=exptime, nexp=nexp)


def _cheops() -> Preset:
    return Preset(
        name="cheops",
        instrument="CHEOPS",
        telescope=Telescope(
            diameter=0.32,
            focal_length=2.68,
            band="CHEOPS",
            mode="defocused",
            obscuration=0.35,
            spiders=3,
            defocus_waves=4.21,
        ),
        detector=Detector(
            resolution=(200, 200),
            pixel_size=13.0,
            exposure_time=60.0,
            quantum_efficiency=0.7,
            readout_noise_variance=49.0,
            dark_current=0.05,
            offset=1000.0,
            bitdepth=16,
            sensitivity=0.5,
            readout_time=0.03,
            hot_pixel_fraction=2e-4,
            hot_pixel_current=50.0,
            nexp=4,
        ),
        exptimes=(30.0, 45.0, 60.0),
        single_exptime=15.0,
        scene=SimulatedScene(mag_range=(9.0, 17.0)),
        sky_mag=(19.5, 21.5),
        mag_range=(4.0, 11.0),
        rate_range=(30.0, 3000.0),
        target_mag=(8.0, 12.0),
        circular=True,
        roll_rate=360.0 / (98.77 * 60.0),
    )


def _evscope(name: str, resolution, pixel_size: float, bayer: str | None) -> Preset:
    return Preset(
        name=name,
        instrument=name,
        telescope=Telescope(
            diameter=0.114, focal_length=0.45, band="V", mode="seeing", obscuration=0.25, r0=0.03
        ),
        detector=Detector(
            resolution=resolution,
            pixel_size=pixel_size,
            exposure_time=0.15,
            quantum_efficiency=0.75,
            readout_noise_variance=4.0,
            dark_current=0.5,
            offset=64.0,
            bitdepth=12,
            sensitivity=1.0,
            bayer_order=bayer,
            white_balance=(1.9, 1.0, 1.6) if bayer else (1.0, 1.0, 1.0),
            hot_pixel_fraction=1e-4,
            hot_pixel_current=2000.0,
        ),
        exptimes=(0.15,),
        scene=SimulatedScene(mag_range=(6.0, 15.0)),
        sky_mag=(18.5, 20.5),
        mag_range=(5.0, 10.0),
        # LEO at 600-900 km seen from the ground: about 0.2 to 0.8 deg/s
        rate_range=(700.0, 3000.0),
        r0_range=(0.02, 0.045),
    )


def _geo() -> Preset:
    return Preset(
        name="geo-sensor",
        instrument="geo-sensor",
        telescope=Telescope(
            diameter=0.35, focal_length=0.7, band="R", mode="seeing", obscuration=0.3, r0=0.07
        ),
        detector=Detector(
            resolution=(512, 512),
            pixel_size=6.5,
            exposure_time=1.0,
            quantum_efficiency=0.7,
            readout_noise_variance=4.0,
            dark_current=1.0,
            offset=100.0,
            bitdepth=12,
            sensitivity=0.5,
            banding_row=3.0,
            banding_column=1.5,
            hot_pixel_fraction=3e-4,
            hot_pixel_current=500.0,
        ),
        exptimes=(0.1, 0.5, 1.0, 2.0),
        scene=SimulatedScene(mag_range=(7.0, 15.0)),
        sky_mag=(19.0, 21.0),
        mag_range=(10.0, 15.0),
        # the mount tracks the GEO object: its residual motion is a fraction of an arcsec/s
        rate_range=(0.05, 1.0),
        sidereal_trails=True,
        r0_range=(0.05, 0.1),
    )


def _ztf() -> Preset:
    return Preset(
        name="ztf-like",
        instrument="ztf-like",
        telescope=Telescope(
            diameter=1.22, focal_length=3.05, band="R", mode="seeing", obscuration=0.5, r0=0.1
        ),
        detector=Detector(
            resolution=(256, 256),
            pixel_size=15.0,
            exposure_time=30.0,
            quantum_efficiency=0.8,
            readout_noise_variance=64.0,
            dark_current=0.01,
            offset=500.0,
            bitdepth=16,
            sensitivity=1.0 / 6.2,
        ),
        exptimes=(30.0,),
        scene=SimulatedScene(mag_range=(12.0, 20.0)),
        sky_mag=(20.0, 21.0),
        mag_range=(12.0, 17.0),
        rate_range=(2.0, 60.0),
        r0_range=(0.07, 0.15),
    )


PRESETS = {
    "cheops": _cheops,
    "evscope1": lambda: _evscope("evscope1", (664, 496), 3.75, None),
    "evscope2": lambda: _evscope("evscope2", (1032, 768), 2.9, "RGGB"),
    "geo-sensor": _geo,
    "ztf-like": _ztf,
}


@functools.cache
def _build(name: str) -> Preset:
    return PRESETS[name]()


def get_preset(preset) -> Preset:
    """A :class:`Preset` by name (``"cheops"``, ...) or the preset itself.

    Raises
    ------
    satlab.errors.InputError
        An unknown name.
    """
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise InputError(f"preset: expected one of {sorted(PRESETS)}, got {preset!r}")
    return _build(preset)


@functools.cache
def fixed_psf(instrument: str):
    """The PSF of the preset whose ``instrument`` is this name, if that PSF is fixed.

    A defocused instrument (CHEOPS: its donut) has one PSF for every frame; a
    seeing-limited one has none to give (``None``). Frames name their instrument in
    ``attrs["instrument"]``.

    Returns
    -------
    satlab.simulate.optics.PSF or None
        Its ``kernel`` and ``fwhm_px`` [px] (the width of seed 002's trail masks).
    """
    for name in PRESETS:
        preset = get_preset(name)
        if preset.instrument == instrument and preset.telescope.mode != "seeing":
            return preset.telescope.psf(preset.detector.pixel_size)
    return None
