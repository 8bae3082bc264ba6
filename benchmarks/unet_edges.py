"""Where the UNet's pixel TPR at 1e-5 FPR (seed 002 §4.4) is lost, on the evaluation set.

Run by hand (not a test)::

    python benchmarks/unet_edges.py [--n 120] [--weights FILE] [--json out.json]

Simulates ``n`` frames as ``satlab evaluate`` does (its seed and S/N range), segments
them and reports

* the 1e-5 FPR threshold, and where the non-trail pixels above it lie: their distance to
  the nearest trail-mask pixel, and whether their frame has a trail;
* the pixel TPR at that threshold by S/N bin (seed 002 Table 1) and by depth inside
  the mask (distance to its edge), with the median probability there.

Seed 002's mask is the trail path widened by the PSF FWHM: on CHEOPS a 24-px band whose
edge is where the trail's profile falls to half, which noise blurs over a few px.
"""

from __future__ import annotations

import argparse
import itertools
import json
import warnings

import numpy as np
import pandas as pd
from scipy import ndimage

import satlab.detect as sd
from satlab.errors import SatlabWarning
from satlab.evaluate import EVAL_SEED, EVAL_SNR
from satlab.metrics import SEED002_BINS, frame_properties, threshold_at_fpr
from satlab.simulate import simulate_frames, truth_table

DEPTHS = ((0, 1.5), (1.5, 3), (3, 5), (5, 8), (8, np.inf))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=120, help="frames (half with trails)")
    ap.add_argument("--weights", help="a trail-unet weights file instead of the shipped one")
    ap.add_argument("--json", help="write the numbers to this file")
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)
        ds = simulate_frames(
            "cheops", args.n, seed=EVAL_SEED, trail_fraction=0.5, hard_negative_fraction=0.5,
            snr_range=EVAL_SNR,
        ).assign_coords(frame=np.arange(args.n))  # fmt: skip
    prob = sd.segment(ds, weights=args.weights).values
    mask = ds["trail_mask"].values.astype(bool)
    good = np.broadcast_to(ds["valid"].values, mask.shape) & np.isfinite(prob)
    thr = threshold_at_fpr(mask[good], prob[good], 1e-5)
    outside = np.stack(
        [ndimage.distance_transform_edt(~m) if m.any() else np.full(m.shape, np.inf) for m in mask]
    )
    depth = np.stack([ndimage.distance_transform_edt(m) for m in mask])
    fp = good & ~mask & (prob >= thr)
    res = {
        "threshold": float(thr),
        "tpr": float((prob[good & mask] >= thr).mean()),
        "false_positive_pixels": int(fp.sum()),
        "fp_distance_to_mask_px_median": float(np.median(outside[fp])) if fp.any() else None,
        "fp_within_1.5px_of_a_mask": float((outside[fp] <= 1.5).mean()) if fp.any() else None,
        "fp_in_frames_with_trails": float(ds["label"].values[np.nonzero(fp)[0]].mean())
        if fp.any()
        else None,
    }
    print(f"1e-5 FPR threshold {thr:.4f}: pixel TPR {res['tpr']:.3f}; "
          f"{res['false_positive_pixels']} non-trail pixels above it, "
          f"{res['fp_within_1.5px_of_a_mask']} of them within 1.5 px of a trail mask")  # fmt: skip
    # the frame's strongest trail, as in satlab evaluate's binned table
    frames = pd.DataFrame({"n_stars": ds["n_stars"].values}, index=ds["frame"].to_index())
    snr = frame_properties(truth_table(ds), frames)["snr_avg"].to_numpy()
    res["by_snr_and_depth"] = {}
    edges = SEED002_BINS["snr_avg"]
    for lo, hi in itertools.pairwise(edges):
        sel = good & mask & ((snr >= lo) & (snr < hi))[:, None, None]
        if not sel.any():
            continue
        row = {"tpr": float((prob[sel] >= thr).mean())}
        for d0, d1 in DEPTHS:
            s = sel & (depth > d0) & (depth <= d1)
            if s.any():
                row[f"depth {d0}-{d1} px"] = {
                    "tpr": float((prob[s] >= thr).mean()),
                    "median_prob": float(np.median(prob[s])),
                }
        res["by_snr_and_depth"][f"{lo}-{hi}"] = row
        cells = " | ".join(
            f"{k[6:]}: {v['tpr']:.2f} (median {v['median_prob']:.2f})"
            for k, v in row.items()
            if k != "tpr"
        )
        print(f"snr_avg {lo}-{hi}: TPR {row['tpr']:.3f} | {cells}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
