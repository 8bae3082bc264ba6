"""Detection metrics: the numbers of seeds 001 and 002, as pandas tables.

* frame classification at fixed thresholds (seed 001 §2.3: accuracy, recall, specificity,
  precision, F1 at 0.8 and 0.5): :func:`classification_metrics`;
* ROC AUC and TPR at 1 % FPR (seed 002 §4.3): :func:`roc_summary`, curves in
  :func:`roc_table` / :func:`pr_table`;
* pixel TPR at 1e-5 FPR and precision at 90 % recall (seed 002 §4.4):
  :func:`pixel_metrics`, per bin of SNR, length and star count as in seed 002 Table 1:
  :func:`binned_pixel_metrics`; a frame-bootstrap interval of the TPR, which a few
  frames' confident mistakes set: :func:`pixel_tpr_interval`;
* trail matching, recall per bin, and the method comparison of seed 001 Table 1
  (detections, brightness limit at the peak of the detected-brightness histogram, time
  per image, false-positive rate, line information): :func:`match_trails`,
  :func:`binned_recall`, :func:`method_table`.

Curves come from scikit-learn (``roc_curve``, ``precision_recall_curve``,
``roc_auc_score``).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd

from .errors import InputError, SatlabWarning

__all__ = [
    "PIXEL_METRICS",
    "SEED002_BINS",
    "binned_pixel_metrics",
    "binned_recall",
    "classification_metrics",
    "completeness_limit",
    "false_pixel_frames",
    "frame_properties",
    "histogram_peak",
    "match_trails",
    "method_table",
    "pixel_metrics",
    "pixel_tpr_interval",
    "pr_table",
    "precision_at_recall",
    "roc_summary",
    "roc_table",
    "threshold_at_fpr",
    "tpr_at_fpr",
]

# seed 002 Table 1 bin edges; the last edge is open so nothing brighter or longer is dropped
SEED002_BINS = {
    "snr_avg": [0.0, 0.5, 1.0, 3.0, 10.0, 30.0, np.inf],
    "snr_tot": [0.0, 1500.0, 3000.0, 7000.0, 15000.0, 50000.0, np.inf],
    "length_px": [0.0, 170.0, 190.0, 210.0, 230.0, np.inf],
    "n_stars": [0, 3, 6, 9, 12, 20, np.inf],
}


# the operating points of pixel_metrics, NaN where a set lacks trail or sky pixels
PIXEL_METRICS = ("roc_auc", "tpr_at_fpr", "precision_at_recall", "tpr_at_fp_per_frame")


def _labels_scores(y_true, score, *, name="score"):
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise InputError(f"{name}: expected one score per label ({y.size}), got {s.size}")
    if np.isnan(s).any():
        raise InputError(f"{name}: expected finite scores, got {int(np.isnan(s).sum())} NaN")
    return y, s


def classification_metrics(y_true, score, *, thresholds=(0.8, 0.5)) -> pd.DataFrame:
    """Confusion counts and rates of a frame classifier at fixed score thresholds.

    Parameters
    ----------
    y_true : array-like of bool or {0, 1}
        Truth per frame (1 = holds a trail).
    score : array-like of float
        Classifier score per frame (``trail_score``); a frame is called positive when
        ``score >= threshold``.
    thresholds : sequence of float
        Operating points (seed 001: 0.8, and 0.5 for comparison).

    Returns
    -------
    pandas.DataFrame
        One row per threshold: ``threshold, n, tp, fp, tn, fn, accuracy, recall,
        specificity, precision, f1`` (fractions in [0, 1]; NaN where undefined, e.g.
        precision with no positive call).
    """
    from sklearn.metrics import confusion_matrix

    y, s = _labels_scores(y_true, score)
    rows = []
    for thr in thresholds:
        tn, fp, fn, tp = confusion_matrix(y, s >= thr, labels=[False, True]).ravel()

        def ratio(a, b):
            return a / b if b else np.nan

        precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
        rows.append(
            {
                "threshold": float(thr),
                "n": int(y.size),
                "tp": int(tp),
                "fp": int(fp),
                "tn": int(tn),
                "fn": int(fn),
                "accuracy": ratio(tp + tn, y.size),
                "recall": recall,
                "specificity": ratio(tn, tn + fp),
                "precision": precision,
                "f1": ratio(2 * precision * recall, precision + recall),
            }
        )
    return pd.DataFrame(rows)


def _both_classes(y, what: str) -> bool:
    if y.all() or not y.any():
        warnings.warn(
            f"{what}: needs both positives and negatives, got {int(y.sum())} of {y.size} "
            "positive; the curve metrics are NaN",
            SatlabWarning,
            stacklevel=3,
        )
        return False
    return True


def roc_table(y_true, score) -> pd.DataFrame:
    """ROC curve (``fpr``, ``tpr``, ``threshold``) from :func:`sklearn.metrics.roc_curve`."""
    from sklearn.metrics import roc_curve

    y, s = _labels_scores(y_true, score)
    if not _both_classes(y, "roc_table"):
        return pd.DataFrame({"fpr": [], "tpr": [], "threshold": []}, dtype=float)
    fpr, tpr, thr = roc_curve(y, s)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})


def pr_table(y_true, score) -> pd.DataFrame:
    """Precision-recall curve (``recall``, ``precision``, ``threshold``), scikit-learn's."""
    from sklearn.metrics import precision_recall_curve

    y, s = _labels_scores(y_true, score)
    if not _both_classes(y, "pr_table"):
        return pd.DataFrame({"recall": [], "precision": [], "threshold": []}, dtype=float)
    precision, recall, thr = precision_recall_curve(y, s)
    # scikit-learn's last point (recall 0, precision 1) has no threshold
    return pd.DataFrame({"recall": recall, "precision": precision, "threshold": np.r_[thr, np.inf]})


