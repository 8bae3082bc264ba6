"""Simulated training sets: generated in parallel, cached on disk, split 70/15/15.

Frame ``i`` of a set depends only on ``(preset, seed, options, i)``
(:class:`satlab.simulate.TrailDataset`), so a set is identical however many processes
made it, and a cached copy is the same set a fresh run would simulate.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_CACHE",
    "SimulatedSet",
    "reviewed_negatives",
    "simulated_set",
    "split_indices",
]

DEFAULT_CACHE = Path(os.environ.get("SATLAB_CACHE", Path.home() / ".cache" / "satlab")) / "sim"
CHUNK = 64
# the modules that make simulate_frames' pixels and truth (not its CLI, videos, archives)
SIMULATOR_MODULES = (
    "dataset", "detector", "negatives", "optics", "presets", "scenes", "simulator", "streaks",
)  # fmt: skip


class SimulatedSet(dict):
    """Numpy arrays of a simulated set: ``flux (n, y, x)`` [ADU, NaN outside ``valid``],
    ``valid (y, x)``, ``label (n,)``, ``mask (n, y, x)`` bool, ``negative_kind (n,)``,
    ``snr_avg (n,)`` (brightest trail of each frame, NaN without trail); ``params``
    records how it was simulated."""

    @property
    def n(self) -> int:
        return len(self["label"])

    def take(self, index) -> SimulatedSet:
        """The frames ``index`` (the footprint and parameters are shared)."""
        out = SimulatedSet({k: v[index] for k, v in self.items() if k not in ("valid", "params")})
        out["valid"], out["params"] = self["valid"], self["params"]
        return out

    def frames(self):
        """The frames as satlab frames (xarray, no truth), for :mod:`satlab.detect`."""
        from ..frames import as_frames

        return as_frames(self["flux"], valid=self["valid"])


def _simulator_fingerprint() -> str:
    """Hash of the frame simulator's source: a changed simulator never reuses a cached set."""
    from .. import simulate

    h = hashlib.sha256()
    for name in SIMULATOR_MODULES:
        h.update((Path(simulate.__file__).parent / f"{name}.py").read_bytes())
    return h.hexdigest()[:16]


def _chunk(args) -> dict:
    params, indices = args
    from ..simulate import TrailDataset

    ds = TrailDataset(**params).frames(indices)
    snr = np.full(len(indices), np.nan)
    if ds.sizes.get("trail", 0):
        pos = {f: k for k, f in enumerate(ds["frame"].values)}
        for f, s in zip(ds["trail_frame"].values, ds["snr_avg"].values, strict=True):
            snr[pos[f]] = np.fmax(snr[pos[f]], s)
    return {
        "flux": ds["flux"].values.astype(np.float32),
        "valid": ds["valid"].values,
        "label": ds["label"].values.astype(np.int8),
        "mask": ds["trail_mask"].values.astype(bool),
        "negative_kind": ds["negative_kind"].values.astype(str),
        "snr_avg": snr,
    }


def simulated_set(
    n: int,
    *,
    seed: int,
    preset: str = "cheops",
    trail_fraction: float = 0.5,
    hard_negative_fraction: float = 0.3,
    workers: int = 2,
    cache: str | Path | None = DEFAULT_CACHE,
    **options,
) -> SimulatedSet:
    """``n`` simulated frames with their truth, from the cache when already made.

    Parameters
    ----------
    n : int
        Number of frames.
    seed : int
        Simulation seed.
    preset : str
        Instrument preset of :func:`satlab.simulate.simulate_frames`.
    trail_fraction, hard_negative_fraction : float
        As in :func:`satlab.simulate.simulate_frames`.
    workers : int
        Processes simulating chunks of 64 frames in parallel.
    cache : str, Path or None
        Directory of cached sets (default ``$SATLAB_CACHE/sim`` or ``~/.cache/satlab/sim``);
        ``None`` disables caching.
    **options
        Other keywords of :func:`satlab.simulate.simulate_frames`.
    """
    params = {
        "preset": preset,
        "length": int(n),
        "seed": int(seed),
        "trail_fraction": float(trail_fraction),
        "hard_negative_fraction": float(hard_negative_fraction),
        **options,
    }
    key = hashlib.sha256(
        json.dumps({**params, "simulator": _simulator_fingerprint()}, sort_keys=True).encode()
    ).hexdigest()[:16]
    path = Path(cache) / f"{preset}-{n}-{seed}-{key}.npz" if cache is not None else None
    if path is not None and path.is_file():
        with np.load(path) as z:
            out = SimulatedSet({k: z[k] for k in z.files})
        out["params"] = params
        return out
    jobs = [(params, list(range(a, min(a + CHUNK, n)))) for a in range(0, n, CHUNK)]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_chunk, jobs))
    else:
        parts = [_chunk(job) for job in jobs]
    out = SimulatedSet({k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "valid"})
    out["valid"] = parts[0]["valid"]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")  # concurrent runs
        np.savez(tmp, **out)
        tmp.replace(path)
    out["params"] = params
    return out


def split_indices(n: int, *, seed: int, fractions=(0.70, 0.15, 0.15)) -> tuple[np.ndarray, ...]:
    """Shuffled train / validation / test indices of ``n`` frames (seed 001: 70/15/15)."""
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.cumsum(np.round(np.asarray(fractions[:-1]) * n).astype(int))
    return tuple(np.sort(part) for part in np.split(order, cuts))


def reviewed_negatives(hard_negatives, frames) -> SimulatedSet:
    """Frames a user marked as false positives, as negatives for training.

    This closes the visual-inspection loop of seed 001 section 2.3: the *false positive*
    button of :class:`satlab.widgets.DetectionReview` appends frames to a CSV list, and
    ``satlab train NAME --hard-negatives LIST --review-frames FRAMES`` trains on them.

    Parameters
    ----------
    hard_negatives : str or path
        The CSV list (:func:`satlab.widgets.write_hard_negatives`): ``file`` name and
        ``frame`` position within that file.
    frames : frames-like
        The frames the review was made on, with the ``file`` coord that
        :func:`satlab.open_frames` gives.

    Returns
    -------
    SimulatedSet
        The listed frames with ``label`` 0, an empty ``mask`` and ``negative_kind``
        ``"reviewed"``.

    Raises
    ------
    satlab.errors.InputError
        A listed frame is not among ``frames``.
    """
    from ..errors import InputError
    from ..frames import as_frames
    from ..widgets import frame_table, read_hard_negatives

    table = read_hard_negatives(hard_negatives)
    ds = as_frames(frames)
    index = frame_table(ds).set_index(["file", "frame"])["index"]
    keys = list(zip(table["file"].astype(str), table["frame"].astype(int), strict=True))
    missing = [k for k in keys if k not in index.index]
    if missing:
        raise InputError(
            f"{hard_negatives}: {len(missing)} listed frame(s) are not in the review frames "
            f"({ds.attrs.get('source', 'given frames')}), e.g. file {missing[0][0]!r} frame "
            f"{missing[0][1]}"
        )
    flux = np.asarray(ds["flux"].isel(frame=index.loc[keys].to_numpy()).values, np.float32)
    n = flux.shape[0]
    return SimulatedSet(
        flux=flux,
        valid=np.asarray(ds["valid"].values, bool),
        label=np.zeros(n, np.int8),
        mask=np.zeros(flux.shape, bool),
        negative_kind=np.full(n, "reviewed"),
        snr_avg=np.full(n, np.nan),
        params={"list": str(hard_negatives), "source": ds.attrs.get("source", "")},
    )
