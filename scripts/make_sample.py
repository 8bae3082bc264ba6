"""Write satlab's small CHEOPS-layout sample file into data_catalog/sample/.

    python scripts/make_sample.py --seed 1

Eight 200x200 frames of one visit: sky and read noise, a defocused (donut) target star,
and a satellite trail crossing frames 3-4. It exercises the loader until satlab's
simulator writes the full sample archive.
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from satlab.io import write_cheops_subarray
from satlab.io.cheops import cheops_filename


def donut(shape, cx, cy, r_in=6.0, r_out=14.0, soft=1.5):
    y, x = np.indices(shape)
    r = np.hypot(x - cx, y - cy)
    ring = 1 / (1 + np.exp((r - r_out) / soft)) - 1 / (1 + np.exp((r - r_in) / soft))
    return ring / ring.sum()


def trail(shape, x0, y0, x1, y1, width=5.0):
    y, x = np.indices(shape)
    dx, dy = x1 - x0, y1 - y0
    length = np.hypot(dx, dy)
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / length**2, 0, 1)
    d = np.hypot(x - (x0 + t * dx), y - (y0 + t * dy))
    profile = np.exp(-0.5 * (d / (width / 2.355)) ** 2)
    return profile / profile.sum()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("data_catalog/sample"))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n, shape, texp = 8, (200, 200), 60.0
    start = pd.Timestamp("2021-06-01T03:00:00")
    times = start + pd.to_timedelta(texp * (np.arange(n) + 0.5), unit="s")
    star = 2.0e6 * donut(shape, 99.5, 99.5)
    frames = []
    for i in range(n):
        image = 40.0 + star + rng.normal(0, 6.0, shape)
        if i in (3, 4):
            image += 4.0e4 * trail(shape, 10 + 20 * i, 5, 150 + 10 * i, 195)
        frames.append(image)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / cheops_filename(start, programme="100099", target="000001")
    write_cheops_subarray(
        path,
        np.array(frames),
        times.to_numpy(),
        ra=83.8221,
        dec=-5.3911,
        roll=np.linspace(10.0, 17.0, n),
        exptime_single=texp / 2,
        nexp=2,
        target_name="SAMPLE-1",
        mag_g=8.1,
        mag_chps=7.9,
        los_to_earth_angle=np.linspace(40, 42, n),
        los_to_sun_angle=np.full(n, 118.0),
        overwrite=True,
    )
    print(path)


if __name__ == "__main__":
    main()
