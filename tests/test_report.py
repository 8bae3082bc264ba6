"""satlab report: parameters, provenance, run directories, failures (fast, no kernel)."""

import json
import math
import re

import nbformat
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import satlab
from satlab.cli import main
from satlab.errors import InputError, MissingFileError
from satlab.report import (
    STEPS,
    ReportError,
    _check_parameters,
    _new_run_dir,
    _plan,
    _resolve_input,
    chain_parameters,
    companion_entry,
    default_notebook_dir,
    injected_truth,
    read_summary,
    record,
    run_report,
)


def test_record_and_read_summary_roundtrip(tmp_path):
    record(tmp_path, "02_detection", "frames with trails", np.int64(2), truth=2)
    record(tmp_path, "03_photometry", "standard magnitude mean", np.float32(13.25), unit="mag")
    record(tmp_path, "03_photometry", "standard magnitude sigma", float("nan"), unit="mag")
    record(tmp_path, "02_detection", "frames with trails", 3, truth=2)  # replaces, not appends
    table = read_summary(tmp_path)
    assert list(table.columns) == ["step", "quantity", "unit", "value", "truth"]
    assert len(table) == 3
    row = table.set_index("quantity").loc["frames with trails"]
    assert row["value"] == 3 and row["truth"] == 2
    mean = table.set_index("quantity").loc["standard magnitude mean"]
    assert mean["value"] == pytest.approx(13.25) and mean["unit"] == "mag"
    sigma = table.set_index("quantity").loc["standard magnitude sigma", "value"]
    assert sigma is None or math.isnan(sigma)  # NaN is stored as JSON null


def test_read_summary_of_an_empty_run_is_typed(tmp_path):
    table = read_summary(tmp_path)
    assert table.empty and list(table.columns) == ["step", "quantity", "unit", "value", "truth"]


def test_chain_notebooks_have_one_typed_documented_parameters_cell():
    nb_dir = default_notebook_dir()
    present = [s for s in STEPS if (nb_dir / s.notebook).is_file()]
    assert present and present[0].notebook == "01_archive.ipynb"
    for step in present:
        nb = nbformat.read(nb_dir / step.notebook, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, step.notebook
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
            f"{step.notebook} is committed with outputs"
        )
    declared = chain_parameters(nb_dir)
    for name in ("run_dir", "seed", "input", "max_frames"):
        assert name in declared
    for name, spec in declared.items():
        assert spec["type"] in {"int", "float", "str", "bool"}, name
        assert spec["help"], f"parameter {name} has no # help comment"
    assert declared["max_frames"]["type"] == "int"
    assert declared["input"]["notebooks"] == ["01_archive", "04_crossmatch"]


def test_parameters_are_checked_and_coerced():
    declared = chain_parameters()
    assert _check_parameters({"max_frames": "3"}, declared) == {"max_frames": 3}
    assert _check_parameters({"max_frames": 5}, declared) == {"max_frames": 5}
    with pytest.raises(InputError, match="'max_frames': expected int"):
        _check_parameters({"max_frames": "three"}, declared)
    with pytest.raises(InputError, match=r"\['nope'\].*known: \[.*'max_frames'"):
        _check_parameters({"nope": 1}, declared)
    with pytest.raises(InputError, match="--input / --seed"):
        _check_parameters({"run_dir": "/tmp"}, declared)


def test_float_parameters_accept_integers():
    declared = {"threshold": {"type": "float", "help": "score cut", "notebooks": ["x"]}}
    assert _check_parameters({"threshold": "1"}, declared) == {"threshold": 1.0}
    assert isinstance(_check_parameters({"threshold": 1}, declared)["threshold"], float)
    with pytest.raises(InputError, match="expected float"):
        _check_parameters({"threshold": "high"}, declared)


def test_run_directories_are_never_reused(tmp_path):
    first = _new_run_dir(tmp_path, 7)
    (first / "kept.txt").write_text("earlier run")
    second = _new_run_dir(tmp_path, 7)
    assert first != second and first.name.endswith("seed7")
    assert (first / "kept.txt").read_text() == "earlier run"


