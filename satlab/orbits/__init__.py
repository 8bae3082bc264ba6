"""Orbits: TLE/OMM/SATCAT catalogues, SGP4 predictions and trail identification.

``read_tle`` builds a :class:`Catalogue`, :class:`Observer` says where the telescope is
(ground site or spacecraft), ``predict`` gives every object's apparent position and
motion, and ``crossmatch`` names the objects that made detected trails (the procedure
of seed 001, section 3.2).
"""

from .catalogue import Catalogue, read_satcat, read_tle
from .crossmatch import crossmatch, prefilter
from .observer import Observer
from .predict import NO_ELEMENTS, NON_PHYSICAL, predict, select_epochs

__all__ = [
    "NON_PHYSICAL",
    "NO_ELEMENTS",
    "Catalogue",
    "Observer",
    "crossmatch",
    "predict",
    "prefilter",
    "read_satcat",
    "read_tle",
    "select_epochs",
]
