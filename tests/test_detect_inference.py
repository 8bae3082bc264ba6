"""satlab.detect.classify / segment: xarray contract, any frame size, bad input.

Networks get random weights written to a temporary file: these tests check the
plumbing; what the shipped weights score is checked in test_detect_inference_shipped.py.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.special
import xarray as xr

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("torch_one_thread")

import satlab.detect as sd  # noqa: E402
from satlab.errors import InputError, ModelError, SatlabWarning  # noqa: E402
from satlab.frames import as_frames  # noqa: E402
from satlab.models import build_model, save_weights  # noqa: E402
from satlab.models.preprocess import window_starts  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(1)
    return {
        name: save_weights(build_model(name), name, root / f"{name}.safetensors")
        for name in ("trail-mobilenetv2", "trail-cnn", "trail-unet")
    }


@pytest.fixture
def frames(rng):
    flux = rng.normal(100.0, 5.0, (3, 64, 80)).astype(np.float32)
    times = pd.date_range("2024-01-01", periods=3, freq="min")
    return as_frames(flux, time=times, exptime=30.0)


@pytest.mark.parametrize("model", ["trail-mobilenetv2", "trail-cnn"])
def test_classify_returns_scores_that_merge_with_frames(frames, weights, model):
    score = sd.classify(frames, model=model, weights=weights[model], device="cpu")
    assert score.name == "trail_score" and score.dims == ("frame",)
    assert score.dtype == np.float32
    assert ((score >= 0) & (score <= 1)).all()
    np.testing.assert_array_equal(score["time"].values, frames["time"].values)
    merged = xr.merge([frames, score])
    assert "trail_score" in merged and merged.sizes["frame"] == 3
    assert score.attrs["model"] == model and score.attrs["threshold"] == 0.8


def test_scores_do_not_depend_on_the_batch(frames, weights):
    w = weights["trail-mobilenetv2"]
    one = sd.classify(frames, weights=w, batch_size=1).values
    many = sd.classify(frames, weights=w, batch_size=16).values
    np.testing.assert_allclose(one, many, rtol=1e-4, atol=1e-5)


def test_window_score_is_the_max_window_score(rng, weights):
    """A frame made of two window-sized halves scores as its higher-scoring half."""
    w = weights["trail-cnn"]
    left = rng.normal(0, 1, (128, 128)).astype(np.float32)
    right = rng.normal(0, 1, (128, 128)).astype(np.float32)
    right[60:68] += 8  # a bright bar
    both = np.concatenate([left, right], axis=1)[None]
    halves = sd.classify(np.stack([left, right]), model="trail-cnn", weights=w).values
    # 256 px wide: windows start at 0, 108 and 128; the middle one mixes both halves
    mid = both[:, :, 108:236]
    s_mid = sd.classify(mid, model="trail-cnn", weights=w).values[0]
    s_both = sd.classify(both, model="trail-cnn", weights=w).values[0]
    assert s_both == pytest.approx(max(*halves, s_mid), abs=1e-5)


def test_window_starts_cover_the_frame():
    starts = window_starts(1032, 128, 108)
    assert starts[0] == 0 and starts[-1] == 1032 - 128
    assert np.all(np.diff(starts) <= 108)  # overlap >= 20 px everywhere
    assert window_starts(100, 128, 108).tolist() == [0]


@pytest.mark.parametrize("shape", [(1, 5, 7), (2, 31, 200), (1, 130, 20)])
def test_small_and_odd_frames_never_crash(rng, weights, shape):
    flux = rng.normal(50, 3, shape).astype(np.float32)
    for model in ("trail-mobilenetv2", "trail-cnn"):
        s = sd.classify(flux, model=model, weights=weights[model])
        assert s.shape == (shape[0],) and np.isfinite(s).all()
    p = sd.segment(flux, weights=weights["trail-unet"])
    assert p.shape == shape and np.isfinite(p).all()


def test_integer_frames_score_like_float_frames(rng, weights):
    flux = rng.poisson(200, (2, 48, 48))
    w = weights["trail-mobilenetv2"]
    as_int = sd.classify(flux.astype(np.int16), weights=w).values
    as_float = sd.classify(flux.astype(np.float64), weights=w).values
    np.testing.assert_allclose(as_int, as_float, rtol=1e-5)


def test_nan_frame_scores_nan_with_a_warning(rng, weights):
    flux = rng.normal(100, 5, (3, 40, 40)).astype(np.float32)
    flux[1] = np.nan
    flux[2, :5] = np.nan
    with pytest.warns(SatlabWarning, match="non-finite"):
        flux = as_frames(flux)
    with pytest.warns(SatlabWarning, match=r"without any finite pixel.*\[1\]"):
        s = sd.classify(flux, weights=weights["trail-mobilenetv2"])
    assert np.isnan(s[1]) and np.isfinite(s[[0, 2]]).all()
    with pytest.warns(SatlabWarning, match="without any finite pixel"):
        p = sd.segment(flux, weights=weights["trail-unet"])
    assert np.isnan(p[1]).all() and np.isfinite(p[2]).all()


def test_nan_pixels_are_ignored_not_read_as_sky(rng, weights):
    """A NaN pixel scores like the frame with that pixel replaced by anything."""
    flux = rng.normal(100, 5, (1, 64, 64)).astype(np.float32)
    a, b = flux.copy(), flux.copy()
    a[0, 10:20, 10:20] = np.nan
    b[0, 10:20, 10:20] = 1e6
    w = weights["trail-cnn"]
    with pytest.warns(SatlabWarning, match="non-finite"):
        s_nan = sd.classify(a, model="trail-cnn", weights=w).values
    valid = np.ones((64, 64), bool)
    valid[10:20, 10:20] = False
    s_masked = sd.classify(as_frames(b, valid=valid), model="trail-cnn", weights=w).values
    np.testing.assert_allclose(s_nan, s_masked, rtol=1e-5)


def test_all_zero_frames_are_scored(weights):
    flux = np.zeros((2, 64, 64), np.float32)
    s = sd.classify(flux, weights=weights["trail-mobilenetv2"])
    assert np.isfinite(s).all()
    p = sd.segment(flux, weights=weights["trail-unet"])
    assert np.isfinite(p).all()


def test_dask_input_stays_lazy_and_matches(frames, weights):
    lazy = frames.chunk({"frame": 2})
    w = weights["trail-mobilenetv2"]
    s = sd.classify(lazy, weights=w)
    assert s.chunks is not None
    np.testing.assert_allclose(s.values, sd.classify(frames, weights=w).values, rtol=1e-5)
    p = sd.segment(lazy, weights=weights["trail-unet"])
    assert p.chunks is not None
    eager = sd.segment(frames, weights=weights["trail-unet"])
    np.testing.assert_allclose(p.values, eager.values, rtol=1e-5, atol=1e-6)


def test_segment_contract(rng, weights):
    flux = rng.normal(100, 5, (2, 50, 60)).astype(np.float32)
    valid = np.ones((50, 60), bool)
    valid[:, :3] = False
    ds = as_frames(flux, valid=valid)
    p = sd.segment(ds, weights=weights["trail-unet"])
    assert p.name == "trail_prob" and p.dims == ("frame", "y", "x")
    assert p.dtype == np.float32
    assert np.isnan(p[:, :, :3]).all() and np.isfinite(p[:, :, 3:]).all()
    assert float(p.min()) >= 0 and float(p.max()) <= 1
    assert p.attrs["border_px"] == 10 and p.attrs["step_px"] == 0
    assert "trail_prob" in xr.merge([ds, p])


def test_tiles_average_to_the_whole_frame_pass_for_a_constant_network(rng, tmp_path):
    """Tile averaging is a weighted mean: a network that outputs a constant gives it back."""
    net = build_model("trail-unet")
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.out.bias.fill_(0.7)
    w = save_weights(net, "trail-unet", tmp_path / "const.safetensors", half=False)
    flux = rng.normal(0, 1, (1, 300, 520)).astype(np.float32)
    expected = 1 / (1 + np.exp(-0.7))
    for step in (None, 64, 200):
        p = sd.segment(flux, weights=w, step=step)
        np.testing.assert_allclose(p.values, expected, rtol=1e-5)


def test_tiled_and_whole_frame_passes_agree_inside(rng, weights):
    """Away from tile margins, step=128 tiles and one whole-frame pass see the same pixels
    up to the UNet's receptive field: their probabilities agree closely."""
    flux = rng.normal(100, 5, (1, 300, 300)).astype(np.float32)
    w = weights["trail-unet"]
    tiled = sd.segment(flux, weights=w, step=128).values
    whole = sd.segment(flux, weights=w, step=None).values
    assert np.median(np.abs(tiled - whole)) < 1e-3


