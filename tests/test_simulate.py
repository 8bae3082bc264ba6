"""The simulator: streak geometry, optics, detector noise, labelled frames and their truth."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from satlab.errors import InputError, SatlabWarning
from satlab.lines import edge_distance
from satlab.simulate import (
    COLUMN_DEG,
    NEGATIVE_KINDS,
    Detector,
    Telescope,
    gaussian_sigma,
    get_preset,
    render_segments,
    render_streak,
    simulate_frames,
    streak_area,
    streak_mask,
    streak_path,
    truth_table,
)

# --- pixel-exact streaks (seed 002 §2.2.4) ------------------------------------------------


@pytest.mark.parametrize("angle", [0.0, 0.7, 3.0, 20.0, 45.0, 90.0, 133.0])
def test_pixel_exact_areas_sum_to_the_rectangle(angle, rng):
    x0, y0 = 30.0 + rng.random(2)
    length = 25.0 + rng.random() * 10
    a = np.radians(angle)
    x1, y1 = x0 + length * np.cos(a), y0 + length * np.sin(a)
    area, total = streak_area((80, 80), np.array([[x0, y0], [x1, y1]]))
    assert area.sum() == pytest.approx(length + 1.0, rel=1e-12)
    assert total == pytest.approx(length + 1.0, rel=1e-12)
    assert area.max() <= 1.0 + 1e-12 and area.min() >= 0.0


def test_pixel_exact_area_of_an_axis_aligned_streak():
    # from (2, 5) to (6, 5): rectangle x in [1.5, 6.5], y in [4.5, 5.5] -> five full pixels
    area, _ = streak_area((10, 10), np.array([[2.0, 5.0], [6.0, 5.0]]))
    expected = np.zeros((10, 10))
    expected[5, 2:7] = 1.0
    np.testing.assert_allclose(area, expected, atol=1e-12)
    # shifted by -0.25 px in y: y in [4.25, 5.25] gives rows 4 and 5 0.25 and 0.75
    area, _ = streak_area((10, 10), np.array([[2.0, 4.75], [6.0, 4.75]]))
    np.testing.assert_allclose(area[4, 2:7], 0.25)
    np.testing.assert_allclose(area[5, 2:7], 0.75)


def _shapely_areas(shape, path, width=1.0):
    """Pixel areas of the streak's pieces from shapely (an outside reference)."""
    from shapely.geometry import Polygon, box

    ny, nx = shape
    out = np.zeros(shape)
    seg = np.diff(path, axis=0)
    for k, (p, d) in enumerate(zip(path[:-1], seg, strict=True)):
        length = float(np.hypot(*d))
        u = d / length
        n = np.array([-u[1], u[0]]) * width / 2
        a = p - 0.5 * u if k == 0 else p
        b = p + d + 0.5 * u if k == len(seg) - 1 else p + d
        piece = Polygon([a - n, b - n, b + n, a + n])
        for i in range(ny):
            for j in range(nx):
                out[i, j] += piece.intersection(box(j - 0.5, i - 0.5, j + 0.5, i + 0.5)).area
    return out


@pytest.mark.parametrize(
    ("ends", "jitter", "width"),
    [
        ((3.2, 4.7, 21.9, 12.3), 0.0, 1.0),  # shallow
        ((5.0, 2.0, 8.0, 24.5), 0.0, 1.0),  # steep: walked along y
        ((2.0, 7.0, 26.0, 7.0), 0.0, 1.0),  # axis-aligned
        ((-4.0, 3.3, 14.1, 20.2), 0.0, 2.5),  # leaves the image, wide
        ((3.0, 5.0, 25.0, 20.0), 1.2, 1.0),  # wavy: pieces
    ],
)
def test_pixel_exact_areas_match_shapely(ends, jitter, width):
    path = streak_path(*ends, jitter_px=jitter, jitter_period_px=12.0)
    area, _ = streak_area((24, 28), path, width=width)
    np.testing.assert_allclose(area, _shapely_areas((24, 28), path, width), atol=1e-9)


def test_render_segments_is_the_sum_of_streaks(rng):
    k = 25
    x0, y0 = rng.uniform(-3, 40, (2, k))
    length, a = rng.exponential(4.0, k), rng.uniform(0, np.pi, k)
    x1, y1 = x0 + length * np.cos(a), y0 + length * np.sin(a)
    flux = rng.uniform(10, 1000, k)
    expected = sum(
        render_streak((36, 40), *e, flux=f) for *e, f in zip(x0, y0, x1, y1, flux, strict=True)
    )
    np.testing.assert_allclose(render_segments((36, 40), x0, y0, x1, y1, flux), expected, atol=1e-9)


