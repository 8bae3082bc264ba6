"""`satlab report` end to end on the bundled sample archive (runs Jupyter kernels)."""

import json
import re

import bokeh
import pandas as pd
import pytest
from click.testing import CliRunner

import satlab
from satlab.cli import main
from satlab.metrics import match_trails
from satlab.photometry import standard_magnitude
from satlab.report import STEPS, companion_entry, default_notebook_dir, injected_truth

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    result = CliRunner().invoke(main, ["report", "--out", str(out), "--seed", "5", "--quiet"])
    assert result.exit_code == 0, result.output
    (run_dir,) = out.iterdir()
    return run_dir, result.output


def test_report_records_provenance(sample_run):
    run_dir, output = sample_run
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["input"] == "cheops-sample" and meta["seed"] == 5
    assert meta["versions"]["satlab"] == satlab.__version__
    assert meta["versions"]["papermill"] and meta["device"]["device"] == "cpu"
    assert meta["git_revision"] is None or re.fullmatch(
        r"[0-9a-f]{40}(\+dirty)?", meta["git_revision"]
    )
    nb_dir = default_notebook_dir()
    chain_intact = True
    for step in STEPS:
        chain_intact &= step.available(nb_dir)
        assert meta["steps"][step.name].startswith("ran" if chain_intact else "skipped")
        assert (run_dir / step.notebook).is_file() == chain_intact
    assert f"run directory: {run_dir}" in output


def test_report_summary_matches_the_sample(sample_run):
    run_dir, output = sample_run
    cat = satlab.open_catalog()
    frames = cat["cheops-sample"].read()
    truth = injected_truth(frames, cat[companion_entry("cheops-sample", "truth")].read())
    meta = json.loads((run_dir / "run.json").read_text())
    summary = {row["quantity"]: row for row in meta["summary"]}
    assert summary["frames analysed"]["value"] == frames.sizes["frame"]
    assert summary["first frame (UTC)"]["value"] == str(frames["time"].values[0])[:19]
    assert f"frames analysed: {frames.sizes['frame']}" in output
    assert satlab.open_frames(run_dir / "frames.zarr").sizes == frames.sizes
    # the injected truth of the sample's two visits stands beside the recovered numbers
    assert summary["trails injected"]["value"] == len(truth) == 4
    if "frames with trails" in summary:  # 02 ran
        trails = pd.read_parquet(run_dir / "trails.parquet")
        assert summary["frames with trails"]["truth"] == truth["frame"].nunique()
        assert summary["trails found"] == {**summary["trails found"], "value": len(trails)}
        assert summary["trails found"]["truth"] == len(truth)
        assert f"trails found: {len(trails)} (injected {len(truth)})" in output
    if "trails measured" in summary:  # 03 ran
        phot = pd.read_parquet(run_dir / "photometry.parquet")
        assert len(phot) == len(pd.read_parquet(run_dir / "trails.parquet"))
        # detections only; magnitudes below S/N 3 are upper limits
        detected = phot["mag"].notna() & (phot["reason"] == "")
        assert summary["trails measured"]["value"] == int(detected.sum())
    if "trails identified" in summary:  # 04 ran
        assert summary["trails identified"]["truth"] == len(truth)
        # the injected magnitudes of the trails measured, or of all when none was recovered,
        # as seed 001 defines them: no phase normalisation
        truth = truth.assign(injected_mag_std=standard_magnitude(truth["mag"], truth["range_km"]))
        injected = truth["injected_mag_std"]
        listed = run_dir / "identified.parquet"
        identified = pd.read_parquet(listed) if listed.exists() else None
        if identified is not None and identified["mag_std"].notna().any():
            found = match_trails(pd.read_parquet(run_dir / "trails.parquet"), truth)
            by_trail = found.loc[found["detected"]].set_index("match")["injected_mag_std"]
            same = by_trail.reindex(identified.loc[identified["mag_std"].notna(), "trail"])
            injected = same.dropna() if same.notna().any() else injected
        mean = summary["standard magnitude mean"]
        assert mean["truth"] == pytest.approx(injected.mean()) and mean["unit"] == "mag"
        if mean["value"] is not None:  # within the photometry issue's 0.1 mag
            assert abs(mean["value"] - mean["truth"]) <= 0.1
    agreeing = summary.get("identifications agreeing with the injected object")
    if agreeing is not None:  # every recovered injected trail is named after its object
        assert agreeing["truth"] >= 1 and agreeing["value"] == agreeing["truth"]


def test_report_html_is_self_contained_and_interactive(sample_run):
    run_dir, _ = sample_run
    html = (run_dir / "report.html").read_text()
    assert "<h1" in html and "satlab report" in html
    assert "frames analysed" in html and "Archive loading (01_archive.ipynb)" in html
    assert "<th>injected truth</th>" in html  # the sample carries its truth: a real table
    # the plots are embedded bokeh documents and BokehJS is inlined (no CDN script)
    assert f'"version":"{bokeh.__version__}","title":"Bokeh Application"' in html
    assert "cdn.bokeh.org" not in html and len(html) > 1_000_000
    assert "max_frames" not in html  # the parameters cell is hidden; run.json keeps them
