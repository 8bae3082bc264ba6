"""Trail parameters from masks (satlab.lines) and the classic Hough / Radon detectors."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from satlab.errors import InputError, SatlabWarning
from satlab.frames import circular_footprint
from satlab.lines import (
    TRAIL_COLUMNS,
    edge_distance,
    fit_segment,
    line_from_points,
    merge_collinear,
    refine,
    trail_footprint,
    trail_table,
    trails,
    trails_from_mask,
)

SHAPE = (200, 200)
YY, XX = np.mgrid[: SHAPE[0], : SHAPE[1]]


def strip(x0, y0, x1, y1, width):
    """Mask of a segment widened by width / 2 all round (a capsule)."""
    d = np.array([x1 - x0, y1 - y0], float)
    length = np.hypot(*d)
    d /= length
    t = (XX - x0) * d[0] + (YY - y0) * d[1]
    u = -(XX - x0) * d[1] + (YY - y0) * d[0]
    return (np.abs(u) <= width / 2) & (t >= -width / 2) & (t <= length + width / 2)


def gaussian_trail(x0, y0, x1, y1, amplitude, sigma=5.0):
    d = np.array([x1 - x0, y1 - y0], float)
    length = np.hypot(*d)
    d /= length
    t = (XX - x0) * d[0] + (YY - y0) * d[1]
    u = -(XX - x0) * d[1] + (YY - y0) * d[0]
    along = np.clip(np.minimum(t + 0.5, length - t + 0.5), 0, 1)
    return amplitude * np.exp(-0.5 * (u / sigma) ** 2) * along


def star(x, y, amplitude, sigma=6.0):
    return amplitude * np.exp(-0.5 * ((XX - x) ** 2 + (YY - y) ** 2) / sigma**2)


def angle_diff(a, b):
    return abs((a - b + 90.0) % 180.0 - 90.0)


def assert_segment(row, x0, y0, x1, y1, *, pos_px, angle_deg):
    _, theta = line_from_points(x0, y0, x1, y1)
    assert angle_diff(row.theta, theta) < angle_deg
    ends = {(row.x0, row.y0), (row.x1, row.y1)}
    for ex, ey in ((x0, y0), (x1, y1)):
        assert min(np.hypot(ex - a, ey - b) for a, b in ends) < pos_px
    assert -90.0 <= row.theta < 90.0
    th = np.radians(row.theta)
    for ex, ey in ((row.x0, row.y0), (row.x1, row.y1)):
        assert abs(ex * np.cos(th) + ey * np.sin(th) - row.rho) < 1e-6


# --- the convention -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "rho", "theta"),
    [
        ((0, 50, 199, 50), -50.0, -90.0),  # horizontal row y = 50: normal along -y
        ((30, 0, 30, 199), 30.0, 0.0),  # vertical column x = 30
        ((0, 0, 100, 100), 0.0, -45.0),
    ],
)
def test_line_from_points_convention(p, rho, theta):
    r, t = line_from_points(*p)
    assert r == pytest.approx(rho, abs=1e-9)
    assert t == pytest.approx(theta, abs=1e-9)


def test_convention_matches_skimage_hough():
    from skimage.draw import line
    from skimage.transform import hough_line, hough_line_peaks

    img = np.zeros(SHAPE, bool)
    rr, cc = line(170, 20, 30, 180)  # (row, col) from (x=20, y=170) to (x=180, y=30)
    img[rr, cc] = True
    _, th, d = hough_line_peaks(*hough_line(img, theta=np.radians(np.arange(-90, 90, 0.25))))
    rho, theta = line_from_points(20, 170, 180, 30)
    assert np.degrees(th[0]) == pytest.approx(theta, abs=0.3)
    assert d[0] == pytest.approx(rho, abs=1.0)


def test_line_from_points_rejects_a_point():
    with pytest.raises(InputError, match="coincide"):
        line_from_points(3, 4, 3, 4)


# --- masks -> trails ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seg",
    [(30, 40, 170, 120), (100, 20, 104, 180), (20, 100, 180, 100), (170, 30, 40, 160)],
)
def test_mask_strip_parameters(seg):
    width = 12.0
    df = trails_from_mask(strip(*seg, width))
    assert len(df) == 1
    row = df.iloc[0]
    assert_segment(row, *seg, pos_px=2.0, angle_deg=0.5)
    assert row.width_px == pytest.approx(width, abs=1.5)
    assert row.length_px == pytest.approx(np.hypot(seg[2] - seg[0], seg[3] - seg[1]), abs=3)
    assert row.score == 1.0


def test_fragments_and_a_touching_star_give_one_trail():
    seg = (30, 40, 170, 120)
    m = strip(*seg, 12)
    m[:, 80:95] = False  # two gaps: three fragments
    m[:, 120:128] = False
    m |= (XX - 100) ** 2 + (YY - 62) ** 2 < 14**2  # a star blob touching the trail
    df = trails_from_mask(m)
    assert len(df) == 1
    assert_segment(df.iloc[0], *seg, pos_px=3.0, angle_deg=1.0)


def test_slivers_along_a_wide_trail_are_part_of_it():
    # a threshold can leave a wide trail as its core plus thin, slightly tilted slivers
    # along its edges, apart from it (seen on UNet masks of CHEOPS trails: a 160 px core,
    # 30 px slivers 14 px off its line, 4 degrees off its angle)
    seg = np.array([20.0, 60.0, 180.0, 120.0])
    d = (seg[2:] - seg[:2]) / np.hypot(*(seg[2:] - seg[:2]))
    n = np.array([-d[1], d[0]])
    m = strip(*seg, 18)
    for t, side in ((50.0, 1.0), (100.0, -1.0)):
        a = seg[:2] + t * d + side * 13.0 * n
        b = a + 35.0 * d + side * 35.0 * np.tan(np.radians(4.0)) * n
        m |= strip(*a, *b, 2)
    assert len(trails_from_mask(m, min_length_px=0, min_elongation=0)) == 1
    # a short trail crossing at a large angle is no sliver
    m |= strip(95, 40, 105, 140, 4)
    assert len(trails_from_mask(m)) == 2


def test_halves_of_a_trail_around_a_gap_are_one_trail():
    # a bright star in the middle cuts a wide trail in two; each half's fitted angle is
    # a few degrees off (seen on the sample archive: 78 px halves, 7 degrees apart)
    m = strip(60, 10, 88, 85, 22) | strip(99, 120, 117, 195, 22)
    df = trails_from_mask(m)
    assert len(df) == 1
    assert df.iloc[0].length_px > 170


def test_hysteresis_keeps_a_faint_trail_whole():
    # a faint trail's probability sags below 0.5 except over a confident stretch
    seg = (20, 40, 180, 140)
    prob = np.where(strip(*seg, 10), 0.35, 0.02)
    prob[strip(80, 77.5, 110, 96.25, 10)] = 0.9
    assert trails_from_mask(prob).length_px.max() < 45  # the confident stretch only
    df = trails_from_mask(prob, low=0.3)
    assert len(df) == 1
    assert_segment(df.iloc[0], *seg, pos_px=3.0, angle_deg=1.0)
    with pytest.warns(SatlabWarning, match="no elongated"):  # no confident core: nothing
        assert len(trails_from_mask(np.where(prob > 0.5, 0.4, prob), low=0.3)) == 0
    with pytest.raises(InputError, match="low"):
        trails_from_mask(prob, low=0.6)


def test_two_crossing_trails_and_probabilities():
    a, b = (20, 30, 180, 60), (60, 180, 140, 10)
    prob = np.where(strip(*a, 10), 0.9, 0.05) + np.where(strip(*b, 10), 0.7, 0.0)
    df = trails_from_mask(np.clip(prob, 0, 1))
    assert len(df) == 2
    assert sorted(df.theta.round(0)) == sorted(round(line_from_points(*s)[1]) for s in (a, b))
    assert df.score.between(0.7, 1.0).all()


def test_trail_leaving_the_image_keeps_the_edge_endpoint():
    df = trails_from_mask(strip(-40, 100, 120, 60, 10))
    row = df.iloc[0]
    assert min(row.x0, row.x1) == pytest.approx(0.0, abs=1.0)
    assert max(row.x0, row.x1) == pytest.approx(120.0, abs=2.0)


def test_trail_cut_by_the_footprint_ends_on_its_edge():
    valid = circular_footprint(SHAPE)
    mask = strip(0, 0, 150, 150, 12) & valid  # enters through the circle near (29, 29)
    entry = 99.5 - 100.0 / np.sqrt(2.0)

    def start(row):
        return min(row.x0, row.x1)

    assert start(trails_from_mask(mask, valid=valid).iloc[0]) == pytest.approx(entry, abs=1.5)
    # without the footprint the cut end reads as a rounded one: half a width inwards
    blind = start(trails_from_mask(mask).iloc[0])
    assert blind == pytest.approx(entry + 6.0 / np.sqrt(2.0), abs=1.5)
    with pytest.raises(InputError, match="valid"):
        trails_from_mask(mask, valid=valid[:10])


def test_frames_keep_their_coordinate_and_blobs_are_dropped():
    cube = np.zeros((3, *SHAPE), np.float32)
    cube[0] = strip(30, 40, 170, 120, 8)
    cube[1] = (XX - 100) ** 2 + (YY - 100) ** 2 < 20**2  # a round blob: not a trail
    cube[2] = strip(10, 10, 190, 190, 8)
    cube[2, 5, 5] = np.nan
    da = xr.DataArray(cube, dims=("frame", "y", "x"), coords={"frame": [10, 11, 12]})
    df = trails_from_mask(da.rename("trail_prob").to_dataset())
    assert list(df.frame) == [10, 12]
    assert df.attrs["units"]["theta"] == "deg"
    assert df.attrs["params"]["threshold"] == 0.5


def test_empty_result_is_typed_and_warns():
    with pytest.warns(SatlabWarning, match="no trail found"):
        df = trails_from_mask(np.zeros((2, 50, 60)))
    assert list(df.columns) == list(TRAIL_COLUMNS)
    assert len(df) == 0
    assert df["rho"].dtype == np.float64 and df["frame"].dtype == np.int64
    assert df.attrs["units"]["rho"] == "px"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
    ],
)
def test_bad_threshold(kwargs, match):
    with pytest.raises(InputError, match=match):
        trails_from_mask(np.zeros(SHAPE), **kwargs)


def test_bad_probability_shapes():
    with pytest.raises(InputError, match=r"\(frame, y, x\)"):
        trails_from_mask(np.zeros((2, 3, 4, 5)))
    with pytest.raises(InputError, match="trail_prob"):
        trails_from_mask(xr.Dataset({"p": (("y", "x"), np.zeros((4, 4)))}))
    with pytest.raises(InputError, match="dims"):
        trails_from_mask(xr.DataArray(np.zeros((2, 4, 4)), dims=("t", "y", "x")))


# --- trails(): dispatch and the classic detectors --------------------------------------------


def noisy_frames(rng, n, *, trails_=(), stars=((100, 100, 3000.0),), noise=10.0):
    cube = 100.0 + rng.normal(0, noise, (n, *SHAPE))
    for k, seg, amp in trails_:
        cube[k] += gaussian_trail(*seg, amp)
    for x, y, amp in stars:
        cube += star(x, y, amp)
    return xr.Dataset(
        {"flux": (("frame", "y", "x"), cube.astype(np.float32))},
        coords={"frame": np.arange(n)},
    ).assign(valid=(("y", "x"), circular_footprint(SHAPE)))


@pytest.mark.parametrize("method", ["hough", "radon"])
def test_classic_detectors_find_a_clear_trail(rng, method):
    seg = (30, 60, 170, 150)
    frames = noisy_frames(rng, 2, trails_=[(1, seg, 15.0)])
    df = trails(frames, method=method)
    assert list(df.frame) == [1]
    row = df.iloc[0]
    assert_segment(row, *seg, pos_px=12.0, angle_deg=2.0)
    assert 5.0 < row.width_px < 25.0
    assert df.attrs["method"] == method and (df.method == method).all()


@pytest.mark.parametrize("method", ["hough", "radon"])
def test_classic_detectors_see_no_trail_in_noise_and_stars(rng, method):
    stars = [(100, 100, 3000.0), (60, 140, 400.0), (150, 50, 150.0)]
    frames = noisy_frames(rng, 3, stars=stars)
    with pytest.warns(SatlabWarning, match="no trail found"):
        df = trails(frames, method=method)
    assert df.empty and list(df.columns) == list(TRAIL_COLUMNS)


def test_radon_bridges_a_trail_behind_a_masked_star(rng):
    seg = (20, 100, 180, 100)  # passes through the star at (100, 100)
    frames = noisy_frames(rng, 1, trails_=[(0, seg, 15.0)])
    df = trails(frames, method="radon")
    assert len(df) == 1
    assert_segment(df.iloc[0], *seg, pos_px=12.0, angle_deg=2.0)


def test_unet_method_takes_a_probability_and_rejects_classic_on_it():
    prob = xr.DataArray(strip(30, 40, 170, 120, 10).astype(np.float32)[None], name="trail_prob")
    prob = prob.rename({"dim_0": "frame", "dim_1": "y", "dim_2": "x"})
    assert len(trails(prob)) == 1
    with pytest.raises(InputError, match="expected frames"):
        trails(prob, method="hough")
    with pytest.raises(InputError, match="method"):
        trails(prob, method="sobel")


def test_findsat_without_acstools_names_the_package():
    pytest.importorskip("skimage")
    try:
        import acstools  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="acstools"):
            trails(np.zeros(SHAPE, np.float32), method="findsat")
    else:
        assert isinstance(trails(np.zeros(SHAPE, np.float32), method="findsat"), pd.DataFrame)


def test_column_parallel_lines_are_readout_smear_unless_asked(rng):
    seg = (100.4, 20, 100.4, 180)  # along a pixel column, like CHEOPS readout smear
    frames = noisy_frames(rng, 1, trails_=[(0, seg, 15.0)], stars=())
    with pytest.warns(SatlabWarning, match="no trail found"):
        assert trails(frames, method="hough").empty
    kept = trails(frames, method="hough", reject_column_deg=None)
    assert len(kept) == 1 and abs(kept.theta.iloc[0]) < 1.0


@pytest.mark.parametrize("method", ["hough", "radon"])
def test_stars_cut_by_the_edge_or_touching_are_not_trails(rng, method):
    stars = [
        (100, 100, 3000.0),
        (118, 112, 1500.0),  # touching the target: one source, two cores
        (172, 32, 3000.0),  # centre just outside the circular footprint: a bright chord
        (24, 160, 800.0),
    ]
    frames = noisy_frames(rng, 2, stars=stars)
    with pytest.warns(SatlabWarning, match="no trail found"):
        assert trails(frames, method=method).empty


@pytest.mark.slow
def test_truth_masks_of_the_simulator_give_its_truth_table():
    # the simulator's truth follows the same convention: perfect masks must give it back
    from satlab.metrics import match_trails
    from satlab.simulate import simulate_frames, truth_table

    ds = simulate_frames("cheops", 40, seed=424242, trail_fraction=0.8)
    truth = truth_table(ds)
    found = trails_from_mask(ds["trail_mask"], valid=ds["valid"].values)
    m = match_trails(found, truth)
    assert m.detected.mean() >= 0.9
    got = found.loc[m.loc[m.detected, "match"]].reset_index(drop=True)
    ref = m[m.detected].reset_index(drop=True)
    assert np.median(angle_diff(got.theta, ref.theta)) < 0.2
    assert np.median(np.abs(got.rho - ref.rho)) < 1.0
    ends = np.minimum(
        np.hypot(got.x0 - ref.x0, got.y0 - ref.y0) + np.hypot(got.x1 - ref.x1, got.y1 - ref.y1),
        np.hypot(got.x0 - ref.x1, got.y0 - ref.y1) + np.hypot(got.x1 - ref.x0, got.y1 - ref.y0),
    )
    assert np.median(ends / 2) < 5.0
    assert np.median(got.width_px) == pytest.approx(np.median(ref.width_px), rel=0.15)


def _band(shape, x0, y0, x1, y1):
    """Distance [px] of every pixel to the segment (x0, y0)-(x1, y1)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    a, b = np.array([x0, y0], float), np.array([x1, y1], float)
    ab = b - a
    s = np.clip(((xx - a[0]) * ab[0] + (yy - a[1]) * ab[1]) / (ab @ ab), 0, 1)
    return np.hypot(xx - a[0] - s * ab[0], yy - a[1] - s * ab[1])


