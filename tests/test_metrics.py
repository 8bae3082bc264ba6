"""satlab.metrics (seed 001 / 002 numbers) and the ROC / precision-recall plots."""

import numpy as np
import pandas as pd
import pytest

from satlab.errors import InputError, SatlabWarning
from satlab.metrics import (
    SEED002_BINS,
    binned_pixel_metrics,
    binned_recall,
    classification_metrics,
    completeness_limit,
    false_pixel_frames,
    frame_properties,
    histogram_peak,
    match_trails,
    method_table,
    pixel_metrics,
    pixel_tpr_interval,
    pr_table,
    precision_at_recall,
    roc_summary,
    roc_table,
    threshold_at_fpr,
    tpr_at_fpr,
)


def test_seed001_confusion_matrix_numbers():
    # seed 001 Fig. 4: 710 of 712 trails and 852 of 862 clean frames right
    y = np.r_[np.ones(712), np.zeros(862)]
    score = np.r_[np.full(710, 0.95), np.full(2, 0.1), np.full(852, 0.05), np.full(10, 0.9)]
    row = classification_metrics(y, score, thresholds=(0.8,)).iloc[0]
    assert (row.tp, row.fn, row.tn, row.fp) == (710, 2, 852, 10)
    assert row.accuracy == pytest.approx(1562 / 1574)  # 99.2 %
    assert row.recall == pytest.approx(0.997, abs=5e-4)
    assert row.specificity == pytest.approx(0.988, abs=5e-4)
    assert row.precision == pytest.approx(0.986, abs=5e-4)
    assert row.f1 == pytest.approx(0.992, abs=5e-4)


def test_thresholds_change_the_calls():
    y = [1, 1, 1, 0, 0, 0]
    s = [0.9, 0.6, 0.3, 0.7, 0.2, 0.1]
    df = classification_metrics(y, s)
    assert list(df.threshold) == [0.8, 0.5]
    assert list(df.tp) == [1, 2] and list(df.fp) == [0, 1]
    nothing = classification_metrics([0, 0], [0.1, 0.2], thresholds=(0.5,)).iloc[0]
    assert np.isnan(nothing.precision) and np.isnan(nothing.recall)
    assert nothing.specificity == 1.0


def test_roc_numbers_against_a_hand_count():
    # positives at 10..19, negatives at 0..99 minus 10..19: rank-based AUC is countable
    rng = np.random.default_rng(3)
    neg = rng.permutation(np.r_[np.arange(0, 10), np.arange(20, 100)]).astype(float)
    pos = np.arange(10, 20, dtype=float)
    y = np.r_[np.ones(10), np.zeros(90)]
    s = np.r_[pos, neg]
    # each positive beats the 10 negatives below 10: AUC = 10 * 10 / (10 * 90)
    summary = roc_summary(y, s, fpr=0.01)
    assert summary["roc_auc"] == pytest.approx(100 / 900)
    assert summary["n_pos"] == 10 and summary["n_neg"] == 90
    assert summary["tpr_at_fpr"] == 0.0  # 80 negatives outrank every positive
    assert tpr_at_fpr(y, -s, 0.0) == 0.0  # reversed: the 10 negatives below 10 come first
    assert tpr_at_fpr(y, -s, 10 / 90) == 1.0
    roc = roc_table(y, s)
    assert roc.fpr.is_monotonic_increasing and roc.tpr.iloc[-1] == 1.0