def tpr_at_fpr(y_true, score, fpr: float) -> float:
    """Highest true-positive rate of any threshold whose false-positive rate is <= ``fpr``."""
    from sklearn.metrics import roc_curve

    y, s = _labels_scores(y_true, score)
    if not _both_classes(y, "tpr_at_fpr"):
        return np.nan
    f, t, _ = roc_curve(y, s)
    return float(t[f <= fpr].max())


def threshold_at_fpr(y_true, score, fpr: float) -> float:
    """Operating point: the threshold of highest TPR among those with FPR <= ``fpr``.

    Calling ``score >= threshold`` positive then flags at most a fraction ``fpr`` of the
    negatives (of ties in TPR, the ROC corner with the fewest); ``inf`` when even the
    best-scored frame is a negative beyond that rate.
    """
    from sklearn.metrics import roc_curve

    y, s = _labels_scores(y_true, score)
    if not _both_classes(y, "threshold_at_fpr"):
        return np.nan
    f, _, thr = roc_curve(y, s)
    return float(thr[np.flatnonzero(f <= fpr)[-1]])


def precision_at_recall(y_true, score, recall: float) -> float:
    """Highest precision of any threshold whose recall is >= ``recall``."""
    from sklearn.metrics import precision_recall_curve

    y, s = _labels_scores(y_true, score)
    if not _both_classes(y, "precision_at_recall"):
        return np.nan
    p, r, _ = precision_recall_curve(y, s)
    return float(p[r >= recall].max())


def roc_summary(y_true, score, *, fpr: float = 0.01) -> dict:
    """ROC AUC and the TPR at ``fpr`` (seed 002 §4.3: 1 %) of frame scores.

    Returns
    -------
    dict
        ``roc_auc``, ``tpr_at_fpr`` (fractions), ``fpr``, ``n_pos``, ``n_neg``.
    """
    from sklearn.metrics import roc_auc_score

    y, s = _labels_scores(y_true, score)
    ok = _both_classes(y, "roc_summary")
    return {
        "roc_auc": float(roc_auc_score(y, s)) if ok else np.nan,
        "tpr_at_fpr": tpr_at_fpr(y, s, fpr) if ok else np.nan,
        "fpr": float(fpr),
        "n_pos": int(y.sum()),
        "n_neg": int((~y).sum()),
    }