def _table(rows):
    return pd.DataFrame(
        [{"rho": 0.0, "theta": 0.0, "length_px": 1.0, "method": "test", **r} for r in rows]
    )


def test_footprint_draws_each_trail_as_a_stadium_of_its_width():
    like = xr.DataArray(np.zeros((2, 40, 80)), dims=("frame", "y", "x"), coords={"frame": [7, 9]})
    table = _table([
        {"frame": 9, "x0": 10.0, "y0": 20.0, "x1": 60.0, "y1": 20.0, "width_px": 8.0, "score": 0.9},
        {"frame": 9, "x0": 70.0, "y0": 0.0, "x1": 70.0, "y1": 39.0, "width_px": 4.0, "score": 0.5},
    ])  # fmt: skip
    foot = trail_footprint(table, like, soft_px=0.5)
    assert foot.name == "trail_footprint" and foot.dims == ("frame", "y", "x")
    assert list(foot["frame"].values) == [7, 9] and foot.dtype == np.float32
    assert not foot.sel(frame=7).any()
    f = foot.sel(frame=9).values
    assert f[20, 30] == pytest.approx(0.9, abs=1e-3)  # on the line
    assert f[24, 30] == pytest.approx(0.45, abs=1e-6)  # half a width away: the edge
    assert f[26, 30] < 0.9 * 0.02  # 2 px outside
    assert f[20, 64] == pytest.approx(0.45, abs=1e-6)  # round cap beyond the end
    assert f[20, 72] == pytest.approx(0.25, abs=1e-6)  # the thinner, fainter trail's edge
    assert f[20, 66] < 0.02
    expected = np.maximum(
        0.9 / (1 + np.exp(-(4 - _band((40, 80), 10, 20, 60, 20)) / 0.5)),
        0.5 / (1 + np.exp(-(2 - _band((40, 80), 70, 0, 70, 39)) / 0.5)),
    )
    np.testing.assert_allclose(f, expected, atol=2e-3)  # 0 beyond each box's 5-px margin


