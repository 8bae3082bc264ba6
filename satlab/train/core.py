"""``train_model``: simulate, train, mine hard negatives, measure, write weights and card."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, OutputExistsError
from ..models import build_model, get_spec, load_model, save_weights
from ..models.preprocess import bin_mean, frame_input, pad_to, window_input
from .augment import AugmentedSet, seed001_augmentation
from .data import DEFAULT_CACHE, SimulatedSet, _simulator_fingerprint, simulated_set, split_indices
from .loop import fit, predict_logits

__all__ = ["RECIPES", "train_model"]

# The shipped weights' recipes: sized so that each trains in about an hour on this 2-core
# CPU (fixed epoch counts rather than time budgets, so runs are reproducible).
# Trails are drawn by S/N (``snr_range`` of snr_avg, seed 002 §3.1), not by magnitude: a
# magnitude range puts most CHEOPS trails below the noise (fast objects spread their
# light thin), so "trail" labels would mean nothing a network can learn. The ranges reach
# beyond the evaluation set (satlab.evaluate.EVAL_SNR, 0.2-30) on both ends, up to 1000
# where the network must see saturating satellites (one trained to 40 misses them).
# Hard negatives are mined for the UNet too: a frame's score is its highest pixel's.
# MobileNetV2 from scratch learns slowly (still improving after 120k samples at a
# constant 1e-3): its recipe draws 10k samples per epoch on a cosine-annealed rate.
# trail-cnn's shipped weights predate this (None: the preset's magnitude range).
# ``augmentation`` overrides seed001_augmentation's options: the UNet keeps detector
# columns vertical (no rotation, column-wise shear), because read-out smear and hot
# columns always run along them. ``finetune`` holds what changes when a run starts from
# weights (``init``). The classifier keeps the columns vertical too: seed 001's 20-deg
# rotations turned smear into tilted "trails" labelled negative, and weights trained with
# them first (62 min), then fine-tuned that way for 3.5 h, still missed bright trails 3-5
# deg from the columns (7 of 24 classic-found ones, against 1 of 1032 others). Its shipped
# weights are 53 min from scratch at 2x2 (`--seed 2051 --epochs 36 --mining-rounds 0
# --column-fraction 0.2 --max-minutes 52`, stopped by time at epoch 31), then 10 min
# fine-tuned at 1e-4 on seed 2048's set: on seed 001's kind of test set (`satlab evaluate
# trail-mobilenetv2 --n 4000`, table classic_positives) recall at 0.8 went from 99.44 to
# 99.81 % (seed 1234: 99.03 to 100 %), while on satlab's whole `--n 1000` set the ROC AUC
# went from 0.994 to 0.993 (details in README).
# The UNet's shipped weights were fine-tuned 26 min on a cosine-annealed rate with ``ema``
# (validation loss 0.0186, from 0.0216), then 51, 23 and 21 min on fresh simulated sets of
# 20,000 frames (seeds 2027-2029): more epochs on the first set had stopped helping; then
# 13 min with a quarter of the trails along the columns (seed 2032, --column-fraction 0.25),
# then 11.5 min more (seed 2040, same options, --lr 1.5e-4 --mining-rounds 0) in a stage
# that keeps the running batch-norm statistics (``calibrate_batchnorm`` 0; ``ema``
# averages them): recalibrating the UNet's statistics on un-augmented inputs alone raised
# its validation loss by 4 % (0.0246 to 0.0254-0.0259 on seed 2039's split), every
# earlier fine-tune's first epoch rose as much, and without it the loss fell from 0.0200
# to 0.0192. The classifier's loss does not move with recalibration (0.1118 either way).
RECIPES = {
    "trail-mobilenetv2": {"frames": 20000, "pool": 2000, "epochs": 40, "batch_size": 32,
                          "samples_per_epoch": 10000, "mining_rounds": 1,
                          "snr_range": (0.15, 1000.0), "calibrate_batchnorm": 1000,
                          "lr_schedule": "cosine", "ema": 0.998,
                          "augmentation": {"degrees": 0.0, "keep_columns": True},
                          "finetune": {"epochs": 15, "lr": 3e-4}},
    "trail-cnn": {"frames": 5000, "pool": 2000, "epochs": 20, "batch_size": 64,
                  "samples_per_epoch": 4000, "mining_rounds": 1, "snr_range": None},
    "trail-unet": {"frames": 10000, "pool": 2000, "epochs": 30, "batch_size": 16,
                   "samples_per_epoch": 1000, "mining_rounds": 1,
                   "snr_range": (0.15, 1000.0), "calibrate_batchnorm": 1000,
                   "augmentation": {"degrees": 0.0, "keep_columns": True},
                   "finetune": {"epochs": 20, "lr": 3e-4, "lr_schedule": "cosine",
                                "ema": 0.998, "calibrate_batchnorm": 0}},
}  # fmt: skip
# seed 002: a window is a positive when at least 100 trail pixels fall in it
MIN_WINDOW_TRAIL_PX = 100
SCORE_THRESHOLD = 0.8
# seed 002 Table 1 bins of the mean S/N per trail pixel
SNR_BINS = (0, 0.5, 1, 3, 10, np.inf)


def _inputs(spec, data: SimulatedSet, *, chunk: int = 1000):
    """Network inputs, trail-pixel fractions and labels, one row per network sample.

    Prepared ``chunk`` frames at a time: whole-set float copies of 20,000 CHEOPS frames
    took 17 GB at peak.
    """
    parts = [_chunk_inputs(spec, data, slice(i, i + chunk)) for i in range(0, data.n, chunk)]
    return tuple(torch.cat(p) for p in zip(*parts, strict=True))


def _chunk_inputs(spec, data: SimulatedSet, rows: slice):
    flux, mask = data["flux"][rows], data["mask"][rows]
    good = np.isfinite(flux) & data["valid"]
    frac, _ = bin_mean(mask.astype(np.float32), np.ones_like(mask), spec.bin)
    frac = torch.from_numpy(np.ascontiguousarray(frac))[:, None]
    if spec.task == "windows":
        x, (ys, xs) = window_input(flux, good, spec)
        w = spec.window // spec.bin
        frac = pad_to(frac, minimum=w)
        frac = torch.stack(
            [frac[:, 0, y : y + w, x : x + w] for y in ys for x in xs], dim=1
        ).reshape(-1, 1, w, w)
    else:
        x = frame_input(flux, good, spec)
        frac = pad_to(frac, minimum=x.shape[-1])[..., : x.shape[-2], : x.shape[-1]]
    label = (frac.sum(dim=(1, 2, 3)) * spec.bin**2 >= MIN_WINDOW_TRAIL_PX).float()
    if spec.task == "classify":
        label = torch.from_numpy(data["label"][rows].astype(np.float32))
    return x, frac, label


def _versions() -> dict:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for pkg in ("satlab", "torch", "torchvision", "numpy", "safetensors"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # noqa: BLE001 (a missing distribution must not stop a run)
            out[pkg] = None
    return out


def _scores(name, weights, data: SimulatedSet) -> np.ndarray:
    """Frame scores: a classifier's, or a segmenter's highest pixel probability."""
    from ..detect import classify, segment

    if get_spec(name).task == "segment":
        prob = segment(data.frames(), model=name, weights=weights)
        return prob.max(("y", "x"), skipna=True).values.astype(float)
    return classify(data.frames(), model=name, weights=weights).values.astype(float)


def _classifier_metrics(name, weights, data: SimulatedSet) -> dict:
    from ..metrics import classification_metrics, roc_summary

    score = _scores(name, weights, data)
    y = data["label"].astype(bool)
    table = classification_metrics(y, score, thresholds=(SCORE_THRESHOLD, 0.5))
    fp = ~y & (score >= SCORE_THRESHOLD)
    fn = y & (score < SCORE_THRESHOLD)
    kinds, counts = np.unique(data["negative_kind"][fp], return_counts=True)
    snr = data["snr_avg"]
    recall_by_snr = {}
    for lo, hi in itertools.pairwise(SNR_BINS):
        sel = y & (snr >= lo) & (snr < hi)
        if sel.any():
            recall_by_snr[f"{lo}-{hi}"] = {
                "n": int(sel.sum()),
                "recall": float((score[sel] >= SCORE_THRESHOLD).mean()),
            }
    return {
        "at_threshold": table.to_dict(orient="records"),
        **roc_summary(y, score, fpr=0.01),
        "false_positives_by_kind": dict(zip(kinds.tolist(), counts.tolist(), strict=True)),
        "missed_snr_avg": sorted(np.round(snr[fn], 3).tolist()),
        "recall_by_snr_avg": recall_by_snr,
    }


def _segmenter_metrics(name, weights, data: SimulatedSet) -> dict:
    from ..detect import segment
    from ..metrics import pixel_metrics

    prob = segment(data.frames(), model=name, weights=weights).values
    out = pixel_metrics(data["mask"], prob, valid=data["valid"], fpr=1e-5, recall=0.9)
    snr = data["snr_avg"]
    by_snr = {}
    for lo, hi in itertools.pairwise(SNR_BINS):
        sel = (snr >= lo) & (snr < hi) | np.isnan(snr)  # trails of the bin + all sky frames
        if (sel & ~np.isnan(snr)).any():
            m = pixel_metrics(data["mask"][sel], prob[sel], valid=data["valid"])
            by_snr[f"{lo}-{hi}"] = {"n_frames": int((sel & ~np.isnan(snr)).sum()), **m}
    return {**out, "by_snr_avg": by_snr}


def _snr_range(value) -> tuple[float, float] | None:
    """A training ``snr_range``: ``(low, high)`` with 0 < low < high, or None for "mag"."""
    if isinstance(value, str) and value == "mag":
        return None
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        low = high = np.nan
    if not 0.0 < low < high < np.inf:
        raise InputError(
            f"snr_range: expected (low, high) with 0 < low < high, or 'mag'; got {value!r}"
        )
    return (low, high)


def init_record(weights: str | Path) -> dict:
    """Where a fine-tuning run started: the weights file, its SHA-256 and, when a model card
    lies beside it, that run's command, seed, wall time and own starting point."""
    path = Path(weights)
    record = {"weights": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    card = path.with_suffix(".json")
    if card.is_file():
        parent = json.loads(card.read_text())
        record.update({k: parent.get(k) for k in ("command", "seed", "wall_time_s", "init")})
    return record


def train_model(
    name: str,
    *,
    seed: int = 2026,
    out: str | Path,
    preset: str = "cheops",
    frames: int | None = None,
    pool: int | None = None,
    epochs: int | None = None,
    mining_rounds: int | None = None,
    workers: int = 2,
    cache: str | Path | None = DEFAULT_CACHE,
    max_minutes: float | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    reviewed: SimulatedSet | None = None,
    init: str | Path | None = None,
    lr: float | None = None,
    column_fraction: float = 0.0,
    truncation_fraction: float | None = None,
    snr_range: tuple[float, float] | str | None = None,
    log=print,
) -> dict:
    """Train model ``name`` on simulated frames; write ``NAME.safetensors`` and ``NAME.json``.

    Parameters
    ----------
    name : str
        Registry name (``trail-mobilenetv2``, ``trail-cnn``, ``trail-unet``).
    seed : int
        Seed of the simulation (training set ``seed``, mining pool ``seed + 1``), the split,
        the initialisation, the augmentation and the batches.
    out : str or Path
        Output directory.
    preset : str
        Simulator instrument preset.
    frames, pool, epochs, mining_rounds : int, optional
        Override the model's recipe (:data:`RECIPES`): simulated frames (split 70/15/15),
        frames in the hard-negative pool, most epochs per round, mining rounds.
    workers : int
        Simulation processes.
    cache : str, Path or None
        Simulated-set cache directory (``None``: no cache).
    max_minutes : float, optional
        Wall-time budget per training round [min].
    threads : int, optional
        torch CPU threads (on a CPU shared with other jobs, 1 is several times faster
        than oversubscribed threads).
    overwrite : bool
        Replace existing outputs.
    reviewed : SimulatedSet, optional
        Frames a user marked as false positives (:func:`reviewed_negatives`); all of them
        join the training negatives from the first round on.
    init : str or Path, optional
        Weights to start from instead of a fresh initialisation (fine-tuning, e.g. the
        shipped weights on reviewed negatives). The recipe's ``finetune`` entries apply
        (:data:`RECIPES`: fewer epochs, a lower rate). The card records the file, its
        SHA-256 and, from the card beside it, the command that made it.
    lr : float, optional
        Adam learning rate (default the recipe's: 1e-3, or its ``finetune`` rate).
    column_fraction : float
        Share of training trails drawn within :data:`satlab.simulate.COLUMN_DEG` of the
        detector columns, beside the uniform directions (``column_fraction`` of
        :func:`satlab.simulate.simulate_frames`). Read-out smear runs along the columns,
        and uniform directions put only 11 % of trails near them: too few for a network
        to learn the difference (the shipped UNet's last stage used 0.25, the
        classifier's 0.1).
    truncation_fraction : float, optional
        Share of training trails cut short inside the frame, as an object entering the
        Earth's shadow (``truncation_fraction`` of
        :func:`satlab.simulate.simulate_frames`; default the simulator's, 0.1). Trails
        that end inside the frame are rare, and a network learns to draw a trail on to
        the frame's edge.
    snr_range : (low, high), "mag" or None
        The training trails' ``snr_avg`` range, log-uniform (``snr_range`` of
        :func:`satlab.simulate.simulate_frames`), or ``"mag"`` for the preset's
        magnitude range; default the recipe's (:data:`RECIPES`: 0.15-1000 for the UNet
        and the classifier).

    Returns
    -------
    dict
        The model card (also written to ``out / NAME.json``).
    """
    spec = get_spec(name)
    recipe = dict(RECIPES[spec.name])
    finetune = recipe.pop("finetune", {})
    if init is not None:
        recipe.update(finetune)
    if lr is not None:
        if not 0.0 < lr < 1.0:
            raise InputError(f"lr: expected a learning rate in (0, 1), got {lr!r}")
        recipe["lr"] = float(lr)
    for key, value in (
        ("frames", frames),
        ("pool", pool),
        ("epochs", epochs),
        ("mining_rounds", mining_rounds),
    ):
        if value is not None:
            if int(value) < 0:
                raise InputError(f"{key}: expected a non-negative integer, got {value!r}")
            recipe[key] = int(value)
    if snr_range is not None:
        recipe["snr_range"] = _snr_range(snr_range)
    # simulator options set here; only these reach the simulated set, so the cache keys of
    # sets made without them stay valid
    sim_options = {
        key: float(value)
        for key, value in (
            ("column_fraction", column_fraction or None),
            ("truncation_fraction", truncation_fraction),
        )
        if value is not None
    }
    for key, value in sim_options.items():
        if not 0.0 <= value <= 1.0:
            raise InputError(f"{key}: expected a fraction in [0, 1], got {value!r}")
    if recipe["frames"] < 20:
        raise InputError(f"frames: expected at least 20 frames to split 70/15/15, got {frames}")
    out = Path(out)
    weights, card_path = out / f"{spec.name}.safetensors", out / f"{spec.name}.json"
    if not overwrite and (weights.exists() or card_path.exists()):
        raise OutputExistsError(f"{weights}: exists; pass overwrite=True (--overwrite)")
    # before simulating: load_model checks the file's architecture and configuration
    start_from = None if init is None else load_model(spec.name, weights=init)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if threads is not None:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    max_seconds = None if max_minutes is None else 60.0 * max_minutes

    data = simulated_set(
        recipe["frames"],
        seed=seed,
        preset=preset,
        workers=workers,
        cache=cache,
        snr_range=None if recipe["snr_range"] is None else list(recipe["snr_range"]),
        **sim_options,
    )
    log(f"{spec.name}: {data.n} simulated frames ({time.perf_counter() - start:.0f} s)")
    tr, va, te = split_indices(data.n, seed=seed)
    x, frac, label = _inputs(spec, data)
    per = len(x) // data.n  # network samples per frame (windows)

    def rows(frame_index):
        return (np.asarray(frame_index)[:, None] * per + np.arange(per)).ravel()

    target = frac if spec.task == "segment" else label
    net = build_model(spec.name) if start_from is None else start_from
    aug = seed001_augmentation(**recipe.get("augmentation", {}))
    train_x, train_frac, train_label = x[rows(tr)], frac[rows(tr)], label[rows(tr)]
    if reviewed is not None:
        if reviewed["flux"].shape[1:] != data["flux"].shape[1:]:
            raise InputError(
                f"reviewed: frames of shape {reviewed['flux'].shape[1:]} cannot join a "
                f"{preset!r} training set of shape {data['flux'].shape[1:]}"
            )
        rx, rfrac, rlabel = _inputs(spec, reviewed)  # empty masks: negatives throughout
        train_x, train_frac = torch.cat([train_x, rx]), torch.cat([train_frac, rfrac])
        train_label = torch.cat([train_label, rlabel])
        log(f"{reviewed.n} reviewed false-positive frames join the training negatives")
    val = (x[rows(va)], target[rows(va)])
    fit_opts = {
        "batch_size": recipe["batch_size"],
        "samples_per_epoch": recipe["samples_per_epoch"],
        "max_seconds": max_seconds,
        "log": log,
    }

    def train_round(round_seed):
        tset = AugmentedSet(
            train_x,
            train_frac,
            None if spec.task == "segment" else train_label,
            transform=aug,
        )
        # batch-norm statistics from un-augmented inputs (recipes that ask for it)
        calibrate = train_x[: recipe.get("calibrate_batchnorm", 0)]
        return fit(
            net,
            tset,
            val,
            seed=round_seed,
            epochs=recipe["epochs"],
            calibrate=calibrate if len(calibrate) else None,
            schedule=recipe.get("lr_schedule"),
            ema=recipe.get("ema"),
            lr=recipe.get("lr", 1e-3),
            **fit_opts,
        )

    def best_loss(entry):
        return min(h["val_loss"] for h in entry["history"])

    rounds = [{"round": 0, **train_round(seed)}]
    log(f"round 0: best epoch {rounds[0]['best_epoch']} ({rounds[0]['stopped']})")
    save_weights(net, spec.name, weights)
    best = (best_loss(rounds[0]), copy.deepcopy(net.state_dict()))

    mining = []
    if recipe["mining_rounds"] and recipe["pool"]:
        pool_set = simulated_set(
            recipe["pool"],
            seed=seed + 1,
            preset=preset,
            trail_fraction=0.0,
            hard_negative_fraction=1.0,
            workers=workers,
            cache=cache,
        )
        px, pfrac, plabel = _inputs(spec, pool_set)
        used = np.zeros(pool_set.n, bool)
        held_out = np.zeros(pool_set.n, bool)
        for r in range(1, recipe["mining_rounds"] + 1):
            score = _scores(spec.name, weights, pool_set)
            fp = np.flatnonzero((score >= SCORE_THRESHOLD) & ~used & ~held_out)
            kinds, counts = np.unique(pool_set["negative_kind"][fp], return_counts=True)
            entry = {
                "round": r,
                "pool_frames": pool_set.n,
                "false_positives": int(fp.size),
                "false_positive_rate": float(fp.size / pool_set.n),
                "by_kind": dict(zip(kinds.tolist(), counts.tolist(), strict=True)),
            }
            log(f"mining round {r}: {fp.size} false positives in {pool_set.n} pool frames")
            if fp.size == 0:
                mining.append(entry)
                break
            fp = rng.permutation(fp)
            add, hold = fp[: (fp.size + 1) // 2], fp[(fp.size + 1) // 2 :]
            used[add], held_out[hold] = True, True
            entry.update(added=int(add.size), held_out=int(hold.size))
            mining.append(entry)
            train_x = torch.cat([train_x, px[rows(add)]])
            train_frac = torch.cat([train_frac, pfrac[rows(add)]])
            # every window of a false-positive frame is a negative
            train_label = torch.cat([train_label, torch.zeros_like(plabel[rows(add)])])
            rounds.append({"round": r, **train_round(seed + r)})
            # keep the best validation loss over all rounds, as within a round
            rounds[-1]["kept"] = best_loss(rounds[-1]) < best[0]
            if rounds[-1]["kept"]:
                best = (best_loss(rounds[-1]), copy.deepcopy(net.state_dict()))
                save_weights(net, spec.name, weights)
            else:
                net.load_state_dict(best[1])
        if held_out.any():
            score = _scores(spec.name, weights, pool_set.take(held_out))
            mining.append(
                {
                    "held_out_false_positives": int(held_out.sum()),
                    "still_above_threshold": int((score >= SCORE_THRESHOLD).sum()),
                    "held_out_specificity": float((score < SCORE_THRESHOLD).mean()),
                }
            )
        final = _scores(spec.name, weights, pool_set.take(~used))
        mining.append({"pool_false_positive_rate_final": float((final >= SCORE_THRESHOLD).mean())})

    test = data.take(te)
    log(f"measuring on {test.n} held-out test frames")
    if spec.task == "segment":
        metrics = _segmenter_metrics(spec.name, weights, test)
    else:
        metrics = _classifier_metrics(spec.name, weights, test)
    val_logits = predict_logits(net, val[0])
    card = {
        "name": spec.name,
        "status": "trained",
        "seed": int(seed),
        "command": f"satlab train {spec.name} --seed {seed} --preset {preset}"
        + "".join(
            f" --{k.replace('_', '-')} {v}"
            for k, v in recipe.items()
            if k in ("frames", "pool", "epochs", "mining_rounds", "lr")
        )
        + ("" if init is None else f" --init {init}")
        + "".join(f" --{k.replace('_', '-')} {v}" for k, v in sim_options.items())
        + (
            ""
            if snr_range is None
            else " --snr-range "
            + ("mag" if recipe["snr_range"] is None else ",".join(map(str, recipe["snr_range"])))
        )
        + f" --threads {torch.get_num_threads()}"
        + ("" if max_minutes is None else f" --max-minutes {max_minutes}"),
        "training_data": {
            "simulator": "satlab.simulate.simulate_frames",
            "simulator_source_sha256": _simulator_fingerprint(),
            "params": data["params"],
            "split": {"train": int(tr.size), "validation": int(va.size), "test": int(te.size)},
            "positives_train": int(label[rows(tr)].sum()),
            "reviewed_negatives": None
            if reviewed is None
            else {"frames": reviewed.n, **reviewed["params"]},
            "network_samples_per_frame": per,
        },
        "config": {
            **recipe,
            "optimizer": "Adam",
            "lr": recipe.get("lr", 1e-3),
            "loss": "binary cross-entropy (on logits)",
            "early_stopping_patience": 4,
            "augmentation": "seed 001 §2.3: rotation 20 deg, shift 20 %, shear 0.2, "
            "zoom 20 %, horizontal flip, brightness 80-120 % (torchvision.transforms.v2)"
            + (
                "; detector columns kept vertical: no rotation, shear along the columns only"
                if recipe.get("augmentation", {}).get("keep_columns")
                else ""
            ),
            **{k: v for k, v in fit_opts.items() if k != "log"},
        },
        "init": None if init is None else init_record(init),
        "rounds": rounds,
        "hard_negative_mining": mining,
        "validation_loss_final": float(
            torch.nn.functional.binary_cross_entropy_with_logits(
                val_logits, val[1].reshape(val_logits.shape)
            )
        ),
        "test_metrics": metrics,
        "wall_time_s": time.perf_counter() - start,
        "cpu_threads": torch.get_num_threads(),
        "versions": _versions(),
        "weights_bytes": weights.stat().st_size,
    }
    card_path.write_text(json.dumps(card, indent=1, default=float))
    log(f"wrote {weights} and {card_path} ({card['wall_time_s'] / 60:.1f} min)")
    return card