def _pixels(trail_mask, trail_prob, valid):
    """Truth and prediction as arrays, and the pixels that count (finite, in ``valid``)."""
    m = np.asarray(trail_mask).astype(bool)
    p = np.asarray(trail_prob, dtype=np.float32)
    if m.shape != p.shape:
        raise InputError(f"trail_prob: expected the shape of trail_mask {m.shape}, got {p.shape}")
    sel = np.isfinite(p)
    if valid is not None:
        sel &= np.broadcast_to(np.asarray(valid, bool), m.shape)
    return m, p, sel


def pixel_metrics(
    trail_mask,
    trail_prob,
    *,
    valid=None,
    fpr: float = 1e-5,
    recall: float = 0.9,
    fp_per_frame: float = 10.0,
) -> dict:
    """Pixel-wise ROC AUC, TPR at ``fpr`` and precision at ``recall`` (seed 002 §4.4).

    Seed 002 picks 1e-5 FPR "to limit the number of false positives to 10 pixels maximum
    per image" on its ~1 Mpix frames. A fixed FPR allows fewer false pixels per frame on
    smaller frames (under 0.4 on a 200x200 CHEOPS frame), so the TPR at ``fp_per_frame`` false
    pixels per frame, seed 002's intent at any frame size, is given beside it.

    Parameters
    ----------
    trail_mask : array-like of bool (frame, y, x)
        Ground-truth trail pixels.
    trail_prob : array-like of float (frame, y, x)
        Predicted probability per pixel (:func:`satlab.detect.segment`); NaN pixels and
        pixels outside ``valid`` are left out.
    valid : array-like of bool, optional
        Footprint ``(y, x)`` or ``(frame, y, x)``.
    fpr, recall : float
        Operating points (seed 002: 1e-5 FPR, 90 % recall).
    fp_per_frame : float
        False-positive pixels allowed per frame, on average over the frames, for
        ``tpr_at_fp_per_frame`` (seed 002: 10).

    Returns
    -------
    dict
        ``roc_auc``, ``tpr_at_fpr``, ``precision_at_recall``, ``tpr_at_fp_per_frame``
        (fractions; NaN without both trail and sky pixels), ``n_pos_px``, ``n_neg_px``.
    """
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    m, p, sel = _pixels(trail_mask, trail_prob, valid)
    m, p = m[sel], p[sel]
    n_frames = np.shape(trail_mask)[0] if np.ndim(trail_mask) == 3 else 1
    out = {"n_pos_px": int(m.sum()), "n_neg_px": int((~m).sum())}
    if not _both_classes(m, "pixel_metrics"):
        return {**dict.fromkeys(PIXEL_METRICS, np.nan), **out}
    # one curve per quantity, each computed once on the (large) pixel set
    f, t, _ = roc_curve(m, p)
    prec, rec, _ = precision_recall_curve(m, p)
    return {
        "roc_auc": float(auc(f, t)),
        "tpr_at_fpr": float(t[f <= fpr].max()),
        "precision_at_recall": float(prec[rec >= recall].max()),
        "tpr_at_fp_per_frame": float(t[f * out["n_neg_px"] <= fp_per_frame * n_frames].max()),
        **out,
    }


