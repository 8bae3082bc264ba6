"""The ``satlab`` command line. Subcommands import what they need when they run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ._version import __version__
from .errors import SatlabError

# Subcommands living in their own rooms, imported only when named (keeps `satlab --help`
# fast and lets each subpackage own its CLI). A room not yet built is simply not listed.
LAZY_COMMANDS = {
    "simulate": "satlab.simulate.cli:simulate",
    "crossmatch": "satlab.orbits.cli:crossmatch",
    "train": "satlab.train.cli:train",
    "evaluate": "satlab.train.cli:evaluate",
    "report": "satlab.report:report_command",
}


class _Group(click.Group):
    """Lazy subcommands; satlab errors become one clear line and exit code 2."""

    def _lazy(self, name):
        import importlib

        module, _, attr = LAZY_COMMANDS[name].partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                return None  # that room is not built yet
            raise

    def list_commands(self, ctx):
        lazy = [n for n in LAZY_COMMANDS if self._lazy(n) is not None]
        return sorted([*super().list_commands(ctx), *lazy])

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS:
            return self._lazy(name)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SatlabError as exc:
            click.echo(f"satlab: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="satlab")
def main():
    """satlab: satellite and debris trails in astronomical images."""


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0], "satlab": __version__}
    for pkg in ("numpy", "xarray", "dask", "astropy", "sgp4", "torch", "torchvision", "holoviews"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(as_json):
    """Versions, the torch device, and the data catalogue entries."""
    from .catalog import open_catalog
    from .device import device_summary

    cat = open_catalog()
    out = {
        "versions": _versions(),
        "device": device_summary(),
        "catalog": str(cat.path),
        "entries": {name: e.description for name, e in cat.items()},
    }
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"satlab {__version__}")
    for key, value in out["versions"].items():
        click.echo(f"  {key:12s} {value}")
    click.echo(
        f"device: {out['device']['device']} (torch {out['device']['torch']}, "
        f"{out['device']['cpu_threads']} CPU threads)"
    )
    click.echo(f"catalogue: {out['catalog']}")
    for name, desc in out["entries"].items():
        click.echo(f"  {name}: {desc}")


@main.command("open")
@click.argument("source")
@click.option("--instrument", type=click.Choice(["cheops", "fits", "image"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def open_(source, instrument, as_json):
    """Summarise frames at SOURCE: a file, glob, directory, Zarr store or catalogue entry."""
    from .catalog import open_catalog
    from .io import open_frames

    if not Path(source).exists() and not any(c in source for c in "*?["):
        cat = open_catalog()
        if source in cat:
            entry = cat[source]
            ds = entry.read() if instrument is None else entry.read(instrument=instrument)
        else:
            ds = open_frames(source, instrument=instrument)  # raises naming the path
    else:
        ds = open_frames(source, instrument=instrument)
    summary = ds.satlab.summary()
    summary["files"] = len(set(ds["file"].values)) if "file" in ds.coords else 1
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo(f"{source}")
    for key, value in summary.items():
        click.echo(f"  {key:20s} {value}")


if __name__ == "__main__":  # pragma: no cover
    main()