def test_point_sources_stamped_or_convolved_agree(monkeypatch, rng):
    from satlab.simulate import optics

    psf = get_preset("cheops").telescope.psf(13.0)
    x = np.r_[rng.uniform(0, 199, 10), -12.3]  # the last one: outside, its wings inside
    y = np.r_[rng.uniform(0, 199, 10), 80.6]
    flux = rng.uniform(1e3, 1e5, 11)
    stamped = np.zeros((200, 200))
    psf.add_points(stamped, x, y, flux)
    monkeypatch.setattr(optics, "_STAMP_LIMIT", 0)
    convolved = np.zeros((200, 200))
    psf.add_points(convolved, x, y, flux)
    np.testing.assert_allclose(stamped, convolved, atol=1e-5 * stamped.max())
    assert stamped[:, :5].sum() > 0  # the off-field star's wings
    inside = np.zeros((200, 200))
    psf.add_points(inside, x[:10], y[:10], flux[:10])
    assert inside.sum() == pytest.approx(flux[:10].sum(), rel=0.02)  # minus edge losses


def test_trail_mask_is_the_disk_of_the_fwhm_around_the_rectangle(rng):
    path = streak_path(10.3, 40.2, 150.7, 95.1)
    mask = streak_mask((120, 170), path, 9.0)
    # brute force: pixel centres within 9/2 + 1/2 px of the segment extended by 1/2 px
    a, b = path[0], path[-1]
    u = (b - a) / np.hypot(*(b - a))
    a, b = a - 0.5 * u, b + 0.5 * u
    yy, xx = np.mgrid[0:120, 0:170]
    t = np.clip(((xx - a[0]) * (b - a)[0] + (yy - a[1]) * (b - a)[1]) / ((b - a) @ (b - a)), 0, 1)
    dist = np.hypot(xx - a[0] - t * (b - a)[0], yy - a[1] - t * (b - a)[1])
    np.testing.assert_array_equal(mask, dist <= 5.0)


def test_photon_conservation_through_the_psf():
    psf = get_preset("cheops").telescope.psf(13.0)
    img = render_streak((200, 200), 60.3, 70.1, 140.8, 120.6, flux=1234.5, exptime=42.0, psf=psf)
    assert img.sum() == pytest.approx(1234.5 * 42.0, rel=1e-3)


def _centroid(img):
    y, x = np.indices(img.shape)
    return (img * x).sum() / img.sum(), (img * y).sum() / img.sum()


def test_subpixel_shift_moves_the_centroid():
    psf = get_preset("evscope1").telescope.psf(3.75)
    a = render_streak((64, 96), 20.0, 30.0, 70.0, 35.0, flux=1.0, psf=psf)
    b = render_streak((64, 96), 20.3, 30.0, 70.3, 35.0, flux=1.0, psf=psf)
    dx = _centroid(b)[0] - _centroid(a)[0]
    assert dx == pytest.approx(0.30, abs=0.02)
    c = render_streak((64, 96), 20.0, 30.3, 70.0, 35.3, flux=1.0, psf=psf)
    assert _centroid(c)[1] - _centroid(a)[1] == pytest.approx(0.30, abs=0.02)


def test_angles_below_the_line_perfect_limit_change_the_image():
    length = 40.0
    tiny = 0.5 * np.arctan(1 / length)  # below arctan(1 / length)
    a = render_streak((60, 60), 30.0, 10.0, 30.0, 10.0 + length, flux=1.0)
    b = render_streak(
        (60, 60), 30.0, 10.0, 30.0 + length * np.sin(tiny), 10.0 + length * np.cos(tiny), flux=1.0
    )
    assert np.abs(a - b).max() > 1e-3


def test_border_crossing_streak_loses_flux_and_outside_streak_raises():
    inside = render_streak((50, 50), -20.0, 25.0, 70.0, 25.0, flux=1.0)
    # 91 px of rectangle, of which x in [-0.5, 49.5] lies inside: 50 of 91
    assert inside.sum() == pytest.approx(50.0 / 91.0, rel=1e-9)
    with pytest.raises(InputError, match="wholly outside"):
        render_streak((50, 50), 60.0, 60.0, 90.0, 70.0, flux=1.0, require_inside=True)
    assert render_streak((50, 50), 60.0, 60.0, 90.0, 70.0, flux=1.0).sum() == 0.0


def test_a_convolved_streak_leaving_the_field_is_as_bright_at_the_edge():
    """Beyond the edge the streak goes on: the PSF carries its light onto the edge
    columns, which hold as much as any other (drawn on the field alone: half)."""
    y, x = np.mgrid[-7:8, -7:8]
    kernel = np.exp(-(x**2 + y**2) / 8.0)
    img = render_streak((40, 60), -50.0, 20.0, 30.0, 20.0, flux=1.0, exptime=80.0, psf=kernel)
    cols = img.sum(axis=0)
    np.testing.assert_allclose(cols[:20], cols[10], rtol=1e-6)  # the end at x = 30 aside
    with pytest.raises(InputError, match="wholly outside"):
        render_streak((50, 50), 60.0, 60.0, 90.0, 70.0, flux=1.0, psf=kernel, require_inside=True)