def false_pixel_frames(trail_mask, trail_prob, *, valid=None, fpr: float = 1e-5) -> pd.DataFrame:
    """The frames holding the sky pixels scored above the pixel TPR's threshold at ``fpr``.

    At 1e-5 FPR a set of 300 CHEOPS frames allows 88 false pixels, and one frame's
    confident mistake (a band drawn past a trail's end, say) can hold all of them: its
    pixels, not the typical frame, then set the threshold every trail pixel is measured
    against. This table names those frames (see also :func:`pixel_tpr_interval`).

    Parameters
    ----------
    trail_mask, trail_prob, valid, fpr
        As for :func:`pixel_tpr_interval`.

    Returns
    -------
    pandas.DataFrame
        One row per frame with such pixels, most first: ``frame`` (position),
        ``false_px`` (sky pixels at or above the threshold), ``share`` (of all of them)
        and ``threshold`` (the operating point of ``tpr_at_fpr`` in :func:`pixel_metrics`).
        Empty when no sky pixel reaches it (or without trail and sky pixels).
    """
    mask, prob, sel = _pixels(trail_mask, trail_prob, valid)
    if mask.ndim != 3:
        raise InputError(f"trail_mask: expected dims (frame, y, x), got shape {mask.shape}")
    empty = pd.DataFrame(
        {"frame": pd.Series(dtype="int64"), "false_px": pd.Series(dtype="int64"),
         "share": pd.Series(dtype=float), "threshold": pd.Series(dtype=float)}
    )  # fmt: skip
    if not _both_classes(mask[sel], "false_pixel_frames"):
        return empty
    threshold = threshold_at_fpr(mask[sel], prob[sel], fpr)  # that of pixel_metrics' TPR
    counts = (sel & ~mask & (prob >= threshold)).sum(axis=(1, 2))
    frames = np.flatnonzero(counts)
    if not frames.size:
        return empty
    out = pd.DataFrame(
        {
            "frame": frames.astype(np.int64),
            "false_px": counts[frames].astype(np.int64),
            "share": counts[frames] / counts.sum(),
            "threshold": threshold,
        }
    )
    return out.sort_values(["false_px", "frame"], ascending=[False, True], ignore_index=True)


def _tpr_of_frames(trail_mask, trail_prob, valid, fpr: float):
    """``f(frames) -> pixel TPR at fpr`` over the frames listed (repeats count again).

    The TPR is that of :func:`pixel_metrics`: the share of trail pixels scored above the
    ``(m + 1)``-th highest sky pixel, ``m = floor(fpr * n_sky)``. That pixel lies among
    the ``m + 1`` highest of its own frame, and ``m`` cannot exceed ``fpr`` times the sky
    of the frames repeated, so each frame keeps only its highest sky pixels and its sorted
    trail pixels.
    """
    mask, prob, sel = _pixels(trail_mask, trail_prob, valid)
    if mask.ndim != 3:
        raise InputError(f"trail_mask: expected dims (frame, y, x), got shape {mask.shape}")
    n = mask.shape[0]
    n_sky = (sel & ~mask).sum(axis=(1, 2))
    keep = int(np.floor(fpr * n * n_sky.max())) + 1
    sky_top = np.full((n, keep), -np.inf, np.float32)
    trail = []
    for k in range(n):
        sky = prob[k][sel[k] & ~mask[k]]
        top = sky if sky.size <= keep else np.partition(sky, sky.size - keep)[-keep:]
        sky_top[k, : top.size] = top
        trail.append(np.sort(prob[k][sel[k] & mask[k]]))
    n_trail = np.array([t.size for t in trail])

    def tpr(frames) -> float:
        frames, repeats = np.unique(np.asarray(frames, dtype=np.int64), return_counts=True)
        total = (n_trail[frames] * repeats).sum()
        if not total:
            return np.nan
        m = int(np.floor(fpr * (n_sky[frames] * repeats).sum()))
        tails = np.repeat(sky_top[frames], repeats, axis=0).ravel()
        thr = np.partition(tails, tails.size - m - 1)[tails.size - m - 1]
        above = [trail[f].size - np.searchsorted(trail[f], thr, side="right") for f in frames]
        return float(np.dot(above, repeats) / total)

    return tpr


