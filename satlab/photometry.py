"""Trail photometry: line-spread fits, calibration to magnitudes, standard magnitudes.

The method follows the trail analysis of Gonçalves et al. (2026) as seed 001 §3.4
describes it: the brightness of a trail comes from a fit of the instrument PSF convolved
along the segment, calibrated against the frame's reference star (for CHEOPS the target
star, ``MAG_CHPS`` / ``MAG_G``), the exposure time and the object's angular rate.

The line-spread model
---------------------
A trail is the segment ``P(t) = c + rho_c n + t u`` for ``t0 <= t <= t1`` (``n`` the unit
normal at angle ``theta``, ``u`` the unit direction, ``c`` the cutout centre) with a uniform
linear flux density ``lam`` [ADU/px along the trail], convolved with the PSF and integrated
over the pixels, plus a background (a plane and, for frame-transfer CCDs, the frame's
readout-smear template with a free amplitude). The model is computed in Fourier space: the
transform of a uniform segment is a sinc along ``u`` times a phase ramp, the PSF enters as
its optical transfer function (OTF) and the pixel as ``sinc(fx) sinc(fy)``. That makes the
model exact for any PSF shape (Gaussian, Moffat or an image such as the CHEOPS donut) and
smooth in every parameter, which a rasterised segment is not; a small oversampling removes
the aliasing of narrow PSFs. Free parameters: ``rho, theta, t0, t1``, a PSF width scale,
``lam`` and the background terms. Stars are masked out to where their PSF wings fall
below a tenth of the noise, outliers clipped after a robust first fit; on the trail both
are judged against running medians of the trail's own brightness, so a tumbling object's
bright stretches stay in and ``lam`` is its mean over the visible part. A peak near the
trail that a point source fits better than a stretch of trail is a star too (a faint
CHEOPS donut on the trail, as wide as the running median's window). Errors come from
the covariance of the weighted least-squares fit, scaled by the reduced chi-square when
it exceeds one, plus the variance that the flux fitted along empty lines beside and
across the trail shows beyond white noise (sky structure is correlated along a trail;
white noise alone underestimates it), plus, for a trail whose brightness changes along
it, the part of its mean the masked stretches hide.

A trail whose end leaves the footprint (image edge or the CHEOPS circular crop) has that
end fixed beyond the edge: only its visible part is measured, and ``flux`` is the flux of
the visible part (``lam * length_px``).

Calibration
-----------
``mag = ZP - 2.5 log10(lam * rate)`` with ``ZP`` the magnitude of 1 ADU/s and ``rate`` the
angular rate [px/s]: ``lam * rate`` is the object's count rate whatever part of the
exposure it spent on the detector. The rate comes from a ``rate_arcsec_s`` column (the
crossmatch prediction) or, for a trail that starts and ends inside the frame, from
``length_px / exptime``; a trail that touches the border without a rate has no magnitude.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np
import pandas as pd

from .errors import InputError, SatlabWarning
from .frames import as_frames
from .lines import distance_to_segment

__all__ = [
    "PHOTOMETRY_UNITS",
    "PSF",
    "fit_trail",
    "lambertian_phase_function",
    "reference_zero_point",
    "smear_template",
    "standard_magnitude",
    "trail_photometry",
]

_MAG = 2.5 / math.log(10.0)  # d(mag) / d(ln flux)

PHOTOMETRY_UNITS = {
    "frame": "",
    "trail": "",
    "method": "",
    "x0": "px",
    "y0": "px",
    "x1": "px",
    "y1": "px",
    "rho": "px",
    "theta": "deg",
    "rho_err": "px",
    "theta_err": "deg",
    "offset_err": "px",
    "length_px": "px",
    "width_px": "px",
    "width_px_err": "px",
    "flux_per_px": "ADU/px",
    "flux_per_px_err": "ADU/px",
    "flux": "ADU",
    "flux_err": "ADU",
    "snr": "",
    "bkg": "ADU/px",
    "chi2_red": "",
    "n_pix": "",
    "border": "",
    "saturated": "",
    "rate_px_s": "px/s",
    "rate_source": "",
    "zero_point": "mag (1 ADU/s)",
    "zero_point_err": "mag",
    "mag": "mag",
    "mag_err": "mag",
    "reason": "",
}
_COLUMNS = {
    "frame": "int64",
    "trail": "int64",
    "method": "object",
    **{
        k: "float64"
        for k in (
            "x0",
            "y0",
            "x1",
            "y1",
            "rho",
            "theta",
            "rho_err",
            "theta_err",
            "offset_err",
            "length_px",
            "width_px",
            "width_px_err",
            "flux_per_px",
            "flux_per_px_err",
            "flux",
            "flux_err",
            "snr",
            "bkg",
            "chi2_red",
        )
    },
    "n_pix": "int64",
    "border": "bool",
    "saturated": "bool",
    "rate_px_s": "float64",
    "rate_source": "object",
    "zero_point": "float64",
    "zero_point_err": "float64",
    "mag": "float64",
    "mag_err": "float64",
    "reason": "object",
}


# --- standard magnitude ---------------------------------------------------------------


def lambertian_phase_function(phase_angle_deg):
    """Diffuse (Lambertian) sphere phase function, normalised to 1 at zero phase.

    ``F(a) = ((pi - a) cos a + sin a) / pi`` (the diffuse-sphere law used for satellite
    brightness since McCue, Williams & Morford 1971, Planet. Space Sci. 19, 851; see also
    Hejduk 2011, AMOS conference). ``a`` is the Sun-object-observer angle.
    """
    a = np.radians(np.asarray(phase_angle_deg, dtype=float))
    return ((np.pi - a) * np.cos(a) + np.sin(a)) / np.pi


def _values(obj, name: str, unit: str | None = None) -> np.ndarray:
    if unit is not None and hasattr(obj, "unit") and hasattr(obj, "to_value"):
        obj = obj.to_value(unit)  # astropy Quantity at the edge
    elif hasattr(obj, "unit") and hasattr(obj, "to_value"):
        obj = obj.value  # u.mag and friends: the number is the magnitude
    try:
        return np.asarray(obj, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: expected numbers, got {obj!r:.80}") from exc


def _like(template, values: np.ndarray, name: str):
    """``values`` in the container type of ``template`` (Series, DataArray, array, float)."""
    if isinstance(template, pd.Series):
        return pd.Series(values, index=template.index, name=name)
    if type(template).__module__.startswith("xarray"):
        return template.copy(data=values).rename(name)
    if np.ndim(values) == 0:
        return float(values)
    return values


def standard_magnitude(
    m_app,
    range_km,
    *,
    phase_angle_deg=None,
    reference_phase_deg: float = 90.0,
):
    """Magnitude normalised to a range of 1000 km (seed 001 eq. 2).

    ``m_std = m_app - 5 log10(range_km / 1000)``. Vectorised; the result has the container
    type of ``m_app`` (float, numpy array, pandas Series or xarray DataArray).

    Parameters
    ----------
    m_app : float, array-like, Series, DataArray or Quantity [mag]
        Apparent magnitude.
    range_km : float, array-like or Quantity [km]
        Observer-object distance. Missing (NaN) or non-positive ranges give NaN and a
        :class:`SatlabWarning`.
    phase_angle_deg : float or array-like [deg], optional
        Sun-object-observer angle. Given, the magnitude is also normalised to
        ``reference_phase_deg`` with the diffuse-sphere phase function
        (:func:`lambertian_phase_function`): ``m_std += 2.5 log10(F(a) / F(a_ref))``.
        Seed 001 normalises range only (the default).
    reference_phase_deg : float [deg]
        Phase angle of the normalised magnitude; 90 deg is the common convention for
        satellite standard magnitudes (Mallama 2021, arXiv:2101.00374).

    Returns
    -------
    float, numpy.ndarray, pandas.Series or xarray.DataArray [mag]
    """
    m = _values(m_app, "m_app")
    r = _values(range_km, "range_km", "km")
    bad = ~(r > 0)
    if np.any(bad & np.isfinite(m)):
        warnings.warn(
            f"standard_magnitude: {int(np.sum(bad & np.isfinite(m)))} range_km value(s) "
            "missing or not positive; their standard magnitude is NaN",
            SatlabWarning,
            stacklevel=2,
        )
    out = m - 5.0 * np.log10(np.where(bad, np.nan, r) / 1000.0)
    if phase_angle_deg is not None:
        a = _values(phase_angle_deg, "phase_angle_deg", "deg")
        if np.any((a < 0) | (a > 180)):
            raise InputError("phase_angle_deg: expected angles in [0, 180] deg")
        ratio = lambertian_phase_function(a) / lambertian_phase_function(reference_phase_deg)
        with np.errstate(divide="ignore"):
            out = out + 2.5 * np.log10(ratio)  # F -> 0 at 180 deg: +inf, no warning
    return _like(m_app, out, "mag_std")


# --- the PSF and the line-spread model ------------------------------------------------


@dataclass(frozen=True, eq=False)
class PSF:
    """Instrument PSF for the line-spread model.

    Build with :meth:`gaussian`, :meth:`moffat` or :meth:`from_image`. ``fwhm`` [px] is the
    nominal width; a fit scales the PSF by a free factor and reports ``width_px = scale *
    fwhm``. Gaussian and Moffat PSFs are integrated over the pixel; a PSF image is taken as
    already pixel-integrated (an ePSF, like the CHEOPS PSF calibration files).
    """

    kind: str
    fwhm: float
    beta: float = 2.5
    image: np.ndarray | None = None
    oversampling: int = 1
    pixel_integrated: bool = True

    @classmethod
    def gaussian(cls, fwhm: float) -> PSF:
        """Circular Gaussian of full width at half maximum ``fwhm`` [px]."""
        return cls("gaussian", _positive(fwhm, "fwhm"))

    @classmethod
    def moffat(cls, fwhm: float, beta: float = 2.5) -> PSF:
        """Circular Moffat ``(1 + r^2/alpha^2)^-beta`` of FWHM ``fwhm`` [px], ``beta > 1``."""
        if not beta > 1:
            raise InputError(f"beta: expected a Moffat index > 1, got {beta}")
        return cls("moffat", _positive(fwhm, "fwhm"), beta=float(beta))

    @classmethod
    def from_image(cls, image, *, oversampling: int = 1, pixel_integrated: bool = True) -> PSF:
        """A PSF image (any normalisation), centred in its array, ``oversampling`` samples/px.

        ``pixel_integrated=False`` for a point-sampled PSF (such as a simulator's kernel
        applied to pixel-exact streaks): the model then integrates it over the pixel.

        ``fwhm`` is the full width at half maximum of its line-spread profile (the image
        summed along one axis; for a donut the outermost half-maximum crossings).
        """
        img = np.asarray(image, dtype=float)
        if img.ndim != 2 or min(img.shape) < 3 or not np.all(np.isfinite(img)):
            raise InputError(
                f"psf image: expected a finite 2-D array of at least 3x3, got shape {img.shape}"
            )
        if not img.sum() > 0:
            raise InputError("psf image: expected a positive total flux")
        if int(oversampling) < 1:
            raise InputError(f"oversampling: expected an integer >= 1, got {oversampling}")
        img = img / img.sum()
        lsf = img.sum(axis=0)
        above = np.nonzero(lsf >= lsf.max() / 2.0)[0]
        fwhm = (above[-1] - above[0] + 1) / int(oversampling)
        return cls(
            "image",
            float(fwhm),
            image=img,
            oversampling=int(oversampling),
            pixel_integrated=bool(pixel_integrated),
        )

    def _alpha(self, scale: float) -> float:
        return scale * self.fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / self.beta) - 1.0))

    def otf(self, fy: np.ndarray, fx: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Transfer function (PSF x pixel) at spatial frequencies ``fy, fx`` [cycles/px]."""
        f2 = fy**2 + fx**2
        pixel = np.sinc(fy) * np.sinc(fx)
        if self.kind == "gaussian":
            sigma = scale * self.fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
            return np.exp(-2.0 * np.pi**2 * sigma**2 * f2) * pixel
        if self.kind == "moffat":
            # closed-form Hankel transform of the normalised Moffat profile:
            # OTF(f) = 2 (pi alpha f)^nu K_nu(2 pi alpha f) / Gamma(nu), nu = beta - 1
            from scipy.special import gamma, kv

            nu = self.beta - 1.0
            z = np.pi * self._alpha(scale) * np.sqrt(f2)
            with np.errstate(invalid="ignore", over="ignore"):
                out = 2.0 * z**nu * kv(nu, 2.0 * z) / gamma(nu)
            return np.where(z > 0, np.nan_to_num(out, nan=0.0), 1.0) * pixel
        otf = self._image_otf(fy, fx, scale)
        return otf if self.pixel_integrated else otf * pixel

    def _image_otf(self, fy, fx, scale):
        # The transfer function of the pixel samples, by a direct (separable) Fourier sum
        # at the scaled frequencies: exact at any scale, which interpolating an FFT grid
        # is not (it tapers the PSF by a sinc^2 of the grid's period).
        o = self.oversampling
        ny, nx = self.image.shape
        ys = (np.arange(ny) - (ny - 1) / 2.0) / o
        xs = (np.arange(nx) - (nx - 1) / 2.0) / o
        fy1, fx1 = scale * np.ravel(fy), scale * np.ravel(fx)
        ey = np.exp(-2j * np.pi * np.outer(fy1, ys))
        ex = np.exp(-2j * np.pi * np.outer(xs, fx1))
        out = ey @ self.image @ ex
        # beyond the samples' Nyquist frequency the sum only repeats itself
        band = (np.abs(fy1)[:, None] <= o / 2.0) & (np.abs(fx1)[None, :] <= o / 2.0)
        return np.where(band, out, 0.0).reshape(np.broadcast_shapes(fy.shape, fx.shape))


