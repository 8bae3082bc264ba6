"""satlab.train: augmentation, split, training loop, the `satlab train` command."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("torch_one_thread")

from satlab.errors import InputError, OutputExistsError  # noqa: E402
from satlab.train.augment import AugmentedSet, RandomBrightness, seed001_augmentation  # noqa: E402
from satlab.train.data import split_indices  # noqa: E402
from satlab.train.loop import fit  # noqa: E402


def test_split_is_70_15_15_disjoint_and_seeded():
    tr, va, te = split_indices(1000, seed=3)
    assert (tr.size, va.size, te.size) == (700, 150, 150)
    assert np.union1d(np.union1d(tr, va), te).size == 1000
    again = split_indices(1000, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again, strict=True))
    assert not np.array_equal(tr, split_indices(1000, seed=4)[0])


def test_masks_move_with_their_images():
    torch.manual_seed(0)
    aug = seed001_augmentation(brightness=(1.0, 1.0))
    x = torch.zeros(1, 1, 48, 48)
    x[..., 20:28, :] = 1.0
    mask = (x > 0).float()
    ds = AugmentedSet(x, mask, None, transform=aug)
    for _ in range(10):
        img, m = ds[0]
        # bilinear image vs nearest mask: same bar, up to its blurred edge
        inside = img[m > 0]
        assert inside.numel() > 0 and float(inside.mean()) > 0.8
        assert float(img[m == 0].mean()) < 0.1


def _column_tilt(img):
    """Spread [px] of a vertical bar's centre over the rows it crosses whole."""
    weight = img[0, 0].clamp_min(0)
    covered = weight.sum(1) > 0.9 * weight.sum(1).max()  # not the ends sheared off
    centre = (weight * torch.arange(weight.shape[1])).sum(1)[covered] / weight.sum(1)[covered]
    return float(centre.max() - centre.min())


def test_keep_columns_leaves_detector_columns_vertical():
    x = torch.zeros(1, 1, 64, 64)
    x[..., 28:36] = 1.0  # a read-out smear column
    ds = AugmentedSet(x, x.clone(), torch.zeros(1), transform=None)
    torch.manual_seed(2)
    ds.transform = seed001_augmentation(degrees=0.0, keep_columns=True)
    kept = [_column_tilt(ds[0][0][None]) for _ in range(20)]
    assert max(kept) < 1  # only interpolation wobble at the sheared ends
    torch.manual_seed(2)
    ds.transform = seed001_augmentation()
    tilted = [_column_tilt(ds[0][0][None]) for _ in range(20)]
    assert np.median(tilted) > 5  # seed 001's rotations and shears slant it
    with pytest.raises(InputError, match="degrees"):
        seed001_augmentation(keep_columns=True)


def test_brightness_scales_images_only():
    from torchvision import tv_tensors

    t = RandomBrightness((0.8, 1.2))
    torch.manual_seed(1)
    img, m = t(tv_tensors.Image(torch.ones(1, 4, 4)), tv_tensors.Mask(torch.ones(1, 4, 4)))
    assert 0.8 <= float(img[0, 0, 0]) <= 1.2 and float(img.std()) == 0
    assert torch.equal(m.as_subclass(torch.Tensor), torch.ones(1, 4, 4))
    # signed (normalised) pixels are scaled, not clamped to [0, 1] like ColorJitter would
    neg = t(tv_tensors.Image(-torch.ones(1, 2, 2)))
    assert float(neg.max()) <= -0.8