def test_footprint_fades_towards_an_end_given_its_soft_width():
    from scipy.special import expit

    like = xr.DataArray(np.zeros((1, 40, 80)), dims=("frame", "y", "x"))
    row = {"frame": 0, "x0": 10.0, "y0": 20.0, "x1": 60.0, "y1": 20.0, "width_px": 8.0}
    sharp = trail_footprint(_table([{**row, "score": 0.8}]), like).values[0]
    faded = trail_footprint(_table([{**row, "score": 0.8, "end1_soft_px": 5.0}]), like)
    f = faded.values[0]
    # towards (x1, y1) the band is the stadium times logistic(distance inside the end / 5)
    for x in (40, 50, 55, 60, 63):
        assert f[20, x] == pytest.approx(sharp[20, x] * expit((60 - x) / 5.0), rel=1e-5)
    assert f[20, 60] == pytest.approx(0.4, rel=1e-3)  # half the score at the end itself
    np.testing.assert_allclose(f[:, :20], sharp[:, :20], rtol=1e-3)  # the other end: its cap
    same = trail_footprint(_table([{**row, "score": 0.8, "end0_soft_px": np.nan}]), like)
    np.testing.assert_array_equal(same.values[0], sharp)


_ELSEWHERE = _table(
    [{"frame": 3, "x0": 1.0, "y0": 1.0, "x1": 9.0, "y1": 9.0, "width_px": 2.0, "score": 1.0}]
)


