import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import satlab
from satlab.cli import main
from satlab.errors import CatalogueError, MissingFileError

from .conftest import ROOT


@pytest.mark.slow
def test_bundled_catalogue_loads_the_sample_archive():
    cat = satlab.open_catalog()
    for name in (
        "cheops-archive",
        "cheops-sample",
        "cheops-archive-tle",
        "cheops-archive-satcat",
        "cheops-archive-truth",
    ):
        assert name in cat
    ds = cat["cheops-archive"].read()
    assert ds.attrs["instrument"] == "CHEOPS" and ds.sizes["frame"] == 256
    assert "spacecraft" in ds.attrs["observer"]
    assert np.isfinite(ds["flux"].values[0][ds["valid"].values]).all()
    months = ds["time"].values.astype("datetime64[M]")
    assert len(np.unique(months)) == 64  # one visit a month, 2020-03 .. 2025-06
    truth = cat["cheops-archive-truth"].read()
    assert len(truth) > 30
    per_frame = cat["cheops-archive-frames"].read()
    assert len(per_frame) == 256 and per_frame["n_trails"].sum() == len(truth)
    assert per_frame["negative_kind"].notna().sum() > 5
    assert (truth["file"].to_numpy() == ds["file"].values[truth["frame"]]).all()
    # the brightest long trails stand out along their true segment
    y, x = np.mgrid[0:200, 0:200]
    for row in truth[truth["length_px"] > 30].nlargest(5, "snr_avg").itertuples():
        flux = ds["flux"].values[row.frame]
        a, b = np.array([row.x0, row.y0]), np.array([row.x1, row.y1])
        t = np.clip(((x - a[0]) * (b - a)[0] + (y - a[1]) * (b - a)[1]) / ((b - a) @ (b - a)), 0, 1)
        d = np.hypot(x - a[0] - t * (b - a)[0], y - a[1] - t * (b - a)[1])
        sky = flux[(d > 40) & (flux < np.nanpercentile(flux, 90))]
        assert np.nanmedian(flux[d < 8]) - np.nanmedian(sky) > 0.2 * np.nanstd(sky)
    sample = cat["cheops-sample"].read()
    assert sample.sizes["frame"] == 8 and set(sample["file"].values) <= set(ds["file"].values)
    in_sample = truth[truth["file"].isin(set(sample["file"].values))]
    assert sorted(in_sample["frame"] - 68) == [1, 2, 3, 5]
    df = cat.to_dataframe()
    assert list(df.columns) == ["name", "driver", "description", "path"]
    assert "cheops-archive" in cat._repr_html_()


def test_unknown_entry_lists_known(tmp_path):
    with pytest.raises(CatalogueError, match="known entries"):
        satlab.open_catalog()["nope"]


@pytest.mark.parametrize(
    "text, match",
    [
        ("entries: [1, 2]", "mapping"),
        ("entries:\n  a: {driver: frames}", "needs 'driver' and 'path'"),
        ("entries:\n  a: {driver: magic, path: x}", "driver 'magic'"),
        ("entries: {a: [", "not valid YAML"),
    ],
)
def test_bad_catalogue_files(tmp_path, text, match):
    (tmp_path / "catalog.yaml").write_text(text)
    with pytest.raises(CatalogueError, match=match):
        satlab.open_catalog(tmp_path)


def test_missing_catalogue(tmp_path):
    with pytest.raises(MissingFileError):
        satlab.open_catalog(tmp_path / "none.yaml")


def test_cli_version_info_and_open():
    runner = CliRunner()
    out = runner.invoke(main, ["--version"])
    assert out.exit_code == 0 and satlab.__version__ in out.output
    out = runner.invoke(main, ["info", "--json"])
    assert out.exit_code == 0, out.output
    info = json.loads(out.output)
    assert info["device"]["device"] in ("cpu", "cuda", "mps")
    assert "cheops-sample" in info["entries"]
    out = runner.invoke(main, ["open", "cheops-sample", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["frames"] == 8 and summary["shape"] == [200, 200]
    assert summary["instrument"] == "CHEOPS" and summary["exptime_s"] == 60.0


def test_cli_errors_are_one_line(tmp_path):
    out = CliRunner().invoke(main, ["open", str(tmp_path / "missing.fits")])
    assert out.exit_code == 2
    assert "satlab: error:" in out.output and "missing.fits" in out.output


def test_import_is_light():
    """Heavy libraries load only when used (the import time itself is benchmarked)."""
    code = (
        "import sys, satlab; "
        "print([m for m in ('torch', 'holoviews', 'ipywidgets', 'astropy', 'dask', 'fitsio') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_ruff_lint_and_format():
    for args in (["check", "."], ["format", "--check", "."]):
        res = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert res.returncode == 0, res.stdout + res.stderr


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in quick.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_membership_does_not_raise():
    cat = satlab.open_catalog()
    assert "no-such-entry" not in cat
    assert next(iter(cat)) in cat


def test_cli_open_missing_path_names_the_file(tmp_path):
    out = CliRunner().invoke(main, ["open", str(tmp_path / "gone.fits")])
    assert out.exit_code == 2 and "no such file" in out.output