def test_profile_and_jitter():
    flat = render_streak((40, 80), 5.0, 20.0, 75.0, 20.0, flux=1.0)
    ramp = render_streak((40, 80), 5.0, 20.0, 75.0, 20.0, flux=1.0, profile=lambda s: s)
    assert ramp.sum() == pytest.approx(1.0) and flat.sum() == pytest.approx(1.0)
    assert _centroid(ramp)[0] > _centroid(flat)[0] + 5
    wavy = render_streak(
        (40, 80), 5.0, 20.0, 75.0, 20.0, flux=1.0, jitter_px=2.0, jitter_period_px=20.0
    )
    assert (wavy[17:24].sum(axis=0) > 0).sum() > 60 and (wavy.sum(axis=1) > 0).sum() >= 5
    path = streak_path(0, 0, 40, 0, jitter_px=1.5, jitter_period_px=10)
    assert np.abs(path[:, 1]).max() == pytest.approx(1.5, abs=0.05)
    with pytest.raises(InputError, match="profile"):
        render_streak((40, 80), 5, 20, 75, 20, flux=1.0, profile=[-1.0, 1.0])


@pytest.mark.parametrize("period", [10.0, 30.0, 60.0])
def test_a_jittered_mask_follows_the_centre_line_of_the_light(period):
    """The CHEOPS donut smooths a 2-px wave of the path: the light's centre line across
    the trail is the path the mask follows, to 0.05 px, where the wave itself is off by
    0.4-1.5 px (and nearly gone at 10 px, two thirds kept at 60 px)."""
    from satlab.simulate.simulator import _seen_path

    psf = get_preset("cheops").telescope.psf(13.0)
    a, b = np.array([10.0, 100.0]), np.array([190.0, 130.0])
    jitter = {"jitter_px": 2.0, "jitter_period_px": period, "jitter_phase": 0.7}
    path = streak_path(*a, *b, **jitter)
    m = psf.size
    area, _ = streak_area((200 + 2 * m, 200 + 2 * m), path + m)
    light = psf.convolve(area)[m:-m, m:-m]
    seen = _seen_path(psf, a, b, jitter)
    along = (b - a) / np.hypot(*(b - a))
    across = np.array([-along[1], along[0]])
    yy, xx = np.mgrid[:200, :200]
    rel = np.stack([xx - a[0], yy - a[1]], axis=-1)
    s, v = rel @ along, rel @ across
    off_seen, off_path = [], []
    for s0 in np.arange(60.0, 120.0, 3.0):
        sel = (np.abs(s - s0) < 0.5) & (np.abs(v) < 30)
        centre = (light[sel] * v[sel]).sum() / light[sel].sum()
        for line, out in ((seen, off_seen), (path, off_path)):
            out.append(centre - np.interp(s0, (line - a) @ along, (line - a) @ across))
    assert np.sqrt(np.mean(np.square(off_seen))) < 0.05
    assert np.sqrt(np.mean(np.square(off_path))) > 0.3
    kept = np.ptp(((seen - a) @ across)[5:-5]) / 2 / 2.0
    assert kept == pytest.approx({10.0: 0.03, 30.0: 0.12, 60.0: 0.67}[period], abs=0.05)


# --- optics --------------------------------------------------------------------------------


def test_cheops_donut_radius_and_shape():
    psf = get_preset("cheops").telescope.psf(13.0)
    assert psf.r90_px == pytest.approx(16.5, abs=0.3)
    k = psf.kernel
    c = k.shape[0] // 2
    # a donut: the azimuthal profile peaks on a ring, well away from a darker centre
    y, x = np.indices(k.shape)
    r = np.hypot(x - c, y - c).astype(int)
    profile = np.bincount(r.ravel(), k.ravel()) / np.bincount(r.ravel())
    assert 8 <= np.argmax(profile) <= 18
    assert profile[0] < 0.7 * profile.max()


def test_seeing_fwhm_follows_r0():
    lam = 0.551e-6
    tel = Telescope(diameter=1.0, focal_length=10.0, band="V", mode="seeing", r0=0.1)
    # pixel of 0.2": the seeing disk 0.98 lambda / r0(lambda) is well sampled
    psf = tel.psf(0.2 * 10.0 / 206265 * 1e6)
    r0 = 0.1 * (lam / 0.5e-6) ** 1.2
    expected = 0.98 * lam / r0 * 206265 / 0.2
    assert psf.fwhm_px == pytest.approx(expected, rel=0.15)
    worse = Telescope(diameter=1.0, focal_length=10.0, band="V", mode="seeing", r0=0.05)
    assert worse.psf(0.2 * 10.0 / 206265 * 1e6).fwhm_px > 1.6 * psf.fwhm_px


