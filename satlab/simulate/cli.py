"""``satlab simulate frames|video|archive``: the simulator from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError, OutputExistsError
from .negatives import NEGATIVE_KINDS
from .presets import PRESETS


def _write_frames(ds, out: Path, overwrite: bool) -> list[Path]:
    """Frames to Zarr (everything, truth included) or FITS, plus the truth table as CSV."""
    from .simulator import truth_table
    from .video import video_truth

    suffix = out.suffix.lower()
    if suffix not in (".zarr", ".fits"):
        raise InputError(f"--out {out}: expected a .zarr or .fits path")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: already exists; pass --overwrite to replace it")
    if suffix == ".zarr":
        ds.satlab.to_zarr(out, mode="w")
    else:
        ds.satlab.to_fits(out, overwrite=True)
    truth = video_truth(ds) if "object_id" in ds else truth_table(ds) if ds.sizes["trail"] else None
    written = [out]
    if truth is not None:
        table = out.with_name(out.stem + "_truth.csv")
        truth.to_csv(table, index=False)
        written.append(table)
    return written


@click.group()
def simulate():
    """Synthetic observations with ground truth (frames, debris videos, sample archive)."""


@simulate.command()
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="cheops", show_default=True)
@click.option("-n", "--n-frames", "n", type=int, default=16, show_default=True)
@click.option("--seed", type=int, required=True, help="Seed; frame i depends on (seed, i).")
@click.option("--trail-fraction", type=float, default=0.5, show_default=True)
@click.option("--hard-negative-fraction", type=float, default=0.0, show_default=True)
@click.option(
    "--negative-kind",
    "kinds",
    type=click.Choice(NEGATIVE_KINDS),
    multiple=True,
    help="Hard-negative kinds to draw from (repeat; default all).",
)
@click.option(
    "--catalog",
    type=click.Choice(["none", "hipparcos"]),
    default="none",
    help="Real stars: the Hipparcos table of the cedar-solve wheel.",
)
@click.option(
    "--download-catalog",
    is_flag=True,
    help="Fetch the cedar-solve wheel with pip if it is not cached.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Output .zarr (frames + truth) or .fits (frames); truth also as CSV.",
)
@click.option("--ra", type=float, default=None, help="Pointing RA [deg, ICRS] (default: drawn).")
@click.option("--dec", type=float, default=None, help="Pointing Dec [deg, ICRS].")
@click.option("--overwrite", is_flag=True)
def frames(
    preset,
    ra,
    dec,
    n,
    seed,
    trail_fraction,
    hard_negative_fraction,
    kinds,
    catalog,
    download_catalog,
    out,
    overwrite,
):
    """Labelled frames of an instrument preset, with their truth table."""
    import dataclasses

    from .presets import get_preset
    from .scenes import CatalogScene, hipparcos_catalogue
    from .simulator import simulate_frames

    p = get_preset(preset)
    if (ra is None) != (dec is None):
        raise InputError("--ra/--dec: give both or neither")
    if ra is not None:
        from astropy.coordinates import SkyCoord

        pointing = SkyCoord(ra, dec, unit="deg", frame="icrs")
        p = p.replace(telescope=dataclasses.replace(p.telescope, pointing=pointing))
    scene = None
    if catalog == "hipparcos":
        scene = CatalogScene(hipparcos_catalogue(download=download_catalog))
    ds = simulate_frames(
        p,
        n,
        seed=seed,
        trail_fraction=trail_fraction,
        hard_negative_fraction=hard_negative_fraction,
        negative_kinds=kinds or None,
        scene=scene,
    )
    for path in _write_frames(ds, out, overwrite):
        click.echo(path)
    click.echo(f"{int(ds['label'].sum())} of {ds.sizes['frame']} frames hold a trail")


@simulate.command()
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="ztf-like", show_default=True)
@click.option("-n", "--n-frames", "n", type=int, default=8, show_default=True)
@click.option("--seed", type=int, required=True)
@click.option("--objects", "n_objects", type=int, default=None, help="K (default 1-3, dense 4-8).")
@click.option("--dense", is_flag=True, help="A dense scene (K > 3).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Output .zarr or .fits; per-frame truth with object ids as CSV.",
)
@click.option("--overwrite", is_flag=True)
def video(preset, n, seed, n_objects, dense, out, overwrite):
    """A debris video (seed 003 §3.2) with per-frame truth and object ids."""
    from .video import simulate_video

    ds = simulate_video(preset, n, seed=seed, n_objects=n_objects, dense=dense)
    for path in _write_frames(ds, out, overwrite):
        click.echo(path)


@simulate.command()
@click.option("--seed", type=int, required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output directory.")
@click.option("--start", default="2020-03", show_default=True, help="First month (YYYY-MM).")
@click.option("--end", default="2025-06", show_default=True, help="Last month (YYYY-MM).")
@click.option("--frames-per-visit", type=int, default=4, show_default=True)
@click.option("--objects", "n_objects", type=int, default=300, show_default=True)
@click.option("--crossing-fraction", type=float, default=0.7, show_default=True)
@click.option("--overwrite", is_flag=True)
def archive(seed, out, start, end, frames_per_visit, n_objects, crossing_fraction, overwrite):
    """A CHEOPS-like archive whose trails come from a synthetic TLE population (SGP4)."""
    from .archive import make_archive

    result = make_archive(
        out,
        seed=seed,
        start=start,
        end=end,
        frames_per_visit=frames_per_visit,
        n_objects=n_objects,
        crossing_fraction=crossing_fraction,
        overwrite=overwrite,
    )
    for key in ("frames", "tle", "satcat", "truth", "meta"):
        click.echo(f"{key}: {result[key]}")
    click.echo(f"{result['n_frames']} frames, {result['n_trails']} trails")
