"""The evaluation harness (satlab.evaluate) and `satlab evaluate`."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from satlab.errors import InputError, OutputExistsError
from satlab.evaluate import EVAL_SEED, evaluate, evaluate_command, hubble_backgrounds


@pytest.fixture(scope="module")
def sim():
    from satlab.simulate import simulate_frames

    return simulate_frames("cheops", 12, seed=EVAL_SEED + 7, hard_negative_fraction=0.5)


@pytest.mark.slow
def test_classic_evaluation_tables_agree(sim, tmp_path):
    ev = evaluate(None, frames=sim, methods=("hough",), fpr=0.1)
    label = sim["label"].values.astype(bool)
    summary = ev.tables["summary"].set_index("method").loc["hough"]
    matched = ev.tables["matched"]
    assert summary.n_pos == label.sum() and summary.n_neg == (~label).sum()
    assert summary.recall_trails == pytest.approx(matched.detected.mean())
    assert summary.fpr_frames <= 0.1
    # the operating threshold is the one that keeps the FPR at or under the target
    scores = ev.tables["frame_scores"]["hough"].to_numpy()
    assert (scores[~label] >= summary.threshold).mean() <= 0.1
    table = ev.tables["methods"].iloc[0]
    assert table.line_information and table.n_frames == sim.sizes["frame"]
    # a selection of frames: the trails of those frames, at their positions
    sub = sim.isel(frame=[11, 2, 5, 0, 7, 3])
    part = evaluate(None, frames=sub, methods=("hough",), fpr=0.1).tables["matched"]
    assert len(part) == sub["label"].values.sum()
    assert set(part["frame"]) == set(np.flatnonzero(sub["label"].values))
    assert table.n_detections == (scores >= summary.threshold).sum()
    assert set(ev.tables["recall_binned"].quantity) == {
        "all",
        "snr_avg",
        "snr_tot",
        "length_px",
        "n_stars",
        "column_angle_deg",
        "jitter_px",
    }
    near = ev.tables["recall_binned"].query("quantity == 'column_angle_deg'")
    assert near["n_trails"].sum() == len(matched)  # every trail in one angle bin
    # every detection scored by match_trails came from the trail table
    found = ev.tables["trails"]
    assert set(matched.loc[matched.detected, "match"]) <= set(found.index)
    out = ev.save(tmp_path / "ev")
    for name in ("summary", "methods", "recall_binned", "frame_scores"):
        assert (out / f"{name}.parquet").exists() and (out / f"{name}.csv").exists()
    assert (out / "roc.html").stat().st_size > 1000
    params = json.loads((out / "params.json").read_text())
    assert params["methods"] == ["hough"] and params["versions"]["scikit-learn"]
    with pytest.raises(OutputExistsError, match="overwrite"):
        ev.save(out)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["trail-mobilenetv2", "trail-unet"])
def test_model_evaluation_with_a_weights_file(sim, tmp_path, name):
    from satlab.models import build_model, save_weights

    path = save_weights(build_model(name), name, tmp_path / f"{name}.safetensors")
    ev = evaluate(name, frames=sim, methods=(), weights=path, device="cpu")
    cls = ev.tables["classification"]
    if name == "trail-mobilenetv2":
        assert {0.8, 0.5} <= set(cls.threshold)
        assert not ev.tables["methods"].line_information.iloc[0]
        assert "pixel_binned" not in ev.tables
        assert ev.params["segment"] is None and ev.params["refine"] is None
    else:
        pix = ev.tables["pixel_binned"]
        assert pix.quantity.iloc[0] == "all" and pix.n_frames.iloc[0] == sim.sizes["frame"]
        # seed 002's bins, and the trails' jitter: straight, under 1 px, 1-2 px
        assert set(pix.quantity) == {
            "all",
            "snr_avg",
            "snr_tot",
            "length_px",
            "n_stars",
            "jitter_px",
        }
        every = pix[pix.quantity == "all"]
        assert (0 <= every.tpr_at_fpr_lo).all() and (every.tpr_at_fpr_hi <= 1).all()
        assert (every.tpr_at_fpr_lo <= every.tpr_at_fpr_hi).all()
        assert pix.loc[pix.quantity != "all", "tpr_at_fpr_lo"].isna().all()
        jit = pix[(pix.quantity == "jitter_px") & (pix.method == name)]
        assert jit.n_frames.sum() == sim["label"].values.sum()
        assert set(pix.method) == {name, f"{name} refined"}
        assert set(ev.curves["pixel_roc"]) == {name, f"{name} refined"}
        n_pos = int((sim["trail_mask"].values & sim["valid"].values).sum())
        assert pix.n_pos_px.iloc[0] == n_pos
        # the frames whose sky pixels set the 1e-5 threshold hold at most 1e-5 of the sky
        held = ev.tables["pixel_false_frames"]
        assert set(held.method) <= {name, f"{name} refined"}
        n_sky = int((~sim["trail_mask"].values & sim["valid"].values).sum())
        assert (held.groupby("method").false_px.sum() <= 1e-5 * n_sky).all()
        assert held.frame.isin(range(sim.sizes["frame"])).all()
        assert ev.tables["methods"].line_information.iloc[0]
        assert set(ev.plots()) == {"roc", "pr", "pixel_roc", "pixel_pr"}
        assert ev.params["segment"] == {"step_px": 0, "border_px": 10, "flips": 1}
        refine = {"weight": 0.5, "soft_px": 0.5, "on_image": 1}
        assert {k: ev.params["refine"][k] for k in refine} == refine
        assert ev.params["refine"]["width_px"] == pytest.approx(24.4, abs=0.01)  # CHEOPS FWHM
    assert ev.params["weights"] == str(path)


def test_classifier_on_the_positives_classic_baselines_find(sim):
    # seed 001's test set: positives from the classic pipeline's finds, every negative
    ev = evaluate("trail-mobilenetv2", frames=sim, methods=("hough",), fpr=0.1, device="cpu")
    table = ev.tables["classic_positives"].set_index("threshold")
    matched = ev.tables["matched"].query("method == 'hough'")
    found = set(matched.loc[matched.detected, "frame"])
    label = sim["label"].values.astype(bool)
    assert found and len(found) < label.sum()  # Hough misses the faint ones
    assert (table.tp + table.fn == len(found)).all()
    assert (table.tn + table.fp == (~label).sum()).all()
    assert (table.n_pos_all == label.sum()).all()
    # the shipped classifier calls every trail the classic baseline sees
    scores = ev.tables["frame_scores"].set_index("frame")["trail-mobilenetv2"]
    assert (scores.loc[sorted(found)] >= 0.8).all()
    assert table.loc[0.8, "recall"] == 1.0 and table.loc[0.8, "roc_auc"] > 0.9
    # without a classic baseline there is no such test set
    assert "classic_positives" not in evaluate("trail-mobilenetv2", frames=sim, methods=()).tables


def test_jitter_fraction_reaches_the_simulation():
    ev = evaluate(None, n=6, seed=EVAL_SEED + 3, methods=("hough",), fpr=0.5, jitter_fraction=1.0)
    assert ev.params["jitter_fraction"] == 1.0
    matched = ev.tables["matched"]
    assert len(matched) and (matched["jitter_px"] >= 0.3).all()
    binned = ev.tables["recall_binned"].query("quantity == 'jitter_px'")
    assert binned["n_trails"].iloc[0] == 0  # no straight trail
    assert binned["n_trails"].sum() == len(matched)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"methods": ("sobel",)}, "methods"),
        ({"fpr": 1.5}, "fpr"),
        ({"model": None, "methods": ()}, "nothing to evaluate"),
    ],
)
def test_bad_arguments(kwargs, match):
    kwargs = {"model": None, "methods": ("hough",), **kwargs}
    with pytest.raises(InputError, match=match):
        evaluate(kwargs.pop("model"), n=2, **kwargs)


def test_frames_need_truth():
    import xarray as xr

    ds = xr.Dataset({"flux": (("frame", "y", "x"), np.zeros((2, 8, 8), np.float32))})
    with pytest.raises(InputError, match="truth"):
        evaluate(None, frames=ds)


def test_hubble_backgrounds_look_like_cheops_sky():
    from astropy.stats import mad_std

    bg = hubble_backgrounds(3, size=200, seed=1, sky_adu=100.0, sigma_adu=10.0)
    assert bg.dims == ("frame", "y", "x") and bg.shape == (3, 200, 200)
    for img in bg.values:
        assert np.median(img) == pytest.approx(100.0, abs=0.5)
        assert mad_std(img) == pytest.approx(10.0, rel=0.05)
        assert img.max() > 100.0 + 20 * 10.0  # the galaxies stay
    assert not np.array_equal(bg.values[0], hubble_backgrounds(1, seed=2).values[0])
    with pytest.raises(InputError, match="size"):
        hubble_backgrounds(1, size=5000)


@pytest.mark.slow
def test_cli_writes_the_tables(sim, tmp_path):
    saved = tmp_path / "set.nc"
    sim.isel(frame=slice(0, 6)).to_netcdf(saved)
    out = tmp_path / "run"
    args = ["none", "--frames", str(saved), "--methods", "radon", "--out", str(out)]
    result = CliRunner().invoke(evaluate_command, args)
    assert result.exit_code == 0, result.output
    assert "radon" in result.output and (out / "methods.csv").exists()
    assert json.loads((out / "params.json").read_text())["n"] == 6
    again = CliRunner().invoke(evaluate_command, args)
    assert again.exit_code != 0 and isinstance(again.exception, OutputExistsError)
