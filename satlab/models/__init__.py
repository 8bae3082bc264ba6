"""satlab's trail networks (torch modules) and their registry.

Importing this package imports torch; ``import satlab`` does not import it.

>>> from satlab.models import list_models, load_model, model_card
>>> list_models()
['trail-cnn', 'trail-mobilenetv2', 'trail-unet']
"""

from .architectures import CosmicUNet, TrailCNN, TrailMobileNetV2
from .registry import (
    MODELS,
    WEIGHTS_DIR,
    ModelSpec,
    build_model,
    get_spec,
    list_models,
    load_model,
    model_card,
    save_weights,
)

__all__ = [
    "MODELS",
    "WEIGHTS_DIR",
    "CosmicUNet",
    "ModelSpec",
    "TrailCNN",
    "TrailMobileNetV2",
    "build_model",
    "get_spec",
    "list_models",
    "load_model",
    "model_card",
    "save_weights",
]
