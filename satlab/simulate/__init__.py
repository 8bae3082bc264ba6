"""satlab's simulator: orbitAI-grade synthetic observations with ground truth.

Telescope optics and PSFs (:mod:`.optics`), the detector noise chain (:mod:`.detector`),
pixel-exact streaks (:mod:`.streaks`), scenes (:mod:`.scenes`), hard negatives
(:mod:`.negatives`), instrument presets (:mod:`.presets`), labelled frames
(:func:`simulate_frames`, :func:`truth_table`) and a torch dataset (:class:`TrailDataset`,
imported on first use so that this package does not import torch).
"""

from .detector import BAYER_ORDERS, Detector
from .negatives import NEGATIVE_KINDS
from .optics import BANDS, MODES, PSF, Telescope, psf_from_image
from .presets import PRESETS, Preset, fixed_psf, get_preset
from .scenes import CatalogScene, CompositeScene, SimulatedScene, Stars, hipparcos_catalogue
from .simulator import COLUMN_DEG, TRUTH_COLUMNS, gaussian_sigma, simulate_frames, truth_table
from .streaks import render_segments, render_streak, streak_area, streak_mask, streak_path
from .video import simulate_video, video_truth

__all__ = [
    "BANDS",
    "BAYER_ORDERS",
    "COLUMN_DEG",
    "MODES",
    "NEGATIVE_KINDS",
    "PRESETS",
    "PSF",
    "TRUTH_COLUMNS",
    "CatalogScene",
    "CompositeScene",
    "Detector",
    "Preset",
    "SimulatedScene",
    "Stars",
    "Telescope",
    "TrailDataset",
    "fixed_psf",
    "gaussian_sigma",
    "get_preset",
    "hipparcos_catalogue",
    "psf_from_image",
    "render_segments",
    "render_streak",
    "simulate_frames",
    "simulate_video",
    "streak_area",
    "streak_mask",
    "streak_path",
    "truth_table",
    "video_truth",
]


def __getattr__(name):
    if name == "TrailDataset":
        from .dataset import TrailDataset

        return TrailDataset
    raise AttributeError(f"module 'satlab.simulate' has no attribute {name!r}")