@pytest.mark.parametrize(
    ("table", "kwargs", "match"),
    [
        (_ELSEWHERE, {}, r"frame\(s\) \[3\]"),
        (pd.DataFrame({"frame": [0]}), {}, "missing.*score"),
        (trail_table([], method="test"), {"soft_px": 0.0}, "soft_px"),
        (_ELSEWHERE.assign(frame=0, soft_px=0.0), {}, "column soft_px"),
        (_ELSEWHERE.assign(frame=0, end1_soft_px=-1.0), {}, "column end1_soft_px"),
        (_ELSEWHERE.assign(frame=0, end0_soft_px=np.inf), {}, "column end0_soft_px"),
    ],
)
def test_footprint_bad_input(table, kwargs, match):
    like = xr.DataArray(np.zeros((1, 10, 10)), dims=("frame", "y", "x"))
    with pytest.raises(InputError, match=match):
        trail_footprint(table, like, **kwargs)


def test_refine_sharpens_a_blurred_band_edge(rng):
    """A probability whose band edge wanders by up to 2 px along the trail (as a
    network's does at low S/N): the band drawn from the fitted line puts it back."""
    from scipy.ndimage import gaussian_filter1d

    from satlab.metrics import pixel_metrics

    d = np.stack([_band((120, 160), 15, 30, 145, 95), _band((120, 160), 20, 100, 140, 10)])
    mask = d <= 6.0
    wander = 2.0 * np.tanh(gaussian_filter1d(rng.normal(0, 6, (2, 1, 160)), 8, axis=-1))
    prob = 1 / (1 + np.exp(-(6.0 + wander - d) / 0.7))
    prob = xr.DataArray(prob.astype(np.float32), dims=("frame", "y", "x"))
    prob.values[1, :5, :5] = np.nan
    refined = refine(prob.rename("trail_prob"))
    assert refined.name == "trail_prob" and refined.attrs["refine_weight"] == 0.5
    assert np.isnan(refined.values[1, :5, :5]).all()
    before = pixel_metrics(mask, prob.values)
    after = pixel_metrics(mask, refined.values)
    assert after["precision_at_recall"] > before["precision_at_recall"] + 0.035
    assert after["precision_at_recall"] > 0.975
    assert after["tpr_at_fp_per_frame"] > before["tpr_at_fp_per_frame"] + 0.08
    assert after["roc_auc"] > before["roc_auc"]
    # the given table is used as is: no trail leaves (1 - weight) * prob
    none = refine(prob, trail_table([], method="test"), weight=0.25)
    np.testing.assert_allclose(none.values, 0.75 * prob.values, rtol=1e-6)
    with pytest.raises(InputError, match="weight"):
        refine(prob, weight=1.5)
    with pytest.raises(InputError, match=r"missing \['width_px'\]"):
        refine(prob, trail_table([], method="test").drop(columns="width_px"))


