"""The model registry: names, input conventions, weight files and model cards.

A registry entry says how :mod:`satlab.detect` must feed a network (window size,
binning, normalisation) and where its weights and model card live. Weights are
safetensors files (no pickle: loading cannot run code) inside the package, next to a
JSON model card written by :mod:`satlab.train`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelError

__all__ = [
    "MODELS",
    "WEIGHTS_DIR",
    "ModelSpec",
    "build_model",
    "get_spec",
    "list_models",
    "load_model",
    "model_card",
    "save_weights",
]

WEIGHTS_DIR = Path(__file__).parent / "weights"
# BatchNorm's step counters: not needed for inference, so not shipped
_COUNTER = "num_batches_tracked"


@dataclass(frozen=True)
class ModelSpec:
    """How to build, feed and load one trail network.

    Attributes
    ----------
    name : str
        Registry name (``satlab train NAME``, ``classify(model=NAME)``).
    task : {"classify", "windows", "segment"}
        Whole-frame score, max score over sliding windows, or pixel probabilities.
    architecture : str
        Class name in :mod:`satlab.models.architectures`.
    config : dict
        Keyword arguments of the architecture.
    window : int or None
        Cutout / tile side [px, detector pixels]; ``None``: the whole frame at once.
    overlap : int
        Overlap of neighbouring windows [px] (``task="windows"``).
    bin : int
        Detector pixels averaged per network pixel along each axis before the network
        (CHEOPS PSFs are ~16 px wide, so binning costs little signal and saves time).
    normalisation : {"arcsinh-robust", "arcsinh-mean"}
        Seed 002 eq. 1 over the good pixels of each frame (whole-frame models) or window
        (``task="windows"``): ``"arcsinh-mean"`` with their mean and standard deviation
        as in the paper, ``"arcsinh-robust"`` with their median and normal-scaled MAD
        (see :func:`satlab.models.preprocess.robust_arcsinh`).
    threshold : float
        Default decision threshold on the score (0.8 in seed 001).
    description : str
        One line for listings.
    """

    name: str
    task: str
    architecture: str
    config: dict = field(default_factory=dict)
    window: int | None = None
    overlap: int = 0
    bin: int = 1
    normalisation: str = "arcsinh-robust"
    threshold: float = 0.8
    description: str = ""

    @property
    def weights_path(self) -> Path:
        """The shipped safetensors file."""
        return WEIGHTS_DIR / f"{self.name}.safetensors"

    @property
    def card_path(self) -> Path:
        """The shipped JSON model card."""
        return WEIGHTS_DIR / f"{self.name}.json"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="trail-mobilenetv2",
            task="classify",
            architecture="TrailMobileNetV2",
            config={"width_mult": 0.5, "hidden": 1024, "dropout": 0.5},
            bin=2,
            description="Seed 001 MobileNetV2 (width 0.5) + GAP/dropout/1024/1 head, "
            "whole frame binned 2x2",
        ),
        ModelSpec(
            name="trail-cnn",
            task="windows",
            architecture="TrailCNN",
            config={"size": 32},
            window=128,
            overlap=20,
            bin=4,
            normalisation="arcsinh-robust",
            description="Seed 002 CNN on 128-px windows (overlap 20 px, binned 4x4), "
            "image score = max window score",
        ),
        ModelSpec(
            name="trail-unet",
            task="segment",
            architecture="CosmicUNet",
            config={"width": 16, "depth": 4},
            window=256,
            bin=2,
            threshold=0.5,
            description="Seed 002 Cosmic-CoNN UNet with two more down-sampling stages "
            "(16/32/64/128 filters) on 256-px tiles (binned 2x2), pixel trail probabilities",
        ),
    )
}


def list_models() -> list[str]:
    """Names of the registered models."""
    return sorted(MODELS)


def get_spec(name: str) -> ModelSpec:
    """The registry entry of ``name``.

    Raises
    ------
    satlab.errors.ModelError
        ``name`` is not registered (the message lists the known names).
    """
    if isinstance(name, ModelSpec):
        return name
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ModelError(f"model: unknown name {name!r}; known models: {list_models()}") from None


def build_model(name: str):
    """A freshly initialised (untrained) network for ``name``."""
    from . import architectures

    spec = get_spec(name)
    return getattr(architectures, spec.architecture)(**spec.config)


def _metadata(spec: ModelSpec) -> dict[str, str]:
    # the input preparation too: weights trained on 4x4-binned frames score 2x2-binned
    # ones at ROC AUC 0.16 (trail-mobilenetv2), a wrong answer that no tensor shape shows
    prepared = {"bin": spec.bin, "normalisation": spec.normalisation}
    if spec.window is not None:
        prepared |= {"window": spec.window, "overlap": spec.overlap}
    return {
        "satlab_model": spec.name,
        "architecture": spec.architecture,
        "config": json.dumps(spec.config, sort_keys=True),
        "input": json.dumps(prepared, sort_keys=True),
    }


def save_weights(model, name: str, path: str | Path | None = None, *, half: bool = True) -> Path:
    """Write ``model``'s state dict as safetensors, tagged with its architecture and inputs.

    Parameters
    ----------
    model : torch.nn.Module
        A network built by :func:`build_model` ``(name)``.
    name : str
        Registry name.
    path : str or Path, optional
        Output file; default the shipped location :attr:`ModelSpec.weights_path`.
    half : bool
        Store floating-point tensors as float16 (half the size; loading casts back to
        float32, a difference far below the training noise).
    """
    from safetensors.torch import save_file

    spec = get_spec(name)
    path = Path(path) if path is not None else spec.weights_path
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in model.state_dict().items()
        if not k.endswith(_COUNTER)
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=_metadata(spec))
    return path


def load_model(name: str = "trail-mobilenetv2", *, weights: str | Path | None = None):
    """The network ``name`` with its weights loaded, in eval mode, on the CPU.

    Parameters
    ----------
    name : str
        Registry name (see :func:`list_models`).
    weights : str or Path, optional
        A safetensors file to load instead of the shipped one (e.g. from
        ``satlab train NAME --out``).

    Raises
    ------
    satlab.errors.ModelError
        Unknown name; weights file missing, unreadable or corrupted; or written for
        another architecture / configuration or for inputs prepared otherwise (binning,
        normalisation, windows; the message names the file and what was expected).
    """
    from safetensors import SafetensorError, safe_open

    spec = get_spec(name)
    path = Path(weights) if weights is not None else spec.weights_path
    expected = f"{spec.architecture}({json.dumps(spec.config, sort_keys=True)})"
    if not path.is_file():
        raise ModelError(
            f"{path}: no weights file for model {spec.name!r} ({expected}); "
            f"train them with `satlab train {spec.name}`"
        )
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(
            f"{path}: not a readable safetensors weights file for {spec.name!r} "
            f"(expected {expected}): {exc}"
        ) from exc
    want = _metadata(spec)
    if meta.get("architecture") != spec.architecture or meta.get("config") != want["config"]:
        raise ModelError(
            f"{path}: weights are for {meta.get('architecture', 'an unknown architecture')}"
            f"({meta.get('config', '?')}), expected {expected} for model {spec.name!r}"
        )
    if meta.get("input") != want["input"]:
        raise ModelError(
            f"{path}: weights are for inputs prepared as {meta.get('input', 'unrecorded')}, "
            f"expected {want['input']} for model {spec.name!r}"
        )
    model = build_model(spec.name)
    reference = model.state_dict()
    state = {k: v.to(reference[k].dtype) if k in reference else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ModelError(f"{path}: tensor shapes do not match {expected}: {exc}") from exc
    missing = sorted(k for k in set(reference) - set(state) if not k.endswith(_COUNTER))
    unexpected = sorted(set(state) - set(reference))
    if missing or unexpected:
        raise ModelError(
            f"{path}: tensors do not match {expected} (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]})"
        )
    return model.eval()


def model_card(name: str) -> dict:
    """The model card of ``name``: training data, configuration, seed, metrics, curves.

    An untrained model (no shipped card) gets a card with ``"status": "untrained"``.
    """
    spec = get_spec(name)
    base = {
        "name": spec.name,
        "task": spec.task,
        "architecture": spec.architecture,
        "config": spec.config,
        "window_px": spec.window,
        "overlap_px": spec.overlap,
        "bin": spec.bin,
        "normalisation": spec.normalisation,
        "threshold": spec.threshold,
        "description": spec.description,
        "weights": spec.weights_path.name,
    }
    if not spec.card_path.is_file():
        return {**base, "status": "untrained"}
    return {**base, **json.loads(spec.card_path.read_text())}
