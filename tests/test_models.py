"""satlab.models: architectures, registry, safe weight loading, model cards."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("torch_one_thread")

from satlab.errors import ModelError  # noqa: E402
from satlab.models import (  # noqa: E402
    CosmicUNet,
    TrailCNN,
    TrailMobileNetV2,
    build_model,
    get_spec,
    list_models,
    load_model,
    model_card,
    save_weights,
)


def test_registry_lists_the_three_models():
    assert list_models() == ["trail-cnn", "trail-mobilenetv2", "trail-unet"]
    assert get_spec("trail-cnn").window == 128
    assert get_spec("trail-cnn").overlap == 20
    assert get_spec("trail-unet").window == 256
    assert get_spec("trail-mobilenetv2").threshold == 0.8


def test_unknown_name_lists_known_models():
    with pytest.raises(ModelError, match=r"known models.*trail-cnn.*trail-mobilenetv2.*trail-unet"):
        get_spec("resnet-9000")
    with pytest.raises(ModelError, match="unknown name"):
        load_model("nope")


def test_mobilenet_head_is_the_papers():
    net = TrailMobileNetV2(width_mult=0.5)
    assert net.features[0][0].in_channels == 1
    assert net.dense.out_features == 1024 and net.out.out_features == 1
    assert net.dropout.p == 0.5
    assert [p.shape for p in net.l2_parameters()] == [net.dense.weight.shape]
    net.eval()
    out = net(torch.zeros(3, 1, 50, 50))
    assert out.shape == (3,)


def test_trail_cnn_layers_and_sizes():
    net = TrailCNN(size=128).eval()
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.out_channels) for c in convs] == [((5, 5), 32), ((4, 4), 64)]
    linears = [m.out_features for m in net.head if isinstance(m, torch.nn.Linear)]
    assert linears == [512, 16, 1]
    assert net(torch.zeros(2, 1, 128, 128)).shape == (2,)
    assert TrailCNN(size=32)(torch.zeros(1, 1, 32, 32)).shape == (1,)
    with pytest.raises(ValueError, match="at least 32 px"):
        TrailCNN(size=16)


def test_unet_keeps_the_image_size():
    net = CosmicUNet(width=8).eval()
    assert net(torch.zeros(2, 1, 64, 36)).shape == (2, 64, 36)
    # two 2x down-sampling stages, 32 / 64 filters as in Cosmic-CoNN
    full = CosmicUNet()
    assert full.enc1[0].out_channels == 32 and full.enc2[0].out_channels == 64
    assert not hasattr(full, "enc3")


def test_a_deeper_unet_sees_further():
    # seeded: about one random start in 40 leaves the centre pixel's ReLUs all dead,
    # so its gradient is zero everywhere
    torch.manual_seed(0)
    deep = CosmicUNet(width=8, depth=3).eval()
    assert deep.enc3[0].out_channels == 32
    assert deep(torch.zeros(1, 1, 64, 40)).shape == (1, 64, 40)
    # a pixel's output depends on inputs twice as far away as at depth 2
    x = torch.randn(1, 1, 128, 128, generator=torch.Generator().manual_seed(0))
    x.requires_grad_(True)
    reach = []
    for net in (CosmicUNet(width=8).eval(), deep):
        net(x)[0, 64, 64].backward()
        cols = torch.nonzero(x.grad[0, 0].abs().sum(0)).ravel()
        reach.append(int(cols.max() - cols.min()) + 1)
        x.grad = None
    assert reach == [22, 46]


@pytest.mark.parametrize("name", ["trail-cnn", "trail-mobilenetv2", "trail-unet"])
def test_weights_round_trip(tmp_path, name):
    torch.manual_seed(0)
    net = build_model(name).eval()
    path = save_weights(net, name, tmp_path / "w.safetensors")
    loaded = load_model(name, weights=path)
    size = 64 if name != "trail-cnn" else 32
    x = torch.randn(2, 1, size, size)
    with torch.inference_mode():
        ref, got = net(x), loaded(x)
    # weights are stored as float16
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=0.02, atol=0.02)
    assert not loaded.training


def test_corrupted_weights_name_file_and_architecture(tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00\x01 this is not safetensors" * 10)
    with pytest.raises(ModelError, match=r"broken\.safetensors.*TrailMobileNetV2"):
        load_model("trail-mobilenetv2", weights=bad)
    good = save_weights(build_model("trail-cnn"), "trail-cnn", tmp_path / "cut.safetensors")
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"cut\.safetensors.*TrailCNN"):
        load_model("trail-cnn", weights=good)


def test_mismatched_weights_are_refused(tmp_path):
    path = save_weights(build_model("trail-unet"), "trail-unet", tmp_path / "unet.safetensors")
    with pytest.raises(ModelError, match=r"unet\.safetensors.*CosmicUNet.*expected TrailCNN"):
        load_model("trail-cnn", weights=path)


def test_weights_for_other_inputs_are_refused(tmp_path, monkeypatch):
    """Same network, inputs binned otherwise: refused, naming what each expects."""
    import dataclasses

    from satlab.models import registry

    path = save_weights(build_model("trail-mobilenetv2"), "trail-mobilenetv2", tmp_path / "b.pt")
    load_model("trail-mobilenetv2", weights=path)
    spec = registry.get_spec("trail-mobilenetv2")
    other = dataclasses.replace(spec, bin=2 * spec.bin)
    monkeypatch.setitem(registry.MODELS, spec.name, other)
    match = rf'b\.pt.*"bin": {spec.bin}.*expected.*"bin": {other.bin}'
    with pytest.raises(ModelError, match=match):
        load_model("trail-mobilenetv2", weights=path)


def test_foreign_safetensors_without_metadata(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(ModelError, match=r"unknown architecture.*expected CosmicUNet"):
        load_model("trail-unet", weights=path)


def test_missing_weights_file(tmp_path):
    with pytest.raises(ModelError, match=r"no weights file.*satlab train trail-cnn"):
        load_model("trail-cnn", weights=tmp_path / "absent.safetensors")


def test_model_card_describes_the_model():
    card = model_card("trail-cnn")
    assert card["window_px"] == 128 and card["overlap_px"] == 20
    assert card["normalisation"] == "arcsinh-robust"
    json.dumps(card)


def test_robust_arcsinh_follows_the_sky_not_the_star(rng):
    from satlab.frames import arcsinh_normalise
    from satlab.models.preprocess import robust_arcsinh

    sky = rng.normal(1000.0, 10.0, (2, 64, 64)).astype(np.float32)
    sky[:, 20:40, 20:40] += 1e6  # a bright, defocused target star
    mask = np.ones((64, 64), bool)
    robust = robust_arcsinh(sky, mask=mask)
    plain = arcsinh_normalise(sky, mask=mask)
    bg = np.ones((64, 64), bool)
    bg[15:45, 15:45] = False
    # sky noise keeps ~unit scale (std of arcsinh of N(0, 1) is ~0.8) ...
    assert 0.7 < robust[:, bg].std() < 0.9
    # ... while eq. 1's mean/std, dominated by the star, squeeze it far below
    assert plain[:, bg].std() < 0.01
    # NaN / masked pixels do not enter the statistics
    holes = sky.copy()
    holes[:, :5] = np.nan
    np.testing.assert_allclose(
        robust_arcsinh(holes, mask=mask)[:, 5:], robust_arcsinh(sky, mask=mask)[:, 5:], atol=0.05
    )
    empty = robust_arcsinh(np.full((1, 4, 4), np.nan, np.float32), mask=np.ones((4, 4), bool))
    assert np.isnan(empty).all()