def test_precision_at_recall_and_pr_table():
    y = np.array([1, 1, 0, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    assert precision_at_recall(y, s, 0.6) == 1.0  # top two: recall 2/3
    assert precision_at_recall(y, s, 0.9) == pytest.approx(0.75)  # top four
    pr = pr_table(y, s)
    assert {"recall", "precision", "threshold"} <= set(pr.columns)
    assert pr.recall.max() == 1.0


def test_one_class_gives_nan_and_a_warning():
    with pytest.warns(SatlabWarning, match="both positives and negatives"):
        out = roc_summary([1, 1, 1], [0.2, 0.3, 0.4])
    assert np.isnan(out["roc_auc"]) and np.isnan(out["tpr_at_fpr"])
    with pytest.warns(SatlabWarning):
        assert roc_table([0, 0], [0.1, 0.2]).empty


def test_bad_scores():
    with pytest.raises(InputError, match="one score per label"):
        classification_metrics([1, 0], [0.5])
    with pytest.raises(InputError, match="NaN"):
        roc_summary([1, 0], [np.nan, 0.1])


def test_pixel_metrics_perfect_and_noisy():
    rng = np.random.default_rng(7)
    mask = np.zeros((4, 50, 50), bool)
    mask[:, 20:25, :] = True
    perfect = pixel_metrics(mask, mask.astype(float))
    assert perfect["roc_auc"] == 1.0 and perfect["tpr_at_fpr"] == 1.0
    assert perfect["precision_at_recall"] == 1.0
    assert perfect["n_pos_px"] == 4 * 5 * 50
    # 1 % of sky pixels outrank every trail pixel: no TPR at 1e-5 FPR, precision drops
    prob = np.where(mask, 0.8, 0.1)
    sky = np.flatnonzero(~mask)
    prob.flat[rng.choice(sky, sky.size // 100, replace=False)] = 0.9
    noisy = pixel_metrics(mask, prob)
    assert noisy["tpr_at_fpr"] == 0.0
    # 90 of them, 22.5 per frame: over seed 002's 10 false pixels per frame, under 25
    n_fp = sky.size // 100
    assert n_fp == 90 and noisy["tpr_at_fp_per_frame"] == 0.0
    assert pixel_metrics(mask, prob, fp_per_frame=25)["tpr_at_fp_per_frame"] == 1.0
    assert noisy["precision_at_recall"] == pytest.approx(1000 / (1000 + n_fp))
    # pixels outside the footprint or NaN are left out
    valid = np.ones((50, 50), bool)
    valid[:, :10] = False
    assert pixel_metrics(mask, mask, valid=valid)["n_pos_px"] == 4 * 5 * 40
    with pytest.raises(InputError, match="shape"):
        pixel_metrics(mask, prob[:2])


def test_tpr_of_frames_is_pixel_metrics_on_the_frames_repeated():
    from satlab.metrics import _tpr_of_frames

    rng = np.random.default_rng(3)
    mask = np.zeros((6, 60, 60), bool)
    mask[:, 25:32, 5:55] = True
    # coarse scores: ties between trail and sky pixels at the threshold
    prob = np.round(np.where(mask, rng.beta(5, 2, mask.shape), rng.beta(1, 6, mask.shape)), 2)
    prob[1, :3] = np.nan
    valid = np.ones((60, 60), bool)
    valid[:, :4] = False
    for fpr in (1e-3, 1e-2, 0.1):
        tpr = _tpr_of_frames(mask, prob, valid, fpr)
        for frames in ([0, 1, 2, 3, 4, 5], [2, 2, 2, 5], [1, 4, 4, 0, 0, 0]):
            expect = pixel_metrics(mask[frames], prob[frames], valid=valid, fpr=fpr)
            assert tpr(frames) == pytest.approx(expect["tpr_at_fpr"], abs=1e-12)


def test_a_frame_of_confident_mistakes_widens_the_tpr_interval():
    """One frame's bright sky pixels set the threshold: the resamples without it find
    every trail pixel, those with it none."""
    mask = np.zeros((20, 40, 40), bool)
    mask[:, 15:25, :] = True
    prob = np.where(mask, 0.8, 0.1)
    calm = pixel_tpr_interval(mask, prob, fpr=1e-3)
    assert calm == (1.0, 1.0)
    prob[7, :3, :] = 0.95  # 120 sky pixels over 0.8, where 1e-3 FPR allows 12
    lo, hi = pixel_tpr_interval(mask, prob, fpr=1e-3, confidence_level=0.9, seed=1)
    assert pixel_metrics(mask, prob, fpr=1e-3)["tpr_at_fpr"] == 0.0
    assert lo == 0.0 and hi == 1.0
    assert np.isnan(pixel_tpr_interval(mask[:1], prob[:1])).all()
    with pytest.raises(InputError, match="confidence_level"):
        pixel_tpr_interval(mask, prob, confidence_level=68)


def test_false_pixel_frames_name_the_frames_that_set_the_threshold():
    """Three sky pixels of two frames outscore every trail pixel: at an FPR allowing
    three, the threshold sits at the trail's score and the table holds both frames; at
    one allowed, at the highest sky pixel, which one frame holds."""
    mask = np.zeros((3, 10, 10), bool)
    mask[:, 4:6, :] = True
    prob = np.where(mask, 0.9, 0.0).astype(np.float32)
    prob[0, 0, :2] = 0.95, 0.96
    prob[2, 9, 9] = 0.92
    n_sky = int((~mask).sum())
    held = false_pixel_frames(mask, prob, fpr=3 / n_sky)
    assert held[["frame", "false_px"]].values.tolist() == [[0, 2], [2, 1]]
    assert held.share.tolist() == pytest.approx([2 / 3, 1 / 3])
    assert held.threshold.tolist() == pytest.approx([0.9, 0.9])
    assert pixel_metrics(mask, prob, fpr=3 / n_sky)["tpr_at_fpr"] == 1.0
    one = false_pixel_frames(mask, prob, fpr=1.5 / n_sky)
    assert one[["frame", "false_px"]].values.tolist() == [[0, 1]]
    assert one.threshold.iloc[0] == pytest.approx(0.96)
    assert pixel_metrics(mask, prob, fpr=1.5 / n_sky)["tpr_at_fpr"] == 0.0
    # no sky pixel allowed: none above the threshold, an empty table of the same columns
    none = false_pixel_frames(mask, prob, fpr=0.5 / n_sky)
    assert none.empty and list(none.columns) == ["frame", "false_px", "share", "threshold"]
    with pytest.raises(InputError, match="frame, y, x"):
        false_pixel_frames(mask[0], prob[0])


def test_binned_pixel_metrics_and_frame_properties():
    truth = pd.DataFrame(
        {
            "frame": [0, 1, 1, 2],
            "snr_avg": [0.3, 5.0, 2.0, 20.0],
            "snr_tot": [100.0, 9000.0, 4000.0, 60000.0],
            "length_px": [100.0, 180.0, 50.0, 250.0],
        }
    )
    frames = pd.DataFrame({"n_stars": [2, 4, 7, 10]}, index=[0, 1, 2, 3])
    props = frame_properties(truth, frames)
    assert props.loc[1, "snr_avg"] == 5.0  # frame 1: the strongest of its two trails
    assert np.isnan(props.loc[3, "snr_avg"])
    mask = np.zeros((4, 20, 20), bool)
    mask[:3, 8:12, :] = True
    prob = mask.astype(float)
    prob[0] = 0.5  # frame 0 (faintest): no contrast at all
    table = binned_pixel_metrics(mask, prob, props)
    assert table.iloc[0].quantity == "all" and table.iloc[0].n_frames == 4
    snr = table[table.quantity == "snr_avg"].set_index("lo")
    assert snr.loc[0.0, "n_frames"] == 1 and snr.loc[0.0, "roc_auc"] == 0.5
    assert snr.loc[3.0, "roc_auc"] == 1.0
    assert np.isnan(snr.loc[0.5, "roc_auc"])  # empty bin
    stars = table[table.quantity == "n_stars"]
    assert stars.n_frames.sum() == 4
    assert len(table) == 1 + sum(len(e) - 1 for e in SEED002_BINS.values())
    with pytest.raises(InputError, match="per-frame column"):
        binned_pixel_metrics(mask, prob, props, bins={"seeing": [0, 1]})


def test_match_trails_and_binned_recall():
    truth = pd.DataFrame(
        {
            "frame": [0, 0, 1],
            "x0": [0.0, 100.0, 10.0],
            "y0": [50.0, 0.0, 10.0],
            "x1": [199.0, 100.0, 190.0],
            "y1": [50.0, 199.0, 190.0],
            "theta": [-90.0, 0.0, -45.0],
            "snr_avg": [5.0, 0.4, 2.0],
            "snr_tot": [1e4, 800.0, 4000.0],
            "length_px": [199.0, 199.0, 254.0],
            "n_stars": [3, 3, 8],
        }
    )
    detected = pd.DataFrame(
        {
            "frame": [0, 0, 1],
            "rho": [-52.0, 40.0, 0.0],
            "theta": [-89.0, 0.0, 30.0],  # row 1: wrong place; row 2: wrong angle
            "score": [0.9, 0.8, 0.7],
        },
        index=[10, 11, 12],
    )
    m = match_trails(detected, truth)
    assert list(m.detected) == [True, False, False]
    assert m.loc[0, "match"] == 10 and m.loc[0, "score"] == 0.9
    m["method"] = "hough"
    rec = binned_recall(m)
    assert rec.iloc[0].recall == pytest.approx(1 / 3)
    snr = rec[rec.quantity == "snr_avg"].set_index("lo")
    assert snr.loc[3.0, "recall"] == 1.0 and snr.loc[0.0, "recall"] == 0.0
    assert np.isnan(snr.loc[10.0, "recall"])
    assert not match_trails(detected.iloc[:0], truth).detected.any()


def test_histogram_peak_and_completeness():
    rng = np.random.default_rng(11)
    mag = rng.uniform(5, 12, 4000)
    detected = rng.random(4000) < 1 / (1 + np.exp((mag - 9.5) / 0.25))
    assert completeness_limit(mag, detected) == pytest.approx(9.5, abs=0.1)
    assert np.isnan(completeness_limit(mag, np.ones(mag.size, bool)))
    # two detections: too few to locate a transition
    assert np.isnan(completeness_limit([5.0, 5.1, 9.0, 9.1, 9.2, 9.3], [1, 1, 0, 0, 0, 0]))
    # counts rising towards faint magnitudes (as in the sky), detection fading beyond 9.5:
    # the histogram of detected magnitudes peaks where detections start to fade
    faint = 12 - rng.exponential(1.5, 20000)
    faint = faint[faint > 5]
    seen = faint[rng.random(faint.size) < 1 / (1 + np.exp((faint - 9.5) / 0.25))]
    assert histogram_peak(seen, bins=28) == pytest.approx(9.2, abs=0.4)
    flux = 10 ** (-0.4 * (seen - 20))
    peak_mag = -2.5 * np.log10(histogram_peak(flux, bins=28, log=True)) + 20
    assert peak_mag == pytest.approx(9.2, abs=0.4)
    assert np.isnan(histogram_peak([]))


def test_method_table():
    label = np.r_[np.ones(50, bool), np.zeros(50, bool)]
    flagged = np.r_[np.ones(40, bool), np.zeros(10, bool), np.ones(2, bool), np.zeros(48, bool)]
    mags = np.linspace(6, 10, 40)
    t = method_table(
        [
            {
                "method": "hough",
                "label": label,
                "flagged": flagged,
                "detected_mag": mags,
                "detected_flux": 10 ** (-0.4 * (mags - 20)),
                "seconds_per_image": 0.05,
                "line_information": True,
            }
        ]
    ).iloc[0]
    assert (t.n_detections, t.n_true_detections) == (42, 40)
    assert t.recall == 0.8 and t.false_positive_rate == 0.04
    assert 6 <= t.brightness_limit_mag <= 10 and t.line_information


@pytest.mark.slow  # holoviews + bokeh import
def test_roc_and_pr_plots():
    hv = pytest.importorskip("holoviews")
    y = np.r_[np.ones(20), np.zeros(20)]
    s = np.linspace(1, 0, 40)
    roc = roc_table(y, s).assign(method="unet")
    plot = __import__("satlab.plot", fromlist=["roc_plot"])
    overlay = plot.roc_plot({"unet": roc, "hough": roc_table(y, s[::-1])})
    assert isinstance(overlay, hv.Overlay)
    curves = [el for el in overlay if isinstance(el, hv.Curve)]
    assert [c.label for c in curves] == ["unet", "hough"]
    assert curves[0].dimension_values("tpr").max() == 1.0
    pr = plot.pr_plot(pr_table(y, s).assign(method="unet"))
    assert len([el for el in pr if isinstance(el, hv.Curve)]) == 1
    with pytest.raises(InputError, match="columns"):
        plot.roc_plot({"x": pr_table(y, s)})


def test_threshold_at_fpr_is_an_operating_point():
    y = np.r_[np.ones(5), np.zeros(100)]
    s = np.r_[[0.9, 0.8, 0.745, 0.3, 0.2], np.linspace(0.0, 0.75, 100)]
    # two negatives may pass (0.75, 0.742); the second would add no trail, so one does
    thr = threshold_at_fpr(y, s, 0.02)
    assert ((s[5:] >= thr).sum(), (s[:5] >= thr).sum()) == (1, 3)
    assert threshold_at_fpr(y, s, 0.0) == 0.8  # none may: above the best negative
    assert np.isinf(threshold_at_fpr([0, 1], [0.9, 0.1], 0.0))