def _straight_trails(n, *, seed, **kw):
    """CHEOPS frames of one straight, uniform trail each (no jitter, no tumbling)."""
    from satlab.simulate import simulate_frames

    opts = dict(trail_fraction=1.0, hard_negative_fraction=0.0, jitter_fraction=0.0)
    return simulate_frames("cheops", n, seed=seed, variation_fraction=0.0, **opts, **kw)


def test_refine_on_image_puts_a_misplaced_band_back_on_the_trail():
    """A probability whose band sits 1.5 px beside the trail: the line measured on the
    frames moves the band back, which the probability alone cannot."""
    from scipy.special import expit

    from satlab.simulate import truth_table

    ds = _straight_trails(2, seed=21, snr_range=(15.0, 25.0), truncation_fraction=0.0)
    mask, valid = ds["trail_mask"].values, ds["valid"].values
    prob = np.full(mask.shape, np.nan, np.float32)
    for t in truth_table(ds).itertuples():
        normal = np.array([np.cos(np.radians(t.theta)), np.sin(np.radians(t.theta))])
        x0, y0 = np.array([t.x0, t.y0]) + 1.5 * normal
        x1, y1 = np.array([t.x1, t.y1]) + 1.5 * normal
        d = _band(mask.shape[1:], x0, y0, x1, y1)
        prob[int(t.frame)][valid] = expit(((t.width_px + 1) / 2 - d) / 0.7)[valid]
    prob = xr.DataArray(prob, dims=("frame", "y", "x"), coords={"frame": ds["frame"]})

    def iou(p):
        band = p.values >= 0.5
        return (band & mask).sum() / (band | mask).sum()

    alone = refine(prob, weight=1.0)
    # bands as wide as the mask (the PSF FWHM + the 1-px streak), to compare lines only
    on_image = refine(prob, frames=ds, weight=1.0, width_px=truth_table(ds)["width_px"][0] + 1)
    assert alone.attrs["refine_on_image"] == 0 and on_image.attrs["refine_on_image"] == 1
    assert iou(alone) < 0.93  # 0.914: the fitted line follows the band
    assert iou(on_image) > 0.98  # 0.989 (0.978 before bands were narrowed by line errors)
    # by default the bands are as wide as the CHEOPS PSF's FWHM, the mask's 0.5 px inside,
    # less twice the line's error
    default = refine(prob, frames=ds, weight=1.0)
    assert default.attrs["refine_width_px"] == pytest.approx(24.4, abs=0.01)
    assert 0.94 < iou(default) < iou(on_image)  # 0.950
    # frames with nothing to fit change no line: a failed fit keeps the network's band
    blank = ds.assign(flux=ds["flux"] * np.nan)
    same = refine(prob, frames=blank, weight=1.0)
    width = default.attrs["refine_width_px"]
    np.testing.assert_array_equal(same.values, refine(prob, weight=1.0, width_px=width).values)
    with pytest.raises(InputError, match="frames: expected the frames of prob"):
        refine(prob, frames=ds.isel(x=slice(0, 100)))


