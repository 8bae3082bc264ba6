"""TrailDataset: on-the-fly torch samples, the same as simulate_frames, any worker."""

import numpy as np
import pytest
import torch

from satlab.errors import InputError
from satlab.simulate import TrailDataset, simulate_frames


def test_samples_are_the_frames_of_simulate_frames():
    ds = TrailDataset("cheops", length=4, seed=5, hard_negative_fraction=0.5)
    frames = simulate_frames("cheops", 4, seed=5, hard_negative_fraction=0.5)
    assert len(ds) == 4
    for i in range(4):
        x, y = ds[i]
        assert x.dtype == torch.float32 and x.shape == (1, 200, 200)
        assert y.dtype == torch.float32 and y.shape == ()
        ref = np.nan_to_num(frames["flux"].values[i], nan=0.0)
        np.testing.assert_array_equal(x[0].numpy(), ref)
        assert y.item() == frames["label"].values[i]
    np.testing.assert_array_equal(ds[3][0].numpy(), ds[-1][0].numpy())
    with pytest.raises(IndexError):
        ds[4]
    assert ds.provenance["seed"] == 5 and ds.provenance["versions"]["numpy"]
    assert ds.provenance["params"]["hard_negative_fraction"] == 0.5


def test_mask_target_and_loader_batches():
    ds = TrailDataset("cheops", length=6, seed=2, target="mask", trail_fraction=1.0)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, shuffle=False)
    xs, ys = zip(*loader, strict=True)
    assert xs[0].shape == (3, 1, 200, 200) and ys[0].shape == (3, 1, 200, 200)
    assert all(float(y.sum()) > 0 for batch in ys for y in batch)
    assert set(np.unique(ys[1].numpy())) <= {0.0, 1.0}


@pytest.mark.slow
def test_worker_processes_give_the_same_samples():
    ds = TrailDataset("cheops", length=4, seed=3)
    one = torch.cat([x for x, _ in torch.utils.data.DataLoader(ds, batch_size=2)])
    two = torch.cat([x for x, _ in torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)])
    torch.testing.assert_close(one, two)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"target": "boxes"}, "target"),
        ({"length": 0}, "length"),
        ({"flavour": 1}, "unknown option"),
        ({"hard_negative_fraction": 2.0}, "hard_negative_fraction"),
    ],
)
def test_bad_dataset_options(kwargs, match):
    kwargs = {"length": 2, **kwargs}
    with pytest.raises(InputError, match=match):
        TrailDataset("cheops", seed=0, **kwargs)
