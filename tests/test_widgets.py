"""Widgets: the pure view functions and the control wiring, without a display."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import satlab
from satlab.errors import FileFormatError, InputError, SatlabWarning
from satlab.frames import arcsinh_stretch, zscale_stretch
from satlab.widgets import (
    CrossmatchInspector,
    DetectionReview,
    FrameBrowser,
    TrendExplorer,
    candidates,
    crossmatch_view,
    filter_trends,
    flagged_frames,
    frame_label,
    frame_view,
    read_hard_negatives,
    stretch_frame,
    write_hard_negatives,
)


@pytest.fixture(scope="module")
def sample():
    return satlab.open_catalog()["cheops-sample"].read()


@pytest.fixture
def frames(rng):
    flux = rng.normal(100.0, 5.0, (5, 40, 50)).astype(np.float32)
    flux[2, 10:12, :] += 400.0  # a bright horizontal trail in frame 2
    valid = np.ones((40, 50), bool)
    valid[:, :3] = False
    times = pd.date_range("2024-01-01T00:00:30", periods=5, freq="60s")
    ds = satlab.as_frames(flux, time=times, exptime=60.0, valid=valid)
    return ds.assign_coords(frame=np.arange(10, 15))  # frame labels are not positions


def _scores(frames, values):
    return xr.DataArray(
        np.asarray(values, np.float32), dims="frame", coords=frames["frame"].coords
    ).assign_coords(time=frames["time"])


def test_stretch_frame_uses_the_frame_stretches(frames):
    z = stretch_frame(frames, 2, stretch="zscale")
    np.testing.assert_allclose(
        z[:, 3:], zscale_stretch(frames.isel(frame=[2])).values[0][:, 3:], rtol=1e-6
    )
    assert np.isnan(z[:, :3]).all()  # outside the footprint
    a = stretch_frame(frames, 2, stretch="arcsinh")
    np.testing.assert_allclose(a[:, 3:], arcsinh_stretch(frames.isel(frame=[2])).values[0][:, 3:])
    lin = stretch_frame(frames, 2, stretch="linear")
    assert np.nanmean(lin[10:12]) == pytest.approx(500, abs=5)
    with pytest.raises(InputError, match="stretch: expected one of"):
        stretch_frame(frames, 0, stretch="log")
    with pytest.raises(InputError, match=r"index: expected a frame position 0\.\.4, got 5"):
        stretch_frame(frames, 5)


def test_frame_label_names_time_exposure_and_score(frames):
    label = frame_label(frames, 1, scores=[0.1, 0.25, 0.3, 0.4, 0.5])
    assert label == "frame 1 · 2024-01-01 00:01:30 UTC · 60 s · trail score 0.250"


def test_frame_view_draws_overlays_of_the_right_frame(frames):
    trails = pd.DataFrame(
        {
            "frame": [12, 13],
            "x0": [3.0, 5.0],
            "y0": [10.5, 0.0],
            "x1": [49.0, 5.0],
            "y1": [10.5, 39.0],
        }
    )
    tracks = pd.DataFrame({"frame": [12], "x0": [3.0], "y0": [12.0], "x1": [49.0], "y1": [13.0]})
    prob = xr.zeros_like(frames["flux"]).rename("trail_prob")
    prob[2, 10:12, :] = 0.9
    truth = trails.assign(x0=[4.0, 6.0])
    view = frame_view(frames, 2, trails=trails, prob=prob, tracks=tracks, truth=truth)
    labels = [layer.label for layer in view]
    assert labels == [
        "",
        "outside footprint",
        "trail mask",
        "fitted trails",
        "predicted tracks",
        "injected trails",
    ]
    image, outside, mask, segs, track, injected = view
    assert injected.dframe()["x0"].tolist() == [4.0]
    assert np.nansum(mask.dimension_values(2)) == 2 * 50  # two rows of prob >= 0.5
    assert np.nansum(outside.dimension_values(2)) == 40 * 3
    assert segs.dframe()[["x0", "y1"]].values.tolist() == [[3.0, 10.5]]  # frame label 12 only
    assert len(track.dframe()) == 1
    # pixel centres at integers, row y = 0 at the bottom: the trail is at y = 10..11
    assert image.bounds.lbrt() == (-0.5, -0.5, 49.5, 39.5)
    assert image[25, 11] == pytest.approx(1.0) and image[25, 30] < 1.0
    only = frame_view(frames, 2, trails=trails, overlays=("trails",))
    assert [layer.label for layer in only] == ["", "fitted trails"]
    with pytest.raises(InputError, match="overlays: unknown"):
        frame_view(frames, 0, overlays=("stars",))


def test_frame_browser_follows_its_controls(frames):
    trails = pd.DataFrame({"frame": [12], "x0": [3.0], "y0": [10.5], "x1": [49.0], "y1": [10.5]})
    browser = FrameBrowser(frames, trails=trails, scores=[0.1, 0.2, 0.95, 0.3, 0.1])
    assert browser.overlays.options == ("trails", "footprint")
    first = browser.view.get(0).dimension_values(2)
    browser.frame.value = 2
    shown = browser.view.get(0).dimension_values(2, flat=False)
    np.testing.assert_allclose(shown, stretch_frame(frames, 2), equal_nan=True)
    assert not np.allclose(first, browser.view.get(0).dimension_values(2), equal_nan=True)
    assert "frame 2" in browser.label.value and "trail score 0.950" in browser.label.value
    browser.stretch.value = "linear"
    assert browser.view.get(0).vdims[0].name == "flux [ADU]"
    browser.overlays.value = ("footprint",)
    assert [layer.label for layer in browser.view] == ["", "outside footprint"]
    with pytest.raises(InputError, match="stretch"):
        FrameBrowser(frames, stretch="sqrt")


def test_accessor_opens_the_widgets(sample):
    browser = sample.satlab.browse(index=3)
    assert browser.frame.max == sample.sizes["frame"] - 1 and browser.frame.value == 3
    scores = _scores(sample, np.linspace(0, 0.7, 8))
    review = sample.satlab.review(scores, threshold=0.5)
    assert review.table["index"].tolist() == [7, 6, 5]  # scores 0.7, 0.6, 0.5


def test_flagged_frames_sorted_and_empty_is_typed(frames):
    scores = _scores(frames, [0.85, 0.1, 0.99, 0.8, 0.2])
    table = flagged_frames(scores, threshold=0.8)
    assert table["index"].tolist() == [2, 0, 3]
    assert table["trail_score"].tolist() == pytest.approx([0.99, 0.85, 0.8])
    assert table["time"].iloc[0] == pd.Timestamp("2024-01-01T00:02:30")
    with pytest.warns(SatlabWarning, match="no frame scores >= 0.999"):
        empty = flagged_frames(scores, threshold=0.999)
    assert empty.empty and list(empty.columns) == list(table.columns)
    with pytest.raises(InputError, match="threshold"):
        flagged_frames(scores, threshold=1.5)
    with pytest.raises(InputError, match="trail_score"):
        flagged_frames(np.ones(5))


def test_flagged_frames_name_file_and_position_in_file(frames):
    files = ["a.fits", "a.fits", "b.fits", "b.fits", "b.fits"]
    scores = _scores(frames, [0.9, 0.1, 0.1, 0.1, 0.95]).assign_coords(file=("frame", files))
    table = flagged_frames(scores, threshold=0.5)
    assert table[["file", "frame"]].values.tolist() == [["b.fits", 2], ["a.fits", 0]]


def test_hard_negative_list_appends_without_duplicates(frames, tmp_path):
    scores = _scores(frames, [0.85, 0.1, 0.99, 0.8, 0.2])
    table = flagged_frames(scores, threshold=0.8)
    path = tmp_path / "review" / "hard_negatives.csv"
    write_hard_negatives(table.iloc[[0]], path)
    write_hard_negatives(table, path)  # frame 2 again and two new ones
    listed = read_hard_negatives(path)
    assert listed.columns.tolist() == ["file", "frame", "time", "trail_score", "marked_utc"]
    assert listed["frame"].tolist() == [2, 0, 3]
    assert listed["time"].iloc[0] == "2024-01-01T00:02:30.000000"
    bad = tmp_path / "bad.csv"
    bad.write_text("file,frame\nx,1\n")
    with pytest.raises(FileFormatError, match="missing columns"):
        read_hard_negatives(bad)
    with pytest.raises(InputError, match="missing columns"):
        write_hard_negatives(pd.DataFrame({"file": ["x"]}), path)


def test_detection_review_marks_false_positives(frames, tmp_path):
    scores = _scores(frames, [0.85, 0.1, 0.99, 0.8, 0.2])
    path = tmp_path / "hn.csv"
    review = DetectionReview(frames, scores, threshold=0.8, hard_negatives=path)
    assert [v for _, v in review.flagged.options] == [2, 0, 3]
    assert review.flagged.value == 2 and review.view is not None
    review.flagged.value = 0
    review.mark.click()
    review.mark.click()  # twice: listed once
    assert read_hard_negatives(path)["frame"].tolist() == [0]
    assert "1 in the hard-negative list" in review.status.value
    review.threshold.value = 0.9
    assert [v for _, v in review.flagged.options] == [2]
    review.threshold.value = 1.0
    assert review.flagged.options == () and review.view is None
    assert "0 flagged of 5 frames" in review.status.value
    with pytest.raises(InputError, match="one score per frame"):
        DetectionReview(frames, scores.isel(frame=[0, 1]))


@pytest.fixture
def matches():
    rows = [
        (0, 12, 101, "SAT A", 120.0, 2.0, 0.5, "strict", True),
        (0, 12, 102, "SAT B", 200.0, -4.0, 1.5, "strict", False),
        (0, 12, 103, "DEB C", 300.0, 30.0, 9.0, "rejected", False),
        (1, 13, None, None, np.nan, np.nan, np.nan, "none", False),
    ]
    table = pd.DataFrame(
        rows,
        columns=[
            "trail",
            "frame",
            "norad_id",
            "name",
            "sep_arcsec",
            "angle_diff_deg",
            "csr",
            "match",
            "best",
        ],
    ).astype({"norad_id": "Int64"})
    for col in ("range_km", "phase_angle_deg"):
        table[col] = 1000.0
    table["object_type"] = "PAYLOAD"
    table["rcs_size"] = "LARGE"
    table.attrs["parameters"] = {"radius_arcsec": 250.0, "angle_tol_deg": 6.0}
    return table


def test_candidates_best_first(matches):
    table = candidates(matches, 0)
    assert table["name"].tolist() == ["SAT A", "SAT B", "DEB C"]
    assert "sep_arcsec" in table.columns and "csr" in table.columns
    none = candidates(matches, 1)
    assert none.empty and list(none.columns) == list(table.columns)
    with pytest.raises(InputError, match="trail: 7"):
        candidates(matches, 7)
    with pytest.raises(InputError, match="missing columns"):
        candidates(matches.drop(columns="csr"), 0)


def test_crossmatch_view_and_inspector(matches):
    view = crossmatch_view(matches, 0)
    by_label = {layer.label: layer for layer in view}
    window = by_label["strict window"].data[0]
    assert (window["x"].min(), window["x"].max(), window["y"].max()) == (-6.0, 6.0, 250.0)
    assert by_label["relaxed radius"].data == 350.0  # default when attrs lack it
    assert by_label["strict"].dimension_values("sep_arcsec").tolist() == [120.0, 200.0]
    assert by_label["rejected"].dimension_values("angle_diff_deg").tolist() == [30.0]
    inspector = CrossmatchInspector(matches)
    assert inspector.trail.options[0][0] == "trail 0 · frame 12 · SAT A"
    assert "SAT B" in inspector.table.value
    inspector.trail.value = 1
    assert "unidentified" in inspector.trail.options[1][0]
    assert "SAT" not in inspector.table.value
    with pytest.raises(InputError, match="empty"):
        CrossmatchInspector(matches.iloc[:0])


@pytest.fixture
def brightness():
    rng = np.random.default_rng(3)
    n = 40
    years = rng.integers(2020, 2025, n)
    launch = pd.to_datetime([f"{y}-06-01" for y in rng.integers(1995, 2024, n)])
    return pd.DataFrame(
        {
            "time": pd.to_datetime([f"{y}-03-01" for y in years]),
            "mag_std": 13.4 + rng.normal(0, 0.5, n),
            "launch_date": launch,
            "norad_id": np.arange(n),
            "object_type": np.where(np.arange(n) % 3 == 0, "DEBRIS", "PAYLOAD"),
            "rcs_size": np.where(np.arange(n) % 2 == 0, "LARGE", "SMALL"),
        }
    )


def test_filter_trends_by_type_size_and_year(brightness):
    kept = filter_trends(
        brightness, object_types=["DEBRIS"], rcs_sizes=["LARGE"], years=(2021, 2022)
    )
    expected = brightness[
        (brightness["object_type"] == "DEBRIS")
        & (brightness["rcs_size"] == "LARGE")
        & brightness["time"].dt.year.between(2021, 2022)
    ]
    assert kept["norad_id"].tolist() == expected["norad_id"].tolist() and len(kept) > 0
    assert filter_trends(brightness).equals(brightness)
    assert filter_trends(brightness, years=(1990, 1991)).empty
    with pytest.raises(InputError, match="'rcs_size'"):
        filter_trends(brightness.drop(columns="rcs_size"), rcs_sizes=["LARGE"])


def test_trend_explorer_redraws_on_filters(brightness):
    explorer = TrendExplorer(brightness)
    assert explorer.years.value == (2020, 2024)
    assert explorer.count.value == "40 of 40 trails"
    over_time, vs_launch = list(explorer.view)
    assert len(over_time.get(0).dframe()) == 40  # the scatter of every trail
    assert len(vs_launch.get(0).dframe()) == 40  # one per object (norad_id)
    explorer.object_types.value = ("DEBRIS",)
    n_debris = int((brightness["object_type"] == "DEBRIS").sum())
    assert explorer.count.value == f"{n_debris} of 40 trails"
    assert len(next(iter(explorer.view)).get(0).dframe()) == n_debris
    explorer.years.value = (2020, 2020)
    if len(explorer.shown) < 3:
        assert isinstance(explorer.view, str) and "fewer than three" in explorer.view
    with pytest.raises(InputError, match="missing columns"):
        TrendExplorer(brightness.drop(columns="mag_std"))


@pytest.mark.slow
def test_crossmatch_sky_view_puts_the_best_track_on_the_trail(sample):
    """Real crossmatch of the sample's injected trails, drawn on the sky."""
    from satlab.orbits import crossmatch
    from satlab.report import injected_truth
    from satlab.widgets import crossmatch_sky_view

    cat = satlab.open_catalog()
    trails = injected_truth(sample, cat["cheops-archive-truth"].read())
    assert len(trails) > 0
    catalogue = cat["cheops-archive-tle"].read()
    with pytest.warns(SatlabWarning, match="no element set"):  # objects not yet launched
        found = crossmatch(trails, sample, catalogue)
    best = found[found["best"]].iloc[0]
    view = crossmatch_sky_view(found, trails, sample, catalogue, int(best["trail"]))
    by_label = {layer.label: layer for layer in view}
    trail = by_label["trail"]
    row = trails.iloc[int(best["trail"])]
    length = np.hypot(row["x1"] - row["x0"], row["y1"] - row["y0"]) * sample.attrs["pixel_scale"]
    ex, ny_ = trail.dimension_values(0), trail.dimension_values(1)
    assert np.hypot(np.diff(ex), np.diff(ny_))[0] == pytest.approx(length, rel=1e-3)
    track = by_label[best["name"]]
    tx, ty = track.dimension_values(0), track.dimension_values(1)
    mid = np.array([ex.mean(), ny_.mean()])
    # the best candidate's predicted track passes within its reported separation (+ slack)
    closest = np.min(np.hypot(tx - mid[0], ty - mid[1]))
    assert closest <= best["sep_arcsec"] + 20.0
    outline = by_label["frame"]
    assert np.ptp(outline.dimension_values(0)) > 150  # a 200-px, 1"/px frame, rotated
    inspector = CrossmatchInspector(found, trails=trails, frames=sample, catalogue=catalogue)
    assert len(inspector.view) == 2  # (angle, separation) plot and the sky plot
    with pytest.raises(InputError, match="all three"):
        CrossmatchInspector(found, trails=trails)
