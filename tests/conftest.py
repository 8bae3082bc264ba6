from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from satlab.io import write_cheops_subarray
from satlab.io.cheops import cheops_filename

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def cheops_file(tmp_path, rng):
    """A 4-frame CHEOPS-layout SubArray file with the real EXTNAMEs and columns."""

    def make(
        name=None,
        *,
        n=4,
        start="2022-03-04T05:06:07",
        shape=(200, 200),
        outside_value=0.0,
        roll=(30.0, 31.0, 32.0, 33.0),
        **kwargs,
    ):
        t0 = pd.Timestamp(start)
        times = (t0 + pd.to_timedelta(60.0 * (np.arange(n) + 0.5), unit="s")).to_numpy()
        flux = rng.normal(100.0, 5.0, (n, *shape))
        name = name or cheops_filename(t0)
        kwargs.setdefault("ra", 150.0)
        kwargs.setdefault("dec", 20.0)
        return write_cheops_subarray(
            tmp_path / name,
            flux,
            times,
            roll=np.resize(np.asarray(roll, float), n),
            exptime_single=30.0,
            nexp=2,
            mag_g=9.5,
            outside_value=outside_value,
            **kwargs,
        )

    return make


@pytest.fixture
def torch_one_thread():
    """One torch thread: ``pytest -n 2`` runs two workers on two cores, and oversubscribed
    torch threads spin-wait (several times slower)."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
