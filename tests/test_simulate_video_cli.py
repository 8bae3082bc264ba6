"""Debris videos (seed 003 §3.2) and the ``satlab simulate`` command line."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import satlab
from satlab.cli import main
from satlab.errors import InputError
from satlab.simulate.video import simulate_video, video_truth


@pytest.fixture(scope="module")
def dense_video():
    return simulate_video("ztf-like", 6, seed=4, dense=True, truncation_prob=0.3)


def test_objects_move_at_constant_velocity(dense_video):
    df = video_truth(dense_video)
    assert df["object_id"].nunique() >= 4  # dense: K > 3
    assert set(df["frame"]) <= set(range(6))
    for _, track in df.groupby("object_id"):
        if len(track) < 2:
            continue
        track = track.sort_values("frame")
        step = np.hypot(np.diff(track["xc"]), np.diff(track["yc"])) / np.diff(track["frame"])
        np.testing.assert_allclose(step, track["speed_px"].iloc[0], rtol=1e-9)
        a = np.radians(track["angle_deg"].iloc[0])
        dx = np.diff(track["xc"]) / np.diff(track["frame"])
        np.testing.assert_allclose(dx, track["speed_px"].iloc[0] * np.cos(a), atol=1e-9)
    full = df[~df["truncated"]]
    cut = df[df["truncated"]]
    lengths = full.groupby("object_id")["length_px"].first()
    known = cut["object_id"].isin(lengths.index)
    assert (cut["length_px"][known].to_numpy() < lengths[cut["object_id"][known]].to_numpy()).all()
    assert df["truncated"].any()


def test_video_frames_and_masks(dense_video):
    ds = dense_video
    assert ds["flux"].shape == (6, 256, 256) and ds.attrs["instrument"] == "ztf-like"
    df = video_truth(ds)
    for f, rows in df.groupby("frame"):
        mask = ds["trail_mask"].values[f]
        for r in rows.itertuples():
            xm, ym = (r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2
            if 0 <= xm < 255.5 and 0 <= ym < 255.5:
                assert mask[round(ym), round(xm)]
    # the same stars in every frame: the median of the video is stable frame to frame
    med = np.median(ds["flux"].values, axis=0)
    assert np.corrcoef(med.ravel(), ds["flux"].values[0].ravel())[0, 1] > 0.5
    again = simulate_video("ztf-like", 6, seed=4, dense=True, truncation_prob=0.3)
    np.testing.assert_array_equal(again["flux"].values, ds["flux"].values)


def test_bad_video_parameters():
    with pytest.raises(InputError, match="n_frames"):
        simulate_video(n_frames=0, seed=1)
    with pytest.raises(InputError, match="width_range"):
        simulate_video(seed=1, width_range=(0, 2))
    with pytest.raises(InputError, match="truncation_prob"):
        simulate_video(seed=1, truncation_prob=2)


def test_cli_frames_and_video(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run.zarr"
    args = ["simulate", "frames", "--seed", "3", "-n", "3", "--trail-fraction", "1"]
    res = runner.invoke(main, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "3 of 3 frames hold a trail" in res.output
    ds = satlab.open_frames(out)
    assert ds.sizes["frame"] == 3 and int(ds["label"].sum()) == 3
    truth = pd.read_csv(tmp_path / "run_truth.csv")
    assert len(truth) == 3 and {"rho", "theta", "snr_avg", "snr_tot"} <= set(truth.columns)
    res = runner.invoke(main, [*args, "--out", str(out)])
    assert res.exit_code == 2 and "already exists" in res.output
    res = runner.invoke(main, [*args, "--out", str(tmp_path / "x.txt")])
    assert res.exit_code == 2 and ".zarr or .fits" in res.output
    vid = tmp_path / "video.fits"
    res = runner.invoke(
        main, ["simulate", "video", "--seed", "1", "-n", "3", "--objects", "2", "--out", str(vid)]
    )
    assert res.exit_code == 0, res.output
    assert satlab.open_frames(vid).sizes["frame"] == 3
    assert pd.read_csv(tmp_path / "video_truth.csv")["object_id"].max() <= 1