def test_refine_on_image_ends_a_band_drawn_on_to_the_edge():
    """A network that draws a bright trail on past its end to the frame's edge (the UNet
    does so now and then): the fit on the image finds the end and the band stops there."""
    from scipy.special import expit

    from satlab.lines import edge_distance
    from satlab.simulate import truth_table

    for seed in (21, 28):
        ds = _straight_trails(1, seed=seed, snr_range=(10.0, 20.0), truncation_fraction=1.0)
        t = truth_table(ds).iloc[0]
        valid, mask = ds["valid"].values.astype(bool), ds["trail_mask"].values[0]
        ends = np.array([[t.x0, t.y0], [t.x1, t.y1]])
        inner = edge_distance(valid)[tuple(np.round(ends[:, ::-1]).astype(int).T)] > 15
        assert inner.sum() == 1  # one end inside, 30-60 px from the edge
        k = int(np.argmax(inner))
        along = (ends[k] - ends[1 - k]) / t.length_px
        drawn = ends.copy()
        drawn[k] += 300 * along  # on to the edge and beyond
        d = _band(mask.shape, *drawn[0], *drawn[1])
        prob = np.where(valid, expit((12.7 - d) / 0.7), np.nan).astype(np.float32)[None]
        prob = xr.DataArray(prob, dims=("frame", "y", "x"), coords={"frame": ds["frame"]})

        def past_the_end(p, end=ends[k], along=along):
            yy, xx = np.nonzero(p[0] >= 0.5 * np.nanmax(p))
            return int(((xx - end[0]) * along[0] + (yy - end[1]) * along[1] > 14).sum())

        # 1380 and 909 px past the end (seeds 21 and 28), kept by a refine without frames
        assert past_the_end(prob.values) > 800
        assert past_the_end(refine(prob, weight=1.0).values) > 800
        assert past_the_end(refine(prob, frames=ds, weight=1.0).values) == 0


def test_refine_fades_bands_towards_ends_inside_the_footprint():
    """A trail ending inside the frame: its band fades over END_SOFT_PX there (networks
    draw such ends too long); its end at the footprint's edge keeps the band full."""
    from satlab.lines import END_SOFT_PX

    prob = np.where(_band((60, 200), -5, 30, 120, 30) <= 6, 1.0, 0.0).astype(np.float32)
    prob = xr.DataArray(prob[None], dims=("frame", "y", "x"), name="trail_prob")
    found = trails(prob)
    assert len(found) == 1 and found[["x0", "x1"]].max(axis=1).iloc[0] == pytest.approx(
        120, abs=1.5
    )
    inner = float(found[["x0", "x1"]].max(axis=1).iloc[0])
    refined = refine(prob, found, weight=1.0).values[0]
    score = float(found["score"].iloc[0])
    assert refined[30, 2] == pytest.approx(score, abs=0.01)  # at the edge: full
    x = round(inner)
    assert refined[30, x] == pytest.approx(
        score / (1 + np.exp(-(inner - x) / END_SOFT_PX)), abs=0.02
    )
    assert refined[30, x - 15] > 0.9 * score
    assert refined[30, x + 8] < 0.2 * score


