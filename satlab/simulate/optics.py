"""The telescope and its PSF (seed 002 §2.1): Fourier optics for every observing mode.

The PSF of a circular, centrally obscured aperture (with spider vanes where the telescope
has them) is the squared modulus of the Fourier transform of the pupil field,
averaged over a few wavelengths across the band and integrated over pixels:

* ``diffraction``: the Airy pattern of the pupil;
* ``seeing``: the telescope OTF times the long-exposure Kolmogorov OTF
  ``exp(-3.44 (lambda f / r0)^(5/3))`` (Fried 1966), with ``r0`` given at 500 nm and
  scaled as ``lambda^(6/5)``;
* ``defocused``: a defocus aberration of ``defocus_waves`` (Zernike Z4) on the pupil; the
  CHEOPS preset solves for the defocus whose 90 %-flux radius is 16.5 px (seed 001 §2.1);
* ``background``: the effective PSF measured from stars of a real image
  (:func:`psf_from_image`, photutils' EPSF builder), orbitAI's listed future improvement.

Kernels are computed once per telescope and cached; the hot loops only convolve.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

__all__ = ["BANDS", "MODES", "PSF", "Telescope", "psf_from_image"]

ARCSEC = np.pi / 180.0 / 3600.0
# band: (centre [um], width [um], photon flux of a mag-0 star [ph / s / m^2]).
# Bessell (1998) zero points f_lambda x width / (h c / lambda); "CHEOPS" is the broad white
# band of the CHEOPS CCD (0.33-1.1 um) with a Gaia G-like zero point.
BANDS = {
    "U": (0.365, 0.066, 5.5e9),
    "B": (0.445, 0.094, 1.33e10),
    "V": (0.551, 0.088, 8.8e9),
    "R": (0.658, 0.138, 9.9e9),
    "I": (0.806, 0.149, 6.8e9),
    "G": (0.640, 0.440, 3.2e10),
    "CHEOPS": (0.700, 0.600, 3.6e10),
}
MODES = ("diffraction", "seeing", "defocused", "background")


# above this many point sources one FFT beats per-source stamps (measured on CHEOPS PSFs)
_STAMP_LIMIT = 24


def _deposit(image: np.ndarray, x, y, value) -> None:
    """Point sources split bilinearly over 4 pixels (flux and centroid preserved)."""
    ny, nx = image.shape
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dx, dy, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        xi, yi = x0 + dx, y0 + dy
        ok = (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
        np.add.at(image, (yi[ok], xi[ok]), (value * w)[ok])


@dataclass(frozen=True)
class PSF:
    """A normalised PSF kernel on the detector pixel grid.

    Attributes
    ----------
    kernel : ndarray (k, k)
        Odd-sized, centred, sums to 1.
    fwhm_px : float
        Diameter [px] of the outermost half-maximum contour of the azimuthal profile
        (the usual FWHM for a peaked PSF, the outer width for a donut).
    r90_px : float
        Radius [px] containing 90 % of the flux (seed 001's PSF radius).
    """

    kernel: np.ndarray = field(repr=False, compare=False)
    fwhm_px: float
    r90_px: float
    _ffts: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_kernel(cls, kernel) -> PSF:
        """Normalise a 2-D kernel (odd size, centred) and measure FWHM and r90."""
        k = np.asarray(kernel, dtype=float)
        if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[0] != k.shape[1]:
            raise InputError(f"psf kernel: expected an odd square 2-D array, got {k.shape}")
        if not np.isfinite(k).all() or k.sum() <= 0:
            raise InputError("psf kernel: expected finite values with a positive sum")
        k = np.clip(k, 0, None)
        k = k / k.sum()
        c = k.shape[0] // 2
        y, x = np.indices(k.shape)
        r = np.hypot(x - c, y - c).ravel()
        order = np.argsort(r)
        cum = np.cumsum(k.ravel()[order])
        r90 = float(np.interp(0.9, cum, r[order]))
        # azimuthal profile in 0.5 px rings; outermost ring at or above half the peak
        rings = np.bincount((2 * r).astype(int), weights=k.ravel())
        counts = np.bincount((2 * r).astype(int))
        prof = rings / np.maximum(counts, 1)
        above = np.nonzero(prof >= 0.5 * prof.max())[0]
        i = int(above.max())
        if i + 1 < prof.size and prof[i] > prof[i + 1]:
            frac = (prof[i] - 0.5 * prof.max()) / (prof[i] - prof[i + 1])
        else:
            frac = 0.0
        fwhm = max(2 * (i + frac) / 2.0 + 0.5, 1.0)
        return cls(kernel=k, fwhm_px=float(fwhm), r90_px=r90)

    @property
    def size(self) -> int:
        return int(self.kernel.shape[0])

    def convolve(self, image: np.ndarray) -> np.ndarray:
        """``image`` (y, x) convolved with the kernel, same shape (float32).

        Same result as ``scipy.signal.fftconvolve(image, kernel, mode="same")``; the
        kernel's transform is kept per image shape, so the simulator's hot loop pays two
        FFTs per image instead of three.
        """
        import scipy.fft as sfft

        ny, nx = image.shape
        k = self.size
        shape = (
            sfft.next_fast_len(ny + k - 1, real=True),
            sfft.next_fast_len(nx + k - 1, real=True),
        )
        kf = self._ffts.get(shape)
        if kf is None:
            kf = self._ffts[shape] = sfft.rfft2(self.kernel.astype(np.float32), shape)
        full = sfft.irfft2(sfft.rfft2(np.asarray(image, dtype=np.float32), shape) * kf, shape)
        c = k // 2
        return full[c : c + ny, c : c + nx]

    def add_points(self, image: np.ndarray, x, y, flux) -> None:
        """Add point sources at sub-pixel ``(x, y)`` [px] with total ``flux``, in place.

        Each source is split bilinearly over its 4 nearest pixels (flux and centroid
        preserved), then spread by the kernel; sources just outside the image add their
        wings. A few sources are stamped one by one (far cheaper than a frame-sized FFT);
        a crowded field goes through :meth:`convolve` once.
        """
        x, y, flux = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, y, flux))
        ny, nx = image.shape
        k = self.size
        c = k // 2
        if x.size > _STAMP_LIMIT:
            # the image padded by the kernel's reach, so that off-field sources count too
            points = np.zeros((ny + 2 * c + 2, nx + 2 * c + 2))
            _deposit(points, x + c + 1, y + c + 1, flux)
            image += self.convolve(points)[c + 1 : c + 1 + ny, c + 1 : c + 1 + nx].clip(0)
            return
        for xs, ys, f in zip(x, y, flux, strict=True):
            x0, y0 = int(np.floor(xs)), int(np.floor(ys))
            fx, fy = xs - x0, ys - y0
            # stamp pixel [i, j] lands on image pixel (y0 - c + i, x0 - c + j)
            top, left = y0 - c, x0 - c
            i0, j0 = max(0, -top), max(0, -left)
            i1, j1 = min(k + 1, ny - top), min(k + 1, nx - left)
            if i1 <= i0 or j1 <= j0 or f == 0:
                continue
            # bilinear split as two 1-D shifts of the kernel: along x, then along y
            row = np.zeros((k, k + 1))
            row[:, :k] = (1 - fx) * f * self.kernel
            row[:, 1:] += fx * f * self.kernel
            stamp = np.empty((k + 1, k + 1))
            stamp[:k] = (1 - fy) * row
            stamp[k] = 0.0
            stamp[1:] += fy * row
            image[top + i0 : top + i1, left + j0 : left + j1] += stamp[i0:i1, j0:j1]

    def smeared(self, dx: float, dy: float) -> PSF:
        """The PSF convolved with a pixel-exact line of ``(dx, dy)`` px (pointing drift)."""
        from .streaks import render_streak

        half = int(np.ceil(max(abs(dx), abs(dy)) / 2)) + 1
        n = 2 * half + 1
        line = render_streak(
            (n, n), half - dx / 2, half - dy / 2, half + dx / 2, half + dy / 2, flux=1.0
        )
        # the full convolution: the kernel padded by the line's half size, then "same"
        return PSF.from_kernel(PSF.from_kernel(line).convolve(np.pad(self.kernel, half)))


@dataclass(frozen=True)
class Telescope:
    """Optics of an instrument (seed 002 §2.1.1).

    Parameters
    ----------
    diameter : float
        Aperture diameter [m].
    focal_length : float
        Effective focal length [m].
    band : str
        Observing band, one of :data:`BANDS`.
    mode : str
        Observing mode, one of :data:`MODES`.
    obscuration : float
        Central obscuration as a fraction of the diameter.
    spiders : int
        Number of spider vanes (CHEOPS has three).
    collecting_surface : float, optional
        Effective collecting surface [m^2]; default the unobscured pupil area.
    r0 : float
        Fried parameter at 500 nm [m] (``seeing`` mode).
    defocus_waves : float
        Defocus Zernike coefficient [waves] (``defocused`` mode).
    pointing : astropy.coordinates.SkyCoord, optional
        Centre of the field.
    background_psf : PSF, optional
        The measured PSF (``background`` mode, from :func:`psf_from_image`).
    """

    diameter: float
    focal_length: float
    band: str = "V"
    mode: str = "diffraction"
    obscuration: float = 0.0
    spiders: int = 0
    collecting_surface: float | None = None
    r0: float = 0.1
    defocus_waves: float = 0.0
    pointing: object = field(default=None, compare=False)
    background_psf: PSF | None = None

    def __post_init__(self):
        for name in ("diameter", "focal_length"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name}: expected > 0 m, got {getattr(self, name)}")
        if self.band not in BANDS:
            raise InputError(f"band: expected one of {sorted(BANDS)}, got {self.band!r}")
        if self.mode not in MODES:
            raise InputError(f"mode: expected one of {MODES}, got {self.mode!r}")
        if not 0 <= self.obscuration < 1:
            raise InputError(f"obscuration: expected 0 <= fraction < 1, got {self.obscuration}")
        if self.mode == "seeing" and not self.r0 > 0:
            raise InputError(f"r0: expected a Fried parameter > 0 m, got {self.r0}")
        if self.mode == "background" and self.background_psf is None:
            raise InputError("background_psf: the 'background' mode needs a measured PSF")
        if self.collecting_surface is not None and not self.collecting_surface > 0:
            raise InputError(f"collecting_surface: expected > 0 m^2, got {self.collecting_surface}")

    @property
    def area(self) -> float:
        """Collecting surface [m^2]."""
        if self.collecting_surface is not None:
            return float(self.collecting_surface)
        return float(np.pi / 4 * self.diameter**2 * (1 - self.obscuration**2))

    def pixel_scale(self, pixel_size_um: float) -> float:
        """Plate scale [arcsec/px] for a pixel pitch [um]."""
        return float(pixel_size_um * 1e-6 / self.focal_length / ARCSEC)

    def photon_rate(self, mag):
        """Photons per second collected from a source of magnitude ``mag`` in the band."""
        return BANDS[self.band][2] * self.area * 10.0 ** (-0.4 * np.asarray(mag, dtype=float))

    def psf(self, pixel_size_um: float, *, size: int | None = None) -> PSF:
        """The PSF on the detector grid (cached per telescope and pixel size).

        Parameters
        ----------
        pixel_size_um : float
            Pixel pitch [um].
        size : int, optional
            Kernel side [px] (odd); default wide enough for the mode.
        """
        if self.mode == "background":
            return self.background_psf
        scale = self.pixel_scale(pixel_size_um)
        centre, width, _ = BANDS[self.band]
        if size is None:
            size = _default_size(self, scale)
        return _fourier_psf(
            self.diameter,
            self.obscuration,
            self.spiders,
            centre,
            width,
            scale,
            int(size) | 1,
            self.defocus_waves if self.mode == "defocused" else 0.0,
            self.r0 if self.mode == "seeing" else None,
        )


def _default_size(tel: Telescope, scale: float) -> int:
    lam = BANDS[tel.band][0] * 1e-6
    radius = 4 * 1.22 * lam / tel.diameter / ARCSEC / scale
    if tel.mode == "seeing":
        r0 = tel.r0 * (lam / 0.5e-6) ** 1.2
        radius = max(radius, 2.5 * 0.98 * lam / r0 / ARCSEC / scale)
    if tel.mode == "defocused":
        radius = max(radius, 1.6 * 8 * tel.defocus_waves * lam / tel.diameter / ARCSEC / scale)
    return 2 * int(np.ceil(radius)) + 1


@functools.lru_cache(maxsize=32)
def _fourier_psf(diameter, obscuration, spiders, centre_um, width_um, scale, size, defocus, r0):
    total = np.zeros((size, size))
    for lam_um in centre_um + width_um * np.array([-0.4, -0.2, 0.0, 0.2, 0.4]):
        total += _mono_psf(diameter, obscuration, spiders, lam_um * 1e-6, scale, size, defocus, r0)
    # a cosine taper over the outer fifth of the kernel radius: a bright star's faint
    # diffraction wings would otherwise end in the square outline of the kernel
    c = size // 2
    y, x = np.indices(total.shape)
    r = np.hypot(x - c, y - c) / (c + 0.5)
    taper = np.where(r < 0.8, 1.0, 0.5 * (1 + np.cos(np.pi * np.clip((r - 0.8) / 0.2, 0, 1))))
    return PSF.from_kernel(total * taper)


def _mono_psf(diameter, obscuration, spiders, lam, scale, size, defocus, r0):
    """One wavelength: pupil -> |FFT|^2 on an oversampled grid -> binned to pixels."""
    # Nyquist-sample the image plane (lambda / 2D) so the OTF does not alias
    oversample = max(1, int(np.ceil(scale * ARCSEC / (lam / (2 * diameter))))) | 1
    n_img = size * oversample
    dtheta = scale * ARCSEC / oversample
    du = lam / (n_img * dtheta)  # pupil-plane sample [m]
    half = diameter / 2
    coords = (np.arange(n_img) - n_img // 2) * du
    xx, yy = np.meshgrid(coords, coords)
    rho = np.hypot(xx, yy) / half
    pupil = (rho <= 1.0) & (rho >= obscuration)
    if spiders:
        vane = 0.02 * diameter
        for k in range(spiders):
            a = np.pi / 2 + 2 * np.pi * k / spiders
            along = xx * np.cos(a) + yy * np.sin(a)
            across = -xx * np.sin(a) + yy * np.cos(a)
            pupil &= ~((np.abs(across) < vane / 2) & (along > 0))
    phase = 2 * np.pi * defocus * (2 * rho**2 - 1)
    field = np.where(pupil, np.exp(1j * phase), 0)
    psf = np.abs(np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(field)))) ** 2
    if r0 is not None:
        otf = np.fft.fft2(np.fft.ifftshift(psf))
        freq = np.fft.fftfreq(n_img, d=dtheta)  # cycles / rad
        fx, fy = np.meshgrid(freq, freq)
        r0_lam = r0 * (lam / 0.5e-6) ** 1.2
        otf *= np.exp(-3.44 * (lam * np.hypot(fx, fy) / r0_lam) ** (5 / 3))
        psf = np.real(np.fft.fftshift(np.fft.ifft2(otf)))
    # odd size x odd oversampling: the optical axis (sample n_img // 2) is the centre of
    # the central pixel
    binned = psf.reshape(size, oversample, size, oversample).sum(axis=(1, 3))
    return np.clip(binned, 0, None) / binned.sum()


def psf_from_image(image, *, size: int = 25, threshold_sigma: float = 20.0, max_stars: int = 30):
    """Measure the PSF from the stars of a real background image (photutils EPSF).

    Parameters
    ----------
    image : 2-D array or frames
        A background image [ADU]; the first frame of frames-like input is used.
    size : int
        Kernel side [px] (odd).
    threshold_sigma : float
        Detection threshold above the background [sigma].
    max_stars : int
        Brightest isolated stars to use.

    Returns
    -------
    PSF

    Raises
    ------
    satlab.errors.InputError
        Fewer than three usable stars: the image cannot give a PSF (seed 002 §2.5 notes
        the method needs a few bright stars).
    """
    from astropy.nddata import NDData
    from astropy.stats import sigma_clipped_stats
    from astropy.table import Table
    from photutils.detection import find_peaks
    from photutils.psf import EPSFBuilder, extract_stars
    from photutils.utils.exceptions import NoDetectionsWarning

    from ..frames import as_frames

    data = np.asarray(as_frames(image)["flux"].values[0], dtype=float)
    size = int(size) | 1
    finite = np.isfinite(data)
    _, median, std = sigma_clipped_stats(data[finite])
    clean = np.where(finite, data - median, 0.0)
    with warnings.catch_warnings():
        # "no peaks" becomes satlab's InputError below
        warnings.simplefilter("ignore", NoDetectionsWarning)
        peaks = find_peaks(clean, threshold_sigma * std, box_size=size, border_width=size // 2 + 1)
    if peaks is None or len(peaks) < 3:
        raise InputError(
            f"image: found {0 if peaks is None else len(peaks)} star(s) above "
            f"{threshold_sigma} sigma; the 'background' PSF needs at least 3 bright stars"
        )
    peaks.sort("peak_value", reverse=True)
    stars_tbl = Table({"x": peaks["x_peak"][:max_stars], "y": peaks["y_peak"][:max_stars]})
    stars = extract_stars(NDData(clean), stars_tbl, size=size)
    epsf, _ = EPSFBuilder(oversampling=1, maxiters=5, progress_bar=False)(stars)
    return PSF.from_kernel(epsf.data)
