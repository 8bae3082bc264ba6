"""Crossmatch speed: one trail against a 30,000-object catalogue (target < 0.2 s), a batch
of trails, and (``--archive DIR``) identification and timing on a simulated archive.

Run by hand (not a test): ``nice -n 10 python benchmarks/crossmatch.py [--objects 30000]``
or ``nice -n 10 python benchmarks/crossmatch.py --archive data_catalog/cheops-archive``.
The catalogue is synthetic (real element-set shapes from sgp4's verification file with
new nodes, perigees and phases, see :func:`satlab.orbits.synthetic.synthetic_catalogue`);
trails are placed on predicted tracks seen from a CHEOPS-like observer, so the benchmark
also reports how many it identified.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd

from satlab.errors import SatlabWarning
from satlab.frames import as_frames
from satlab.io.wcs import frame_wcs
from satlab.orbits import Observer, crossmatch, predict
from satlab.orbits.synthetic import synthetic_catalogue

SC1 = "1 44874U 19092B   06152.00000000  .00000000  00000-0  00000+0 0    04"
SC2 = "2 44874  98.2200 200.0000 0012000  90.0000  10.0000 14.57000000    02"
T_MID = pd.Timestamp("2006-06-01 06:00:00")


def frames_and_trails(cat, observer, n, seed):
    """``n`` one-trail frames (200x200, 1"/px, 60 s), each on a random object's track."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)
        ds = predict(cat, [T_MID], observer)
    ok = np.flatnonzero(
        (ds["sgp4_error"].values[:, 0] == 0) & (ds["range_km"].values[:, 0] < 20000)
    )
    pick = np.random.default_rng(seed).choice(ok, n, replace=False)
    sub = ds.isel(object=pick, time=0)
    frames = as_frames(
        np.zeros((n, 200, 200), np.float32),
        time=[T_MID] * n,
        exptime=60.0,
        attrs={"pixel_scale": 1.0, "parity": -1, "observer": observer.to_attr()},
    ).assign_coords(
        ra=("frame", sub["ra"].values),
        dec=("frame", sub["dec"].values),
        roll=("frame", np.linspace(0, 359, n)),
    )
    rows = []
    for i, (nid, rate) in enumerate(
        zip(sub["norad_id"].values, sub["rate_arcsec_s"].values, strict=True)
    ):
        dt = 60.0 / rate
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SatlabWarning)
            times = T_MID + pd.to_timedelta([-dt, dt], unit="s")
            tr = predict(cat.select(nid), times, observer, light_time=True)
        x, y = frame_wcs(frames, i).world_to_pixel_values(tr["ra"].values[0], tr["dec"].values[0])
        rows.append({"frame": i, "x0": x[0], "y0": y[0], "x1": x[1], "y1": y[1], "width_px": 2.5})
    return frames, pd.DataFrame(rows), sub["norad_id"].values


def archive_run(directory):
    """Crossmatch the truth-table trails of a ``satlab simulate archive`` directory."""
    from pathlib import Path

    from satlab import open_frames
    from satlab.orbits import read_tle

    d = Path(directory)
    frames = open_frames(str(d / "CH_PR*_SCI_COR_SubArray_V*.fits*"))
    truth = pd.read_csv(d / "truth.csv")
    t0 = time.perf_counter()
    cat = read_tle(d / "population.3le", satcat=d / "satcat.csv")
    read_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    res = crossmatch(truth, frames, cat)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    best = res[res["best"]].set_index("trail")["norad_id"]
    got = truth.index.map(best.to_dict()).to_numpy(dtype=float)
    right = got == truth["norad_id"].to_numpy(dtype=float)
    wrong = np.isfinite(got) & ~right
    inside = (
        truth[["x0", "x1"]].ge(0).all(axis=1)
        & truth[["y0", "y1"]].ge(0).all(axis=1)
        & (truth[["x0", "x1"]].max(axis=1) <= frames.sizes["x"] - 1)
        & (truth[["y0", "y1"]].max(axis=1) <= frames.sizes["y"] - 1)
    ).to_numpy()
    matches = res[res["best"]]["match"].value_counts().to_dict()
    return {
        "archive": str(d),
        "frames": int(frames.sizes["frame"]),
        "trails": len(truth),
        "element_sets": len(cat),
        "objects": int(cat.table["norad_id"].nunique()),
        "read_tle_s": round(read_s, 3),
        "crossmatch_s": round(wall, 3),
        "crossmatch_cpu_s": round(cpu, 3),
        "right_fraction": round(float(right.mean()), 4),
        "wrong_fraction": round(float(wrong.mean()), 4),
        "unidentified_fraction": round(float((~np.isfinite(got)).mean()), 4),
        "fully_inside_trails": int(inside.sum()),
        "right_fraction_fully_inside": round(float(right[inside].mean()), 4)
        if inside.any()
        else None,
        "wrong_fraction_fully_inside": round(float(wrong[inside].mean()), 4)
        if inside.any()
        else None,
        "best_match_kinds": matches,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=30000)
    parser.add_argument("--trails", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--deep-fraction",
        type=float,
        default=0.15,
        help="share of deep-space objects; a negative value draws sgp4's templates uniformly",
    )
    parser.add_argument("--archive", help="a `satlab simulate archive` directory to measure")
    args = parser.parse_args()
    if args.archive:
        print(json.dumps(archive_run(args.archive), indent=2, default=str))
        return

    t0 = time.perf_counter()
    deep = None if args.deep_fraction < 0 else args.deep_fraction
    cat = synthetic_catalogue(args.objects, T_MID, seed=args.seed, deep_fraction=deep)
    build_s = time.perf_counter() - t0
    observer = Observer.from_tle(SC1, SC2, name="CHEOPS-like")
    frames, trails, truth = frames_and_trails(cat, observer, args.trails, args.seed)
    crossmatch(trails.iloc[:1], frames, cat)  # warm-up: astropy's IERS tables, caches

    per_trail, cpu, right, candidates = [], [], 0, []
    for i in range(len(trails)):
        t0, c0 = time.perf_counter(), time.process_time()
        res = crossmatch(trails.iloc[[i]], frames, cat)
        per_trail.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        best = res[res["best"]]
        right += int(len(best) == 1 and best["norad_id"].iloc[0] == truth[i])
        candidates.append(res.attrs["candidates_after_prefilter"])
    t0 = time.perf_counter()
    batch = crossmatch(trails, frames, cat)
    batch_s = time.perf_counter() - t0
    out = {
        "objects": len(cat),
        "deep_fraction": deep,
        "catalogue_build_s": round(build_s, 2),
        "single_trail_s_median": round(float(np.median(per_trail)), 4),
        "single_trail_s_max": round(float(np.max(per_trail)), 4),
        "single_trail_cpu_s_median": round(float(np.median(cpu)), 4),
        "prefilter_candidates_median": int(np.median(candidates)),
        "identified": f"{right}/{len(trails)}",
        "batch_trails": len(trails),
        "batch_s": round(batch_s, 3),
        "batch_identified": int((batch[batch["best"]]["norad_id"].to_numpy() == truth).sum()),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
