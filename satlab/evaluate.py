"""The evaluation harness: a model and the classic baselines on one held-out simulated set.

:func:`evaluate` simulates labelled frames (:func:`satlab.simulate.simulate_frames`,
hard negatives included, seeds disjoint from training), runs a trail network (via
:func:`satlab.detect.classify` or :func:`satlab.detect.segment`, by its registry task)
and the classic detectors (:mod:`satlab.classic`) on them, and scores every method the
same way:

* frame ROC AUC / TPR at 1 % FPR and the seed 001 counts at 0.8 and 0.5;
* each method's own operating point at a common false-positive rate (``fpr``), where
  trail recall per bin of SNR, length and star count (seed 002 Table 1 bins) and the
  method table of seed 001 Table 1 (brightness limit, time per image ...) are read;
* for a segmentation model, the pixel metrics of seed 002 §4.4 and their binned table.

:func:`generalisation` repeats it on frames the simulator did not make (seed 002's
CompositeScene: real images as backgrounds; Hipparcos star fields) and reports the drop.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np
import pandas as pd

from .errors import InputError, OutputExistsError, SatlabWarning

__all__ = [
    "COLUMN_BINS",
    "EVAL_SEED",
    "EVAL_SNR",
    "JITTER_BINS",
    "Evaluation",
    "evaluate",
    "evaluate_command",
    "generalisation",
    "hubble_backgrounds",
]

# Held-out sets start here; satlab's training runs draw their frames from smaller seeds.
EVAL_SEED = 90_000_000
# the held-out trails' snr_avg, log-uniform: the S/N mix of seed 002's test set (its five
# Table 1 bins hold 15-26 % of the trails each; these hold 18, 14, 22, 24, 22 %)
EVAL_SNR = (0.2, 30.0)
CLASSIC = ("hough", "radon", "findsat")
# trail recall is also binned by the angle [deg] between a trail and the detector columns,
# where read-out smear runs: trails along them are the networks' hardest (README)
COLUMN_BINS = {"column_angle_deg": [0.0, 5.0, 10.0, 20.0, 90.01]}
# trail recall and pixel metrics are binned by the amplitude [px] of the telescope jitter
# that waves a trail (0: straight). Seed 002's sets had none; the mask follows the wave
# only as far as the PSF keeps it in the light (satlab.simulate.truth_table)
JITTER_BINS = {"jitter_px": [0.0, 0.1, 1.0, np.inf]}


@dataclass
class Evaluation:
    """Result of :func:`evaluate`: tables, curves and the run's parameters.

    Attributes
    ----------
    tables : dict of str to pandas.DataFrame
        ``summary`` (one row per method: ROC AUC, TPR at ``fpr``, operating threshold,
        recall, FPR, ``mag_50``), ``methods`` (seed 001 Table 1), ``classification``
        (seed 001 counts at 0.8 / 0.5 and at each operating point), ``classic_positives``
        (a frame classifier evaluated beside classic baselines: the same counts, ROC AUC
        and TPR at ``fpr`` on seed 001's kind of test set, whose positives are the frames
        where a classic baseline found the trail; ``n_pos_all`` counts every positive),
        ``recall_binned``
        (trail recall per seed 002 Table 1 bin), ``pixel_binned`` (segmentation models
        only: the network's ``trail_prob`` and, as method ``"<model> refined"``, the
        same sharpened by the fitted trails, their lines measured again on the frames,
        :func:`satlab.lines.refine` with ``frames``; the ``"all"`` rows give a 68 %
        frame-bootstrap interval of the TPR at 1e-5 FPR, ``tpr_at_fpr_lo`` /
        ``tpr_at_fpr_hi``, :func:`satlab.metrics.pixel_tpr_interval`),
        ``pixel_false_frames`` (segmentation models only: per method, the frames holding
        the sky pixels above the threshold of that TPR, with the frame's ``label``,
        ``negative_kind`` and its trails' lowest ``snr_avg``,
        :func:`satlab.metrics.false_pixel_frames`), ``matched``
        (every injected trail and whether each method found it), ``trails`` (every
        detection), ``frame_scores``.
    curves : dict of str to dict of str to pandas.DataFrame
        ``roc`` and ``pr`` curves per method (frame level); ``pixel_roc`` / ``pixel_pr``
        for a segmentation model and its refined probabilities.
    params : dict
        Parameters, seeds, simulation record and package versions.
    """

    tables: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def plots(self) -> dict:
        """holoviews ROC and precision-recall overlays of the frame (and pixel) curves."""
        from .plot import pr_plot, roc_plot

        out = {
            "roc": roc_plot(self.curves["roc"], fpr_mark=self.params["fpr"], title="frames"),
            "pr": pr_plot(self.curves["pr"], title="frames"),
        }
        if self.curves.get("pixel_roc"):
            out["pixel_roc"] = roc_plot(
                self.curves["pixel_roc"], fpr_mark=1e-5, log_fpr=True, title="pixels"
            )
            out["pixel_pr"] = pr_plot(self.curves["pixel_pr"], title="pixels")
        return out

    def save(self, out, *, overwrite: bool = False) -> Path:
        """Write tables (Parquet and CSV), plots (HTML) and ``params.json`` into ``out``.

        Raises
        ------
        satlab.errors.OutputExistsError
            ``out`` already holds a ``params.json`` and ``overwrite`` is false.
        """
        import holoviews as hv

        out = Path(out)
        if (out / "params.json").exists() and not overwrite:
            raise OutputExistsError(f"{out}: holds an evaluation already; pass overwrite=True")
        out.mkdir(parents=True, exist_ok=True)
        for name, df in self.tables.items():
            flat = df.copy()
            flat.attrs = {}
            flat.to_parquet(out / f"{name}.parquet")
            flat.to_csv(out / f"{name}.csv", index=False)
        for name, plot in self.plots().items():
            hv.save(plot, out / f"{name}.html", backend="bokeh")
        (out / "params.json").write_text(json.dumps(self.params, indent=2, default=str))
        return out


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from ._version import __version__

    out = {"satlab": __version__}
    for pkg in ("numpy", "scipy", "scikit-image", "scikit-learn", "torch", "xarray"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _frame_scores(trails: pd.DataFrame, frame_ids) -> np.ndarray:
    """Per-frame score of a trail detector: its best trail's score, 0 without one."""
    best = trails.groupby("frame")["score"].max() if len(trails) else pd.Series(dtype=float)
    return best.reindex(frame_ids).fillna(0.0).to_numpy(dtype=float)


