"""Speed of satlab.detect on this CPU, and what faster settings cost in accuracy.

Run by hand (not a test), on a quiet machine if possible::

    nice -n 10 python benchmarks/detect.py [--quick] [--json out.json]

Targets (issue 5): ``classify`` >= 400 CHEOPS frames/s (200x200); ``trail-cnn`` >= 40
whole 1032x768 frames/s; ``segment`` >= 0.5 Mpix/s with pixel metrics within 1 % of the
seed 002 step-10 sliding average. Reports

* classify (trail-mobilenetv2, trail-cnn) frames/s on CHEOPS frames, batch 16 and 64,
  channels_last and not, and static int8 (torch.ao FX, x86 backend) with its accuracy
  on simulated CHEOPS frames next to float32;
* trail-cnn frames/s on 1032x768 frames;
* segment Mpix/s on 1032x768 frames (one pass with and without the mirror-image average,
  step 128), and the pixel metrics of those, of the one pass refined by the fitted trails
  (satlab.detect.refine, their lines measured on the frames) and of seed 002's step-10
  sliding average (no mirror images) on CHEOPS-like 1032x768 frames (the CHEOPS preset
  with a larger detector, so the shipped UNet sees the PSF it was trained on).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import warnings

import numpy as np

import satlab.detect as sd
from satlab.errors import SatlabWarning
from satlab.frames import as_frames


def rate(fn, n_items, *, min_seconds=3.0):
    """Items per second of ``fn()`` (one warm-up call, then repeated for min_seconds)."""
    fn()
    t0, calls = time.perf_counter(), 0
    while True:
        fn()
        calls += 1
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            return calls * n_items / dt


def simulated(n, *, seed, preset="cheops", **kw):
    from satlab.simulate import simulate_frames

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)
        return simulate_frames(preset, n, seed=seed, **kw)


def classify_speed(frames, results, seconds):
    import torch

    from satlab.models import get_spec, load_model
    from satlab.models.preprocess import frame_input

    for model in ("trail-mobilenetv2", "trail-cnn"):
        for batch in (16, 64):
            r = rate(lambda m=model, b=batch: sd.classify(frames, model=m, batch_size=b),
                     frames.sizes["frame"], min_seconds=seconds)  # fmt: skip
            results[f"classify {model} CHEOPS batch {batch} [frames/s]"] = r
            print(f"classify {model:18s} batch {batch:3d}: {r:7.1f} CHEOPS frames/s", flush=True)
    # the network alone, channels_last or not (input preparation excluded)
    spec = get_spec("trail-mobilenetv2")
    good = np.isfinite(frames["flux"].values) & frames["valid"].values
    x = frame_input(frames["flux"].values[:16], good[:16], spec)
    net = load_model(spec.name)
    for fmt in ("channels_last", "contiguous_format"):
        mf = getattr(torch, fmt)
        n2, x2 = net.to(memory_format=mf), x.contiguous(memory_format=mf)
        with torch.inference_mode():
            r = rate(lambda n2=n2, x2=x2: n2(x2), len(x2), min_seconds=seconds)
        results[f"mobilenetv2 network only, {fmt} [frames/s]"] = r
        print(f"mobilenetv2 network only, {fmt:17s}: {r:7.1f} frames/s", flush=True)


def int8_tradeoff(frames, labels, results, seconds):
    """Static int8 (FX graph mode) MobileNetV2: speed and test metrics next to float32."""
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    from satlab.metrics import classification_metrics, roc_summary
    from satlab.models import get_spec, load_model
    from satlab.models.preprocess import frame_input

    spec = get_spec("trail-mobilenetv2")
    good = np.isfinite(frames["flux"].values) & frames["valid"].values
    x = frame_input(frames["flux"].values, good, spec)
    net = load_model(spec.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notices
        torch.backends.quantized.engine = "x86"
        prepared = prepare_fx(net, get_default_qconfig_mapping("x86"), example_inputs=(x[:4],))
        with torch.inference_mode():
            prepared(x[:128])  # calibration on 128 frames
        qnet = convert_fx(prepared)
    with torch.inference_mode():
        fp32 = torch.sigmoid(torch.cat([net(x[i : i + 16]) for i in range(0, len(x), 16)]))
        int8 = torch.sigmoid(torch.cat([qnet(x[i : i + 16]) for i in range(0, len(x), 16)]))
        r = rate(lambda: qnet(x[:16]), 16, min_seconds=seconds)
    results["mobilenetv2 network only, int8 [frames/s]"] = r
    for name, s in (("float32", fp32.numpy()), ("int8", int8.numpy())):
        row = classification_metrics(labels, s, thresholds=(0.8,)).iloc[0]
        auc = roc_summary(labels, s)["roc_auc"]
        results[f"mobilenetv2 {name} accuracy@0.8"] = float(row["accuracy"])
        results[f"mobilenetv2 {name} recall@0.8"] = float(row["recall"])
        results[f"mobilenetv2 {name} specificity@0.8"] = float(row["specificity"])
        results[f"mobilenetv2 {name} roc_auc"] = auc
        print(f"mobilenetv2 {name:7s}: accuracy {row['accuracy']:.4f} recall {row['recall']:.4f} "
              f"specificity {row['specificity']:.4f} AUC {auc:.4f}", flush=True)  # fmt: skip
    print(f"mobilenetv2 int8 network only: {r:7.1f} frames/s", flush=True)


# segment's settings compared (``refine``: then satlab.detect.refine with the trails it
# fits, measured again on the frames); the last is seed 002's procedure, the reference
SEGMENT_RUNS = (
    ("one pass", {}),
    ("one pass without flips", {"flips": False}),
    ("step 128", {"step": 128}),
    ("one pass, refined", {"refine": True}),
    ("step 10 without flips", {"step": 10, "flips": False}),
)


def big_frames_speed(results, seconds, rng):
    big = as_frames(rng.normal(1000, 10, (4, 768, 1032)).astype(np.float32))
    r = rate(lambda: sd.classify(big, model="trail-cnn"), 4, min_seconds=seconds)
    results["classify trail-cnn 1032x768 [frames/s]"] = r
    print(f"classify trail-cnn on 1032x768: {r:7.1f} frames/s", flush=True)
    mpix = 768 * 1032 / 1e6
    for name, kw in SEGMENT_RUNS[:3]:
        r = rate(lambda kw=kw: sd.segment(big, **kw), 4, min_seconds=seconds)
        results[f"segment 1032x768 {name} [Mpix/s]"] = r * mpix
        print(f"segment 1032x768 {name}: {r * mpix:6.2f} Mpix/s", flush=True)


def step_agreement(results, n_frames, seed):
    """Pixel metrics of segment's settings against step 10 on CHEOPS-like 1032x768 frames."""
    from satlab.metrics import pixel_metrics
    from satlab.simulate import get_preset

    cheops = get_preset("cheops")
    wide = cheops.replace(
        detector=dataclasses.replace(cheops.detector, resolution=(768, 1032)), circular=False
    )
    ds = simulated(n_frames, seed=seed, preset=wide, trail_fraction=1.0, max_trails=2)
    mask = ds["trail_mask"].values
    out = {}
    for name, kw in SEGMENT_RUNS:
        kw = dict(kw)
        refine = kw.pop("refine", False)
        t0 = time.perf_counter()
        prob = sd.segment(ds, **kw)
        prob = (sd.refine(prob, frames=ds) if refine else prob).values
        dt = time.perf_counter() - t0
        m = out[name] = pixel_metrics(mask, prob, valid=ds["valid"].values)
        for k in ("tpr_at_fpr", "precision_at_recall", "roc_auc"):
            results[f"segment {name} {k}"] = m[k]
        results[f"segment {name} seconds per frame"] = dt / n_frames
        print(f"segment {name}: TPR@1e-5 {m['tpr_at_fpr']:.4f} P@90%R "
              f"{m['precision_at_recall']:.4f} AUC {m['roc_auc']:.5f} "
              f"({dt / n_frames:.1f} s/frame)", flush=True)  # fmt: skip
    ref = out[SEGMENT_RUNS[-1][0]]
    for name, _ in SEGMENT_RUNS[:-1]:
        for k in ("tpr_at_fpr", "precision_at_recall"):
            results[f"segment {name} {k} minus step 10"] = out[name][k] - ref[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short timings, 1 frame for step 10")
    ap.add_argument("--json", help="write the numbers to this file")
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (1 is fastest when other jobs share the cores)",
    )
    ap.add_argument("--no-steps", action="store_true", help="skip the step-10 comparison")
    ap.add_argument(
        "--step-frames", type=int, default=2, help="frames of the step-10 comparison (~30 s each)"
    )
    ap.add_argument("--only-steps", action="store_true", help="run the step-10 comparison only")
    args = ap.parse_args()
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    seconds = 1.0 if args.quick else 4.0
    rng = np.random.default_rng(args.seed)
    results = {}
    if not args.only_steps:
        test = simulated(96 if args.quick else 512, seed=args.seed, hard_negative_fraction=0.3)
        frames = as_frames(test[["flux", "valid"]].isel(frame=slice(0, 64)))
        classify_speed(frames, results, seconds)
        int8_tradeoff(as_frames(test[["flux", "valid"]]), test["label"].values, results, seconds)
        big_frames_speed(results, seconds, rng)
    if not args.no_steps:
        step_agreement(results, 1 if args.quick else args.step_frames, args.seed + 1)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