def test_a_trail_pushed_out_keeps_its_unaugmented_sample():
    def push_out(img, mask):  # a "shift" that empties the mask
        return img * 0 + 5, mask * 0

    x = torch.randn(2, 1, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    mask[0, 0, 4:8] = 1
    ds = AugmentedSet(x, mask, torch.tensor([1.0, 0.0]), transform=push_out)
    img, label = ds[0]
    assert torch.equal(img, x[0]) and label == 1  # kept as it was
    img, label = ds[1]
    assert float(img.mean()) == 5 and label == 0  # negatives are always augmented


def _toy(n, rng):
    x = torch.from_numpy(rng.normal(0, 1, (n, 1, 8, 8)).astype(np.float32))
    y = (torch.rand(n, generator=torch.Generator().manual_seed(n)) > 0.5).float()
    x[y == 1] += 3.0
    return x, y


def test_fit_with_ema_validates_and_keeps_the_averaged_weights(rng):
    from satlab.train.loop import predict_logits

    x, y = _toy(256, rng)
    vx, vy = _toy(64, rng)
    runs = {}
    for ema in (None, 0.9):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1), torch.nn.Flatten(0))
        train = torch.utils.data.TensorDataset(x, y)
        out = fit(net, train, (vx, vy), seed=0, epochs=8, lr=0.05, ema=ema, log=lambda s: None)
        kept = torch.nn.functional.binary_cross_entropy_with_logits(predict_logits(net, vx), vy)
        best = min(h["val_loss"] for h in out["history"])
        assert float(kept) == pytest.approx(best, rel=1e-5)  # the weights validated are kept
        runs[ema] = [h["val_loss"] for h in out["history"]]
    assert runs[0.9] != runs[None] and runs[0.9][-1] < runs[0.9][0]
    with pytest.raises(InputError, match="ema"):
        fit(net, train, (vx, vy), seed=0, epochs=1, ema=1.0, log=lambda s: None)


def test_fit_learns_and_keeps_the_best_epoch(rng):
    x, y = _toy(256, rng)
    vx, vy = _toy(64, rng)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1), torch.nn.Flatten(0))
    train = torch.utils.data.TensorDataset(x, y)
    out = fit(net, train, (vx, vy), seed=0, epochs=30, lr=0.01, log=lambda s: None)
    hist = out["history"]
    best = min(h["val_loss"] for h in hist)
    assert hist[out["best_epoch"] - 1]["val_loss"] == best
    assert best < 0.6 * hist[0]["val_loss"]
    with torch.inference_mode():
        acc = float(((net(vx) > 0).float() == vy).float().mean())
    assert acc > 0.9
    # the network is left at the best epoch
    loss = torch.nn.functional.binary_cross_entropy_with_logits(net(vx).detach(), vy)
    assert float(loss) == pytest.approx(best, rel=1e-5)


def test_early_stopping_after_patience_epochs(rng):
    x, y = _toy(64, rng)
    vx = x.clone()
    vy = 1 - y  # validation labels inverted: validation loss rises as training succeeds
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1), torch.nn.Flatten(0))
    out = fit(
        net,
        torch.utils.data.TensorDataset(x, y),
        (vx, vy),
        seed=0,
        epochs=50,
        patience=4,
        log=lambda s: None,
    )
    assert out["stopped"] == "patience"
    assert len(out["history"]) == out["best_epoch"] + 4


def test_cosine_schedule_anneals_the_rate_over_the_epochs(rng):
    x, y = _toy(64, rng)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1), torch.nn.Flatten(0))
    data = torch.utils.data.TensorDataset(x, y)
    out = fit(net, data, (x, y), seed=0, epochs=5, schedule="cosine", log=lambda s: None)
    rates = [h["lr"] for h in out["history"]]
    expected = [1e-5 + (1e-3 - 1e-5) * (1 + np.cos(np.pi * k / 5)) / 2 for k in range(5)]
    assert rates == pytest.approx(expected)
    with pytest.raises(InputError, match="schedule"):
        fit(net, data, (x, y), seed=0, epochs=1, schedule="plateau", log=lambda s: None)