def _quiet(func, *args, **kwargs):
    """Run a detector; 'no trail found' is an expected answer on negative frames."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "trails .*no trail found", SatlabWarning)
        return func(*args, **kwargs)


def _run_methods(ds, *, model, methods, device, weights, seed):
    """Score every method; returns {name: (frame_score, trails or None, seconds/frame, prob)}."""
    from . import detect
    from .lines import trails_from_mask

    n = ds.sizes["frame"]
    frames = ds[["flux", "valid"]]
    ids = np.asarray(ds["frame"].values)
    runs = {}
    if model is not None:
        from .models import get_spec

        task = get_spec(model).task
        t0 = time.perf_counter()
        if task == "segment":
            prob = detect.segment(frames, model=model, device=device, weights=weights)
            prob = prob.compute() if hasattr(prob.data, "dask") else prob
            found = _quiet(
                trails_from_mask, prob, valid=ds["valid"].values, seed=seed, method=model
            )
            dt = (time.perf_counter() - t0) / n
            runs[model] = (_frame_scores(found, ids), found, dt, prob)
        else:
            score = detect.classify(frames, model=model, device=device, weights=weights)
            dt = (time.perf_counter() - t0) / n
            runs[model] = (np.asarray(score.values, float), None, dt, None)
    for m in methods:
        t0 = time.perf_counter()
        found = _quiet(detect.trails, frames, method=m, seed=seed)
        runs[m] = (_frame_scores(found, ids), found, (time.perf_counter() - t0) / n, None)
    return runs


def evaluate(
    model: str | None = "trail-mobilenetv2",
    *,
    preset: str = "cheops",
    n: int = 200,
    seed: int = EVAL_SEED,
    methods=("hough", "radon"),
    fpr: float = 0.01,
    trail_fraction: float = 0.5,
    hard_negative_fraction: float = 0.5,
    snr_range=EVAL_SNR,
    column_fraction: float = 0.0,
    jitter_fraction: float = 0.2,
    scene=None,
    frames=None,
    device: str = "auto",
    weights=None,
    out=None,
    overwrite: bool = False,
) -> Evaluation:
    """Evaluate a trail network and the classic baselines on a held-out simulated set.

    Parameters
    ----------
    model : str or None
        Registry name (``trail-mobilenetv2``, ``trail-cnn``: frame classifiers;
        ``trail-unet``: segmentation, whose trails come from :func:`satlab.detect.trails`),
        or ``None`` for the classic baselines alone.
    preset : str
        Simulator instrument preset.
    n : int
        Number of simulated frames.
    seed : int
        Simulation seed; the default :data:`EVAL_SEED` is disjoint from training seeds.
    methods : sequence of str
        Classic baselines among ``"hough"``, ``"radon"``, ``"findsat"`` (needs acstools).
    fpr : float
        Common frame false-positive rate at which every method's operating threshold is
        set (seed 002: 1 %); recall, brightness limits and binned tables are read there.
    trail_fraction, hard_negative_fraction : float
        Simulation mix: frames with trails, and hard negatives among the others.
    snr_range : (low, high) or None
        The trails' ``snr_avg`` range (see :func:`satlab.simulate.simulate_frames`);
        default :data:`EVAL_SNR`, seed 002's test-set mix; ``None`` draws magnitudes
        from the preset's ``mag_range`` instead (most CHEOPS trails then lie below the
        noise).
    column_fraction : float
        Share of trails drawn within :data:`satlab.simulate.COLUMN_DEG` of the detector
        columns (a stress test: read-out smear runs along them); 0 (default) draws every
        direction alike. ``recall_binned`` always bins trails by ``column_angle_deg``.
    jitter_fraction : float
        Share of trails whose path the telescope's jitter waves (amplitude 0.3-2 px; see
        :func:`satlab.simulate.simulate_frames`); 0 gives seed 002's straight trails.
        ``recall_binned`` and ``pixel_binned`` bin by ``jitter_px``.
    scene : SimulatedScene, CatalogScene or CompositeScene, optional
        Background scene (see :func:`generalisation`); default the preset's.
    frames : xarray.Dataset, optional
        Use these simulated frames (with truth) instead of simulating.
    device : str
        Torch device for the network.
    weights : path, optional
        Weights file to evaluate instead of the shipped one.
    out : path, optional
        Directory to write tables, plots and parameters into (:meth:`Evaluation.save`).
    overwrite : bool
        Replace an existing evaluation in ``out``.

    Returns
    -------
    Evaluation
        Tables, curves and parameters (see :class:`Evaluation`).
    """
    from .metrics import (
        SEED002_BINS,
        binned_pixel_metrics,
        binned_recall,
        classification_metrics,
        completeness_limit,
        false_pixel_frames,
        frame_properties,
        match_trails,
        method_table,
        pixel_tpr_interval,
        pr_table,
        roc_summary,
        roc_table,
        threshold_at_fpr,
    )
    from .simulate import simulate_frames, truth_table

    methods = tuple(methods)
    unknown = set(methods) - set(CLASSIC)
    if unknown:
        raise InputError(f"methods: expected a subset of {CLASSIC}, got {sorted(unknown)}")
    if model is None and not methods:
        raise InputError("evaluate: nothing to evaluate; give a model or classic methods")
    if not 0 < fpr < 1:
        raise InputError(f"fpr: expected a rate in (0, 1), got {fpr}")
    if frames is None:
        ds = simulate_frames(
            preset,
            n,
            seed=seed,
            trail_fraction=trail_fraction,
            hard_negative_fraction=hard_negative_fraction,
            snr_range=snr_range,
            column_fraction=column_fraction,
            jitter_fraction=jitter_fraction,
            scene=scene,
        )
    else:
        missing = {"label", "trail_mask", "n_stars"} - set(frames.variables)
        if missing:
            raise InputError(
                f"frames: expected simulated frames with truth, missing {sorted(missing)}"
            )
        ds = frames
    label = np.asarray(ds["label"].values, bool)
    if label.all() or not label.any():
        raise InputError(
            f"frames: need frames with and without trails, got {label.sum()} of {label.size}"
        )
    # frames by position from here on; the truth keeps the trails of the frames given
    truth = truth_table(ds)
    position = dict(zip(ds["frame"].values.tolist(), range(ds.sizes["frame"]), strict=True))
    truth["frame"] = truth["frame"].map(position).astype(np.int64)
    ds = ds.assign_coords(frame=np.arange(ds.sizes["frame"]))
    info = pd.DataFrame(
        {
            "label": label,
            "negative_kind": ds["negative_kind"].values if "negative_kind" in ds else "",
            "n_stars": ds["n_stars"].values,
        },
        index=pd.Index(ds["frame"].values, name="frame"),
    )
    truth["n_stars"] = info["n_stars"].reindex(truth["frame"]).to_numpy()
    truth["column_angle_deg"] = truth["theta"].abs()  # theta is the normal's angle to x
    runs = _run_methods(ds, model=model, methods=methods, device=device, weights=weights, seed=0)

    summary, entries, classes, matched_all, found_all = [], [], [], [], []
    classic_found = np.zeros(label.size, bool)
    curves = {"roc": {}, "pr": {}}
    scores = pd.DataFrame(index=info.index)
    for name, (score, found, seconds, _) in runs.items():
        scores[name] = score
        curves["roc"][name] = roc_table(label, score)
        curves["pr"][name] = pr_table(label, score)
        thr = threshold_at_fpr(label, score, fpr)
        flagged = score >= thr
        if found is None:  # a frame classifier: every trail of a flagged frame counts
            m = truth.assign(detected=flagged[truth["frame"].to_numpy()])
            m["score"] = score[truth["frame"].to_numpy()]
        else:
            m = match_trails(found[found["score"] >= thr], truth)
            found_all.append(found)
            if name in CLASSIC:
                classic_found[m.loc[m["detected"], "frame"].to_numpy()] = True
        m["method"] = name
        matched_all.append(m)
        line_info = found is not None
        ths = (0.8, 0.5, thr) if name == model and found is None else (thr,)
        cm = classification_metrics(label, score, thresholds=ths)
        classes.append(cm.assign(method=name, operating=np.isclose(cm["threshold"], thr)))
        mag50 = completeness_limit(m["mag"], m["detected"])
        entries.append(
            {
                "method": name,
                "threshold": thr,
                "label": label,
                "flagged": flagged,
                "detected_mag": m.loc[m["detected"], "mag"],
                "detected_flux": m.loc[m["detected"], "flux"],
                "seconds_per_image": seconds,
                "line_information": line_info,
                "mag_50": mag50,
            }
        )
        summary.append(
            {
                "method": name,
                **{k: v for k, v in roc_summary(label, score, fpr=fpr).items() if k != "fpr"},
                "threshold": thr,
                "recall_trails": float(m["detected"].mean()) if len(m) else np.nan,
                "fpr_frames": float(flagged[~label].mean()),
                "mag_50": mag50,
                "time_per_image_s": seconds,
            }
        )
    tables = {
        "summary": pd.DataFrame(summary),
        "methods": method_table(entries),
        "classification": pd.concat(classes, ignore_index=True),
        "recall_binned": binned_recall(
            pd.concat(matched_all, ignore_index=True),
            bins={**SEED002_BINS, **COLUMN_BINS, **JITTER_BINS},
        ),
        "matched": pd.concat(matched_all, ignore_index=True),
        "frame_scores": scores.join(info).reset_index(),
    }
    if found_all:
        tables["trails"] = pd.concat(found_all, ignore_index=True)
    if model is not None and runs[model][1] is None and methods:
        tables["classic_positives"] = _classic_positives(
            label, scores[model].to_numpy(), classic_found, fpr=fpr
        )
    prob = runs[model][3] if model is not None else None
    if prob is not None:
        from .lines import refine

        mask = ds["trail_mask"].values
        valid = ds["valid"].values
        props = frame_properties(truth, info)
        sel = np.broadcast_to(valid, mask.shape) & np.isfinite(prob.values)
        binned, false_frames, curves["pixel_roc"], curves["pixel_pr"] = [], [], {}, {}
        # the network's probabilities, and the same sharpened by the fitted trails (refine
        # fits them again: at its lower hysteresis, not the frame scores' trails above),
        # their lines measured again on the frames
        refined = refine(prob, frames=ds, seed=seed)
        for name, pr in ((model, prob), (f"{model} refined", refined)):
            p = np.asarray(pr.values, np.float32)
            binned.append(
                binned_pixel_metrics(
                    mask, p, props, valid=valid, bins={**SEED002_BINS, **JITTER_BINS}
                )
            )
            binned[-1].insert(0, "method", name)
            # one or two frames set the 1e-5 threshold on small frames: say how far it moves
            binned[-1].loc[0, ["tpr_at_fpr_lo", "tpr_at_fpr_hi"]] = pixel_tpr_interval(
                mask, p, valid=valid, seed=seed
            )
            false_frames.append(false_pixel_frames(mask, p, valid=valid))
            false_frames[-1].insert(0, "method", name)
            curves["pixel_roc"][name] = _thin(roc_table(mask[sel], p[sel]), "fpr")
            curves["pixel_pr"][name] = _thin(pr_table(mask[sel], p[sel]), "recall")
        tables["pixel_binned"] = pd.concat(binned, ignore_index=True)
        faint = truth.groupby("frame")["snr_avg"].min()
        false_frames = pd.concat(false_frames, ignore_index=True)
        tables["pixel_false_frames"] = false_frames.assign(
            label=info["label"].reindex(false_frames["frame"]).to_numpy(),
            negative_kind=info["negative_kind"].reindex(false_frames["frame"]).to_numpy(),
            snr_avg=faint.reindex(false_frames["frame"]).to_numpy(),
        )
    params = {
        "model": model,
        "weights": None if weights is None else str(weights),
        "preset": preset,
        "n": int(ds.sizes["frame"]),
        "seed": int(seed),
        "methods": list(methods),
        "fpr": fpr,
        "trail_fraction": trail_fraction,
        "hard_negative_fraction": hard_negative_fraction,
        "snr_range": None if snr_range is None or frames is not None else list(snr_range),
        "column_fraction": None if frames is not None else float(column_fraction),
        "jitter_fraction": None if frames is not None else float(jitter_fraction),
        "scene": type(scene).__name__ if scene is not None else None,
        # how segment ran (step, border, mirror images), from its output's attrs
        "segment": None
        if prob is None
        else {k: prob.attrs[k] for k in ("step_px", "border_px", "flips")},
        # how the refined probabilities were made
        "refine": None
        if prob is None
        else {
            k: refined.attrs[f"refine_{k}"] for k in ("weight", "soft_px", "on_image", "width_px")
        }
        # NaN (the fitted widths) is not JSON
        | ({"width_px": None} if np.isnan(refined.attrs["refine_width_px"]) else {}),
        "simulation": json.loads(ds.attrs.get("simulation", "null") or "null"),
        "versions": _versions(),
    }
    result = Evaluation(tables=tables, curves=curves, params=params)
    if out is not None:
        result.save(out, overwrite=overwrite)
    return result


def _classic_positives(label, score, found, *, fpr: float) -> pd.DataFrame:
    """A frame classifier on seed 001's test set: the positives the classic detectors find.

    Seed 001 took its positives from the frames where the classic pipeline (Gonçalves et
    al. 2026, line detection) had found a trail, and its negatives from the archive, hard
    ones included. Here the positives are the frames where a classic baseline, at its
    operating threshold, found an injected trail; the negatives are all of them.
    """
    from .metrics import classification_metrics, roc_summary

    keep = ~label | found
    table = classification_metrics(label[keep], score[keep], thresholds=(0.8, 0.5))
    roc = roc_summary(label[keep], score[keep], fpr=fpr)
    return table.assign(
        roc_auc=roc["roc_auc"], tpr_at_fpr=roc["tpr_at_fpr"], n_pos_all=int(label.sum())
    )


def _thin(curve: pd.DataFrame, x: str, n: int = 2000) -> pd.DataFrame:
    """At most ``n`` points of a curve for plotting (pixel curves have millions)."""
    if len(curve) <= n:
        return curve
    return curve.iloc[np.unique(np.linspace(0, len(curve) - 1, n).astype(int))]


def hubble_backgrounds(
    n: int = 32,
    *,
    size: int = 200,
    seed: int = 0,
    sky_adu: float = 100.0,
    sigma_adu: float = 10.0,
):
    """Cutouts of skimage's Hubble Deep Field as CompositeScene backgrounds.

    The 8-bit colour image is summed to grey, and each random ``size`` x ``size`` cutout
    is scaled so that its sky has median ``sky_adu`` and robust scatter ``sigma_adu``
    [ADU], like a CHEOPS frame, while the galaxies and stars keep their real shapes.

    Parameters
    ----------
    n : int
        Number of cutouts.
    size : int
        Cutout side [px]; at most the image's short side (872 px).
    seed : int
        Seed of the cutout positions and of the dither of the 8-bit sky.
    sky_adu, sigma_adu : float
        Sky level and robust (MAD) scatter of the scaled cutouts [ADU].

    Returns
    -------
    xarray.DataArray
        ``(frame, y, x)`` float32 backgrounds [ADU].
    """
    import xarray as xr
    from astropy.stats import mad_std
    from skimage.data import hubble_deep_field

    grey = hubble_deep_field().astype(np.float64).sum(axis=2)
    ny, nx = grey.shape
    if size > min(ny, nx):
        raise InputError(f"size: expected <= {min(ny, nx)} px (the image), got {size}")
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size), np.float32)
    for k in range(n):
        y0, x0 = rng.integers(0, ny - size + 1), rng.integers(0, nx - size + 1)
        cut = grey[y0 : y0 + size, x0 : x0 + size]
        # the JPEG sky is quantised: a tiny dither keeps the robust scatter non-zero
        cut = cut + rng.uniform(-0.5, 0.5, cut.shape)
        med, scat = np.median(cut), mad_std(cut)
        out[k] = sky_adu + (cut - med) * (sigma_adu / scat)
    return xr.DataArray(out, dims=("frame", "y", "x"), name="flux")


def generalisation(
    model: str | None = "trail-mobilenetv2",
    *,
    scenes: dict,
    preset: str = "cheops",
    n: int = 200,
    seed: int = EVAL_SEED,
    methods=("hough", "radon"),
    fpr: float = 0.01,
    snr_range=EVAL_SNR,
    device: str = "auto",
    weights=None,
) -> pd.DataFrame:
    """The same evaluation on other backgrounds, and the drop against satlab's own scenes.

    Parameters
    ----------
    scenes : dict of str to scene
        Named scenes (``CompositeScene(hubble_backgrounds(...))``,
        ``CatalogScene(hipparcos_catalogue())`` ...); ``"simulated"`` (the preset's own
        scene) is always evaluated first as the reference.
    model, preset, n, seed, methods, fpr, snr_range, device, weights
        As in :func:`evaluate`.

    Returns
    -------
    pandas.DataFrame
        One row per (scene, method): the :func:`evaluate` summary columns plus
        ``d_roc_auc``, ``d_tpr_at_fpr``, ``d_recall_trails`` and ``d_mag_50``, each the
        scene's value minus the simulated scene's (negative: worse, except ``d_mag_50``
        where negative means a brighter, worse limit).
    """
    rows = []
    for name, scene in {"simulated": None, **scenes}.items():
        ev = evaluate(
            model,
            preset=preset,
            n=n,
            seed=seed,
            methods=methods,
            fpr=fpr,
            snr_range=snr_range,
            scene=scene,
            device=device,
            weights=weights,
        )
        rows.append(ev.tables["summary"].assign(scene=name))
    table = pd.concat(rows, ignore_index=True)
    ref = table[table["scene"] == "simulated"].set_index("method")
    for col in ("roc_auc", "tpr_at_fpr", "recall_trails", "mag_50"):
        table[f"d_{col}"] = table[col] - ref[col].reindex(table["method"]).to_numpy()
    return table


def _scene(name: str, *, n: int, seed: int):
    """The background scene a CLI name stands for."""
    from .simulate import CatalogScene, CompositeScene, hipparcos_catalogue

    if name == "simulated":
        return None
    if name == "hubble":
        return CompositeScene(hubble_backgrounds(max(8, n // 4), seed=seed))
    return CatalogScene(hipparcos_catalogue())


def snr_range_option(ctx, param, value):
    """Click callback: ``LOW,HIGH`` -> ``(low, high)``; ``mag`` -> ``"mag"``; unset -> None."""
    if value is None or value.strip().lower() == "mag":
        return None if value is None else "mag"
    try:
        snr = tuple(float(v) for v in value.split(","))
    except ValueError:
        snr = ()
    if len(snr) != 2:
        raise click.BadParameter(f"expected LOW,HIGH or 'mag', got {value!r}")
    return snr


@click.command("evaluate")
@click.argument("name")
@click.option("--preset", default="cheops", show_default=True, help="Simulator preset.")
@click.option("--n", "n", type=int, default=200, show_default=True, help="Frames.")
@click.option("--seed", type=int, default=EVAL_SEED, show_default=True, help="Seed.")
@click.option(
    "--methods",
    default="hough,radon",
    show_default=True,
    help="Classic baselines, comma-separated (hough, radon, findsat); '' for none.",
)
@click.option("--fpr", type=float, default=0.01, show_default=True, help="Common FPR.")
@click.option(
    "--snr-range",
    default=f"{EVAL_SNR[0]:g},{EVAL_SNR[1]:g}",
    show_default=True,
    callback=snr_range_option,
    help="Trails' snr_avg range LOW,HIGH, or 'mag' for the preset's magnitude range.",
)
@click.option(
    "--column-fraction",
    type=float,
    default=0.0,
    show_default=True,
    help="Share of trails drawn near the detector columns (a read-out smear stress test).",
)
@click.option(
    "--jitter-fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of trails waved by telescope jitter (0: seed 002's straight trails).",
)
@click.option(
    "--scene",
    type=click.Choice(["simulated", "hubble", "hipparcos"]),
    default="simulated",
    show_default=True,
    help="Backgrounds: satlab's own, Hubble Deep Field cutouts, Hipparcos stars.",
)
@click.option(
    "--frames",
    "frames_path",
    type=click.Path(exists=True),
    default=None,
    help="A saved simulated set (NetCDF or Zarr, with truth) instead of simulating.",
)
@click.option("--weights", type=click.Path(dir_okay=False), default=None)
@click.option("--device", default="auto", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None)
@click.option("--overwrite", is_flag=True, help="Replace an existing evaluation.")
def evaluate_command(
    name,
    preset,
    n,
    seed,
    methods,
    fpr,
    snr_range,
    column_fraction,
    jitter_fraction,
    scene,
    frames_path,
    weights,
    device,
    out,
    overwrite,
):
    """Evaluate model NAME (or 'none': baselines only) on a held-out simulated set.

    Writes summary, method (seed 001 Table 1), classification, binned recall and
    pixel (seed 002 Table 1) tables as Parquet and CSV, ROC / precision-recall plots
    as HTML and params.json into OUT [default runs/evaluate/NAME-PRESET-SCENE-seedSEED].
    """
    import xarray as xr

    model = None if name.lower() == "none" else name
    snr = None if snr_range == "mag" else snr_range
    frames = None
    if frames_path is not None:
        is_zarr = Path(frames_path).is_dir()
        frames = (xr.open_zarr if is_zarr else xr.open_dataset)(frames_path).load()
    out = out or f"runs/evaluate/{name}-{preset}-{scene}-seed{seed}"
    ev = evaluate(
        model,
        preset=preset,
        n=n,
        seed=seed,
        methods=tuple(m for m in methods.split(",") if m),
        fpr=fpr,
        snr_range=snr,
        column_fraction=column_fraction,
        jitter_fraction=jitter_fraction,
        scene=_scene(scene, n=n, seed=seed),
        frames=frames,
        device=device,
        weights=weights,
        out=out,
        overwrite=overwrite,
    )
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        click.echo(ev.tables["summary"].to_string(index=False))
        click.echo(ev.tables["methods"].to_string(index=False))
        if "classic_positives" in ev.tables:
            click.echo("on the positives the classic baselines find (seed 001's test set):")
            click.echo(ev.tables["classic_positives"].to_string(index=False))
        if "pixel_binned" in ev.tables:
            pix = ev.tables["pixel_binned"]
            click.echo(pix[pix.quantity == "all"].dropna(axis=1).to_string(index=False))
            held = ev.tables["pixel_false_frames"]
            held = held[held.method.str.endswith("refined")]
            if len(held):
                click.echo("frames holding the false pixels at 1e-5 FPR (refined):")
                click.echo(held.head(5).to_string(index=False))
    click.echo(f"written to {out}")