def test_refine_band_width_from_the_frames_or_given():
    from satlab.simulate import simulate_frames

    ds = simulate_frames("cheops", 2, seed=3, trail_fraction=1.0, snr_range=(20.0, 30.0))
    prob = ds["trail_mask"].astype(np.float32).where(ds["valid"]).rename("trail_prob")
    assert np.isnan(refine(prob).attrs["refine_width_px"])  # the fitted widths
    assert refine(prob, width_px=10.0).attrs["refine_width_px"] == 10.0
    other = ds.assign_attrs(instrument="evscope2")  # seeing-limited: no fixed PSF
    assert np.isnan(refine(prob, frames=other).attrs["refine_width_px"])
    given = refine(prob, frames=other.assign_attrs(psf_fwhm=20.0), weight=1.0)
    assert given.attrs["refine_width_px"] == 20.0
    # every band is then 20 px wide: its half-value contour 10 px from the fitted line
    half = (given.values >= 0.5 * np.nanmax(given.values)).sum(axis=(1, 2))
    assert half.max() < 0.9 * ds["trail_mask"].values.sum(axis=(1, 2)).max()
    with pytest.raises(InputError, match="width_px"):
        refine(prob, width_px=0.0)


def test_refine_on_image_narrows_a_band_by_its_line_error(monkeypatch):
    """The band keeps the pixels sure to be on the trail: its half-height edge lies the
    line's position error inside the PSF FWHM's half-width. Narrowed so, the refined
    pixel TPR at 1e-5 FPR of four simulated CHEOPS sets rose by 0.6-2.6 points."""
    import satlab.lines as lines
    from satlab.simulate import truth_table

    ds = _straight_trails(1, seed=21, snr_range=(15.0, 25.0), truncation_fraction=0.0)
    t = truth_table(ds).iloc[0]
    d = _band(ds["valid"].shape, t.x0, t.y0, t.x1, t.y1)
    prob = np.where(ds["valid"].values, (d <= 12.7).astype(np.float32), np.nan)[None]
    prob = xr.DataArray(prob, dims=("frame", "y", "x"), coords={"frame": ds["frame"]})

    def half_width(err):
        def on_image(table, *args):
            out = table.assign(line_err_px=err)
            return out.assign(**{c: t[c] for c in ("x0", "y0", "x1", "y1")})

        monkeypatch.setattr(lines, "_lines_on_image", on_image)
        band = refine(prob, frames=ds, weight=1.0).values[0]
        return d[band >= 0.5 * np.nanmax(band)].max()

    assert half_width(0.0) == pytest.approx(12.2, abs=0.6)
    assert half_width(1.5) == pytest.approx(12.2 - 1.5, abs=0.6)
    assert half_width(1.5) < half_width(0.0) - 1.0


def test_refine_on_image_keeps_the_band_of_a_fit_whose_ends_met(monkeypatch):
    """A fit can let a faint fragment's free ends meet ("the fitted line misses the
    footprint": zero length, no rho) while its offset error stays finite; that fit failed,
    so the network's band stands, with its own edge."""
    import satlab.photometry as photometry
    from satlab.lines import _lines_on_image

    ds = _straight_trails(1, seed=21, snr_range=(15.0, 25.0), truncation_fraction=0.0)
    prob = xr.DataArray(
        np.where(ds["valid"].values, 0.5, np.nan).astype(np.float32)[None],
        dims=("frame", "y", "x"),
        coords={"frame": ds["frame"]},
    )
    table = pd.DataFrame(
        {"frame": [int(ds["frame"][0])], "x0": [150.0], "y0": [120.0], "x1": [160.0]}
    ).assign(y1=140.0, rho=np.nan, theta=np.nan, length_px=np.hypot(10, 20), score=0.3)

    def collapsed(frames, trails, **kwargs):
        return pd.DataFrame(
            {"trail": [0], "x0": [155.0], "y0": [130.0], "x1": [155.0], "y1": [130.0]}
        ).assign(rho=np.nan, theta=np.nan, length_px=0.0, offset_err=0.66)

    monkeypatch.setattr(photometry, "trail_photometry", collapsed)
    out = _lines_on_image(table, ds, prob)
    pd.testing.assert_frame_equal(out.drop(columns="line_err_px"), table)
    assert out["line_err_px"].tolist() == [0.0]