def test_diffraction_limited_airy_width():
    tel = Telescope(diameter=0.1, focal_length=10.0, band="V", mode="diffraction")
    pix_um = 0.2 * 10.0 / 206265 * 1e6  # 0.2" pixels; lambda / D = 1.14"
    psf = tel.psf(pix_um)
    assert psf.fwhm_px * 0.2 == pytest.approx(1.03 * 0.551e-6 / 0.1 * 206265, rel=0.1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "seeing", "r0": 0.0}, "r0"),
        ({"mode": "seeing", "r0": -1.0}, "r0"),
        ({"band": "Q"}, "band"),
        ({"mode": "lucky"}, "mode"),
        ({"mode": "background"}, "background_psf"),
    ],
)
def test_bad_telescope(kwargs, match):
    with pytest.raises(InputError, match=match):
        Telescope(diameter=0.3, focal_length=2.0, **kwargs)


# --- detector noise chain (seed 002 Fig. 7) -----------------------------------------------


def _flat(det, photons, seed=0):
    return det.expose(np.full(det.shape, float(photons)), np.random.default_rng(seed))


def test_noise_terms_mean_and_variance():
    base = {
        "resolution": (200, 200),
        "pixel_size": 10.0,
        "exposure_time": 10.0,
        "bitdepth": 32,
        "offset": 1000.0,
    }
    # photon noise and QE: Poisson(lambda) x QE -> mean QE lambda, variance QE^2 lambda
    det = Detector(
        **base,
        quantum_efficiency=0.5,
        readout_noise_variance=0.0,
        dark_current=0.0,
        sensitivity=1.0,
    )
    img = _flat(det, 400.0) - 1000.0
    assert img.mean() + 0.5 == pytest.approx(200.0, rel=0.005)  # floor() takes 0.5 on average
    assert img.var() == pytest.approx(0.25 * 400 + 1 / 12, rel=0.04)
    # below poisson_limit photons the draw is exact Poisson: integer photons x QE
    det = Detector(
        **base,
        quantum_efficiency=0.5,
        readout_noise_variance=0.0,
        dark_current=0.0,
        sensitivity=2.0,
    )
    img = _flat(det, 5.0) - 1000.0
    assert set(np.unique(img)) <= set(range(0, 40))
    assert img.mean() == pytest.approx(5.0, rel=0.02)  # 2 ADU/e- x 0.5 e-/ph: integers
    assert img.var() == pytest.approx(5.0, rel=0.04)
    # dark current: Poisson(dark x t)
    det = Detector(
        **base, photon_noise=False, readout_noise_variance=0.0, dark_current=30.0, sensitivity=1.0
    )
    img = _flat(det, 0.0) - 1000.0
    assert img.mean() + 0.5 == pytest.approx(300.0, rel=0.005)
    assert img.var() == pytest.approx(300.0 + 1 / 12, rel=0.04)
    # read noise: normal with the given variance; gain scales the standard deviation
    det = Detector(
        **base, photon_noise=False, readout_noise_variance=49.0, dark_current=0.0, sensitivity=2.0
    )
    img = _flat(det, 0.0) - 1000.0
    assert img.mean() + 0.5 == pytest.approx(0.0, abs=0.25)  # 3.5 standard errors
    assert img.var() == pytest.approx(4 * 49.0 + 1 / 12, rel=0.04)
    assert det.noise_sigma() == pytest.approx(14.0)
    # co-added reads: nexp times the read variance and offset
    det = Detector(
        **base, photon_noise=False, readout_noise_variance=49.0, dark_current=0.0, nexp=4
    )
    img = _flat(det, 0.0)
    assert img.mean() + 0.5 == pytest.approx(4000.0, abs=0.2)
    assert img.var() == pytest.approx(4 * 49.0, rel=0.04)


def test_photon_dark_and_read_noise_in_one_draw():
    # the normal regime: photon, dark and read variance add up (Detector.charge)
    det = Detector(
        resolution=(200, 200),
        pixel_size=10.0,
        exposure_time=10.0,
        bitdepth=32,
        offset=1000.0,
        quantum_efficiency=0.8,
        readout_noise_variance=25.0,
        dark_current=3.0,
        sensitivity=1.0,
    )
    img = _flat(det, 900.0) - 1000.0
    assert img.mean() + 0.5 == pytest.approx(0.8 * 900 + 30.0, rel=0.002)
    assert img.var() == pytest.approx(0.64 * 900 + 30.0 + 25.0 + 1 / 12, rel=0.04)
    assert np.sqrt(img.var()) == pytest.approx(det.noise_sigma(900.0), rel=0.02)


