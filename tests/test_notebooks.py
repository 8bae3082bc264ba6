"""Tutorial notebooks execute with small parameters and print what the tests recompute."""

import json
import os
import stat

import nbformat
import pytest

from satlab.report import default_notebook_dir

from .conftest import ROOT

NOTEBOOKS = default_notebook_dir()
TUTORIALS = sorted(p.name for p in NOTEBOOKS.glob("tutorial_*.ipynb"))


def _execute(name, tmp_path, **parameters):
    """Run a notebook with papermill in ``tmp_path``; returns the executed notebook.

    Now and then (a few times on this machine) a cell's reply never
    reaches the client while kernel and client both sit idle; a cell that stalls for 5
    minutes (the slowest takes under one) is run again, once, in a fresh kernel.
    """
    import papermill

    out = tmp_path / name
    for attempt in (1, 2):
        try:
            papermill.execute_notebook(
                str(NOTEBOOKS / name),
                str(out),
                parameters=parameters,
                cwd=str(tmp_path),
                progress_bar=False,
                execution_timeout=300,
            )
            break
        except TimeoutError:  # nbclient's CellTimeoutError
            if attempt == 2:
                raise
    return nbformat.read(out, as_version=4)


def _printed_json(nb) -> dict:
    """The JSON line the notebook's last code cell printed."""
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    text = "".join(o.get("text", "") for o in last.outputs if o.output_type == "stream")
    return json.loads(text.strip().splitlines()[-1])


@pytest.fixture(autouse=True)
def _kernel_imports_this_checkout(monkeypatch):
    """The kernel imports this checkout, whatever satlab is installed."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def test_every_notebook_is_clean_and_documents_its_parameters():
    assert TUTORIALS, "no tutorial notebooks"
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: expected one cell tagged 'parameters'"
        for line in tagged[0].source.splitlines():
            if line.strip():
                assert ":" in line.split("=")[0] and "  # " in line, (
                    f"{path.name}: parameter line without a type or a # help comment: {line}"
                )
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
            f"{path.name} is committed with outputs"
        )
        assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.slow
def test_simulator_tour_reports_what_it_simulated(tmp_path):
    from satlab.simulate import simulate_frames, truth_table

    params = {"seed": 4, "n_frames": 5, "trail_fraction": 0.6, "hard_negative_fraction": 0.5}
    nb = _execute("tutorial_simulator.ipynb", tmp_path, **params)
    printed = _printed_json(nb)
    frames = simulate_frames(
        "cheops",
        5,
        seed=4,
        trail_fraction=0.6,
        hard_negative_fraction=0.5,
    )
    assert printed == {
        "frames": 5,
        "frames_with_trails": int(frames["label"].sum()),
        "trails": len(truth_table(frames)) if int(frames["label"].sum()) else 0,
        "hard_negatives": int((frames["negative_kind"] != "").sum()),
        "trail_pixels": int(frames["trail_mask"].sum()),
    }
    # the frame browser was built and rendered into the notebook
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    widgets = [
        o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widgets, "the FrameBrowser cell displayed no widget"


def test_binder_installs_cpu_torch_then_satlab():
    requirements = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert any(line.startswith("torch") for line in requirements)
    post = ROOT / "binder" / "postBuild"
    assert post.stat().st_mode & stat.S_IXUSR, "postBuild must be executable"
    assert 'pip install --no-cache-dir -e ".[lab]"' in post.read_text()


@pytest.mark.slow
def test_training_in_miniature_writes_loadable_weights_and_a_card(tmp_path):
    from satlab.models import load_model

    nb = _execute("tutorial_training.ipynb", tmp_path, seed=5, n_frames=20, epochs=1)
    printed = _printed_json(nb)
    weights = tmp_path / "training-run" / "trail-cnn.safetensors"
    card = json.loads((tmp_path / "training-run" / "trail-cnn.json").read_text())
    assert printed["seed"] == card["seed"] == 5
    assert printed["split"] == card["training_data"]["split"]
    assert sum(printed["split"].values()) == 20
    assert printed["weights_bytes"] == weights.stat().st_size
    net = load_model("trail-cnn", weights=weights)
    assert printed["parameters"] == sum(p.numel() for p in net.parameters())


@pytest.mark.slow
def test_evaluation_tables_describe_the_held_out_set(tmp_path):
    from satlab.simulate import simulate_frames

    nb = _execute(
        "tutorial_evaluation.ipynb", tmp_path, seed=11, n_frames=12, model="trail-mobilenetv2"
    )
    printed = _printed_json(nb)
    frames = simulate_frames("cheops", 12, seed=11, trail_fraction=0.5, hard_negative_fraction=0.5)
    assert printed["frames"] == 12
    assert printed["methods"] == ["trail-mobilenetv2", "hough", "radon"]
    # seed 001's kind of test set: the classifier calls every trail a classic search finds
    found = printed["classic_positives"]["found"]
    assert 0 < found < printed["frames_with_trails"]
    assert printed["classic_positives"]["tp"] == found
    assert printed["frames_with_trails"] == int(frames["label"].sum())
    assert all(0.0 <= auc <= 1.0 for auc in printed["auc"])
    plots = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "application/vnd.holoviews_exec.v0+json" in o.get("data", {})
    ]
    assert plots, "the ROC / precision-recall cell drew nothing"