def test_large_frames_go_through_one_pass_a_few_at_a_time(rng, weights, monkeypatch):
    """Past the pixel budget each network call takes one frame, and past one tile a frame
    goes through tiles overlapping by the network's reach; the result is unchanged."""
    import satlab.detect

    flux = rng.normal(100, 5, (3, 300, 300)).astype(np.float32)
    flux[:, 100:104, :] += 40.0  # a trail across every tile boundary
    w = weights["trail-unet"]
    together = sd.segment(flux, weights=w).values
    once = sd.segment(flux, weights=w, flips=False).values
    calls = []
    run = satlab.detect._run
    monkeypatch.setattr(
        satlab.detect, "_run", lambda net, x, dev: calls.append(x.shape) or run(net, x, dev)
    )
    # binned 2x2 and padded to a multiple of 16: 160x160 network px
    monkeypatch.setattr(satlab.detect, "ONE_PASS_TILE", 160)
    apart = sd.segment(flux, weights=w).values
    assert calls == [(1, 1, 160, 160)] * 3 * 4  # each frame and its three mirror images
    np.testing.assert_allclose(apart, together, atol=1e-5)
    calls.clear()
    # reach 47 network px either side (four stages): a 48-px halo keeps the pass's result
    monkeypatch.setattr(satlab.detect, "ONE_PASS_TILE", 128)
    monkeypatch.setattr(satlab.detect, "ONE_PASS_HALO", 48)
    tiled = sd.segment(flux, weights=w, flips=False).values
    assert calls == [(1, 1, 128, 128)] * 12  # tiles at 0 and 32 on both axes, per frame
    np.testing.assert_allclose(tiled, once, atol=1e-6)
    calls.clear()
    tiled = sd.segment(flux, weights=w).values
    assert len(calls) == 12 * 4
    np.testing.assert_allclose(tiled, together, atol=1e-6)