def _positive(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: expected a positive number [px], got {value!r}") from exc
    if not v > 0:
        raise InputError(f"{name}: expected a positive number [px], got {value!r}")
    return v


class _LineModel:
    """The line-spread model on one cutout grid, padded against FFT wrap-around.

    Cutout pixel ``(i, j)`` (row, column) has its centre at ``x = j, y = i``; the model is
    the pixel-integrated flux of a segment of unit linear density [1/px].
    """

    def __init__(self, shape: tuple[int, int], psf: PSF, *, pad: int, oversample: int = 1):
        from scipy import fft

        self.shape = shape
        self.psf = psf
        self.pad = int(pad)
        self.os = int(oversample)
        ny, nx = shape
        self.grid = (
            fft.next_fast_len((ny + 2 * self.pad) * self.os),
            fft.next_fast_len((nx + 2 * self.pad) * self.os, real=True),
        )
        self.fy = np.fft.fftfreq(self.grid[0], d=1.0 / self.os)[:, None]
        self.fx = np.fft.rfftfreq(self.grid[1], d=1.0 / self.os)[None, :]
        self.centre = ((nx - 1) / 2.0, (ny - 1) / 2.0)
        self._otf: dict[float, np.ndarray] = {}

    def otf(self, scale: float) -> np.ndarray:
        if scale not in self._otf:
            if len(self._otf) > 16:
                self._otf.clear()
            self._otf[scale] = self.psf.otf(self.fy, self.fx, scale) * self.os**2
        return self._otf[scale]

    def _crop(self, spectrum: np.ndarray) -> np.ndarray:
        from scipy import fft

        img = fft.irfft2(spectrum, s=self.grid, axes=(-2, -1))
        p, o = self.pad * self.os, self.os
        ny, nx = self.shape
        return img[..., p : p + ny * o : o, p : p + nx * o : o]

    def endpoints(self, rho_c, theta, t0, t1):
        """Segment ends ``(x, y)`` in cutout pixel coordinates."""
        c, s = math.cos(theta), math.sin(theta)
        bx = self.centre[0] + rho_c * c
        by = self.centre[1] + rho_c * s
        return (bx - t0 * s, by + t0 * c), (bx - t1 * s, by + t1 * c)

    def _spectrum(self, rho_c, theta, t0, t1):
        (ax, ay), (bx, by) = self.endpoints(rho_c, theta, t0, t1)
        length = t1 - t0
        ux, uy = -math.sin(theta), math.cos(theta)
        gx = (ax + bx) / 2.0 + self.pad
        gy = (ay + by) / 2.0 + self.pad
        fu = self.fx * ux + self.fy * uy
        phase = np.exp(-2j * np.pi * (self.fx * gx + self.fy * gy))
        # FT of a uniform segment: length * sinc(length * f.u) * exp(-2 pi i f.centre)
        return length, fu, phase, length * np.sinc(length * fu)

    def unit(self, rho_c, theta, t0, t1, scale) -> np.ndarray:
        """Trail of unit linear density (total flux ``t1 - t0``) on the cutout."""
        _, _, phase, seg = self._spectrum(rho_c, theta, t0, t1)
        return self._crop(seg * phase * self.otf(scale))

    def with_derivatives(self, rho_c, theta, t0, t1, scale) -> np.ndarray:
        """Unit trail and its derivatives by (rho_c, theta, t0, t1, scale): (6, ny, nx).

        Analytic in Fourier space (a shift is a phase factor, a length change the
        derivative of the sinc), so one batched inverse FFT gives the whole Jacobian.
        """
        length, fu, phase, seg = self._spectrum(rho_c, theta, t0, t1)
        c, s = math.cos(theta), math.sin(theta)
        fn = self.fx * c + self.fy * s
        tm = (t0 + t1) / 2.0
        otf = self.otf(scale)
        h = 1e-4 * scale
        d_otf = (self.otf(scale + h) - self.otf(scale - h)) / (2.0 * h)
        base = seg * phase
        # d/dL [sin(pi L a) / (pi a)] = cos(pi L a); d/da of it = (L cos(pi L a) - seg) / a
        cos_term = np.cos(np.pi * length * fu)
        with np.errstate(invalid="ignore", divide="ignore"):
            d_seg_da = np.where(fu != 0, (length * cos_term - seg) / fu, 0.0)
        shift = -2j * np.pi
        spectra = np.stack(
            [
                base * otf,
                shift * fn * base * otf,  # rho moves the centre along n
                # theta: the centre moves by rho u - tm n, and f.u changes by -f.n
                (shift * (fu * rho_c - fn * tm) * base - d_seg_da * fn * phase) * otf,
                (0.5 * shift * fu * base - cos_term * phase) * otf,
                (0.5 * shift * fu * base + cos_term * phase) * otf,
                base * d_otf,
            ]
        )
        return self._crop(spectra)

    @cached_property
    def envelope(self) -> np.ndarray:
        """Largest PSF value at or beyond each integer radius [px], relative to the peak."""
        half = math.ceil(_support_radius(self.psf)) + 2
        model = _LineModel((2 * half + 1, 2 * half + 1), self.psf, pad=half, oversample=self.os)
        img = model.point(half, half)
        yy, xx = np.indices(img.shape)
        r = np.hypot(xx - half, yy - half).astype(int).ravel()
        prof = np.zeros(r.max() + 1)
        np.maximum.at(prof, r, img.ravel())
        env = np.maximum.accumulate(prof[::-1])[::-1] / prof.max()
        return np.append(env[: half + 1], 0.0)

    def point(self, x, y, scale: float = 1.0) -> np.ndarray:
        """Unit-flux PSF at cutout position ``(x, y)`` [px]."""
        spec = np.exp(-2j * np.pi * (self.fx * (x + self.pad) + self.fy * (y + self.pad)))
        return self._crop(spec * self.otf(scale))


def _oversample(psf: PSF) -> int:
    # below ~2 px FWHM the segment's spectrum aliases past Nyquist; a finer grid (sampled
    # back at the pixel centres) keeps the model within ~1e-3 of exact
    return int(min(4, max(1, math.ceil(2.0 / psf.fwhm))))


def _support_radius(psf: PSF) -> float:
    """Radius [px] holding essentially all of the PSF (for cutout margins)."""
    if psf.kind == "image":
        return 0.5 * max(psf.image.shape) / psf.oversampling + 1.0
    return 2.0 * psf.fwhm + 3.0 if psf.kind == "gaussian" else 4.0 * psf.fwhm + 3.0


def _footprint_distance(footprint: np.ndarray) -> np.ndarray:
    """Distance [px] of every pixel to the nearest pixel outside the footprint or image."""
    from scipy import ndimage

    padded = np.pad(footprint, 1, constant_values=False)
    return ndimage.distance_transform_edt(padded)[1:-1, 1:-1]


def _box_range(model: _LineModel, rho_c, theta) -> tuple[float, float]:
    """Where the line ``(rho_c, theta)`` enters and leaves the cutout box (``t`` [px])."""
    ny, nx = model.shape
    (px, py), _ = model.endpoints(rho_c, theta, 0.0, 1.0)
    ux, uy = -math.sin(theta), math.cos(theta)
    lo, hi = -np.inf, np.inf
    for p, u, n in ((px, ux, nx), (py, uy, ny)):
        if abs(u) > 1e-12:
            a, b = sorted(((-0.5 - p) / u, (n - 0.5 - p) / u))
            lo, hi = max(lo, a), min(hi, b)
    return lo, hi


def _extend_open_ends(model: _LineModel, rho_c, theta, t0, t1, open_end):
    """Move open ends just past the cutout edge, one PSF support beyond it.

    Far enough that the end's PSF does not reach the cutout, near enough that it stays
    inside the padded FFT grid (a longer segment would wrap around into the cutout).
    """
    lo, hi = _box_range(model, rho_c, theta)
    slack = min(_support_radius(model.psf) + 1.0, model.pad - 0.5)
    if open_end[0] and np.isfinite(lo):
        t0 = min(t0, lo - slack)
    if open_end[1] and np.isfinite(hi):
        t1 = max(t1, hi + slack)
    return t0, t1


def smear_template(image, good=None) -> np.ndarray:
    """Readout-smear template of a frame-transfer CCD: each column's summed light / rows.

    During readout every column's charge passes through all its rows, so a bright star
    leaves a band of ``k * sum(column) / n_rows`` along its columns (``k`` = readout time
    over exposure). A trail along such a band would absorb it; the fit takes this
    template with a free amplitude ``k`` as a background term. Sums are over the usable
    pixels, the median sky subtracted [ADU/px].
    """
    img = np.asarray(image, dtype=float)
    good = np.isfinite(img) if good is None else np.asarray(good, bool) & np.isfinite(img)
    sky = float(np.median(img[good])) if good.any() else 0.0
    return np.where(good, img - sky, 0.0).sum(axis=0) / img.shape[0]


def _open_ends(footprint, a, b, psf: PSF, edge_px) -> list[bool]:
    """For each end: does it lie outside or within ``edge_px`` of the footprint edge?"""
    edge = max(2.0, psf.fwhm / 2.0) if edge_px is None else float(edge_px)
    dist_edge = _footprint_distance(footprint)
    out = []
    for ex, ey in (a, b):
        ix, iy = round(ex), round(ey)
        inside = 0 <= ix < footprint.shape[1] and 0 <= iy < footprint.shape[0]
        out.append(not inside or bool(dist_edge[iy, ix] <= edge))
    return out


def _march(footprint: np.ndarray, x: float, y: float, dx: float, dy: float) -> float:
    """Distance [px] from ``(x, y)`` along ``(dx, dy)`` to the last point in the footprint."""
    ny, nx = footprint.shape
    steps = np.arange(0.0, 2.0 * (nx + ny), 0.25)
    px = np.rint(x + steps * dx).astype(int)
    py = np.rint(y + steps * dy).astype(int)
    inside = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
    ok = np.zeros_like(inside)
    ok[inside] = footprint[py[inside], px[inside]]
    out = np.nonzero(~ok)[0]
    return float(steps[out[0] - 1]) if out.size and out[0] > 0 else float(steps[0])


def _sigma_clipped(values: np.ndarray) -> tuple[float, float]:
    from astropy.stats import sigma_clipped_stats

    _, median, std = sigma_clipped_stats(values, sigma=3.0, maxiters=10)
    return float(median), float(std)


@dataclass
class _Cutout:
    data: np.ndarray
    good: np.ndarray
    x0: int
    y0: int
    model: _LineModel
    dist: np.ndarray  # distance of each cutout pixel to the initial segment [px]
    along: np.ndarray  # position of each cutout pixel along the initial segment [px]
    basis: np.ndarray | None = None  # background terms (n_terms, ny, nx)


def _cutout(image, good, a, b, psf: PSF, smear=None, margin: int | None = None) -> _Cutout | None:
    """The image box around segment ``a``-``b`` plus a margin; None when it misses the image."""
    pad = math.ceil(_support_radius(psf) + 2.0)
    margin = pad if margin is None else max(pad, int(margin))
    ny, nx = image.shape
    xlo = max(0, math.floor(min(a[0], b[0])) - margin)
    xhi = min(nx, math.ceil(max(a[0], b[0])) + margin + 1)
    ylo = max(0, math.floor(min(a[1], b[1])) - margin)
    yhi = min(ny, math.ceil(max(a[1], b[1])) + margin + 1)
    if xhi <= xlo or yhi <= ylo:
        return None
    data = image[ylo:yhi, xlo:xhi]
    sub_good = good[ylo:yhi, xlo:xhi]
    model = _LineModel(data.shape, psf, pad=pad, oversample=_oversample(psf))
    yy, xx = np.mgrid[ylo:yhi, xlo:xhi]
    dist = distance_to_segment(xx, yy, a, b)
    length = max(math.hypot(b[0] - a[0], b[1] - a[1]), 1e-12)
    along = ((xx - a[0]) * (b[0] - a[0]) + (yy - a[1]) * (b[1] - a[1])) / length
    ny, nx = data.shape
    # background: a plane, plus the readout-smear template when one is given
    terms = [
        np.ones(data.shape),
        (xx - xlo - (nx - 1) / 2.0) / nx,
        (yy - ylo - (ny - 1) / 2.0) / ny,
    ]
    if smear is not None:
        terms.append(np.broadcast_to(np.asarray(smear, float)[xlo:xhi], data.shape))
    return _Cutout(data, sub_good.copy(), xlo, ylo, model, dist, along, np.stack(terms))


def _local_density(cut: _Cutout, excess: np.ndarray, unit: np.ndarray, core, fwhm) -> np.ndarray:
    """Trail flux density [ADU/px] at every cutout pixel: running medians along the trail.

    Medians over stretches two PSF widths long: a tumbling object's brightness changes
    slowly along its trail (the PSF smooths it further), a star on the trail is a bump
    over about one width that the median passes by.
    """
    t = cut.along[core]
    ratio = excess[core] / unit[core]
    width = max(2.0 * fwhm, 8.0)
    edges = np.arange(t.min(), t.max() + width, width)
    which = np.digitize(t, edges)
    centres, values = [], []
    for i in np.unique(which):
        sel = which == i
        if sel.sum() >= 5:
            centres.append(float(np.mean(t[sel])))
            values.append(float(np.median(ratio[sel])))
    if not values:
        return np.full(unit.shape, float(np.median(ratio)))
    return np.interp(cut.along, centres, values)


_STAR_DCHI2 = 25.0  # a point source must beat a bright stretch of trail by 5 sigma
# ... and explain a fifth of the chi-square the stretch leaves beyond the noise: on a
# bright trail a wobble or a glint leaves residuals a point source cuts a little, which
# is no star, and so does a trail model set beside the light by a detector's line (a
# tenth let stretches of a trail 7 px off the start pass as stars: 3.5 % too little flux)
_STAR_SHARE = 0.2
_STAR_CANDIDATES = 20


def _stars_near_trail(cut: _Cutout, unit, line, use, bkg, std, *, fwhm, gain):
    """Stars on or beside the trail: ``[(row, col, peak height [ADU])]``.

    The running-median test of :func:`_sky_and_stars` lets a bright trail stretch stand,
    so a star as wide as its window passes as one: a faint CHEOPS donut on a faint trail,
    below the per-pixel cut, was fitted as trail light (up to 0.7 mag too bright). Each peak
    of the smoothed image within two widths of the trail is fitted, on the pixels within
    one FWHM of it, twice: trail + a point source there, and trail + a stretch of the
    trail two FWHM long at the same place (what a tumbling object's glint looks like).
    The point source is a star when it fits better by ``_STAR_DCHI2`` and by a fifth
    (``_STAR_SHARE``) of the chi-square the stretch leaves beyond the pixels' count.
    """
    from scipy import ndimage
    from skimage.feature import peak_local_max

    rho_c, theta = line
    m = cut.model
    sigma_g = fwhm / 2.355
    weight = ndimage.gaussian_filter(use.astype(float), sigma_g)
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = ndimage.gaussian_filter(np.where(use, cut.data - bkg, 0.0), sigma_g) / weight
    zone = use & (weight > 0.3) & (cut.dist <= 2.0 * fwhm + 2.0)
    if zone.sum() < 20:
        return []
    # candidates: 5 sigma of the smoothed pixel noise (a Gaussian of sigma s keeps
    # 1 / (2 sqrt(pi) s) of it) above the zone's median
    threshold = np.median(smooth[zone]) + 5.0 * std / (2.0 * math.sqrt(math.pi) * sigma_g)
    peaks = peak_local_max(
        np.where(zone, smooth, -np.inf),
        min_distance=max(1, round(fwhm / 2.0)),
        threshold_abs=threshold,
        num_peaks=_STAR_CANDIDATES,
        exclude_border=False,
    )
    if not len(peaks):
        return []
    yy, xx = np.indices(cut.data.shape)
    ux, uy = -math.sin(theta), math.cos(theta)
    sigma = _noise(cut, np.clip(cut.data - bkg, 0.0, None), std, gain)
    stars = []
    for py, px in peaks:
        near = use & ((yy - py) ** 2 + (xx - px) ** 2 <= fwhm**2)
        if near.sum() < 20:
            continue
        x, y = px - m.centre[0], py - m.centre[1]
        tp = x * ux + y * uy
        point = m.point(px, py)
        stretch = m.unit(rho_c, theta, tp - fwhm, tp + fwhm, 1.0)
        w = 1.0 / sigma[near]
        d = (cut.data[near] - bkg) * w
        chi2 = []
        for extra in (point, stretch):
            design = np.column_stack([np.ones(near.sum()), unit[near], extra[near]]) * w[:, None]
            coef, *_ = np.linalg.lstsq(design, d, rcond=None)
            r = d - design @ coef
            chi2.append((float(r @ r), coef[2]))
        (chi_point, amp), (chi_stretch, _) = chi2
        gain_chi2 = chi_stretch - chi_point
        # a share of the stretch's whole chi-square would ask a faint trail's star for
        # tens of sigma: there that chi-square is all noise
        unexplained = max(chi_stretch - (near.sum() - design.shape[1]), 0.0)
        if amp > 0 and gain_chi2 > max(_STAR_DCHI2, _STAR_SHARE * unexplained):
            stars.append((int(py), int(px), float(amp * point.max())))
    return stars


def _sky_and_stars(cut: _Cutout, unit: np.ndarray, *, fwhm, clip_sigma, gain, line=None):
    """Background level and noise [ADU] from pixels away from the trail, and the pixels
    to use: stars (compact sources above ``clip_sigma``) masked with half a PSF margin,
    on the trail too. ``line = (rho_c, theta)`` of ``unit`` adds the point-source test
    of :func:`_stars_near_trail`. Returns ``(bkg, std, use)`` or the reason there is none."""
    from scipy import ndimage

    use = cut.good.copy()
    away = use & (cut.dist > 2.0 * fwhm + 2.0)
    sky = cut.data[away] if away.sum() >= 20 else cut.data[use]
    if sky.size < 10:
        return "fewer than 10 usable pixels around the trail"
    bkg, std = _sigma_clipped(sky)
    if not std > 0:
        return "no noise in the background: constant or empty cutout"
    bright = away & (cut.data > bkg + clip_sigma * std)
    # on the trail, any least-squares start would follow a star: take the median flux
    # density along the trail core and flag what stands far above it; a floor of 20 % of
    # the trail keeps a bright trail's own pixels (the median is only a start)
    core = use & ~bright & (unit > 0.5 * unit.max())
    if core.sum() >= 5:
        trail = _local_density(cut, cut.data - bkg, unit, core, fwhm) * unit
        excess = cut.data - bkg - trail
        floor = np.hypot(_noise(cut, trail, std, gain), 0.2 * trail)
        bright |= use & (excess > clip_sigma * floor)
    else:
        excess = cut.data - bkg
    # each star is masked out to where its PSF wings fall below a tenth of the noise: a
    # bright star's wings outshine a faint trail far beyond its 5-sigma core
    labels, n = ndimage.label(bright)
    peaks = ndimage.maximum_position(np.where(bright, excess, -np.inf), labels, range(1, n + 1))
    heights = list(ndimage.maximum(excess, labels, range(1, n + 1))) if n else []
    if line is not None:
        found = _stars_near_trail(cut, unit, line, use & ~bright, bkg, std, fwhm=fwhm, gain=gain)
        peaks = list(peaks) + [(py, px) for py, px, _ in found]
        heights += [h for *_, h in found]
    if heights:
        yy, xx = np.indices(cut.data.shape)
        radius = np.interp(
            np.log(np.maximum(np.asarray(heights) / (0.1 * std), 1.0)),
            np.log(1.0 / np.maximum(cut.model.envelope, 1e-300)),
            np.arange(cut.model.envelope.size, dtype=float),
        )
        near = np.zeros(cut.data.shape, bool)
        for (py, px), r in zip(peaks, radius, strict=True):
            near |= (yy - py) ** 2 + (xx - px) ** 2 <= (r + 1.0) ** 2
        use &= ~(near | ndimage.binary_dilation(bright, iterations=max(1, round(fwhm / 2.0))))
    return bkg, std, use


# --- fitting one trail ----------------------------------------------------------------


def _noise(cut: _Cutout, signal, bkg_std: float, gain: float | None) -> np.ndarray:
    """Per-pixel standard deviation [ADU]: sky/read noise plus the trail's shot noise."""
    var = np.full(cut.data.shape, bkg_std**2)
    if gain:
        var = var + np.clip(signal, 0.0, None) * gain  # S ADU = S/g e-: var S*g ADU^2
    return np.sqrt(var)


def _solve(cut: _Cutout, p0, free, sigma, use, *, robust: bool, t_out):
    """Weighted least squares over the ``free`` parameters (scipy's trust-region solver).

    ``t_out``: how far [px] along the line the ends may go (the cutout's extent).
    """
    from scipy.optimize import least_squares
    from threadpoolctl import threadpool_limits

    basis = cut.basis[:, use].T  # (n_pix, n_terms)
    d = cut.data[use]
    w = 1.0 / sigma[use]
    p = np.array(p0, float)

    def full(q):
        out = p.copy()
        out[free] = q
        return out

    cache: dict = {}

    def derivs(q):
        key = q.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = cut.model.with_derivatives(*full(q)[:5])[:, use]
        return cache[key]

    def residual(q):
        f = full(q)
        return (d - f[5] * derivs(q)[0] - basis @ f[6:]) * w

    def jacobian(q):
        der = derivs(q)
        cols = [full(q)[5] * der[1:].T, der[0][:, None], basis]
        return -(np.hstack(cols) * w[:, None])[:, free]

    lo = np.full(p.size, -np.inf)
    hi = np.full(p.size, np.inf)
    lo[4], hi[4] = 0.5, 2.0
    # keep the ends on their own side of the initial midpoint, the line near its start
    tm = (p0[2] + p0[3]) / 2.0
    # a detector's line is good to a few px: wider bounds let a faint trail's fit wander
    # off to a star or a background structure
    shift = 0.5 * cut.model.psf.fwhm + 3.0
    lo[0], hi[0] = p0[0] - shift, p0[0] + shift
    turn = max(math.radians(2.0), math.atan2(2.0 * shift, max(p0[3] - p0[2], 1.0)))
    lo[1], hi[1] = p0[1] - turn, p0[1] + turn
    hi[2], lo[3] = tm - 0.5, tm + 0.5
    lo[2], hi[3] = t_out
    x0 = np.clip(p[free], lo[free] + 1e-9, hi[free] - 1e-9)
    # the solver's SVDs are of (n_pix x ~10) matrices: BLAS threads only fight over them
    with threadpool_limits(1, user_api="blas"):
        res = least_squares(
            residual,
            x0,
            jac=jacobian,
            bounds=(lo[free], hi[free]),
            x_scale="jac",
            loss="huber" if robust else "linear",
            f_scale=3.0,
            max_nfev=200,
        )
    return full(res.x), res


_NULL_OFFSETS = (-3.5, -2.5, -1.5, 1.5, 2.5, 3.5)  # [widths] parallel lines
_NULL_TURNS = (45.0, 90.0, 135.0)  # [deg] lines turned about the trail's middle
_NULL_COVER = 0.5  # a null line needs this fraction of the trail's model on usable pixels


def _null_lines(img, ends, p, open_end, psf: PSF, *, good, smear, gain, clip_sigma) -> float:
    """Variance [(ADU/px)^2] the sky adds to the flux density beyond white noise (0 when clean).

    The covariance of the fit knows white noise only; star wings, stars outside the
    footprint and sky structure are correlated over a trail's length. On a cutout wide
    enough for them, the flux density fitted along lines of the trail's length where
    there is no trail (fitted trail subtracted, same background terms) should scatter
    like its own statistical error: lines parallel to the trail 1.5-3.5 widths away and
    lines through its middle turned by 45, 90 and 135 deg and offset like those (on a
    CHEOPS frame the trail spans the crop circle, where parallel lines soon run out of
    pixels). When they do not scatter so (a chi-square test at 99 %), the excess of the
    ratio's robust width over 1 gives the sky's variance. It is added to the trail's
    own, not multiplied with it: the sky adds the same light to a bright trail as to a
    faint one, whose statistical error is the smaller part of a bright trail's.
    """
    a, b = tuple(ends[0]), tuple(ends[1])
    cut = _cutout(img, good, a, b, psf, smear, margin=math.ceil(4.0 * psf.fwhm + 2.0))
    if cut is None:
        return 0.0  # a fitted line off the image has no sky beside it to compare with
    model = cut.model
    th, scale, lam = p[1], p[4], p[5]
    ca = (a[0] - cut.x0 - model.centre[0], a[1] - cut.y0 - model.centre[1])
    cb = (b[0] - cut.x0 - model.centre[0], b[1] - cut.y0 - model.centre[1])
    ux, uy = -math.sin(th), math.cos(th)
    rho = ca[0] * math.cos(th) + ca[1] * math.sin(th)
    t0, t1 = _extend_open_ends(
        model, rho, th, ca[0] * ux + ca[1] * uy, cb[0] * ux + cb[1] * uy, open_end
    )
    unit = model.unit(rho, th, t0, t1, scale)
    sky = _sky_and_stars(cut, unit, fwhm=psf.fwhm, clip_sigma=clip_sigma, gain=gain, line=(rho, th))
    if isinstance(sky, str):
        return 0.0
    _, std, usable = sky
    own = unit[usable].sum()
    # off the trail itself: a 5 % model error there (a bright trail is never quite the
    # model) would exceed a tenth of the noise
    use = usable & ~(0.05 * lam * unit > 0.1 * std)
    resid = cut.data - lam * unit
    w = 1.0 / _noise(cut, lam * unit, std, gain)[use]
    basis = cut.basis[:, use].T
    width = max(scale * psf.fwhm, 3.0)
    # the trail's middle, and the lines: (angle, rho, t0, t1) in the cutout's frame
    mx, my = rho * math.cos(th) + (t0 + t1) / 2.0 * ux, rho * math.sin(th) + (t0 + t1) / 2.0 * uy
    half = (t1 - t0) / 2.0
    lines = [(th, rho + k * width, t0, t1) for k in _NULL_OFFSETS]
    for turn in _NULL_TURNS:
        tt = th + math.radians(turn)
        r0 = mx * math.cos(tt) + my * math.sin(tt)
        tm = -mx * math.sin(tt) + my * math.cos(tt)
        lines += [(tt, r0 + k * width, tm - half, tm + half) for k in (0.0, *_NULL_OFFSETS)]
    ratios, variances = [], []
    for tt, rr, a0, a1 in lines:
        null = model.unit(rr, tt, a0, a1, scale)
        if not null[use].sum() >= _NULL_COVER * own > 0:
            continue  # that line leaves the usable part of the cutout
        design = np.column_stack([null[use], basis]) * w[:, None]
        coef, *_ = np.linalg.lstsq(design, resid[use] * w, rcond=None)
        try:
            err = math.sqrt(np.linalg.inv(design.T @ design)[0, 0])
        except np.linalg.LinAlgError:
            continue
        ratios.append(coef[0] / err)
        variances.append(err**2)
    if len(ratios) < 3:
        return 0.0
    from scipy.stats import chi2

    r = np.asarray(ratios)
    if float(r @ r) <= chi2.ppf(0.99, r.size):
        return 0.0  # consistent with white noise: the covariance stands
    # median |ratio| / 0.674 is the sigma of a normal sample: one line across a star
    # does not blow the errors up the way an RMS would
    excess = (float(np.median(np.abs(r))) / 0.6745) ** 2 - 1.0
    return max(0.0, excess) * float(np.median(variances))


def _unseen_error(cut: _Cutout, p, use, sigma, fwhm, footprint) -> float:
    """Error [ADU/px] of ``lam`` from the stretches of the trail the fit could not use.

    ``lam`` is the mean flux density of the stretches the fit saw; masked stars and
    gaps hide the rest. A tumbling object's brightness changes along its trail: when the
    densities of the whole stretches the fit saw scatter beyond their noise (a chi-square
    test at 99 %), each unseen stretch differs from their mean by about that scatter
    (robust width, noise removed), and the mean over all ``n`` stretches misses
    ``n_unseen`` of them: ``spread sqrt(n_unseen) / n``. Stretches count over the
    ``footprint`` (the frame's), whatever masks hide.
    """
    from scipy.stats import chi2

    m = cut.model
    unit = m.unit(*p[:5])
    ny, nx = cut.data.shape
    inside = footprint[cut.y0 : cut.y0 + ny, cut.x0 : cut.x0 + nx]
    core = inside & (unit > 0.5 * unit.max())
    if core.sum() < 5:
        return 0.0
    resid = cut.data - np.tensordot(p[6:], cut.basis, axes=1)
    yy, xx = np.indices(cut.data.shape)
    t = (xx - m.centre[0]) * -math.sin(p[1]) + (yy - m.centre[1]) * math.cos(p[1])
    step = max(fwhm, 8.0)  # the PSF smooths brightness changes shorter than itself
    which = np.digitize(t, np.arange(t[core].min(), t[core].max() + step, step))
    n, n_unseen, lams, variances = 0, 0, [], []
    for k in np.unique(which[core]):
        stretch = core & (which == k)
        used = stretch & use
        if stretch.sum() < 5:
            continue
        n += 1
        n_unseen += used.sum() < 0.5 * stretch.sum()
        if used.sum() >= 0.8 * stretch.sum():  # whole: a partly masked one is no sample
            w = unit[used] / sigma[used] ** 2
            lams.append(float(w @ resid[used]) / float(w @ unit[used]))
            variances.append(1.0 / float(w @ unit[used]))
    if not n_unseen or len(lams) < 2:
        return 0.0
    lams = np.asarray(lams)
    # a bright trail is never quite the model: differences within 5 % are the model's
    variances = np.asarray(variances) + (0.05 * float(np.median(lams))) ** 2
    mean = float(np.average(lams, weights=1.0 / variances))
    if float(np.sum((lams - mean) ** 2 / variances)) <= chi2.ppf(0.99, lams.size - 1):
        return 0.0  # the seen stretches agree: no sign of a brightness change
    width = 1.4826 * float(np.median(np.abs(lams - np.median(lams))))
    spread = max(0.0, width**2 - float(np.mean(variances)))
    return math.sqrt(spread * n_unseen) / n


_MAX_EXTENSIONS = 3


def _fit_segment(img, good, a, b, open_end, psf: PSF, gain, clip_sigma, smear):
    """One line-spread fit from segment ``a``-``b``: a robust pass, star clipping, a final pass.

    Returns ``(p, res, free, use, cut, escaped, sigma)`` (``escaped``: which free ends the
    fit took to the cutout's edge; ``sigma``: the pixel errors) or the reason it failed.
    """
    from scipy import ndimage

    length0 = math.hypot(b[0] - a[0], b[1] - a[1])
    ux, uy = (b[0] - a[0]) / length0, (b[1] - a[1]) / length0
    cut = _cutout(img, good, a, b, psf, smear)
    if cut is None:
        return "the trail lies outside the image"
    m = cut.model
    fwhm = psf.fwhm

    # initial parameters relative to the cutout centre
    theta = math.atan2(-ux, uy)  # normal n = (uy, -ux), so the model's u = (ux, uy)
    nvec = (math.cos(theta), math.sin(theta))
    ca = (a[0] - cut.x0 - m.centre[0], a[1] - cut.y0 - m.centre[1])
    cb = (b[0] - cut.x0 - m.centre[0], b[1] - cut.y0 - m.centre[1])
    rho_c = ca[0] * nvec[0] + ca[1] * nvec[1]
    t0 = ca[0] * ux + ca[1] * uy
    t1 = cb[0] * ux + cb[1] * uy
    # the cutout's extent along the line: free ends stay within it (beyond, no pixel
    # holds them and the padded FFT grid would wrap the segment around)
    t_out = _extend_open_ends(m, rho_c, theta, t0, t1, (True, True))
    box = _box_range(m, rho_c, theta)
    t0, t1 = (t_out[0] if open_end[0] else t0), (t_out[1] if open_end[1] else t1)

    unit = m.unit(rho_c, theta, t0, t1, 1.0)
    sky = _sky_and_stars(
        cut, unit, fwhm=fwhm, clip_sigma=clip_sigma, gain=gain, line=(rho_c, theta)
    )
    if isinstance(sky, str):
        return sky
    _, std, use = sky
    free = np.ones(6 + len(cut.basis), bool)
    free[2:4] = not open_end[0], not open_end[1]
    if use.sum() <= free.sum() + 5:
        return "too few usable pixels around the trail"

    # linear start for flux density and background given the initial geometry
    cols = np.column_stack([unit[use], cut.basis[:, use].T])
    lin = np.linalg.lstsq(cols, cut.data[use], rcond=None)[0]
    p0 = np.array([rho_c, theta, t0, t1, 1.0, *lin])

    sigma = _noise(cut, lin[0] * unit, std, gain)
    p, res = _solve(cut, p0, free, sigma, use, robust=True, t_out=t_out)
    back = np.tensordot(p[6:], cut.basis, axes=1)
    # clip against the trail as it is: a tumbling object's bright and faint stretches
    # are no outliers of a uniform trail
    unit = m.unit(*p[:5])
    core = use & (unit > 0.5 * unit.max())
    if core.sum() >= 5:
        trail = _local_density(cut, cut.data - back, unit, core, fwhm) * unit
    else:
        trail = p[5] * unit
    sigma = _noise(cut, trail, std, gain)
    # clip against noise plus a 5 % model floor: a bright trail is never quite the model
    floor = np.hypot(sigma, 0.05 * np.abs(trail))
    outlier = use & (np.abs(cut.data - trail - back) > clip_sigma * floor)
    use &= ~ndimage.binary_dilation(outlier, iterations=1)
    p, res = _solve(cut, p, free, sigma, use, robust=False, t_out=t_out)
    # an end the fit took to within half a PSF support of the cutout's edge (or past
    # it) may go on beyond; only a trail that is there (a positive flux density) pulls
    # it out, the ends of a fit to noise go anywhere
    near = 0.5 * _support_radius(psf)
    pulled = p[5] > 0
    escaped = (
        bool(free[2]) and pulled and p[2] < box[0] + near,
        bool(free[3]) and pulled and p[3] > box[1] - near,
    )
    return p, res, free, use, cut, escaped, sigma


# fit_trail(free_ends=True): an end at the footprint edge is fitted free when the last
# half PSF FWHM before it holds under _DARK_EDGE_SHARE of the trail's flux density, and
# the fitted end stands when the light past it is under _LIT_SHARE (both at 2 sigma).
# A tumbling object's fainter stretch must not draw an end in: satlab's simulated trails
# fade to 15-65 % of their mean towards one end; stretches under 30 % may still do so.
_DARK_EDGE_SHARE = 0.5
_LIT_SHARE = 0.3


def _grow_fit(img, good, footprint, psf, gain, clip_sigma, smear, edge_px, a, b, open_end):
    """:func:`_fit_segment`, following free ends out of the cutout and to the footprint
    edge. Returns ``(p, res, free, use, cut, open_end, sigma, (a, b))`` (``a``, ``b``: the
    last segment fitted) or, when a fit fails, :func:`_failed`'s record."""
    # A detector's segment may stop short of the trail's true end (a faint stretch, a
    # fragment). A free end the fit pushes to the cutout's edge has escaped the data:
    # start again from a longer segment, until the ends stay inside or reach the
    # footprint edge (open ends).
    open_end = list(open_end)
    kept = None  # the last fit's flux density and open ends
    reach = 2.0 * _support_radius(psf) + 20.0  # how far past the cutout a new start lies
    for attempt in range(_MAX_EXTENSIONS + 1):
        fitted = _fit_segment(img, good, a, b, open_end, psf, gain, clip_sigma, smear)
        if isinstance(fitted, str):
            return _failed(open_end, fitted)
        if kept is not None and not fitted[0][5] > 0.7 * kept[0]:
            # the longer segment dilutes the flux density: the trail does not go on (light
            # beyond a bright trail's end, such as readout smear, drew the end out); the
            # previous fit stands
            open_end = kept[1]
            break
        kept = (fitted[0][5], list(open_end))
        p, res, free, use, cut, escaped, sigma = fitted
        ends = [(x + cut.x0, y + cut.y0) for x, y in cut.model.endpoints(*p[:4])]
        at_edge = _open_ends(footprint, *ends, psf, edge_px)
        grow = [bool(free[2 + k]) and (escaped[k] or at_edge[k]) for k in range(2)]
        if not any(grow) or attempt == _MAX_EXTENSIONS:
            break
        ux, uy = -math.sin(p[1]), math.cos(p[1])
        new = []
        for k, sign in enumerate((-1.0, 1.0)):
            if not grow[k]:
                new.append((a, b)[k])
            elif at_edge[k]:  # at or past the footprint edge: an open end from now on
                new.append(ends[k])
            else:  # past the cutout: start beyond it
                new.append((ends[k][0] + sign * reach * ux, ends[k][1] + sign * reach * uy))
        a, b = new
        # only a moved end opens: an end freed at the footprint edge stays free
        moved_out = _open_ends(footprint, a, b, psf, edge_px)
        open_end = [o or (g and e) for o, g, e in zip(open_end, grow, moved_out, strict=True)]
    # a free end the fit left at or past the footprint edge stops at the edge, as open
    # ends do
    open_end = [o or (bool(free[2 + k]) and at_edge[k]) for k, o in enumerate(open_end)]
    return p, res, free, use, cut, open_end, sigma, (a, b)


def _t_along(fitted, point) -> float:
    """Position [px] of frame ``point`` along a fit's line, in its cutout's ``t``."""
    p, cut = fitted[0], fitted[4]
    m = cut.model
    px = point[0] - cut.x0 - m.centre[0] - p[0] * math.cos(p[1])
    py = point[1] - cut.y0 - m.centre[1] - p[0] * math.sin(p[1])
    return px * -math.sin(p[1]) + py * math.cos(p[1])


def _light_share(fitted, lo: float, hi: float) -> tuple[float, float]:
    """Flux density on the stretch ``lo``-``hi`` of a fit's line, over the fitted trail's,
    and its error: a least-squares amplitude of a uniform segment there on the residual
    of the fitted trail with that stretch cut out of it (NaN: no stretch or no pixel)."""
    p, _, _, _, cut, _, sigma, _ = fitted
    m = cut.model
    if not hi - lo > 1.0 or not p[5] > 0:
        return np.nan, np.nan
    past = m.unit(p[0], p[1], lo, hi, p[4])
    sel = cut.good & (past > 0.1 * past.max())
    if not sel.any():
        return np.nan, np.nan
    back = np.tensordot(p[6:], cut.basis, axes=1)
    trail = sum(
        m.unit(p[0], p[1], t0, t1, p[4])
        for t0, t1 in ((p[2], min(p[3], lo)), (max(p[2], hi), p[3]))
        if t1 > t0
    )
    resid = cut.data - back - p[5] * trail
    w = past[sel] / sigma[sel] ** 2
    norm = float((w * past[sel]).sum())
    return float((w * resid[sel]).sum()) / norm / p[5], 1.0 / math.sqrt(norm) / p[5]


def _free_ends(fitted, grow, ends, at_edge):
    """``fitted`` again with free ends where the light stops short of the footprint edge
    (``grow``: :func:`_grow_fit` bound to the image, taking ``a, b, open_end``).

    An end drawn on to the edge whose last half PSF FWHM holds under ``_DARK_EDGE_SHARE`` of
    the trail's light is fitted free; the fit stands if the light past every end it moved
    is under ``_LIT_SHARE`` too (a tumbling object's fainter stretch would draw an end
    in). Both at 2 sigma.
    """
    fwhm = fitted[4].model.psf.fwhm
    half = fwhm / 2
    dark = []
    for k, start in enumerate(ends):
        t = _t_along(fitted, start)
        share, err = _light_share(fitted, *((t, t + half) if k == 0 else (t - half, t)))
        dark.append(bool(fitted[5][k] and share + 2.0 * err < _DARK_EDGE_SHARE))
    if not any(dark):
        return fitted
    free = grow(*ends, [e and not d for e, d in zip(at_edge, dark, strict=True)])
    if isinstance(free, dict):
        return fitted
    p = free[0]
    for k, start in enumerate(ends):
        if dark[k] and not free[5][k]:  # the end moved in: is the light past it missing?
            t = _t_along(free, start)
            lo, hi = (t, p[2] - half) if k == 0 else (p[3] + half, t)
            if hi - lo > half:
                share, err = _light_share(free, lo, hi)
                if not share + 2.0 * err < _LIT_SHARE:
                    return fitted
    return free


def fit_trail(
    image,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    *,
    psf: PSF,
    good=None,
    footprint=None,
    gain: float | None = None,
    clip_sigma: float = 5.0,
    edge_px: float | None = None,
    smear=None,
    free_ends: bool = False,
) -> dict:
    """Fit the line-spread model to one trail in one image.

    Parameters
    ----------
    image : array (y, x) [ADU]
        One frame.
    x0, y0, x1, y1 : float [px]
        Initial end points (column, row of pixel centres), e.g. from a trail table. An
        end the fit pushes out of the segment's cutout is followed (up to three times,
        on a longer segment each time), so a fragment measures the whole trail.
    psf : PSF
        The instrument PSF; its width is refined by the fit.
    good : array of bool (y, x), optional
        Pixels the fit may use (default: the finite ones).
    footprint : array of bool (y, x), optional
        The instrument footprint (e.g. the CHEOPS circular crop); an end within
        ``edge_px`` of its edge is taken as leaving the frame. Default: the whole image.
    gain : float [ADU/e-], optional
        Adds the trail's shot noise to the pixel weights.
    clip_sigma : float
        Pixels whose residual exceeds this many sigma after a robust first fit (stars,
        cosmic rays) are masked for the final fit.
    edge_px : float [px], optional
        Distance from the footprint edge under which an end counts as at the border;
        default half the PSF FWHM, at least 2 px.
    smear : array (x,), optional
        Readout-smear template, one value per image column (see :func:`smear_template`);
        its amplitude joins the background terms of the fit.
    free_ends : bool
        Also fit an end that ``x0 .. y1`` put at the footprint edge, when the last half
        PSF FWHM before the edge holds under half the trail's flux density; the fitted
        end stands when the light past it is under 30 % (both at 2 sigma). A detector
        may draw a trail on to the edge past its end (see :func:`satlab.lines.refine`).
        Default: such an end leaves the frame unfitted.

    Returns
    -------
    dict
        Refined geometry (``x0 .. y1, rho, theta`` in the :mod:`satlab.lines` convention,
        ``length_px`` of the visible part, ``width_px``) with ``rho_err, theta_err,
        width_px_err``; ``flux_per_px`` and ``flux`` [ADU] of the visible part with errors;
        ``bkg`` [ADU/px], ``chi2_red``, ``n_pix``, ``border`` and ``reason`` ("" if fine).
    """
    from .lines import line_from_points

    img = np.asarray(image, dtype=float)
    if img.ndim != 2:
        raise InputError(f"image: expected a (y, x) array, got shape {img.shape}")
    good = np.isfinite(img) if good is None else np.asarray(good, bool) & np.isfinite(img)
    footprint = np.ones(img.shape, bool) if footprint is None else np.asarray(footprint, bool)
    a, b = (float(x0), float(y0)), (float(x1), float(y1))
    length0 = math.hypot(b[0] - a[0], b[1] - a[1])
    if not length0 > 0:
        raise InputError(f"trail end points: expected two distinct points, got {a} twice")
    fit_on = (img, good & footprint, footprint, psf, gain, clip_sigma, smear, edge_px)
    grow = partial(_grow_fit, *fit_on)
    at_edge = _open_ends(footprint, a, b, psf, edge_px)
    fitted = grow(a, b, at_edge)
    if free_ends and not isinstance(fitted, dict):
        fitted = _free_ends(fitted, grow, (a, b), at_edge)
    if isinstance(fitted, dict):
        return fitted
    p, res, free, use, cut, open_end, sigma, (a, b) = fitted
    m = cut.model
    n_free_ends = 2 - sum(open_end)

    n_pix = int(use.sum())
    dof = max(n_pix - int(free.sum()), 1)
    chi2_red = float(2.0 * res.cost / dof)
    jac = res.jac
    cov = np.full((p.size, p.size), np.nan)
    try:
        cf = np.linalg.inv(jac.T @ jac) * max(1.0, chi2_red)
        cov[np.ix_(free, free)] = cf
    except np.linalg.LinAlgError:
        pass
    cov[5, 5] += _unseen_error(cut, p, use, sigma, psf.fwhm, footprint) ** 2
    r, th, t0, t1, s, lam = p[:6]

    # geometry in frame coordinates; open ends stop at the footprint edge
    (ex0, ey0), (ex1, ey1) = m.endpoints(r, th, t0, t1)
    ends = [[ex0 + cut.x0, ey0 + cut.y0], [ex1 + cut.x0, ey1 + cut.y0]]
    dux, duy = -math.sin(th), math.cos(th)
    if any(open_end):
        # start from the fitted line's point nearest the initial midpoint
        mx, my = (a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0
        (lx, ly), _ = m.endpoints(r, th, 0.0, 1.0)
        lx, ly = lx + cut.x0, ly + cut.y0
        tm = (mx - lx) * dux + (my - ly) * duy
        sx, sy = lx + tm * dux, ly + tm * duy
        if open_end[0]:
            back_t = _march(footprint, sx, sy, -dux, -duy)
            ends[0] = [sx - back_t * dux, sy - back_t * duy]
        if open_end[1]:
            fwd_t = _march(footprint, sx, sy, dux, duy)
            ends[1] = [sx + fwd_t * dux, sy + fwd_t * duy]
    length = math.hypot(ends[1][0] - ends[0][0], ends[1][1] - ends[0][1])
    if length > 0:
        wide = dict(good=good & footprint, smear=smear, gain=gain, clip_sigma=clip_sigma)
        sky = _null_lines(img, ends, p, open_end, psf, **wide)
        if sky > 0 and cov[5, 5] > 0:
            # the sky's light also blurs the faint trail's geometry: scale all of it
            cov *= 1.0 + sky / cov[5, 5]
    grad = np.zeros(p.size)
    grad[2] = -lam if free[2] else 0.0
    grad[3] = lam if free[3] else 0.0
    grad[5] = length
    flux = lam * length
    flux_err = _propagate(cov, grad)
    # frame rho = rho_c + (cutout centre in the frame) . n
    cx, cy = cut.x0 + m.centre[0], cut.y0 + m.centre[1]
    g_rho = np.zeros(p.size)
    g_rho[0] = 1.0
    g_rho[1] = -cx * math.sin(th) + cy * math.cos(th)
    if length > 0:
        rho, theta_deg = line_from_points(*ends[0], *ends[1])
    else:
        rho, theta_deg = np.nan, np.nan
    # across-line error at t along the line: d rho_c - t d theta; its mean square over the
    # visible segment (rho_err is the error at the frame origin, a lever arm away)
    t_vis = [
        (ex - cx - r * math.cos(th)) * dux + (ey - cy - r * math.sin(th)) * duy for ex, ey in ends
    ]
    t_lo, t_hi = min(t_vis), max(t_vis)
    t_mean, t_sq = (t_lo + t_hi) / 2.0, (t_lo**2 + t_lo * t_hi + t_hi**2) / 3.0
    offset_var = cov[0, 0] - 2.0 * t_mean * cov[0, 1] + t_sq * cov[1, 1]
    reason = ""
    if not np.all(np.isfinite(np.diag(cov)[free])):
        reason = "degenerate fit: singular covariance"
    elif n_free_ends == 0 and length <= 0:
        reason = "the fitted line misses the footprint"
    return {
        "x0": ends[0][0],
        "y0": ends[0][1],
        "x1": ends[1][0],
        "y1": ends[1][1],
        "rho": rho,
        "theta": theta_deg,
        "rho_err": _propagate(cov, g_rho),
        "theta_err": math.degrees(math.sqrt(cov[1, 1])) if np.isfinite(cov[1, 1]) else np.nan,
        "offset_err": math.sqrt(max(offset_var, 0.0)) if np.isfinite(offset_var) else np.nan,
        "length_px": length,
        "width_px": s * psf.fwhm,
        "width_px_err": math.sqrt(cov[4, 4]) * psf.fwhm if np.isfinite(cov[4, 4]) else np.nan,
        "flux_per_px": lam,
        "flux_per_px_err": math.sqrt(cov[5, 5]) if np.isfinite(cov[5, 5]) else np.nan,
        "flux": flux,
        "flux_err": flux_err,
        "bkg": float(p[6]),
        "chi2_red": chi2_red,
        "n_pix": n_pix,
        "border": bool(any(open_end)),
        "reason": reason,
    }


def _propagate(cov: np.ndarray, grad: np.ndarray) -> float:
    sel = grad != 0
    var = float(grad[sel] @ cov[np.ix_(sel, sel)] @ grad[sel])
    return math.sqrt(var) if np.isfinite(var) and var >= 0 else np.nan


def _failed(open_end, reason: str) -> dict:
    out = {k: np.nan for k in _COLUMNS if _COLUMNS[k] == "float64"}
    out.update(n_pix=0, border=bool(any(open_end)), reason=reason)
    return out


# --- aperture baseline ----------------------------------------------------------------


def aperture_trail(
    image,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    *,
    psf: PSF,
    good=None,
    footprint=None,
    gain: float | None = None,
    half_width_px: float | None = None,
    edge_px: float | None = None,
    clip_sigma: float = 5.0,
) -> dict:
    """Aperture photometry along a trail with photutils (the baseline beside the fit).

    A rectangle along the segment (``half_width_px`` either side, default one PSF FWHM,
    extended by the same at the ends) holds the trail; a sigma-clipped median in a
    rectangular annulus around it is the background; stars are masked as for
    :func:`fit_trail` (``clip_sigma``). The flux density is the
    background-subtracted sum divided by the sum of a unit-density model trail (the
    PSF convolved along the same segment) over the same usable pixels, which corrects
    for the PSF wings outside the box and for masked pixels alike. The geometry is not
    refined. Returns the same keys as :func:`fit_trail` (geometry errors NaN).
    """
    from astropy.stats import SigmaClip
    from photutils.aperture import ApertureStats, RectangularAnnulus, RectangularAperture

    img = np.asarray(image, dtype=float)
    good = np.isfinite(img) if good is None else np.asarray(good, bool) & np.isfinite(img)
    footprint = np.ones(img.shape, bool) if footprint is None else np.asarray(footprint, bool)
    good = good & footprint
    a, b = (float(x0), float(y0)), (float(x1), float(y1))
    length = math.hypot(b[0] - a[0], b[1] - a[1])
    if not length > 0:
        raise InputError(f"trail end points: expected two distinct points, got {a} twice")
    open_end = _open_ends(footprint, a, b, psf, edge_px)
    hw = psf.fwhm if half_width_px is None else float(half_width_px)
    cut = _cutout(img, good, a, b, psf)
    if cut is None:
        return _failed(open_end, "the trail lies outside the image")
    m = cut.model
    ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
    theta = math.atan2(-ux, uy)
    ca = (a[0] - cut.x0 - m.centre[0], a[1] - cut.y0 - m.centre[1])
    rho_c = ca[0] * math.cos(theta) + ca[1] * math.sin(theta)
    t0 = ca[0] * ux + ca[1] * uy
    t0, t1 = _extend_open_ends(m, rho_c, theta, t0, t0 + length, open_end)
    unit = m.unit(rho_c, theta, t0, t1, 1.0)
    masked = _sky_and_stars(cut, unit, fwhm=psf.fwhm, clip_sigma=clip_sigma, gain=gain)
    if isinstance(masked, str):
        return _failed(open_end, masked)
    bad = ~masked[2]
    theta_u = math.atan2(uy, ux)  # photutils: rotation of the rectangle's width axis
    centre = ((a[0] + b[0]) / 2.0 - cut.x0, (a[1] + b[1]) / 2.0 - cut.y0)
    box = RectangularAperture(centre, w=length + 2.0 * hw, h=2.0 * hw, theta=theta_u)
    gap, thick = 2.0 + 0.25 * psf.fwhm, max(5.0, psf.fwhm)
    ring = RectangularAnnulus(
        centre,
        w_in=length + 2.0 * (hw + gap),
        w_out=length + 2.0 * (hw + gap + thick),
        h_out=2.0 * (hw + gap + thick),
        h_in=2.0 * (hw + gap),
        theta=theta_u,
    )
    sky = ApertureStats(cut.data, ring, mask=bad, sigma_clip=SigmaClip(sigma=3.0))
    bkg, std, n_sky = float(sky.median), float(sky.std), float(sky.sum_aper_area.value)
    if not (np.isfinite(bkg) and std > 0 and n_sky >= 10):
        return _failed(open_end, "fewer than 10 usable background pixels around the trail")
    var = np.full(cut.data.shape, std**2)
    if gain:
        var = var + np.clip(cut.data - bkg, 0.0, None) * gain
    stats = ApertureStats(cut.data - bkg, box, mask=bad, error=np.sqrt(var))
    weight = float(ApertureStats(unit, box, mask=bad).sum)
    area = float(stats.sum_aper_area.value)
    # error of the sum, plus the background median's error (sqrt(pi/2) std / sqrt(n))
    sum_err = math.hypot(float(stats.sum_err), area * std * math.sqrt(math.pi / 2.0 / n_sky))
    if not weight > 0:
        return _failed(open_end, "the aperture holds no usable pixel")
    lam, lam_err = float(stats.sum) / weight, sum_err / weight
    visible = _visible_length(footprint, a, b, open_end)
    from .lines import line_from_points

    rho, theta_deg = line_from_points(*a, *b)
    return {
        "x0": a[0],
        "y0": a[1],
        "x1": b[0],
        "y1": b[1],
        "rho": rho,
        "theta": theta_deg,
        "rho_err": np.nan,
        "theta_err": np.nan,
        "offset_err": np.nan,
        "length_px": visible,
        "width_px": psf.fwhm,
        "width_px_err": np.nan,
        "flux_per_px": lam,
        "flux_per_px_err": lam_err,
        "flux": lam * visible,
        "flux_err": lam_err * visible,
        "bkg": bkg,
        "chi2_red": np.nan,
        "n_pix": round(area),
        "border": bool(any(open_end)),
        "reason": "",
    }


def _visible_length(footprint, a, b, open_end) -> float:
    """Length [px] of the segment a-b, open ends extended to the footprint edge."""
    length = math.hypot(b[0] - a[0], b[1] - a[1])
    if not any(open_end):
        return length
    ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
    mx, my = (a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0
    lo = _march(footprint, mx, my, -ux, -uy) if open_end[0] else length / 2.0
    hi = _march(footprint, mx, my, ux, uy) if open_end[1] else length / 2.0
    return lo + hi


# --- calibration ----------------------------------------------------------------------


def _frame_values(ds, name: str) -> np.ndarray | None:
    """A per-frame value from a coord or a dataset-wide attr, else None."""
    if name in ds.coords:
        return np.asarray(ds[name].values, dtype=float)
    if name in ds.attrs and ds.attrs[name] is not None:
        return np.full(ds.sizes["frame"], float(ds.attrs[name]))
    return None


def _reference_mags(ds, mag) -> tuple[np.ndarray | None, str]:
    if mag is not None:
        return np.broadcast_to(_values(mag, "reference_mag"), (ds.sizes["frame"],)), "given"
    for name in ("mag_chps", "mag_g"):
        values = _frame_values(ds, name)
        if values is not None and np.isfinite(values).any():
            return values, name
    return None, ""


def _encircled(psf: PSF, radius: float) -> float:
    """Fraction of the PSF flux inside a circular aperture, measured as photutils would."""
    from photutils.aperture import CircularAperture, aperture_photometry

    half = math.ceil(max(radius, _support_radius(psf))) + 4
    model = _LineModel((2 * half + 1, 2 * half + 1), psf, pad=half, oversample=_oversample(psf))
    img = model.point(half, half)
    return float(
        aperture_photometry(img, CircularAperture((half, half), radius))["aperture_sum"][0]
    )


def _radius_99(psf: PSF) -> float:
    half = math.ceil(_support_radius(psf)) + 4
    model = _LineModel((2 * half + 1, 2 * half + 1), psf, pad=half, oversample=_oversample(psf))
    img = model.point(half, half)
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    r = np.hypot(xx - half, yy - half).ravel()
    order = np.argsort(r)
    cum = np.cumsum(img.ravel()[order])
    return float(r[order][np.searchsorted(cum, 0.99 * cum[-1])]) + 0.5


def reference_zero_point(
    frames,
    *,
    psf: PSF,
    mag=None,
    position: tuple[float, float] | None = None,
    radius_px: float | None = None,
    gain: float | None = None,
    frame_positions=None,
) -> pd.DataFrame:
    """Zero point per frame from a reference star (for CHEOPS the target at the centre).

    The star's flux is summed in a circular aperture (photutils) around its centroid, the
    sky taken as the sigma-clipped median of an annulus, and corrected for the PSF flux
    outside the aperture; then ``ZP = mag + 2.5 log10(flux / exptime)`` is the magnitude
    of 1 ADU/s.

    Parameters
    ----------
    frames : frames-like
        Frames holding the star; ``exptime`` is needed.
    psf : PSF
        Used for the aperture correction and the default radius.
    mag : float or array (frame,) [mag], optional
        The star's magnitude; default the ``mag_chps`` coord/attr (CHEOPS band), else
        ``mag_g`` (the CHEOPS loader reads them from ``MAG_CHPS`` / ``MAG_G``).
    position : (x, y) [px], optional
        Start of the centroid search; default the image centre (CHEOPS targets sit there).
    radius_px : float [px], optional
        Aperture radius; default the radius holding 99 % of the PSF flux.
    gain : float [ADU/e-], optional
        Adds the star's shot noise to the error.
    frame_positions : array of int, optional
        Measure only these frames (positions along ``frame``).

    Returns
    -------
    pandas.DataFrame
        One row per measured frame: ``frame`` (position), ``x, y`` [px], ``star_flux``,
        ``star_flux_err`` [ADU], ``aperture_fraction``, ``mag_ref``, ``zero_point``,
        ``zero_point_err`` [mag]; ``attrs["band"]`` names the magnitude used.
    """
    from astropy.stats import SigmaClip
    from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture
    from photutils.centroids import centroid_com

    ds = as_frames(frames)
    mags, band = _reference_mags(ds, mag)
    if mags is None:
        raise InputError(
            "reference_zero_point: no reference magnitude; pass mag= or frames with a "
            "mag_chps / mag_g coord or attr (CHEOPS MAG_CHPS / MAG_G)"
        )
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    px, py = ((nx - 1) / 2.0, (ny - 1) / 2.0) if position is None else map(float, position)
    radius = _radius_99(psf) if radius_px is None else _positive(radius_px, "radius_px")
    fraction = _encircled(psf, radius)
    r_in = radius + max(2.0, 0.1 * radius)
    r_out = r_in + max(5.0, 0.5 * radius)
    idx = np.arange(ds.sizes["frame"]) if frame_positions is None else np.asarray(frame_positions)
    valid = np.asarray(ds["valid"].values, bool)
    exptime = np.asarray(ds["exptime"].values, float)
    rows = []
    for k in idx:
        img = np.asarray(ds["flux"][int(k)].values, dtype=float)
        bad = ~(valid & np.isfinite(img))
        ring = CircularAnnulus((px, py), r_in, r_out)
        sky = ApertureStats(img, ring, mask=bad, sigma_clip=SigmaClip(sigma=3.0))
        bkg, std = float(sky.median), float(sky.std)
        # centroid of the background-subtracted star in a box of the aperture's size
        half = math.ceil(radius)
        x_lo, y_lo = max(0, round(px) - half), max(0, round(py) - half)
        box = img[y_lo : round(py) + half + 1, x_lo : round(px) + half + 1] - bkg
        box_bad = bad[y_lo : round(py) + half + 1, x_lo : round(px) + half + 1]
        cx, cy = centroid_com(np.clip(np.where(box_bad, 0.0, box), 0.0, None))
        x, y = (cx + x_lo, cy + y_lo) if np.isfinite(cx) and np.isfinite(cy) else (px, py)
        var = np.full(img.shape, std**2)
        if gain:
            var = var + np.clip(img - bkg, 0.0, None) * gain
        star = ApertureStats(
            img - bkg, CircularAperture((x, y), radius), mask=bad, error=np.sqrt(var)
        )
        flux, flux_err = float(star.sum) / fraction, float(star.sum_err) / fraction
        with np.errstate(invalid="ignore", divide="ignore"):
            zp = mags[k] + 2.5 * np.log10(flux / exptime[k])
        rows.append(
            {
                "frame": int(k),
                "x": x,
                "y": y,
                "star_flux": flux,
                "star_flux_err": flux_err,
                "aperture_fraction": fraction,
                "mag_ref": float(mags[k]),
                "zero_point": float(zp) if flux > 0 else np.nan,
                "zero_point_err": _MAG * flux_err / flux if flux > 0 else np.nan,
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "frame",
            "x",
            "y",
            "star_flux",
            "star_flux_err",
            "aperture_fraction",
            "mag_ref",
            "zero_point",
            "zero_point_err",
        ],
    )
    out.attrs["band"] = band
    out.attrs["radius_px"] = radius
    out.attrs["units"] = {"x": "px", "y": "px", "star_flux": "ADU", "star_flux_err": "ADU"}
    return out


# --- the table ------------------------------------------------------------------------


def _resolve_psf(psf, ds, trails) -> PSF:
    if isinstance(psf, PSF):
        return psf
    if psf is not None and not isinstance(psf, str):
        return PSF.from_image(psf)
    instrument = ds.attrs.get("instrument")
    from .simulate.presets import fixed_psf

    fixed = fixed_psf(str(instrument)) if psf is None and instrument else None
    if fixed is not None:
        # the donut the simulator renders is sampled at pixel centres, not integrated
        return PSF.from_image(fixed.kernel, pixel_integrated=False)
    fwhm = ds.attrs.get("psf_fwhm")
    if fwhm is None and "width_px" in trails and np.isfinite(trails["width_px"]).any():
        fwhm = float(np.nanmedian(trails["width_px"]))
    if fwhm is None:
        raise InputError(
            "psf: pass a PSF (PSF.gaussian(fwhm), PSF.moffat(...), PSF.from_image(array)) "
            "or frames with attrs['psf_fwhm'] or trails with a width_px column"
        )
    if psf in (None, "gaussian"):
        return PSF.gaussian(fwhm)
    if psf == "moffat":
        return PSF.moffat(fwhm)
    raise InputError(f"psf: expected a PSF, an image, 'gaussian' or 'moffat', got {psf!r}")


def _per_trail(value, n: int, name: str) -> np.ndarray:
    arr = np.asarray(_values(value, name, "arcsec/s") if value is not None else np.nan, float)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise InputError(f"{name}: expected a scalar or one value per trail ({n}), got {arr.shape}")
    return arr


def _zero_points(ds, zero_point, zero_point_err, psf, positions, gain, reference_mag):
    """Zero point and error per frame position needed, and a reason where there is none."""
    n = ds.sizes["frame"]
    zp = np.full(n, np.nan)
    err = np.full(n, np.nan)
    if zero_point is None and ds.attrs.get("zero_point") is not None:
        zero_point = ds.attrs["zero_point"]
        zero_point_err = ds.attrs.get("zero_point_err", zero_point_err)
    if zero_point is not None and not (isinstance(zero_point, str) and zero_point == "target"):
        zp[:] = _values(zero_point, "zero_point")
        err[:] = _values(zero_point_err, "zero_point_err")
        return zp, err, "given", ""
    mags, band = _reference_mags(ds, reference_mag)
    if mags is None:
        reason = (
            "no zero point: pass zero_point= or frames with attrs zero_point or a "
            "mag_chps / mag_g reference star"
        )
        if zero_point == "target":
            raise InputError(f"zero_point='target': {reason}")
        return zp, err, "", reason
    # the median over a visit (same file, else same reference magnitude) is robust to a
    # trail crossing the star in one frame; up to 8 extra frames of each visit join in
    group = np.asarray(ds["file"].values) if "file" in ds.coords else np.asarray(mags)
    use = set(int(p) for p in positions)
    for g in pd.unique(group[list(use)]):
        members = np.nonzero(group == g)[0]
        use.update(int(m) for m in members[np.linspace(0, len(members) - 1, 8).astype(int)])
    ref = reference_zero_point(
        ds, psf=psf, mag=mags, gain=gain, frame_positions=np.array(sorted(use))
    )
    ref["group"] = group[ref["frame"].to_numpy()]
    for g, sub in ref.groupby("group", sort=False):
        ok = sub.dropna(subset=["zero_point"])
        if ok.empty:
            continue
        values = ok["zero_point"].to_numpy()
        scatter = 1.4826 * np.median(np.abs(values - np.median(values)))
        sigma = max(float(np.median(ok["zero_point_err"])), scatter)
        members = group == g
        zp[members] = np.median(values)
        err[members] = 1.2533 * sigma / math.sqrt(len(values))  # error of a median
    return zp, err, band, "reference star flux not positive"


def _empty_photometry() -> pd.DataFrame:
    df = pd.DataFrame({k: pd.Series(dtype=v) for k, v in _COLUMNS.items()})
    df.attrs["units"] = dict(PHOTOMETRY_UNITS)
    return df


def trail_photometry(
    frames,
    trails: pd.DataFrame,
    *,
    zero_point=None,
    zero_point_err: float = 0.0,
    psf=None,
    method: str = "fit",
    rate_arcsec_s=None,
    reference_mag=None,
    mask=None,
    saturation: float | None = None,
    gain: float | None = None,
    clip_sigma: float = 5.0,
    edge_px: float | None = None,
    free_ends: bool = False,
    smear: bool = True,
    floor_mag: float = 0.01,
    min_snr: float = 3.0,
    progress: bool = False,
) -> pd.DataFrame:
    """Flux, apparent magnitude and refined geometry of every trail.

    Parameters
    ----------
    frames : frames-like
        The frames the trails were found in (see :func:`satlab.as_frames`).
    trails : pandas.DataFrame
        One row per trail with ``frame, x0, y0, x1, y1`` (the :mod:`satlab.lines` table
        of :func:`satlab.detect.trails`, or a simulator truth table). Optional columns:
        ``width_px`` (start width), ``rate_arcsec_s`` (angular rate, e.g. from
        :func:`satlab.orbits.predict`), ``range_km`` (adds standard magnitudes).
    zero_point : float, "target" or None
        Magnitude of 1 ADU/s. ``None``: ``frames.attrs["zero_point"]`` if set, else the
        reference star (``"target"``: the star at the frame centre with ``mag_chps`` /
        ``mag_g``; see :func:`reference_zero_point`), else NaN magnitudes with a reason.
    zero_point_err : float [mag]
        Error of a given zero point.
    psf : PSF, 2-D array, "gaussian", "moffat" or None
        Instrument PSF. ``None``: the instrument's own PSF when ``frames.attrs
        ["instrument"]`` names a satlab preset whose PSF is fixed (CHEOPS: its defocused
        donut, which no Gaussian fits: faint trails came out up to 0.8 mag off), else
        as "gaussian". Strings use ``frames.attrs["psf_fwhm"]`` or the median
        ``width_px`` of the trails as FWHM.
    method : {"fit", "aperture"}
        The line-spread model fit (:func:`fit_trail`) or the photutils aperture baseline
        (:func:`aperture_trail`).
    rate_arcsec_s : float or array (trail,) [arcsec/s], optional
        Angular rate; overrides a ``rate_arcsec_s`` column. NaN: from the trail length.
    reference_mag : float or array (frame,) [mag], optional
        Magnitude of the reference star, overriding ``mag_chps`` / ``mag_g``.
    mask : array of bool (y, x) or (frame, y, x), optional
        Pixels to ignore (True = masked), on top of ``valid`` and NaN pixels.
    saturation : float [ADU], optional
        Saturation level (default ``frames.attrs["saturation"]``); a trail with pixels at
        or above it has NaN flux and magnitude.
    gain : float [ADU/e-], optional
        Default ``frames.attrs["gain"]`` (ADU per electron, as :mod:`satlab.simulate`
        writes it); adds the shot noise of the trail to the pixel errors.
    clip_sigma : float
        Outlier threshold of the fit (stars, cosmic rays) [sigma].
    edge_px : float [px], optional
        An end this close to the footprint edge leaves the frame (see :func:`fit_trail`).
    free_ends : bool
        Also fit the ends that ``trails`` put at the footprint edge when the trail's light
        stops short of it (``method="fit"``; see :func:`fit_trail`).
    smear : bool
        Fit a readout-smear term (:func:`smear_template`) with the background; a trail
        near a column's direction through a bright star's smear band needs it.
    floor_mag : float [mag]
        Added in quadrature to ``mag_err``: the model's systematic floor (star wings,
        tumbling objects, PSF mismatch), where a bright trail's statistical error alone
        is a few millimag. On satlab's simulated CHEOPS trails the fit's median
        |m - m_true| at S/N > 50 is 0.008 mag (``benchmarks/photometry.py``); 0.01 leaves
        room for the PSF of real frames, which is never quite the model's.
    min_snr : float
        Trails measured at a lower S/N (``snr``: that of the count rate the magnitude
        comes from, ``flux_per_px`` with a rate, else ``flux``) keep ``mag`` and ``mag_err``
        but get no standard magnitude and a reason: their magnitude is no more than an
        upper limit, and -2.5 log10 of a noisy flux is skewed faint, so a mean over them
        would be biased (3: a detection).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per input trail (``trail`` is its index in ``trails``): ``flux, flux_err``
        [ADU] of the visible trail, ``flux_per_px`` [ADU/px], ``mag, mag_err`` [mag],
        refined ``x0 .. y1, rho, theta, width_px, length_px`` with errors, ``bkg``,
        ``chi2_red``, ``border``, ``saturated``, ``rate_px_s`` and ``rate_source``,
        ``zero_point(_err)``, ``snr``, and ``reason`` ("" when every number is there, else
        why a value is NaN or the magnitude only an upper limit). With ``range_km``:
        ``range_km, mag_std, mag_std_err``. Units in ``attrs["units"]``. No trails: the
        empty table and a :class:`SatlabWarning`.
    """
    from .lines import frame_index

    ds = as_frames(frames)
    if method not in ("fit", "aperture"):
        raise InputError(f"method: expected 'fit' or 'aperture', got {method!r}")
    for name, value in (("floor_mag", floor_mag), ("min_snr", min_snr)):
        if not (isinstance(value, int | float) and value >= 0):
            raise InputError(f"{name}: expected a number >= 0, got {value!r}")
    if not isinstance(trails, pd.DataFrame):
        raise InputError(f"trails: expected a pandas DataFrame, got {type(trails).__name__}")
    missing = [c for c in ("frame", "x0", "y0", "x1", "y1") if c not in trails]
    if missing:
        raise InputError(
            f"trails: missing column(s) {missing}; expected frame, x0, y0, x1, y1 [px]"
        )
    if trails.empty:
        warnings.warn(
            "trail_photometry: the trail table is empty; nothing to measure",
            SatlabWarning,
            stacklevel=2,
        )
        return _empty_photometry()
    psf = _resolve_psf(psf, ds, trails)
    labels = frame_index(ds)
    lookup = {int(v): i for i, v in enumerate(labels)}
    try:
        positions = np.array([lookup[int(f)] for f in trails["frame"]])
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(
            f"trails: frame {exc} is not a frame of these frames (labels {labels[0]}..{labels[-1]})"
        ) from exc
    n = len(trails)
    rates = _per_trail(
        rate_arcsec_s if rate_arcsec_s is not None else trails.get("rate_arcsec_s"),
        n,
        "rate_arcsec_s",
    )
    pixel_scale = ds.attrs.get("pixel_scale")
    gain = ds.attrs.get("gain") if gain is None else gain
    saturation = ds.attrs.get("saturation") if saturation is None else saturation
    user_mask = None if mask is None else np.asarray(mask, bool)
    if user_mask is not None and user_mask.shape not in (
        ds["flux"].shape[1:],
        ds["flux"].shape,
    ):
        raise InputError(
            f"mask: expected shape {ds['flux'].shape[1:]} (y, x) or {ds['flux'].shape}, "
            f"got {user_mask.shape}"
        )
    zp, zp_err, band, zp_reason = _zero_points(
        ds, zero_point, zero_point_err, psf, positions, gain, reference_mag
    )
    footprint = np.asarray(ds["valid"].values, bool)
    exptime = np.asarray(ds["exptime"].values, float)
    measure = fit_trail if method == "fit" else aperture_trail

    rows = []
    order = np.argsort(positions, kind="stable")
    image, current = None, -1
    iterator = order
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(order, desc=f"trail photometry ({method})")
    for i in iterator:
        k = int(positions[i])
        row = trails.iloc[i]
        if k != current:
            image, current = np.asarray(ds["flux"][k].values, dtype=float), k
            good = footprint & np.isfinite(image)
            if user_mask is not None:
                good &= ~(user_mask[k] if user_mask.ndim == 3 else user_mask)
            template = smear_template(image, good) if smear and method == "fit" else None
        ends = tuple(float(row[c]) for c in ("x0", "y0", "x1", "y1"))
        n_sat = _saturated(image, good, ends, psf, saturation)
        if n_sat:
            res = _failed(
                _open_ends(footprint, ends[:2], ends[2:], psf, edge_px),
                f"saturated: {n_sat} pixel(s) >= {saturation} ADU along the trail",
            )
            res["saturated"] = True
        else:
            extra = {"smear": template, "free_ends": free_ends} if method == "fit" else {}
            res = measure(
                image,
                *ends,
                psf=psf,
                good=good,
                footprint=footprint,
                gain=gain,
                edge_px=edge_px,
                clip_sigma=clip_sigma,
                **extra,
            )
            res["saturated"] = False
        res.update(frame=int(labels[k]), trail=int(i), method=method)
        _calibrate(res, rates[i], pixel_scale, exptime[k], zp[k], zp_err[k], zp_reason, floor_mag)
        rows.append(res)
    df = pd.DataFrame(rows).sort_values("trail", ignore_index=True)
    df["trail"] = trails.index.to_numpy()[df["trail"].to_numpy()]
    df = df[list(_COLUMNS)].astype(_COLUMNS)
    units = dict(PHOTOMETRY_UNITS)
    if "range_km" in trails:
        rng = trails["range_km"].to_numpy(dtype=float)
        with warnings.catch_warnings():
            # missing ranges are reported in the reason column instead
            warnings.simplefilter("ignore", SatlabWarning)
            df["range_km"] = rng
            df["mag_std"] = standard_magnitude(df["mag"].to_numpy(), rng)
        df["mag_std_err"] = np.where(np.isfinite(df["mag_std"]), df["mag_err"], np.nan)
        no_range = np.isfinite(df["mag"]) & ~(rng > 0)
        df.loc[no_range, "reason"] = "no range_km: no standard magnitude"
        units.update(range_km="km", mag_std="mag", mag_std_err="mag")
    faint = np.isfinite(df["mag"]) & ~(df["snr"] >= min_snr)
    if faint.any():
        df.loc[faint, "reason"] = [
            f"S/N {v:.1f} < {min_snr:g}: magnitude is an upper limit, no standard magnitude"
            for v in df.loc[faint, "snr"]
        ]
        if "mag_std" in df:
            df.loc[faint, ["mag_std", "mag_std_err"]] = np.nan
    df.attrs["units"] = units
    df.attrs["params"] = {
        "method": method,
        "psf": {"kind": psf.kind, "fwhm": psf.fwhm, "beta": psf.beta},
        "zero_point_source": band,
        "clip_sigma": clip_sigma,
        "saturation": saturation,
        "gain": gain,
        "smear": bool(smear and method == "fit"),
        "floor_mag": floor_mag,
        "min_snr": min_snr,
    }
    return df


def _saturated(image, good, ends, psf: PSF, saturation) -> int:
    """Number of usable pixels within one FWHM of the segment at or above saturation."""
    if saturation is None:
        return 0
    ny, nx = image.shape
    r = psf.fwhm
    xlo = max(0, math.floor(min(ends[0], ends[2]) - r))
    xhi = min(nx, math.ceil(max(ends[0], ends[2]) + r) + 1)
    ylo = max(0, math.floor(min(ends[1], ends[3]) - r))
    yhi = min(ny, math.ceil(max(ends[1], ends[3]) + r) + 1)
    if xhi <= xlo or yhi <= ylo:
        return 0
    yy, xx = np.mgrid[ylo:yhi, xlo:xhi]
    near = distance_to_segment(xx, yy, ends[:2], ends[2:]) <= r
    sub = image[ylo:yhi, xlo:xhi]
    return int(np.sum(near & good[ylo:yhi, xlo:xhi] & (sub >= float(saturation))))


def _calibrate(
    res: dict, rate_arcsec_s, pixel_scale, exptime, zp, zp_err, zp_reason, floor_mag
) -> None:
    """Add rate, zero point and magnitude (or the reason there is none) to one result."""
    res.update(rate_px_s=np.nan, rate_source="", zero_point=zp, zero_point_err=zp_err)
    res.update(mag=np.nan, mag_err=np.nan)
    res["snr"] = res["flux"] / res["flux_err"] if res["flux_err"] > 0 else np.nan
    if res["reason"]:
        return
    if np.isfinite(rate_arcsec_s):
        if not pixel_scale:
            res["reason"] = "rate_arcsec_s given but frames have no pixel_scale attr"
            return
        rate = float(rate_arcsec_s) / float(pixel_scale)
        res.update(rate_px_s=rate, rate_source="rate_arcsec_s")
        count, count_err = res["flux_per_px"] * rate, res["flux_per_px_err"] * rate
    elif res["border"]:
        res["reason"] = (
            "trail touches the frame border and no rate_arcsec_s: time on detector unknown"
        )
        return
    elif not exptime > 0:
        res["reason"] = "exptime unknown: no time on detector"
        return
    else:
        res.update(rate_px_s=res["length_px"] / exptime, rate_source="length/exptime")
        count, count_err = res["flux"] / exptime, res["flux_err"] / exptime
    if not np.isfinite(zp):
        res["reason"] = zp_reason
        return
    # the S/N of what the magnitude comes from: with a rate that is the flux density,
    # whose error does not depend on how well the ends are known
    res["snr"] = count / count_err if count_err > 0 else np.nan
    if not count > 0:
        res["reason"] = "flux <= 0: trail not detected"
        return
    res["mag"] = zp - 2.5 * math.log10(count)
    res["mag_err"] = math.sqrt((_MAG * count_err / count) ** 2 + zp_err**2 + floor_mag**2)
