"""Lazy opening of a large CHEOPS-layout archive: time, peak memory, streaming rate.

    python benchmarks/open_archive.py --files 1000 --frames-per-file 5

Writes ``--files`` CHEOPS-layout SubArray files (one visit each, 200x200 big-endian float64
frames, consecutive days) into ``--dir`` (a temporary directory by default), then in a
fresh process opens them with one glob (target: under 5 s and 500 MB peak RSS, reading
no pixels) and computes a per-frame statistic over every pixel (the full read), reporting
MB/s of file data streamed and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def write_archive(directory: Path, files: int, frames_per_file: int, seed: int) -> int:
    from satlab.io import write_cheops_subarray
    from satlab.io.cheops import cheops_filename

    rng = np.random.default_rng(seed)
    cube = rng.normal(100.0, 5.0, (frames_per_file, 200, 200))
    start = pd.Timestamp("2021-01-01T00:00:00")
    for i in range(files):
        t0 = start + pd.Timedelta(days=i)
        times = t0 + pd.to_timedelta(60.0 * (np.arange(frames_per_file) + 0.5), unit="s")
        write_cheops_subarray(
            directory / cheops_filename(t0, programme="100001", target=f"{i:06d}"),
            cube,
            times.to_numpy(),
            ra=(37.0 * i) % 360,
            dec=-30.0 + (i % 60),
            roll=np.linspace(0, 5, frames_per_file) + i,
            exptime_single=30.0,
            nexp=2,
            target_name=f"T{i}",
            mag_g=8.0 + (i % 5),
        )
    return sum(p.stat().st_size for p in directory.glob("*.fits"))


def measure(pattern: str) -> dict:
    """Run in a fresh interpreter so that peak RSS belongs to opening and streaming only."""
    t0 = time.perf_counter()
    import satlab

    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    ds = satlab.open_frames(pattern)
    t_open = time.perf_counter() - t0
    rss_open = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    per_frame = ds["flux"].mean(("y", "x")).compute()
    t_compute = time.perf_counter() - t0
    rss_compute = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "frames": int(ds.sizes["frame"]),
        "files": len(set(ds["file"].values)),
        "lazy": not isinstance(ds["flux"].data, np.ndarray),
        "import_s": round(t_import, 3),
        "open_s": round(t_open, 3),
        "peak_rss_after_open_mb": round(rss_open, 1),
        "compute_s": round(t_compute, 2),
        "peak_rss_after_compute_mb": round(rss_compute, 1),
        "mean_flux": float(per_frame.mean()),
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--frames-per-file", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="reuse or keep the archive here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # child-process entry
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        existing = list(directory.glob("CH_PR*_SCI_COR_SubArray_V*.fits"))
        if len(existing) != args.files:
            t0 = time.perf_counter()
            nbytes = write_archive(directory, args.files, args.frames_per_file, args.seed)
            dt = time.perf_counter() - t0
            print(f"wrote {args.files} files ({nbytes / 1e6:.0f} MB) in {dt:.1f} s")
        else:
            nbytes = sum(p.stat().st_size for p in existing)
        pattern = str(directory / "CH_PR*_SCI_COR_SubArray_V*.fits")
        out = subprocess.run(
            [sys.executable, __file__, "--measure", pattern],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout)
        result["archive_mb"] = round(nbytes / 1e6, 1)
        result["stream_mb_per_s"] = round(nbytes / 1e6 / result["compute_s"], 1)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
