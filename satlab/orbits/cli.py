"""``satlab crossmatch TRAILS FRAMES TLE``: identify trails from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import InputError, OutputExistsError


def _entry(name: str):
    """A data-catalogue entry called ``name`` if there is one and no such file."""
    from ..catalog import open_catalog

    if Path(name).exists() or any(c in name for c in "*?["):
        return None
    cat = open_catalog()
    return cat[name] if name in cat else None


def _read_table(text: str):
    import pandas as pd

    from ..errors import MissingFileError

    entry = _entry(text)
    if entry is not None:
        return entry.read()
    path = Path(text)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such trail table (or data-catalogue entry)")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    raise InputError(f"TRAILS {path}: expected a .csv or .parquet trail table")


def _observer(text: str | None):
    """``--observer``: Observer JSON, ``LAT,LON,HEIGHT_M`` or a file with one TLE."""
    from .observer import Observer

    if text is None:
        return None
    if text.lstrip().startswith("{"):
        return Observer.from_attr(text)
    if Path(text).is_file():
        lines = [ln for ln in Path(text).read_text().splitlines() if ln.startswith(("1 ", "2 "))]
        if len(lines) != 2:
            raise InputError(f"--observer {text}: expected a file with one TLE (2 lines)")
        return Observer.from_tle(*lines)
    try:
        lat, lon, height = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise InputError(
            f"--observer {text!r}: expected Observer JSON, LAT,LON,HEIGHT_M or a TLE file"
        ) from exc
    return Observer.ground(lat, lon, height)


@click.command()
@click.argument("trails")
@click.argument("frames")
@click.argument("tle")
@click.option("--satcat", help="SATCAT CSV (or data-catalogue entry) to join.")
@click.option(
    "--observer",
    help="Observer JSON, LAT,LON,HEIGHT_M, or a TLE file (default: the frames' attrs).",
)
@click.option("--radius", "radius_arcsec", type=float, default=250.0, show_default=True)
@click.option("--angle-tol", "angle_tol_deg", type=float, default=6.0, show_default=True)
@click.option(
    "--relaxed-radius", "relaxed_radius_arcsec", type=float, default=350.0, show_default=True
)
@click.option("--window-h", type=float, default=48.0, show_default=True)
@click.option("--errors", type=click.Choice(["raise", "skip"]), default="raise", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Write matches (.csv or .parquet).")
@click.option("--overwrite", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def crossmatch(
    trails,
    frames,
    tle,
    satcat,
    observer,
    radius_arcsec,
    angle_tol_deg,
    relaxed_radius_arcsec,
    window_h,
    errors,
    out,
    overwrite,
    as_json,
):
    """Identify the catalogued objects behind TRAILS (CSV/Parquet trail table) in FRAMES
    (a file, glob or Zarr store) using the element sets in TLE (TLE, 3LE or OMM). Each
    may also name a data-catalogue entry, e.g. ``satlab crossmatch cheops-archive-truth
    cheops-archive cheops-archive-tle --satcat cheops-archive-satcat``."""
    from ..io import open_frames
    from .catalogue import read_tle
    from .crossmatch import crossmatch as run

    if out is not None:
        if out.suffix.lower() not in (".csv", ".parquet"):
            raise InputError(f"--out {out}: expected a .csv or .parquet path")
        if out.exists() and not overwrite:
            raise OutputExistsError(f"{out}: already exists; pass --overwrite to replace it")
    table = _read_table(trails)
    entry = _entry(frames)
    ds = entry.read() if entry is not None else open_frames(frames)
    entry = _entry(tle)
    catalogue = entry.read(errors=errors) if entry is not None else read_tle(tle, errors=errors)
    if satcat is not None:
        entry = _entry(satcat)
        catalogue = catalogue.satcat(entry.read() if entry is not None else satcat)
    matches = run(
        table,
        ds,
        catalogue,
        radius_arcsec=radius_arcsec,
        angle_tol_deg=angle_tol_deg,
        relaxed_radius_arcsec=relaxed_radius_arcsec,
        window_h=window_h,
        observer=_observer(observer),
    )
    if out is not None:
        if out.suffix.lower() == ".csv":
            matches.to_csv(out, index=False)
        else:
            matches.to_parquet(out, index=False)
    best = matches[matches["best"]]
    summary = {
        "trails": len(table),
        "identified": len(best),
        "strict": int((best["match"] == "strict").sum()),
        "relaxed": int((best["match"] == "relaxed").sum()),
        "rows": len(matches),
        "out": str(out) if out else None,
        "params": matches.attrs.get("params", {}),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo(
        f"{summary['identified']}/{summary['trails']} trail(s) identified "
        f"({summary['strict']} strict, {summary['relaxed']} relaxed)"
    )
    for row in best.itertuples():
        click.echo(
            f"  trail {row.trail} (frame {row.frame}): NORAD {row.norad_id} {row.name} "
            f'sep {row.sep_arcsec:.1f}" range {row.range_km:.0f} km {row.match}'
        )
    if out is not None:
        click.echo(f"matches written to {out}")
