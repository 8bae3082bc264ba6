"""satlab: find satellite and debris trails in astronomical images, identify them, measure them.

The front door is small; everything else lives in subpackages named after the data flow
(``satlab.io``, ``satlab.frames``, ``satlab.detect`` ...). Heavy dependencies (astropy,
torch, holoviews, ipywidgets) load only when a function needs them.
"""

from . import errors
from ._version import __version__
from .catalog import open_catalog
from .errors import SatlabError, SatlabWarning
from .frames import as_frames
from .io import open_frames

__all__ = [
    "SatlabError",
    "SatlabWarning",
    "__version__",
    "as_frames",
    "errors",
    "open_catalog",
    "open_frames",
]
