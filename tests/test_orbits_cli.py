"""``satlab crossmatch`` and the ``tle`` catalogue driver."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from satlab.catalog import open_catalog
from satlab.cli import main
from satlab.errors import SatlabWarning
from satlab.frames import as_frames
from satlab.io.wcs import frame_wcs
from satlab.orbits import Catalogue, Observer, predict
from satlab.orbits.synthetic import synthetic_catalogue

SC1 = "1 44874U 19092B   06152.00000000  .00000000  00000-0  00000+0 0    04"
SC2 = "2 44874  98.2200 200.0000 0012000  90.0000  10.0000 14.57000000    02"
T_MID = pd.Timestamp("2006-06-01 06:00:00")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A one-frame Zarr archive with a trail on a catalogued object, its 3LE and SATCAT."""
    root = tmp_path_factory.mktemp("xm")
    cat = synthetic_catalogue(300, T_MID, seed=4)
    observer = Observer.from_tle(SC1, SC2, name="CHEOPS-like")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)
        ds = predict(cat, [T_MID], observer)
    ok = np.flatnonzero((ds["sgp4_error"].values[:, 0] == 0) & (ds["range_km"].values[:, 0] < 9000))
    target = ds.isel(object=ok[0], time=0)
    frames = as_frames(
        np.zeros((1, 200, 200), np.float32),
        time=[T_MID],
        exptime=60.0,
        attrs={"pixel_scale": 1.0, "parity": -1, "observer": observer.to_attr()},
    ).assign_coords(
        ra=("frame", [float(target["ra"])]),
        dec=("frame", [float(target["dec"])]),
        roll=("frame", [20.0]),
    )
    dt = 50.0 / float(target["rate_arcsec_s"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)
        track = predict(
            cat.select(int(target["norad_id"])),
            T_MID + pd.to_timedelta([-dt, dt], unit="s"),
            observer,
            light_time=True,
        )
    x, y = frame_wcs(frames, 0).world_to_pixel_values(track["ra"].values[0], track["dec"].values[0])
    pd.DataFrame(
        [{"frame": 0, "x0": x[0], "y0": y[0], "x1": x[1], "y1": y[1], "width_px": 2.0}]
    ).to_csv(root / "trails.csv", index=False)
    frames.satlab.to_zarr(root / "frames.zarr")
    (root / "cat.3le").write_text(cat.to_tle())
    (root / "satcat.csv").write_text(
        f"NORAD_CAT_ID,OBJECT_TYPE,RCS_SIZE\n{int(target['norad_id'])},PAYLOAD,LARGE\n"
    )
    return root, int(target["norad_id"])


def test_cli_identifies_and_writes_matches(archive):
    root, norad = archive
    out = root / "matches.csv"
    args = [
        "crossmatch",
        str(root / "trails.csv"),
        str(root / "frames.zarr"),
        str(root / "cat.3le"),
    ]
    result = CliRunner().invoke(
        main, [*args, "--satcat", str(root / "satcat.csv"), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["trails"], summary["identified"], summary["strict"]) == (1, 1, 1)
    assert summary["params"]["angle_tol_deg"] == 6.0
    matches = pd.read_csv(out)
    best = matches[matches["best"]].iloc[0]
    assert best["norad_id"] == norad and best["object_type"] == "PAYLOAD"
    # a second run refuses to overwrite, with a one-line error
    again = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert again.exit_code == 2 and "already exists; pass --overwrite" in again.output
    text = CliRunner().invoke(main, [*args, "--out", str(out), "--overwrite"])
    assert (
        text.exit_code == 0
        and f"NORAD {norad}" in text.output
        and "1/1 trail(s) identified" in text.output
    )


def test_cli_observer_option_and_bad_inputs(archive, tmp_path):
    root, _ = archive
    tle = tmp_path / "observer.tle"
    tle.write_text(f"CHEOPS-like\n{SC1}\n{SC2}\n")
    args = [
        "crossmatch",
        str(root / "trails.csv"),
        str(root / "frames.zarr"),
        str(root / "cat.3le"),
    ]
    ok = CliRunner().invoke(main, [*args, "--observer", str(tle), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["identified"] == 1
    bad = CliRunner().invoke(main, [*args, "--observer", "north pole"])
    assert bad.exit_code == 2 and "--observer 'north pole': expected Observer JSON" in bad.output
    (tmp_path / "trails.txt").write_text("x")
    wrong = CliRunner().invoke(main, ["crossmatch", str(tmp_path / "trails.txt"), *args[2:]])
    assert wrong.exit_code == 2 and "expected a .csv or .parquet trail table" in wrong.output


def test_tle_catalogue_driver(tmp_path, archive):
    root, _ = archive
    (tmp_path / "catalog.yaml").write_text(
        f"entries:\n  objects:\n    driver: tle\n    path: {root / 'cat.3le'}\n"
        "    args: {errors: skip}\n"
    )
    cat = open_catalog(tmp_path / "catalog.yaml")["objects"].read()
    assert isinstance(cat, Catalogue) and len(cat) == 300


@pytest.mark.slow
def test_sample_archive_identification_target(tmp_path):
    """Issue 4's target on the bundled archive: >= 95 % of the injected trails get the
    right NORAD id, <= 2 % a wrong one (truth-table geometry as the detector input)."""
    out = tmp_path / "matches.csv"
    args = ["cheops-archive-truth", "cheops-archive", "cheops-archive-tle"]
    result = CliRunner().invoke(
        main, ["crossmatch", *args, "--satcat", "cheops-archive-satcat", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    truth = open_catalog()["cheops-archive-truth"].read()
    matches = pd.read_csv(out)
    best = matches[matches["best"]].set_index("trail")["norad_id"]
    got = truth.index.map(best.to_dict()).to_numpy(dtype=float)
    right = (got == truth["norad_id"].to_numpy()).mean()
    wrong = (np.isfinite(got) & (got != truth["norad_id"].to_numpy())).mean()
    assert len(truth) > 50
    assert right >= 0.95 and wrong <= 0.02
    assert matches.loc[matches["best"], "object_type"].notna().all()  # SATCAT joined