def test_refine_halves_a_band_that_bends_away_from_its_line():
    """A band whose centre drifts 15 px off a straight line (a network's confusion) counts
    half; one that waves by 2 px (telescope jitter) counts in full, and so does a
    straight band that another meets (a 3.7-px offset in the one stretch they share)."""
    yy, xx = np.mgrid[:120, :200].astype(float)
    wave = 2.0 * np.sin(2 * np.pi * xx / 30)
    arc = 15.0 * ((xx - 100) / 90) ** 2
    crossed = (np.abs(yy - 30) <= 12) | ((np.abs(xx - 100) <= 12) & (yy > 30))  # a T
    prob = np.stack([np.abs(yy - 60 - wave) <= 12, np.abs(yy - 45 - arc) <= 12, crossed])
    prob = xr.DataArray(prob.astype(np.float32), dims=("frame", "y", "x"), name="trail_prob")
    found = trails(prob)
    assert list(found.groupby("frame").size()) == [1, 1, 1]  # the T: one line, its bar
    refined = refine(prob, found, weight=1.0).values
    top = found.groupby("frame")["score"].max()
    assert refined[0].max() == pytest.approx(top[0], abs=0.02)
    assert refined[1].max() == pytest.approx(0.5 * top[1], abs=0.02)
    assert refined[2].max() == pytest.approx(top[2], abs=0.02)


def test_refine_fits_faint_stretches_down_to_hysteresis_015():
    """A trail the network scores 0.2 along most of its length (as it does bright trails
    along the columns) joined to a 0.6 stretch: the band covers its whole length."""
    d = _band((60, 200), 5, 30, 195, 30)[None]
    prob = np.where(d <= 4, 0.2, 0.0).astype(np.float32)
    prob[0, 26:35, 5:60] = np.where(d[0, 26:35, 5:60] <= 4, 0.6, 0.0)
    prob = xr.DataArray(prob, dims=("frame", "y", "x"), name="trail_prob")
    refined = refine(prob).values[0]
    assert refined[30, 150] > 0.2  # half the 0.2 plus half the fitted band's score
    assert refined[37, 150] < 0.01  # 3 px outside the band
    # at trails()' hysteresis of 0.3 only the bright stretch is fitted
    assert refine(prob, low=0.3).values[0, 30, 150] == pytest.approx(0.1)


def test_a_bright_trail_joined_to_a_star_is_not_masked_with_it(rng):
    # one segmentation source: the star's core decides it is a star, and its disc used to
    # take the equivalent radius of the whole source, trail included
    from satlab.classic import significance

    seg = (20, 80, 180, 150)
    frames = noisy_frames(rng, 1, trails_=[(0, seg, 60.0)], stars=[(100, 100, 3000.0)])
    s = significance(frames["flux"].values[0].astype(float), frames["valid"].values)
    on_trail = strip(*seg, 10) & frames["valid"].values
    assert np.isfinite(s[on_trail]).mean() > 0.6
    far = (XX - 100) ** 2 + (YY - 100) ** 2 > 40**2
    assert np.nanmedian(s[on_trail & far]) > 10


def test_merged_pieces_keep_the_detector_score():
    # a detector's score (votes, a sinogram peak) is not the refitted segment's mean weight
    edge = edge_distance(circular_footprint(SHAPE))
    t = np.arange(0.0, 60.0)
    pieces = []
    for start, score in ((30.0, 3.0), (110.0, 9.0)):
        x = np.repeat(start + t, 3)
        y = np.tile([99.0, 100.0, 101.0], t.size)
        piece = fit_segment(x, y, np.ones_like(x), edge, seed=0)
        pieces.append({**piece, "score": score})
    (merged,) = merge_collinear(pieces, edge, angle_tol_deg=3.0, dist_px=5.0, seed=0)
    assert merged["score"] == 9.0 and merged["length_px"] > 130


def test_radon_takes_a_glow_edge_for_no_trail(rng):
    # the Earth's limb: a steep, straight-edged brightening over part of the frame is a
    # step across the lines, not a ridge
    frames = noisy_frames(rng, 1)
    d = (XX - 100) * np.cos(0.6) + (YY - 100) * np.sin(0.6) - 40
    frames["flux"] += (150.0 * 0.5 * (1 + np.tanh(d / 8.0))).astype(np.float32)
    with pytest.warns(SatlabWarning, match="no trail found"):
        assert trails(frames, method="radon").empty


def test_a_short_trail_leaving_the_footprint_is_no_edge_cut_star(rng):
    # a star cut by the edge is a short chord along it; a trail runs across the edge
    from satlab.classic import significance

    seg = (135, 135, 172, 172)  # 52 px along the footprint's radius, to its edge
    frames = noisy_frames(rng, 1, trails_=[(0, seg, 60.0)])
    s = significance(frames["flux"].values[0].astype(float), frames["valid"].values)
    on_trail = strip(*seg, 8) & frames["valid"].values
    assert np.isfinite(s[on_trail]).mean() > 0.8