def test_train_model_checks_its_options(tmp_path):
    from satlab.train import train_model

    with pytest.raises(InputError, match="frames"):
        train_model("trail-cnn", out=tmp_path, frames=5, cache=None)
    with pytest.raises(InputError, match="epochs"):
        train_model("trail-cnn", out=tmp_path, epochs=-1, cache=None)
    with pytest.raises(InputError, match="column_fraction"):
        train_model("trail-cnn", out=tmp_path, column_fraction=1.5, cache=None)
    with pytest.raises(InputError, match="truncation_fraction"):
        train_model("trail-cnn", out=tmp_path, truncation_fraction=-0.1, cache=None)
    (tmp_path / "trail-cnn.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="exists"):
        train_model("trail-cnn", out=tmp_path, frames=40, cache=None)


@pytest.mark.slow
def test_satlab_train_end_to_end(tmp_path, monkeypatch):
    """A tiny run of the real command: weights load, the card holds curves and metrics."""
    from click.testing import CliRunner

    from satlab.cli import main
    from satlab.models import load_model

    monkeypatch.setenv("SATLAB_CACHE", str(tmp_path / "cache"))
    args = ["train", "trail-cnn", "--seed", "7", "--frames", "40", "--pool", "16"]
    args += ["--epochs", "1", "--mining-rounds", "1", "--workers", "1", "--no-cache"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output
    card = json.loads((tmp_path / "run" / "trail-cnn.json").read_text())
    assert card["seed"] == 7
    assert card["training_data"]["split"] == {"train": 28, "validation": 6, "test": 6}
    assert len(card["rounds"][0]["history"]) == 1
    assert card["hard_negative_mining"][0]["pool_frames"] == 16
    assert {"roc_auc", "at_threshold"} <= set(card["test_metrics"])
    assert card["versions"]["torch"]
    load_model("trail-cnn", weights=tmp_path / "run" / "trail-cnn.safetensors")
    again = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "run")])
    assert again.exit_code == 2 and "exists" in again.output


def test_reviewed_false_positives_become_negatives(tmp_path):
    """The DetectionReview list (file + position in file) picks the right frames."""
    import numpy as np
    import pandas as pd

    import satlab
    from satlab.errors import InputError
    from satlab.train.data import reviewed_negatives
    from satlab.widgets import frame_table, write_hard_negatives

    frames = satlab.open_catalog()["cheops-sample"].read()
    rows = frame_table(frames).iloc[[1, 6]].assign(trail_score=[0.9, 0.95])
    listed = write_hard_negatives(rows, tmp_path / "hard.csv")
    neg = reviewed_negatives(listed, frames)
    assert neg.n == 2 and not neg["label"].any() and not neg["mask"].any()
    assert list(neg["negative_kind"]) == ["reviewed", "reviewed"]
    np.testing.assert_array_equal(neg["flux"][1], frames["flux"].values[6])
    stray = pd.DataFrame(
        {"file": ["other.fits"], "frame": [0], "time": [pd.Timestamp("2020-01-01")]}
    ).assign(trail_score=0.9)
    write_hard_negatives(stray, listed)
    with pytest.raises(InputError, match=r"other\.fits"):
        reviewed_negatives(listed, frames)


def test_train_takes_reviewed_negatives(tmp_path, monkeypatch):
    import satlab
    from satlab.train.core import train_model
    from satlab.train.data import reviewed_negatives
    from satlab.widgets import frame_table, write_hard_negatives

    monkeypatch.setenv("SATLAB_CACHE", str(tmp_path / "cache"))
    frames = satlab.open_catalog()["cheops-sample"].read()
    rows = frame_table(frames).iloc[:3].assign(trail_score=0.9)
    reviewed = reviewed_negatives(write_hard_negatives(rows, tmp_path / "h.csv"), frames)
    card = train_model(
        "trail-cnn", out=tmp_path / "run", seed=7, frames=40, pool=0, epochs=1,
        mining_rounds=0, workers=1, cache=None, reviewed=reviewed, log=lambda *_: None,
    )  # fmt: skip
    assert card["training_data"]["reviewed_negatives"]["frames"] == 3
    assert card["training_data"]["reviewed_negatives"]["list"].endswith("h.csv")