def test_digitisation_bayer_banding_and_hot_pixels():
    det = Detector(
        resolution=(64, 32),
        pixel_size=5.0,
        exposure_time=1.0,
        bitdepth=8,
        offset=10.0,
        readout_noise_variance=0.0,
        dark_current=0.0,
    )
    img = _flat(det, 1e4)
    assert img.max() == 255.0 and np.all(img == np.floor(img))
    det = Detector(
        resolution=(64, 32),
        pixel_size=5.0,
        exposure_time=1.0,
        photon_noise=False,
        readout_noise_variance=0.0,
        dark_current=0.0,
        offset=0.0,
        bayer_order="GRBG",
        white_balance=(2.0, 1.0, 3.0),
    )
    img = _flat(det, 100.0 / 0.8)
    np.testing.assert_allclose(img[:2, :2], [[100.0, 200.0], [300.0, 100.0]])
    det = Detector(
        resolution=(256, 256),
        pixel_size=5.0,
        exposure_time=1.0,
        photon_noise=False,
        readout_noise_variance=0.0,
        dark_current=0.0,
        banding_row=5.0,
        bitdepth=32,
    )
    img = _flat(det, 0.0)
    assert img.mean(axis=1).std() == pytest.approx(5.0, rel=0.15)
    assert img.mean(axis=0).std() < 0.5
    det = Detector(
        resolution=(200, 200),
        pixel_size=5.0,
        exposure_time=10.0,
        dark_current=0.0,
        hot_pixel_fraction=0.01,
        hot_pixel_current=1000.0,
        bitdepth=32,
        readout_noise_variance=1.0,
    )
    img = _flat(det, 0.0)
    hot = img > 5000
    assert hot.mean() == pytest.approx(0.01, rel=0.15)
    assert np.array_equal(hot, _flat(det, 0.0, seed=9) > 5000)  # a fixed pattern


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"exposure_time": -1.0}, "exposure_time"),
        ({"bitdepth": 0}, "bitdepth"),
        ({"bitdepth": 33}, "bitdepth"),
        ({"bayer_order": "RGBX"}, "bayer_order"),
        ({"quantum_efficiency": 1.5}, "quantum_efficiency"),
        ({"readout_noise_variance": -1.0}, "readout_noise_variance"),
    ],
)
def test_bad_detector(kwargs, match):
    args = {"resolution": (10, 10), "pixel_size": 5.0, "exposure_time": 1.0, **kwargs}
    with pytest.raises(InputError, match=match):
        Detector(**args)


def test_gaussian_sigma_fits_the_core(rng):
    v = rng.normal(100.0, 7.0, 40000)
    v[:400] += rng.exponential(500.0, 400)  # stars in the wing do not widen the fit
    assert gaussian_sigma(v) == pytest.approx(7.0, rel=0.03)


# --- labelled frames ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cheops_run():
    return simulate_frames("cheops", 24, seed=7, hard_negative_fraction=1.0)


def test_frames_follow_the_data_model(cheops_run):
    ds = cheops_run
    assert ds["flux"].dims == ("frame", "y", "x") and ds["flux"].dtype == np.float32
    assert ds.sizes["y"] == ds.sizes["x"] == 200
    assert ds.attrs["instrument"] == "CHEOPS" and ds.attrs["pixel_scale"] == pytest.approx(
        1.0, abs=0.01
    )
    assert np.isnan(ds["flux"].values[:, ~ds["valid"].values]).all()
    assert np.isfinite(ds["flux"].values[:, ds["valid"].values]).all()
    assert set(ds["exptime"].values) <= {30.0, 45.0, 60.0}
    assert np.all(np.diff(ds["time"].values) > np.timedelta64(0))
    assert ds["roll"].values.std() > 0
    assert "versions" in ds.attrs["simulation"] and '"seed": 7' in ds.attrs["simulation"]


def test_labels_masks_and_negatives_agree(cheops_run):
    ds = cheops_run
    label = ds["label"].values
    assert 0 < label.sum() < label.size
    np.testing.assert_array_equal(label, ds["trail_mask"].values.any(axis=(1, 2)))
    np.testing.assert_array_equal(np.unique(ds["trail_frame"].values), np.nonzero(label)[0])
    kinds = ds["negative_kind"].values
    assert np.all(kinds[label == 1] == "") and np.all(kinds[label == 0] != "")
    assert set(kinds[label == 0]) <= set(NEGATIVE_KINDS)
    assert not ds["trail_mask"].values[:, ~ds["valid"].values].any()


