"""A real browser: Debian's chromium, driven by Playwright, runs a tutorial in JupyterLab.

Nothing is installed at run time: ``.ci/run`` installs ``chromium`` and
``chromium-driver`` with apt and the ``test`` extra brings Playwright. Outside CI the test
skips when ``/usr/bin/chromium`` is absent; in CI (``CI`` set) it always runs.
Screenshots go to ``reports/screenshots/`` (git-ignored), or ``$SATLAB_SCREENSHOTS``.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TUTORIAL = "tutorial_simulator.ipynb"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason=f"{CHROMIUM} is absent (install Debian's chromium; CI always runs this test)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on localhost serving a copy of the tutorial; yields its base URL and token."""
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / TUTORIAL, root / TUTORIAL)
    port, token = _free_port(), "satlab-browser-test"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",  # CI runs as root
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.port_retries=0",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    json.load(r)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()}")
                time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _screenshots() -> Path:
    out = Path(os.environ.get("SATLAB_SCREENSHOTS", ROOT / "reports" / "screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_tutorial_runs_and_its_frame_slider_changes_the_view(lab):
    from playwright.sync_api import expect, sync_playwright

    base, token = lab
    shots = _screenshots()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(180_000)
            page.goto(f"{base}/lab/tree/{TUTORIAL}?token={token}")
            page.locator(".jp-NotebookPanel").first.wait_for()
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
            )
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

            # the last cell prints what the simulation drew: the whole notebook ran
            summary = page.locator(".jp-OutputArea-output", has_text='"frames_with_trails"')
            summary.wait_for()
            drawn = json.loads(summary.inner_text().strip())
            assert drawn["frames"] == 8 and drawn["trails"] >= 1

            widget = page.locator(".jp-OutputArea-output .widget-vbox").first
            widget.scroll_into_view_if_needed()
            label = widget.locator(".widget-html").first
            expect(label).to_contain_text("frame ")
            plot = widget.locator(".bk-Canvas, canvas").first
            plot.wait_for()
            page.wait_for_timeout(1500)  # let bokeh finish drawing
            before_text = label.inner_text()
            before = widget.screenshot(path=str(shots / "frame_browser_before.png"))

            handle = widget.locator(".noUi-handle").first
            box = handle.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + 400, box["y"] + box["height"] / 2, steps=10)
            page.mouse.up()

            expect(label).not_to_have_text(before_text)
            page.wait_for_timeout(1500)
            after = widget.screenshot(path=str(shots / "frame_browser_after.png"))
            assert after != before
            page.screenshot(path=str(shots / "jupyterlab_tutorial.png"), full_page=False)
            after_frame = int(label.inner_text().split("·")[0].split()[1])
            before_frame = int(before_text.split("·")[0].split()[1])
            assert after_frame > before_frame
        finally:
            browser.close()
