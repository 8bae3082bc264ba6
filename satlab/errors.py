"""The satlab exception tree.

Every error satlab raises on purpose is a :class:`SatlabError`, so a notebook can catch
them all with one ``except``; each subclass also derives from the matching built-in
(``ValueError``, ``FileNotFoundError``, ...) so generic handlers keep working.
Messages name the file, HDU, column, keyword or parameter at fault and what was expected.
"""

__all__ = [
    "CatalogueError",
    "FileFormatError",
    "FrameError",
    "InputError",
    "MissingFileError",
    "ModelError",
    "OutputExistsError",
    "SatlabError",
    "SatlabWarning",
]


class SatlabError(Exception):
    """Root of every error satlab raises on purpose."""


class InputError(SatlabError, ValueError):
    """A parameter or argument has an impossible or unsupported value."""


class FrameError(InputError):
    """Data cannot be turned into satlab frames (dims, shapes, coordinates)."""


class FileFormatError(SatlabError, ValueError):
    """A file exists but is not in the expected format (not FITS, truncated, missing HDU/column)."""


class MissingFileError(SatlabError, FileNotFoundError):
    """A file, directory or glob pattern matched nothing."""


class OutputExistsError(SatlabError, FileExistsError):
    """An output already exists; satlab does not overwrite what a run produced unless asked."""


class CatalogueError(SatlabError, ValueError):
    """A catalogue (data catalogue, TLE/OMM/SATCAT file) is malformed or an entry is unknown."""


class ModelError(SatlabError, RuntimeError):
    """A model name is unknown or its weights file is corrupted or mismatched."""


class SatlabWarning(UserWarning):
    """Something was dropped, guessed or flagged; the result is still usable."""