def test_column_fraction_reaches_the_training_set_and_the_card(tmp_path):
    import numpy as np

    from satlab.simulate import COLUMN_DEG
    from satlab.train.core import train_model
    from satlab.train.data import simulated_set

    card = train_model(
        "trail-cnn", out=tmp_path / "run", seed=7, frames=40, pool=0, epochs=1,
        mining_rounds=0, workers=1, cache=tmp_path, column_fraction=1.0, log=lambda *_: None,
    )  # fmt: skip
    assert card["training_data"]["params"]["column_fraction"] == 1.0
    assert "--column-fraction 1.0" in card["command"]
    # the set it trained on (from the cache) has trail masks along y: the main axis of
    # each long one within COLUMN_DEG
    data = simulated_set(40, seed=7, snr_range=None, cache=tmp_path, column_fraction=1.0)
    assert len(list(tmp_path.glob("cheops-40-7-*.npz"))) == 1  # read back, not made again
    angles = []
    for mask in data["mask"][data["label"] == 1]:
        y, x = np.nonzero(mask)
        w, v = np.linalg.eigh(np.cov(x, y))
        if w[1] > 9 * w[0]:  # elongated: length over 3 widths
            angles.append(np.degrees(np.arctan2(abs(v[0, 1]), abs(v[1, 1]))))
    assert len(angles) > 5 and max(angles) <= COLUMN_DEG + 2


def test_truncation_fraction_reaches_the_training_set_and_the_card(tmp_path):
    import numpy as np

    from satlab.lines import edge_distance
    from satlab.train.core import train_model
    from satlab.train.data import simulated_set

    card = train_model(
        "trail-cnn", out=tmp_path / "run", seed=7, frames=40, pool=0, epochs=1,
        mining_rounds=0, workers=1, cache=tmp_path, truncation_fraction=1.0,
        log=lambda *_: None,
    )  # fmt: skip
    assert card["training_data"]["params"]["truncation_fraction"] == 1.0
    assert "--truncation-fraction 1.0" in card["command"]
    cut = simulated_set(40, seed=7, snr_range=None, cache=tmp_path, truncation_fraction=1.0)
    assert len(list(tmp_path.glob("cheops-40-7-*.npz"))) == 1  # read back, not made again
    full = simulated_set(40, seed=7, snr_range=None, cache=None)

    def ends_inside(data):
        """Share of trails that meet the footprint's rim fewer than twice: an end inside
        the frame."""
        from scipy.ndimage import label

        rim = edge_distance(np.asarray(data["valid"])) < 1.5
        masks = data["mask"][data["label"] == 1]
        return np.mean([label(m & rim)[1] < 2 for m in masks])

    assert ends_inside(cut) > ends_inside(full) + 0.3  # 0.76 against 0.12


def test_snr_range_reaches_the_training_set_and_the_card(tmp_path):
    from satlab.train.core import train_model
    from satlab.train.data import simulated_set

    opts = dict(out=tmp_path / "run", seed=7, frames=40, pool=0, epochs=1, mining_rounds=0,
                workers=1, cache=tmp_path, log=lambda *_: None)  # fmt: skip
    card = train_model("trail-cnn", snr_range=(2.0, 4.0), **opts)
    assert card["training_data"]["params"]["snr_range"] == [2.0, 4.0]
    assert "--snr-range 2.0,4.0" in card["command"]
    data = simulated_set(40, seed=7, snr_range=[2.0, 4.0], cache=tmp_path)
    assert len(list(tmp_path.glob("cheops-40-7-*.npz"))) == 1  # read back, not made again
    snr = data["snr_avg"][data["label"] == 1]
    # drawn in the range; measured on the frame (footprint, pixels) within 10 % of it
    assert len(snr) > 5 and ((snr >= 1.8) & (snr <= 4.4)).all()
    for bad in ((4.0, 2.0), (0.0, 1.0), (1.0,), "loud"):
        with pytest.raises(InputError, match="snr_range"):
            train_model("trail-cnn", snr_range=bad, **{**opts, "overwrite": True})


