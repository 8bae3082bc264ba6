"""The data catalogue: named, documented datasets that load to xarray or pandas.

``data_catalog/catalog.yaml`` lists entries::

    entries:
      cheops-sample:
        description: ...
        driver: frames          # satlab.open_frames
        path: sample/CH_PR*.fits
        args: {instrument: cheops}

Paths are relative to the catalogue file. satlab reads this small YAML file itself rather
than through intake: intake 2 dropped the v1 YAML spec and its xarray plugin is
unmaintained, while satlab's needs (name -> loader call with arguments) fit in a page.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CatalogueError, MissingFileError

__all__ = ["DRIVERS", "Catalog", "CatalogEntry", "default_catalog_path", "open_catalog"]


def _frames(path: Path, **kwargs):
    from .io import open_frames

    return open_frames(path, **kwargs)


def _csv(path: Path, **kwargs):
    import pandas as pd

    return pd.read_csv(path, **kwargs)


def _parquet(path: Path, **kwargs):
    import pandas as pd

    return pd.read_parquet(path, **kwargs)


def _text(path: Path, **kwargs):
    return Path(path).read_text(**kwargs)


def _tle(path: Path, **kwargs):
    from .orbits import read_tle

    return read_tle(path, **kwargs)


DRIVERS: dict[str, Callable] = {
    "frames": _frames,
    "csv": _csv,
    "parquet": _parquet,
    "tle": _tle,
    "text": _text,
}


@dataclass(frozen=True)
class CatalogEntry:
    """One catalogue entry; :meth:`read` loads it."""

    name: str
    driver: str
    path: Path
    description: str = ""
    args: dict = field(default_factory=dict)

    def read(self, **kwargs):
        """Load the entry (xarray for frames, pandas for tables); ``kwargs`` override args."""
        return DRIVERS[self.driver](self.path, **{**self.args, **kwargs})

    def _repr_html_(self) -> str:
        return (
            f"<b>{html.escape(self.name)}</b> ({html.escape(self.driver)}): "
            f"{html.escape(self.description)}<br><code>{html.escape(str(self.path))}</code>"
        )


class Catalog(Mapping):
    """A read-only mapping of entry name -> :class:`CatalogEntry`."""

    def __init__(self, entries: dict[str, CatalogEntry], path: Path):
        self._entries = entries
        self.path = path

    def __getitem__(self, name: str) -> CatalogEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise CatalogueError(
                f"{self.path}: no entry {name!r}; known entries: {sorted(self._entries)}"
            ) from None

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def to_dataframe(self):
        """One row per entry: name, driver, description, path."""
        import pandas as pd

        rows = [
            {"name": e.name, "driver": e.driver, "description": e.description, "path": str(e.path)}
            for e in self._entries.values()
        ]
        return pd.DataFrame(rows, columns=["name", "driver", "description", "path"])

    def __repr__(self) -> str:
        return f"<satlab Catalog {self.path}: {', '.join(self._entries) or 'empty'}>"

    def _repr_html_(self) -> str:
        return self.to_dataframe().to_html(index=False)


def default_catalog_path() -> Path:
    """``$SATLAB_CATALOG``, else the ``data_catalog/`` beside the package (a source checkout),
    else the copy installed inside the package (a wheel)."""
    env = os.environ.get("SATLAB_CATALOG")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "data_catalog", here / "data_catalog"):
        if (candidate / "catalog.yaml").is_file():
            return candidate / "catalog.yaml"
    raise MissingFileError(
        f"no data catalogue found beside {here} or inside it; set SATLAB_CATALOG to a catalog.yaml"
    )


def open_catalog(path=None) -> Catalog:
    """Open a catalogue file (default: satlab's bundled ``data_catalog/catalog.yaml``).

    Raises
    ------
    satlab.errors.CatalogueError
        The file is not a mapping of entries, or an entry lacks ``driver``/``path`` or names
        an unknown driver.
    """
    import yaml

    path = Path(path) if path is not None else default_catalog_path()
    if path.is_dir():
        path = path / "catalog.yaml"
    if not path.is_file():
        raise MissingFileError(f"{path}: no such catalogue file")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("entries"), dict):
        raise CatalogueError(f"{path}: expected a mapping with key 'entries'")
    entries = {}
    for name, item in spec["entries"].items():
        if not isinstance(item, dict) or "driver" not in item or "path" not in item:
            raise CatalogueError(f"{path}: entry {name!r} needs 'driver' and 'path'")
        if item["driver"] not in DRIVERS:
            raise CatalogueError(
                f"{path}: entry {name!r} has driver {item['driver']!r}; expected one of "
                f"{sorted(DRIVERS)}"
            )
        entries[name] = CatalogEntry(
            name=name,
            driver=item["driver"],
            path=path.parent / item["path"],
            description=str(item.get("description", "")).strip(),
            args=dict(item.get("args") or {}),
        )
    return Catalog(entries, path)