def test_mirror_images_are_averaged(rng, weights):
    """``flips=True`` is the mean of the network's passes over the frame's four mirror
    images, so a mirrored frame gets the mirrored probabilities."""
    flux = rng.normal(100, 5, (2, 61, 90)).astype(np.float32)
    flux[:, 20:26, 10:70] += 30.0
    w = weights["trail-unet"]
    p = sd.segment(flux, weights=w)
    assert p.attrs["flips"] == 1
    once = [
        sd.segment(np.ascontiguousarray(np.flip(flux, d)), weights=w, flips=False).values
        for d in ((), (2,), (1,), (1, 2))
    ]
    mean = sum(np.flip(q, d) for q, d in zip(once, ((), (2,), (1,), (1, 2)), strict=True)) / 4
    np.testing.assert_allclose(p.values, mean, atol=1e-6)
    assert np.abs(once[0] - mean).max() > 1e-3  # a random network is not mirror-symmetric
    for d in ((2,), (1,), (1, 2)):
        mirrored = sd.segment(np.ascontiguousarray(np.flip(flux, d)), weights=w).values
        np.testing.assert_allclose(np.flip(mirrored, d), p.values, atol=1e-6)


@pytest.mark.parametrize("model", ["trail-mobilenetv2", "trail-cnn"])
def test_classify_averages_mirror_images_on_request(rng, weights, model):
    flux = rng.normal(100, 5, (3, 150, 170)).astype(np.float32)
    w = weights[model]
    s = sd.classify(flux, model=model, weights=w, flips=True)
    assert s.attrs["flips"] == 1
    assert sd.classify(flux, model=model, weights=w).attrs["flips"] == 0
    logit = [
        scipy.special.logit(sd.classify(np.flip(flux, d), model=model, weights=w).values)
        for d in ((), (2,), (1,), (1, 2))
    ]
    np.testing.assert_allclose(s.values, scipy.special.expit(np.mean(logit, axis=0)), atol=1e-5)
    mirrored = sd.classify(np.flip(flux, 2), model=model, weights=w, flips=True)
    np.testing.assert_allclose(mirrored.values, s.values, atol=1e-5)


def test_bad_options(frames, weights):
    with pytest.raises(InputError, match="segmentation model"):
        sd.classify(frames, model="trail-unet", weights=weights["trail-unet"])
    with pytest.raises(InputError, match="classifier"):
        sd.segment(frames, model="trail-cnn", weights=weights["trail-cnn"])
    with pytest.raises(InputError, match="batch_size"):
        sd.classify(frames, weights=weights["trail-mobilenetv2"], batch_size=0)
    with pytest.raises(InputError, match="step"):
        sd.segment(frames, weights=weights["trail-unet"], step=0)
    with pytest.raises(InputError, match="border"):
        sd.segment(frames, weights=weights["trail-unet"], border=-1)
    with pytest.raises(InputError, match="device"):
        sd.classify(frames, weights=weights["trail-mobilenetv2"], device="tpu")
    with pytest.raises(ModelError, match="known models"):
        sd.classify(frames, model="yolo")


def test_retrained_weights_in_the_same_file_are_reloaded(frames, tmp_path):
    path = tmp_path / "w.safetensors"
    torch.manual_seed(5)
    save_weights(build_model("trail-cnn"), "trail-cnn", path)
    first = sd.classify(frames, model="trail-cnn", weights=path).values
    torch.manual_seed(6)
    save_weights(build_model("trail-cnn"), "trail-cnn", path)
    second = sd.classify(frames, model="trail-cnn", weights=path).values
    assert not np.allclose(first, second)