def pixel_tpr_interval(
    trail_mask,
    trail_prob,
    *,
    valid=None,
    fpr: float = 1e-5,
    confidence_level: float = 0.68,
    n_resamples: int = 200,
    seed: int = 0,
) -> tuple[float, float]:
    """Frame-bootstrap confidence interval of the pixel TPR at ``fpr``.

    At 1e-5 FPR a few hundred sky pixels set the threshold, and on small frames those sit
    in one or two frames' confident mistakes, so the TPR moves by points from one set of
    frames to the next. Frames are resampled with replacement
    (:func:`scipy.stats.bootstrap`, percentile method) and the TPR computed exactly as
    :func:`pixel_metrics` does on each resample.

    Parameters
    ----------
    trail_mask, trail_prob : array-like (frame, y, x)
        Truth and prediction, as for :func:`pixel_metrics`.
    valid : array-like of bool, optional
        Footprint ``(y, x)`` or ``(frame, y, x)``.
    fpr : float
        Operating point (seed 002: 1e-5).
    confidence_level : float
        Central share of the bootstrap distribution (0.68: +-1 sigma).
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    (float, float)
        Lower and upper ends (fractions); NaN without trail pixels or with one frame.
    """
    from scipy.stats import bootstrap

    if not 0 < confidence_level < 1:
        raise InputError(f"confidence_level: expected a share in (0, 1), got {confidence_level}")
    tpr = _tpr_of_frames(trail_mask, trail_prob, valid, fpr)
    n = np.shape(trail_mask)[0]
    if n < 2 or np.isnan(tpr(np.arange(n))):
        return (np.nan, np.nan)
    with warnings.catch_warnings():
        # a resample of frames without trail pixels has no TPR; the interval skips it
        warnings.simplefilter("ignore", RuntimeWarning)
        res = bootstrap(
            (np.arange(n),),
            tpr,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def frame_properties(truth: pd.DataFrame, frames: pd.DataFrame) -> pd.DataFrame:
    """Per-frame quantities for the binned tables.

    Parameters
    ----------
    truth : pandas.DataFrame
        One row per injected trail (:func:`satlab.simulate.truth_table`): ``frame``,
        ``snr_avg``, ``snr_tot``, ``length_px``.
    frames : pandas.DataFrame
        One row per frame, indexed by frame, with ``n_stars`` (and ``label``).

    Returns
    -------
    pandas.DataFrame
        Indexed by frame: ``n_stars`` and, for frames with trails, the ``snr_avg``,
        ``snr_tot`` and ``length_px`` (and ``jitter_px``, when ``truth`` has it) of the
        frame's strongest trail (highest ``snr_tot``); NaN for frames without trail.
    """
    for col in ("frame", "snr_avg", "snr_tot", "length_px"):
        if col not in truth:
            raise InputError(f"truth: expected a column {col!r}, found {list(truth.columns)}")
    strongest = truth.sort_values("snr_tot").groupby("frame").tail(1).set_index("frame")
    out = frames.copy()
    for col in ("snr_avg", "snr_tot", "length_px", "jitter_px"):
        if col in strongest:
            out[col] = strongest[col].reindex(out.index)
    return out


def _bins(props: pd.DataFrame, bins: dict):
    for quantity, edges in bins.items():
        if quantity not in props:
            raise InputError(f"bins: no per-frame column {quantity!r}; have {list(props.columns)}")
        for lo, hi in itertools.pairwise(edges):
            sel = (props[quantity] >= lo) & (props[quantity] < hi)
            yield quantity, lo, hi, props.index[sel.to_numpy()]


def binned_pixel_metrics(
    trail_mask,
    trail_prob,
    props: pd.DataFrame,
    *,
    bins: dict | None = None,
    valid=None,
    fpr: float = 1e-5,
    recall: float = 0.9,
    fp_per_frame: float = 10.0,
) -> pd.DataFrame:
    """Seed 002 Table 1: pixel metrics over all frames and per bin of frame quantities.

    Parameters
    ----------
    trail_mask, trail_prob : array-like (frame, y, x)
        Truth and prediction, frames in the order of ``props``'s index positions.
    props : pandas.DataFrame
        Per-frame quantities (:func:`frame_properties`), one row per frame in order.
    bins : dict, optional
        ``{column: edges}``; default :data:`SEED002_BINS`.
    valid : array-like of bool, optional
        Footprint ``(y, x)``.
    fpr, recall, fp_per_frame : float
        Operating points (:func:`pixel_metrics`).

    Returns
    -------
    pandas.DataFrame
        ``quantity, lo, hi, n_frames, roc_auc, tpr_at_fpr, precision_at_recall,
        tpr_at_fp_per_frame, n_pos_px, n_neg_px``; first row ``quantity="all"``. A bin
        holds the frames whose quantity lies in ``[lo, hi)``; bins without trail pixels
        give NaN metrics.
    """
    mask = np.asarray(trail_mask).astype(bool)
    prob = np.asarray(trail_prob, dtype=np.float32)
    if len(props) != mask.shape[0]:
        raise InputError(f"props: expected one row per frame ({mask.shape[0]}), got {len(props)}")
    pos = pd.Series(np.arange(len(props)), index=props.index)
    rows = [
        {
            "quantity": "all",
            "lo": np.nan,
            "hi": np.nan,
            "n_frames": len(props),
            **pixel_metrics(
                mask, prob, valid=valid, fpr=fpr, recall=recall, fp_per_frame=fp_per_frame
            ),
        }
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)  # empty bins are NaN rows, by design
        for quantity, lo, hi, idx in _bins(props, SEED002_BINS if bins is None else bins):
            k = pos[idx].to_numpy()
            metrics = (
                pixel_metrics(
                    mask[k], prob[k], valid=valid, fpr=fpr, recall=recall, fp_per_frame=fp_per_frame
                )
                if len(k)
                else dict.fromkeys(PIXEL_METRICS, np.nan)
            )
            rows.append({"quantity": quantity, "lo": lo, "hi": hi, "n_frames": len(k), **metrics})
    return pd.DataFrame(rows)


def match_trails(
    detected: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    angle_tol_deg: float = 6.0,
    dist_px: float = 15.0,
) -> pd.DataFrame:
    """Which injected trails were found: same frame, same direction, on the same line.

    A detection matches a truth trail when their ``theta`` differ by at most
    ``angle_tol_deg`` [deg] (seed 001's 6 deg crossmatch tolerance) and the midpoint of
    the truth segment lies within ``dist_px`` [px] of the detected line. Each detection
    matches at most one truth trail (the nearest).

    Returns
    -------
    pandas.DataFrame
        ``truth`` with ``detected`` (bool), ``score`` (of the matched detection, NaN if
        none) and ``match`` (row label in ``detected``, -1 if none).
    """
    out = truth.copy()
    out["detected"] = False
    out["score"] = np.nan
    out["match"] = -1
    if detected.empty or truth.empty:
        return out
    used = set()
    for frame, det in detected.groupby("frame"):
        tru = truth.index[truth["frame"] == frame]
        for i, d in det.sort_values("score", ascending=False).iterrows():
            th = np.radians(d["theta"])
            best, best_dist = None, dist_px
            for j in tru:
                if j in used:
                    continue
                t = truth.loc[j]
                dtheta = abs((t["theta"] - d["theta"] + 90.0) % 180.0 - 90.0)
                mx, my = (t["x0"] + t["x1"]) / 2.0, (t["y0"] + t["y1"]) / 2.0
                dist = abs(mx * np.cos(th) + my * np.sin(th) - d["rho"])
                if dtheta <= angle_tol_deg and dist <= best_dist:
                    best, best_dist = j, dist
            if best is not None:
                used.add(best)
                out.loc[best, ["detected", "score", "match"]] = [True, d["score"], i]
    return out


def binned_recall(matched: pd.DataFrame, *, bins: dict | None = None) -> pd.DataFrame:
    """Fraction of injected trails detected, over all and per bin (seed 002 Table 1 bins).

    Parameters
    ----------
    matched : pandas.DataFrame
        :func:`match_trails` output, with the binned columns (``snr_avg``, ``snr_tot``,
        ``length_px``, ``n_stars`` by default) and optionally ``method``.
    bins : dict, optional
        ``{column: edges}``; default :data:`SEED002_BINS`.

    Returns
    -------
    pandas.DataFrame
        ``method, quantity, lo, hi, n_trails, n_detected, recall``.
    """
    bins = SEED002_BINS if bins is None else bins
    rows = []
    groups = matched.groupby("method") if "method" in matched else [("", matched)]
    for method, m in groups:
        m = m.reset_index(drop=True)
        rows.append(
            {
                "method": method,
                "quantity": "all",
                "lo": np.nan,
                "hi": np.nan,
                "n_trails": len(m),
                "n_detected": int(m["detected"].sum()),
            }
        )
        for quantity, lo, hi, idx in _bins(m, bins):
            rows.append(
                {
                    "method": method,
                    "quantity": quantity,
                    "lo": lo,
                    "hi": hi,
                    "n_trails": len(idx),
                    "n_detected": int(m.loc[idx, "detected"].sum()),
                }
            )
    out = pd.DataFrame(rows)
    out["recall"] = out["n_detected"] / out["n_trails"].where(out["n_trails"] > 0)
    return out


def histogram_peak(values, *, bins: int = 20, log: bool = False) -> float:
    """Centre of the most populated histogram bin (NaN for no value).

    Seed 001 Table 1's brightness limit is this peak on the histogram of detected trail
    brightness: detections rise towards fainter trails until the detector starts to miss
    them. ``log=True`` bins ``log10(values)`` (fluxes) and returns the peak in ``values``.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & ((v > 0) if log else True)]
    if v.size == 0:
        return np.nan
    x = np.log10(v) if log else v
    counts, edges = np.histogram(x, bins=bins)
    i = int(np.argmax(counts))
    peak = (edges[i] + edges[i + 1]) / 2.0
    return float(10**peak if log else peak)


def completeness_limit(values, detected, *, level: float = 0.5) -> float:
    """Brightness at which a ``level`` fraction of trails is detected (e.g. ``mag_50``).

    A logistic regression of ``detected`` on ``values`` (scikit-learn, practically
    unregularised) is solved for the probability ``level``. NaN when fewer than 3 trails
    were detected or missed, or when the solution falls outside the measured range (no
    transition to locate, only an extrapolation).
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(values, dtype=np.float64)
    y = np.asarray(detected).astype(bool)
    ok = np.isfinite(x)
    x, y = x[ok], y[ok]
    if y.sum() < 3 or (~y).sum() < 3:
        return np.nan
    centre, scale = x.mean(), x.std() or 1.0
    fit = LogisticRegression(C=1e6).fit(((x - centre) / scale)[:, None], y)
    a, b = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    if a == 0:
        return np.nan
    limit = float(centre + scale * (np.log(level / (1 - level)) - b) / a)
    return limit if x.min() <= limit <= x.max() else np.nan


def method_table(entries: list[dict]) -> pd.DataFrame:
    """Seed 001 Table 1: detectors side by side at their operating points.

    Parameters
    ----------
    entries : list of dict
        One per method with ``method``; ``label`` and ``flagged`` (bool per frame: truth
        and the method's call); ``detected_mag`` and ``detected_flux`` (truth brightness of
        the trails it found); ``seconds_per_image`` [s]; ``line_information`` (bool: gives
        ``rho, theta`` itself); optional ``threshold`` and ``mag_50`` (magnitude of 50 %
        completeness).

    Returns
    -------
    pandas.DataFrame
        ``method, threshold, n_frames, n_detections, n_true_detections, recall,
        false_positive_rate, brightness_limit_mag, brightness_limit_flux_adu, mag_50,
        time_per_image_s, line_information``.
    """
    rows = []
    for e in entries:
        label = np.asarray(e["label"]).astype(bool)
        flagged = np.asarray(e["flagged"]).astype(bool)
        rows.append(
            {
                "method": e["method"],
                "threshold": e.get("threshold", np.nan),
                "n_frames": int(label.size),
                "n_detections": int(flagged.sum()),
                "n_true_detections": int((flagged & label).sum()),
                "recall": (flagged & label).sum() / max(label.sum(), 1),
                "false_positive_rate": (flagged & ~label).sum() / max((~label).sum(), 1),
                "brightness_limit_mag": histogram_peak(e["detected_mag"]),
                "brightness_limit_flux_adu": histogram_peak(e["detected_flux"], log=True),
                "mag_50": e.get("mag_50", np.nan),
                "time_per_image_s": float(e["seconds_per_image"]),
                "line_information": bool(e["line_information"]),
            }
        )
    return pd.DataFrame(rows)