def test_input_must_exist(tmp_path):
    assert _resolve_input("cheops-sample") == "cheops-sample"
    assert _resolve_input(tmp_path) == str(tmp_path.resolve())
    with pytest.raises(MissingFileError, match=r"'no-such-entry'.*known entries"):
        _resolve_input("no-such-entry")
    assert _resolve_input("simulate:cheops") == "simulate:cheops"
    with pytest.raises(InputError, match=r"simulate:<preset> with <preset> one of \[.*'cheops'"):
        _resolve_input("simulate:hubble")


def test_cli_lists_parameters_and_rejects_bad_ones(tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["report", "--list-parameters"])
    assert out.exit_code == 0, out.output
    assert "max_frames (int, default 0; 01_archive)" in out.output
    assert "run_dir" not in out.output  # set by the report itself
    out = runner.invoke(main, ["report", "--out", str(tmp_path), "-p", "max_frames", "x"])
    assert out.exit_code == 2 and "'max_frames': expected int" in out.output
    out = runner.invoke(main, ["report", "-p", "max_frames", "1", "-p", "max_frames", "2"])
    assert out.exit_code == 2 and "given twice" in out.output
    assert not list(tmp_path.iterdir())  # nothing written for rejected parameters


FIRST_STEP_PARAMETERS = (
    'input: str = "x"  # what to load\nrun_dir: str = "."  # run dir\nseed: int = 0  # seed'
)


def _notebook(path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell(cells[0])
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(c) for c in cells[1:])]
    nbformat.write(nb, path)


@pytest.mark.slow
def test_a_failed_step_names_notebook_and_cell_and_keeps_earlier_outputs(tmp_path, monkeypatch):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    # machinery test: a first step that writes a file, a second that fails in its 3rd cell
    _notebook(
        nb_dir / STEPS[0].notebook,
        FIRST_STEP_PARAMETERS,
        "from pathlib import Path\nfrom satlab.report import record",
        "Path(run_dir, 'step1.txt').write_text(input)\n"
        "record(run_dir, '01_archive', 'frames analysed', 4)",
    )
    _notebook(
        nb_dir / STEPS[1].notebook,
        'run_dir: str = "."  # run dir\nseed: int = 0  # seed',
        "x = 1",
        "raise ValueError('no trails table in ' + run_dir)",
    )
    runs = tmp_path / "runs"
    for module in STEPS[1].requires:
        pytest.importorskip(module)
    # a relative output directory, as `satlab report` run from a clone uses by default
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReportError) as info:
        run_report(str(tmp_path), out="runs", seed=3, notebook_dir=nb_dir, progress=False)
    message = str(info.value)
    # papermill's numbering: parameters, injected parameters, "x = 1", the raise
    assert "02_detection.ipynb failed at In [4] (cell 3 " in message and "ValueError" in message
    (run_dir,) = runs.iterdir()
    assert (run_dir / "step1.txt").read_text() == str(tmp_path.resolve())
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["seed"] == 3 and meta["steps"]["01_archive"] == "ran"
    assert meta["steps"]["02_detection"].startswith("failed at In [4]: ValueError")
    assert read_summary(run_dir)["value"].tolist() == [4]
    assert (run_dir / "02_detection.ipynb").is_file()  # papermill's notebook with the traceback


@pytest.mark.slow
def test_a_stalled_cell_runs_once_more_then_the_step_fails(tmp_path):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    # a cell that hangs on its first run only (a lost reply looks the same to papermill)
    _notebook(
        nb_dir / STEPS[0].notebook,
        FIRST_STEP_PARAMETERS,
        "import time\nfrom pathlib import Path\nfrom satlab.report import record",
        "flag = Path(run_dir, 'tried')\n"
        "if not flag.exists():\n    flag.touch()\n    time.sleep(60)\n"
        "record(run_dir, '01_archive', 'frames analysed', 4)",
    )
    runs = tmp_path / "runs"
    result = run_report(
        str(tmp_path), out=runs, seed=1, notebook_dir=nb_dir, progress=False, cell_timeout=8
    )
    assert result.steps["01_archive"] == "ran (once more: a cell stalled)"
    assert read_summary(result.run_dir)["value"].tolist() == [4]

    # stalled twice: the step fails, naming the notebook and the limit to raise
    _notebook(
        nb_dir / STEPS[0].notebook,
        FIRST_STEP_PARAMETERS,
        "import time",
        "time.sleep(60)",
    )
    with pytest.raises(ReportError, match=r"01_archive.ipynb failed: a cell ran past the 8 s"):
        run_report(
            str(tmp_path), out=runs, seed=2, notebook_dir=nb_dir, progress=False, cell_timeout=8
        )
    (failed,) = [d for d in runs.iterdir() if d.name.endswith("seed2")]
    meta = json.loads((failed / "run.json").read_text())
    assert meta["steps"]["01_archive"] == "failed: a cell ran past 8 s twice"
    with pytest.raises(InputError, match="cell_timeout"):
        run_report(str(tmp_path), out=runs, notebook_dir=nb_dir, cell_timeout=0)