def test_satlab_train_takes_snr_range(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from satlab.cli import main
    from satlab.train import cli

    seen = {}
    monkeypatch.setattr(
        "satlab.train.core.train_model", lambda name, **kw: seen.update(kw) or {"x": 1}
    )
    monkeypatch.setattr(cli, "_summary", lambda card: "ok")
    for arg, want in (("0.5,30", (0.5, 30.0)), ("mag", "mag")):
        result = CliRunner().invoke(main, ["train", "trail-unet", "--snr-range", arg])
        assert result.exit_code == 0, result.output
        assert seen["snr_range"] == want
    result = CliRunner().invoke(main, ["train", "trail-unet", "--snr-range", "1,2,3"])
    assert result.exit_code == 2 and "expected LOW,HIGH or 'mag'" in result.output


def test_fine_tuning_starts_from_the_given_weights(tmp_path, monkeypatch):
    import torch

    from satlab.errors import ModelError
    from satlab.models import load_model
    from satlab.train import core
    from satlab.train.core import train_model

    opts = dict(seed=7, frames=40, pool=0, epochs=1, mining_rounds=0, workers=1, cache=None,
                log=lambda *_: None)  # fmt: skip
    # the recipe's fine-tuning rate, too small to move a weight: the result is the start
    recipe = {**core.RECIPES["trail-cnn"], "finetune": {"lr": 1e-12}}
    monkeypatch.setitem(core.RECIPES, "trail-cnn", recipe)
    first = train_model("trail-cnn", out=tmp_path / "a", **opts)
    assert first["config"]["lr"] == 1e-3 and first["init"] is None
    init = tmp_path / "a" / "trail-cnn.safetensors"
    card = train_model("trail-cnn", out=tmp_path / "b", init=init, **opts)
    assert card["init"]["weights"] == str(init) and len(card["init"]["sha256"]) == 64
    assert card["init"]["command"] == first["command"]
    assert card["config"]["lr"] == 1e-12
    assert f"--lr 1e-12 --init {init}" in card["command"]
    before = load_model("trail-cnn", weights=init).state_dict()
    after = load_model("trail-cnn", weights=tmp_path / "b" / "trail-cnn.safetensors")
    for key, value in after.state_dict().items():
        torch.testing.assert_close(value, before[key])
    with pytest.raises(InputError, match="lr"):
        train_model("trail-cnn", out=tmp_path / "c", init=init, lr=2.0, **opts)
    with pytest.raises(ModelError, match="TrailMobileNetV2"):
        train_model("trail-mobilenetv2", out=tmp_path / "c", init=init, **opts)


def test_batchnorm_statistics_come_from_the_calibration_inputs(rng):
    x, y = _toy(96, rng)
    augmented = torch.utils.data.TensorDataset(0.5 * x + 3.0, y)  # what training sees
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 1, bias=False),
        torch.nn.BatchNorm2d(2),
        torch.nn.Flatten(),
        torch.nn.LazyLinear(1),
        torch.nn.Flatten(0),
    )
    fit(net, augmented, (x, y), seed=0, epochs=2, batch_size=96, calibrate=x, log=lambda s: None)
    bn = net[1]
    with torch.no_grad():
        feat = net[0](x)
    np.testing.assert_allclose(bn.running_mean, feat.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        bn.running_var, feat.var(dim=(0, 2, 3), unbiased=True), rtol=1e-3, atol=1e-6
    )
    assert bn.momentum == 0.1  # restored for further training


def test_segmenter_frame_scores_for_hard_negative_mining():
    """trail-unet mines hard negatives too: a frame scores its highest pixel probability."""
    from satlab.detect import segment
    from satlab.train.core import _scores
    from satlab.train.data import simulated_set

    data = simulated_set(4, seed=3, trail_fraction=0.5, workers=1, cache=None)
    score = _scores("trail-unet", None, data)
    prob = segment(data.frames(), model="trail-unet").values
    assert score.shape == (4,)
    np.testing.assert_allclose(score, np.nanmax(prob.reshape(4, -1), axis=1))
    assert ((score >= 0) & (score <= 1)).all()
