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


def test_bundled_catalogue_loads_the_cheops_sample():
    cat = satlab.open_catalog()
    assert "cheops-sample" in cat
    ds = cat["cheops-sample"].read()
    assert ds.attrs["instrument"] == "CHEOPS" and ds.sizes["frame"] == 8
    assert np.isfinite(ds["flux"].values[:, ds["valid"].values]).all()
    # the sample's trail crosses frames 3 and 4: they hold more flux than the rest
    excess = ds["flux"].where(ds["valid"]).sum(("y", "x")).values
    assert excess[3] - np.median(excess) > 3e4 and excess[4] - np.median(excess) > 3e4
    df = cat.to_dataframe()
    assert list(df.columns) == ["name", "driver", "description", "path"]
    assert "cheops-sample" in cat._repr_html_()


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


def test_sample_script_reproduces_the_bundled_file(tmp_path):
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "make_sample.py"),
            "--seed",
            "1",
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    made = satlab.open_frames(next(tmp_path.glob("*.fits")))
    shipped = satlab.open_catalog()["cheops-sample"].read()
    np.testing.assert_array_equal(made["flux"].values, shipped["flux"].values)


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
