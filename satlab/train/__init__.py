"""Training satlab's trail networks on simulated frames (``satlab train NAME``).

Imports torch; ``import satlab`` does not import this package.
"""

from .core import RECIPES, train_model
from .data import simulated_set, split_indices

__all__ = ["RECIPES", "simulated_set", "split_indices", "train_model"]