def test_companion_entries_of_the_bundled_sample():
    assert companion_entry("cheops-sample", "truth") == "cheops-archive-truth"
    assert companion_entry("cheops-archive", "tle") == "cheops-archive-tle"
    assert companion_entry("cheops-sample", "satcat") == "cheops-archive-satcat"
    assert companion_entry("no-such-entry", "truth") is None


def test_injected_truth_maps_rows_to_frame_positions():
    times = pd.date_range("2024-01-01T00:00:30", periods=4, freq="60s")
    frames = satlab.as_frames(np.zeros((4, 3, 3)), time=times, exptime=60.0)
    frames = frames.assign_coords(file=("frame", ["a.fits", "a.fits", "b.fits", "b.fits"]))
    truth = pd.DataFrame(
        {
            "frame": [40, 41, 42, 43],  # the archive's numbering, not these frames'
            "file": ["a.fits", "b.fits", "/data/b.fits", "c.fits"],
            "time": [
                "2024-01-01T00:01:10",
                "2024-01-01T00:01:10",
                "2024-01-01T00:03:59",
                "2024-01-01T00:00:30",
            ],
            "mag": [10.0, 11.0, 12.0, 13.0],
        }
    )
    kept = injected_truth(frames, truth)
    # a.fits at 00:01:10 lies in frame 1; b.fits has no frame at 00:01:10; c.fits is absent
    assert kept["frame"].tolist() == [1, 3] and kept["mag"].tolist() == [10.0, 12.0]


def test_the_chain_stops_at_the_first_missing_step(tmp_path):
    for step in (STEPS[0], STEPS[2]):
        (tmp_path / step.notebook).write_text("{}")
    todo, status = _plan(tmp_path)
    assert [s.name for s in todo] == ["01_archive"]
    assert status == {
        "01_archive": "pending",
        "02_detection": "skipped: not in this installation",
        "03_photometry": "skipped: an earlier step is missing",
        "04_crossmatch": "skipped: not in this installation",
        "05_trends": "skipped: not in this installation",
    }


def test_summary_table_renders_with_pipes_and_truth():
    from nbconvert import HTMLExporter

    from satlab.report import _summary_markdown

    meta = {
        "input": "cheops-sample",
        "seed": 2,
        "parameters": {"max_frames": 4},
        "versions": {"satlab": satlab.__version__},
        "git_revision": None,
        "device": {"device": "cpu"},
        "started_utc": "2026-01-01T00:00:00",
        "steps": {"01_archive": "ran"},
    }
    summary = pd.DataFrame(
        [
            {
                "step": "03",
                "quantity": "median |a - b|",
                "unit": "mag",
                "value": 1.25,
                "truth": None,
            },
            {"step": "02", "quantity": "trails found", "unit": "", "value": 3, "truth": 4},
            {"step": "04", "quantity": "m_std mean", "unit": "mag", "value": None, "truth": 12.0},
        ]
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(_summary_markdown(meta, summary))]
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    cells = re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", body)
    assert cells == [
        "step", "quantity", "recovered", "injected truth",
        "03", "median |a - b|", "1.25 mag", "",
        "02", "trails found", "3", "4",
        "04", "m_std mean", "n/a", "12 mag",
    ]  # fmt: skip
