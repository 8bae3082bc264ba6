"""Simulator throughput: CHEOPS-size labelled frames per second (issue 3 target: >= 500/s).

    python benchmarks/simulate.py --frames 2000 --workers 2

Measurements, each after a warm-up (PSF and detector caches filled, workers started):

1. ``simulate_frames("cheops", n, ...)`` in one process: frames, masks and the full truth
   table (fitted sigma_bg, fluxes, S/N) assembled into one xarray Dataset;
2. ``TrailDataset`` samples delivered by a ``torch.utils.data.DataLoader`` with
   ``--workers`` processes, as training consumes them, for a label target (image +
   trail / no trail) and a mask target (image + trail mask);
3. the per-stage cost of one frame (pixel-exact streak, mask, PSF convolution of a
   trail, the detector chain), so the slow stage is visible.

Half the frames hold a trail and 30 % of the others a hard negative (the training
defaults). The machine's load average is printed next to the numbers: on a shared
machine the rates scale with the CPU actually available.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def _rate(n, seconds):
    return n / seconds if seconds > 0 else float("inf")


def bench_simulate_frames(n: int, seed: int) -> float:
    from satlab.simulate import simulate_frames

    simulate_frames("cheops", 4, seed=seed + 1, hard_negative_fraction=0.3)
    t = time.perf_counter()
    simulate_frames("cheops", n, seed=seed, hard_negative_fraction=0.3)
    return _rate(n, time.perf_counter() - t)


def bench_loader(n: int, seed: int, workers: int, batch: int, target: str) -> float:
    import torch

    from satlab.simulate import TrailDataset

    ds = TrailDataset("cheops", length=n + 4 * batch * max(workers, 1), seed=seed, target=target)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch, num_workers=workers, persistent_workers=workers > 0
    )
    it = iter(loader)
    for _ in range(max(workers, 1) * 2):  # warm-up: worker start and caches
        next(it)
    t = time.perf_counter()
    seen = 0
    while seen < n:
        x, _ = next(it)
        seen += x.shape[0]
    return _rate(seen, time.perf_counter() - t)


def bench_stages(seed: int, repeat: int = 50) -> dict:
    from satlab.simulate import get_preset, streak_area, streak_mask, streak_path

    p = get_preset("cheops")
    psf = p.telescope.psf(p.detector.pixel_size)
    det = p.detector_for(60.0)
    rng = np.random.default_rng(seed)
    image = rng.random(p.shape) * 1e3
    path = streak_path(3.3, 20.1, 190.2, 170.7)
    out = {}
    for name, func in {
        "psf_convolve_ms": lambda: psf.convolve(image),
        "streak_area_ms": lambda: streak_area(p.shape, path),
        "streak_mask_ms": lambda: streak_mask(p.shape, path, psf.fwhm_px),
        "detector_chain_ms": lambda: det.expose(image + 500.0, rng),
    }.items():
        func()
        t = time.perf_counter()
        for _ in range(repeat):
            func()
        out[name] = round((time.perf_counter() - t) / repeat * 1e3, 3)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = {
        "cpu_count": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "simulate_frames_per_s_1proc": round(bench_simulate_frames(args.frames, args.seed), 1),
        **{
            f"loader_{target}_frames_per_s_{args.workers}workers": round(
                bench_loader(args.frames, args.seed, args.workers, args.batch, target), 1
            )
            for target in ("label", "mask")
        },
        "stages": bench_stages(args.seed),
        "load_average_after": os.getloadavg(),
        "target_frames_per_s": 500,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