def test_truth_table_geometry_and_snr(cheops_run):
    ds = cheops_run
    df = truth_table(ds)
    assert list(df.columns[:8]) == ["frame", "x0", "y0", "x1", "y1", "rho", "theta", "width_px"]
    assert df.attrs["units"]["theta"] == "deg" and df.attrs["units"]["flux"] == "ADU"
    th = np.radians(df["theta"])
    for end in ("0", "1"):
        np.testing.assert_allclose(
            df["x" + end] * np.cos(th) + df["y" + end] * np.sin(th), df["rho"], atol=1e-6
        )
    assert ((df["theta"] >= -90) & (df["theta"] < 90)).all()
    np.testing.assert_allclose(df["length_px"], np.hypot(df.x1 - df.x0, df.y1 - df.y0))
    assert (df["length_px"] >= 10 - 1e-6).all()
    # snr_tot / snr_avg is the number of mask pixels (one trail per frame here)
    n_mask = ds["trail_mask"].values[df["frame"]].sum(axis=(1, 2))
    np.testing.assert_allclose(df["snr_tot"] / df["snr_avg"], n_mask, rtol=1e-9)
    # brighter objects (same geometry class) give higher S/N: rank correlation with mag
    assert pd.Series(df["mag"]).corr(np.log(df["snr_avg"]), method="spearman") < -0.3
    # the trail flux is what the object sent during its time in the field
    tel, det = get_preset("cheops").telescope, get_preset("cheops").detector
    expected = tel.photon_rate(df["mag"]) * df["duration_s"] * det.quantum_efficiency * 0.5
    assert np.median(df["flux"] / expected) == pytest.approx(1.0, abs=0.1)


def test_a_trail_leaving_the_image_keeps_its_light_up_to_the_edge():
    """The trail goes on beyond the detector: the PSF carries that light onto the edge
    pixels, so a trail crossing the image from edge to edge has all the flux of its
    in-image length (drawn on the image alone, its ends faded: the 8-px trail across a
    corner here lost 12 %)."""
    p = get_preset("ztf-like")
    ds = simulate_frames(
        p, 20, seed=3, trail_fraction=1.0, jitter_fraction=0.0, variation_fraction=0.0
    )
    t = truth_table(ds)
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    xs, ys = t[["x0", "x1"]].to_numpy(), t[["y0", "y1"]].to_numpy()
    to_edge = np.minimum(np.minimum(xs, nx - 1 - xs), np.minimum(ys, ny - 1 - ys)) < 1
    crossing = to_edge.all(axis=1)
    assert crossing.sum() >= 5
    det = p.detector
    sent = p.telescope.photon_rate(t["mag"]) * t["duration_s"]
    ratio = (t["flux"] / (sent * det.quantum_efficiency * det.sensitivity))[crossing]
    np.testing.assert_allclose(ratio, 1.0, atol=0.03)


def test_truth_records_the_jitter_that_waves_a_trail(tmp_path):
    """``jitter_px`` is the amplitude of the path's wave: 0.3-2 px for a jittered
    trail, 0 for a straight one, whose mask is the stadium around its line; the draw of
    everything else stays the same. A set saved without the column still reads."""
    kw = {"trail_fraction": 1.0, "snr_range": (5.0, 10.0)}
    waved = simulate_frames("cheops", 6, seed=11, jitter_fraction=1.0, **kw)
    straight = simulate_frames("cheops", 6, seed=11, jitter_fraction=0.0, **kw)
    tw, ts = truth_table(waved), truth_table(straight)
    assert ((tw["jitter_px"] >= 0.3) & (tw["jitter_px"] <= 2.0)).all()
    assert (ts["jitter_px"] == 0).all() and tw.attrs["units"]["jitter_px"] == "px"
    np.testing.assert_allclose(tw[["x0", "y0", "x1", "y1"]], ts[["x0", "y0", "x1", "y1"]])
    valid = straight["valid"].values
    for row in ts.itertuples():
        # the visible ends stop at the footprint's edge, the path runs on: compare inside
        inner = edge_distance(valid) > 3
        line = np.array([[row.x0, row.y0], [row.x1, row.y1]])
        stadium = streak_mask(valid.shape, line, 24.4) & inner
        assert (stadium == (straight["trail_mask"].values[row.frame] & inner)).mean() > 0.999
        # the mask follows the wave only as the PSF smooths it: fewer pixels move than a
        # 2-px wave would move on both sides
        moved = stadium != (waved["trail_mask"].values[row.frame] & inner)
        assert moved.sum() < 2 * 2.0 * tw.loc[row.Index, "length_px"]
    old = waved.drop_vars("jitter_px")
    old.to_netcdf(tmp_path / "old.nc")
    assert truth_table(xr.open_dataset(tmp_path / "old.nc"))["jitter_px"].isna().all()


def test_bright_trails_stand_out_in_the_pixels(cheops_run):
    ds = cheops_run
    df = truth_table(ds)
    for row in df[df["snr_avg"] > 5].itertuples():
        flux = ds["flux"].values[row.frame]
        mask = ds["trail_mask"].values[row.frame]
        sky = np.nanmedian(flux[~mask & ds["valid"].values])
        assert np.median(flux[mask]) - sky > 2 * row.snr_avg / 5 * gaussian_sigma(
            flux[~mask & ds["valid"].values]
        )


def test_determinism_by_seed():
    a = simulate_frames("cheops", 3, seed=11, hard_negative_fraction=0.5)
    b = simulate_frames("cheops", 3, seed=11, hard_negative_fraction=0.5)
    c = simulate_frames("cheops", 3, seed=12, hard_negative_fraction=0.5)
    np.testing.assert_array_equal(a["flux"].values, b["flux"].values)
    pd.testing.assert_frame_equal(truth_table(a), truth_table(b))
    assert not np.array_equal(a["flux"].values, c["flux"].values, equal_nan=True)


def test_trail_brightness_drawn_from_snr():
    ds = simulate_frames("cheops", 24, seed=5, trail_fraction=1.0, snr_range=(2.0, 2.0))
    t = truth_table(ds)
    # drawn against the expected noise, measured against the fitted sigma_bg (docstring)
    assert len(t) == 24 and np.all((t["snr_avg"] > 1.3) & (t["snr_avg"] <= 2.0))
    assert 1.6 < t["snr_avg"].median() < 2.0
    # the magnitude is the one that gives that S/N: fainter for slower (denser) trails
    assert np.corrcoef(t["mag"], np.log(t["rate_arcsec_s"]))[0, 1] < -0.5


def test_column_fraction_draws_trails_along_the_detector_columns():
    ds = simulate_frames("cheops", 24, seed=5, trail_fraction=1.0, column_fraction=1.0)
    t = truth_table(ds)
    # theta is the normal's angle: a trail along y (the columns) has theta near 0
    assert len(t) == 24 and np.all(np.abs(t["theta"]) <= COLUMN_DEG + 1e-6)
    assert np.abs(t["theta"]).max() > COLUMN_DEG / 2  # spread over the range, not all at 0
    # fraction 0 makes no draw: the frames of a set made before the option are unchanged
    plain = simulate_frames("cheops", 3, seed=11, hard_negative_fraction=0.5)
    same = simulate_frames("cheops", 3, seed=11, hard_negative_fraction=0.5, column_fraction=0.0)
    np.testing.assert_array_equal(plain["flux"].values, same["flux"].values)
    half = simulate_frames("cheops", 60, seed=6, trail_fraction=1.0, column_fraction=0.5)
    half = truth_table(half)
    # half drawn near the columns plus 10/90 of the uniform half
    assert 0.4 < (np.abs(half["theta"]) <= COLUMN_DEG).mean() < 0.75


def test_no_trails_gives_an_empty_typed_table():
    ds = simulate_frames("cheops", 2, seed=1, trail_fraction=0.0)
    assert ds["label"].values.sum() == 0 and ds.sizes["trail"] == 0
    with pytest.warns(SatlabWarning, match="no simulated trail"):
        df = truth_table(ds)
    assert df.empty and df["x0"].dtype == np.float64 and "snr_tot" in df


def test_truth_table_of_selected_frames_lists_their_trails_only():
    ds = simulate_frames("cheops", 4, seed=1, trail_fraction=1.0)
    full = truth_table(ds)
    assert list(full["frame"]) == [0, 1, 2, 3]
    one = truth_table(ds.isel(frame=[2]))
    pd.testing.assert_frame_equal(one, full[full["frame"] == 2].reset_index(drop=True))
    assert list(truth_table(ds.sel(frame=[3, 1]))["frame"]) == [1, 3]
    with pytest.warns(SatlabWarning, match="no simulated trail"):
        assert truth_table(ds.isel(frame=slice(0, 0))).empty


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"preset": "hubble"}, "preset"),
        ({"trail_fraction": 1.5}, "trail_fraction"),
        ({"column_fraction": -0.1}, "column_fraction"),
        ({"negative_kinds": ["ufo"]}, "negative_kinds"),
        ({"mag_range": (10, 5)}, "mag_range"),
        ({"rate_range": (0, 5)}, "rate_range"),
        ({"snr_range": (3, 1)}, "snr_range"),
        ({"snr_range": (0, 1)}, "snr_range"),
        ({"n": 0}, "n:"),
    ],
)
def test_bad_simulation_parameters(kwargs, match):
    kwargs = {"preset": "cheops", "n": 1, **kwargs}
    with pytest.raises(InputError, match=match):
        simulate_frames(kwargs.pop("preset"), kwargs.pop("n"), seed=0, **kwargs)


# --- hard negatives and presets ------------------------------------------------------------


def _negative(kind, seed=21):
    ds = simulate_frames(
        "cheops",
        1,
        seed=seed,
        trail_fraction=0.0,
        hard_negative_fraction=1.0,
        negative_kinds=[kind],
    )
    assert ds["negative_kind"].values[0] == kind and ds["label"].values[0] == 0
    return ds


def _isolated_outliers(img, sigma):
    """Pixels 8 sigma above their 5x5 median, in sky regions (not on stars)."""
    from scipy.ndimage import median_filter

    f = np.nan_to_num(img, nan=np.nanmedian(img))
    m = median_filter(f, 5)
    return int((((f - m) > 8 * sigma) & (m < np.median(f) + 3 * sigma)).sum())


def test_hard_negatives_leave_their_signature():
    clean = simulate_frames("cheops", 1, seed=21, trail_fraction=0.0)
    base = clean["flux"].values[0]
    sigma = gaussian_sigma(base)
    assert _isolated_outliers(base, sigma) < 15  # the sensor's few fixed hot pixels
    crowded = _negative("crowded")
    assert crowded["n_stars"].values[0] > 3 * clean["n_stars"].values[0]
    for kind in ("cosmic_rays", "hot_pixels"):
        assert _isolated_outliers(_negative(kind)["flux"].values[0], sigma) > 25, kind
    for kind in ("stray_light", "earth_limb"):
        img = _negative(kind)["flux"].values[0]
        halves = [
            np.nanmedian(img[:, :100]),
            np.nanmedian(img[:, 100:]),
            np.nanmedian(img[:100]),
            np.nanmedian(img[100:]),
        ]
        spread = max(abs(halves[0] - halves[1]), abs(halves[2] - halves[3]))
        assert spread > 3 * sigma, kind

    def column_excess(img):
        # rows above and below the target star; columns inside the crop
        cols = np.nanmedian(np.concatenate([img[10:50], img[150:190]])[:, 20:180], axis=0)
        return (cols.max() - np.median(cols)) / sigma

    assert column_excess(base) < 2
    assert column_excess(_negative("readout_smear")["flux"].values[0]) > 5


@pytest.mark.parametrize(
    "name, shape, scale",
    [
        ("cheops", (200, 200), 1.0),
        ("evscope1", (496, 664), 1.72),
        ("geo-sensor", (512, 512), 1.92),
        ("ztf-like", (256, 256), 1.01),
    ],
)
def test_presets(name, shape, scale):
    p = get_preset(name)
    assert p.shape == shape and p.pixel_scale == pytest.approx(scale, abs=0.01)
    ds = simulate_frames(name, 1, seed=3, trail_fraction=1.0)
    assert ds["flux"].shape == (1, *shape) and ds["label"].values[0] == 1


def test_evscope2_bayer_mosaic_and_geo_sensor_near_points():
    p = get_preset("evscope2")
    assert p.shape == (768, 1032) and p.detector.bayer_order == "RGGB"
    assert p.exptimes == (0.15,)
    img = simulate_frames("evscope2", 1, seed=4, trail_fraction=0.0)["flux"].values[0]
    # white balance (R 1.9, G 1.0, B 1.6): the red sites of RGGB read highest
    r, g, b = np.median(img[0::2, 0::2]), np.median(img[0::2, 1::2]), np.median(img[1::2, 1::2])
    assert r > b > g
    geo = truth_table(simulate_frames("geo-sensor", 2, seed=5, trail_fraction=1.0))
    assert (geo["length_px"] < 3).all()  # the mount tracks the GEO object: a near point


def test_mag_visible_is_the_brightness_of_the_visible_part():
    """A tumbling trail's signal in the frame follows mag_visible, not the exposure mean."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)
        ds = simulate_frames("cheops", 12, seed=5, trail_fraction=1.0, variation_fraction=1.0)
    t = truth_table(ds)
    # flux [ADU] per second on the detector, in units of the magnitude's photon rate
    seen = t["flux"] / (10 ** (-0.4 * t["mag_visible"]) * t["duration_s"])
    mean = t["flux"] / (10 ** (-0.4 * t["mag"]) * t["duration_s"])
    seen, mean = seen / seen.median(), mean / mean.median()
    # the few per cent left are PSF wings beyond the circular footprint
    assert np.median(np.abs(seen - 1)) < 0.01 and np.abs(seen - 1).max() < 0.07
    assert np.median(np.abs(mean - 1)) > 0.03
    steady = simulate_frames("cheops", 3, seed=5, trail_fraction=1.0, variation_fraction=0.0)
    np.testing.assert_array_equal(steady["mag_visible"].values, steady["mag"].values)
