"""``satlab report``: the notebook chain run with papermill, exported as one HTML report.

The chain lives in ``notebooks/`` (``01_archive.ipynb`` ... ``05_trends.ipynb``); each
notebook has one cell tagged ``parameters`` whose typed assignments and ``# help``
comments papermill reads. A run gets a new directory ``<out>/<UTC time>-seed<S>/`` that
is never reused, so a rerun cannot destroy an earlier run. The steps pass their results
through that directory (``frames.zarr``, ``*.parquet``) and each records its headline
numbers with :func:`record`; :func:`run_report` then writes ``run.json`` (parameters,
package versions, seed, device, git revision, per-step status), ``summary.csv`` and one
self-contained ``report.html``.

A step runs only when the satlab modules it calls exist in this installation (and every
step before it ran, since it reads their files); the others are listed as skipped in
``run.json`` rather than faked.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path

import click

from .errors import InputError, MissingFileError, SatlabError

__all__ = [
    "STEPS",
    "ReportError",
    "ReportResult",
    "Step",
    "chain_parameters",
    "companion_entry",
    "default_notebook_dir",
    "injected_truth",
    "read_summary",
    "record",
    "report_command",
    "run_report",
]


class ReportError(SatlabError, RuntimeError):
    """A notebook of the report chain failed; the message names the notebook and cell."""


@dataclass(frozen=True)
class Step:
    """One notebook of the chain and the satlab modules it calls."""

    notebook: str
    title: str
    requires: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return Path(self.notebook).stem

    def available(self, notebook_dir: Path) -> bool:
        """Whether the notebook and every module it calls exist in this installation."""
        return (notebook_dir / self.notebook).is_file() and all(
            find_spec(module) is not None for module in self.requires
        )


STEPS: tuple[Step, ...] = (
    Step("01_archive.ipynb", "Archive loading"),
    Step("02_detection.ipynb", "Trail detection", ("satlab.detect",)),
    Step("03_photometry.ipynb", "Trail photometry", ("satlab.detect", "satlab.photometry")),
    Step("04_crossmatch.ipynb", "Identification against TLEs", ("satlab.orbits",)),
    Step("05_trends.ipynb", "Trends", ("satlab.trends", "satlab.plot")),
)

# Parameters the chain sets itself; users change them through run_report's own arguments.
_RUN_PARAMETERS = ("run_dir", "input", "seed")

# Packages whose versions a run records beside those of `satlab info`.
_REPORT_PACKAGES = ("pandas", "scipy", "bokeh", "papermill", "nbconvert", "ipywidgets", "zarr")


def default_notebook_dir() -> Path:
    """``$SATLAB_NOTEBOOKS``, else ``notebooks/`` beside the package (a source checkout),
    else the copy installed inside the package (a wheel)."""
    env = os.environ.get("SATLAB_NOTEBOOKS")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "notebooks", here / "notebooks"):
        if (candidate / STEPS[0].notebook).is_file():
            return candidate
    raise MissingFileError(
        f"no report notebooks found beside {here} or inside it; set SATLAB_NOTEBOOKS to the "
        f"directory holding {STEPS[0].notebook}"
    )


# --- what the notebooks call --------------------------------------------------------------


def record(run_dir, step: str, quantity: str, value, *, truth=None, unit: str = "") -> None:
    """Record one headline number of a step for the report summary.

    Called from the chain notebooks; the numbers end up in ``summary.csv``, ``run.json``
    and the top of ``report.html``.

    Parameters
    ----------
    run_dir : str or path
        The run directory of the chain.
    step : str
        The notebook's name, e.g. ``"01_archive"``.
    quantity : str
        What the number is, e.g. ``"frames analysed"``.
    value : float, int or str
        The recovered value (a NaN float when nothing could be measured).
    truth : float, int or str, optional
        The injected value when the input was simulated.
    unit : str
        Unit of ``value`` and ``truth`` (``"mag"``, ``"mag/yr"``), empty when unitless.
    """
    path = Path(run_dir) / "summary" / f"{step}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(path.read_text()) if path.exists() else []
    rows = [r for r in rows if r["quantity"] != quantity]
    rows.append(
        {
            "step": step,
            "quantity": quantity,
            "unit": unit,
            "value": _plain(value),
            "truth": _plain(truth),
        }
    )
    path.write_text(json.dumps(rows, indent=1))


def _plain(value):
    """A JSON-able scalar (numpy scalars become Python numbers; NaN becomes None)."""
    if value is None or isinstance(value, str):
        return value
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value != value:
        return None
    return value


def companion_entry(name: str, kind: str, *, catalog=None) -> str | None:
    """The data-catalogue entry holding the ``kind`` companion of entry ``name``.

    ``kind`` is ``"truth"`` (injected trails), ``"tle"`` (element sets) or ``"satcat"``.
    The companion is ``<name>-<kind>``, else the ``*-<kind>`` entry whose file sits in the
    same directory as ``name``'s files (``cheops-sample`` is two visits of
    ``cheops-archive`` and shares its ``cheops-archive-truth``). None when there is none.
    """
    from .catalog import open_catalog

    cat = catalog if catalog is not None else open_catalog()
    names = set(cat)
    if name not in names:
        return None
    if f"{name}-{kind}" in names:
        return f"{name}-{kind}"
    home = cat[name].path.parent
    same_dir = sorted(n for n in names if n.endswith(f"-{kind}") and cat[n].path.parent == home)
    return same_dir[0] if len(same_dir) == 1 else None


def injected_truth(frames, truth):
    """The rows of a truth table that fall on ``frames``, with ``frame`` their position.

    Parameters
    ----------
    frames : xarray.Dataset
        Frames with ``time``, ``exptime`` and (for several files) a ``file`` coord.
    truth : pandas.DataFrame
        One row per injected trail with ``time`` (UTC) and optionally ``file`` (name).

    Returns
    -------
    pandas.DataFrame
        The rows whose file is one of the frames' and whose time lies within a frame's
        exposure, ``frame`` replaced by that frame's position (0-based), index reset.
    """
    import numpy as np
    import pandas as pd

    times = frames["time"].values.astype("datetime64[ns]")
    half = pd.to_timedelta(frames["exptime"].values / 2 + 1e-3, unit="s").to_numpy()
    files = (
        np.asarray([Path(str(f)).name for f in frames["file"].values])
        if "file" in frames.coords
        else None
    )
    t = pd.to_datetime(truth["time"]).to_numpy(dtype="datetime64[ns]")
    positions = np.full(len(truth), -1)
    for k in range(len(truth)):
        near = np.abs(times - t[k]) <= half
        if files is not None and "file" in truth:
            near &= files == Path(str(truth["file"].iloc[k])).name
        if near.any():
            positions[k] = int(np.flatnonzero(near)[0])
    out = truth[positions >= 0].copy()
    out["frame"] = positions[positions >= 0]
    return out.reset_index(drop=True)


def injected_for(trails, truth, measured):
    """The injected trails that the detections ``measured`` recovered, as the summary
    compares them: their truth rows, indexed by the detection's label in ``trails``, with
    ``injected_mag_std``, the injected apparent magnitude at the injected range (seed
    001's standard magnitude; a simulated archive's own ``mag_std`` is also normalised to
    45 deg phase).

    Parameters
    ----------
    trails : pandas.DataFrame
        The detected trails (``frame, x0, y0, x1, y1``).
    truth : pandas.DataFrame
        Injected trails with ``mag`` and ``range_km``, ``frame`` their positions.
    measured : sequence
        Labels of the detections with a measurement.
    """
    from .metrics import match_trails
    from .photometry import standard_magnitude

    pairs = match_trails(trails, truth)
    same = pairs[pairs["detected"] & pairs["match"].isin(list(measured))]
    return same.assign(
        injected_mag_std=standard_magnitude(same["mag"], same["range_km"])
    ).set_index("match")


def read_summary(run_dir):
    """The numbers the steps recorded: a DataFrame ``step, quantity, unit, value, truth``.

    Returns an empty table of those columns when no step recorded anything.
    """
    import pandas as pd

    rows = []
    for path in sorted((Path(run_dir) / "summary").glob("*.json")):
        rows.extend(json.loads(path.read_text()))
    return pd.DataFrame(rows, columns=["step", "quantity", "unit", "value", "truth"])


# --- parameters -------------------------------------------------------------------------


def chain_parameters(notebook_dir=None) -> dict[str, dict]:
    """The parameters the chain's notebooks declare.

    Returns
    -------
    dict
        ``name -> {"type": "float", "default": "0.8", "help": ..., "notebooks": [...]}``
        over every step notebook, read with :func:`papermill.inspect_notebook`.
    """
    import papermill

    notebook_dir = Path(notebook_dir) if notebook_dir is not None else default_notebook_dir()
    out: dict[str, dict] = {}
    for step in STEPS:
        path = notebook_dir / step.notebook
        if not path.is_file():
            continue
        for name, spec in papermill.inspect_notebook(str(path)).items():
            entry = out.setdefault(
                name,
                {
                    "type": spec["inferred_type_name"],
                    "default": spec["default"],
                    "help": spec["help"],
                    "notebooks": [],
                },
            )
            entry["notebooks"].append(step.name)
    return out


_CASTS = {"int": int, "float": float, "str": str, "bool": bool}


def _coerce(name: str, value, declared: dict):
    """``value`` (a CLI string or a Python object) as the type the notebooks declare."""
    import yaml

    kind = declared[name]["type"]
    if isinstance(value, str) and kind != "str":
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            pass  # keeps the string, rejected below with the parameter's name
    cast = _CASTS.get(kind)
    if cast is None or value is None:
        return value
    ok = isinstance(value, cast) and not (cast is int and isinstance(value, bool))
    if cast is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise InputError(
            f"parameter {name!r}: expected {kind} ({declared[name]['help'] or 'no help'}), "
            f"got {value!r}"
        )
    return value


def _check_parameters(parameters: dict, declared: dict) -> dict:
    fixed = sorted(set(parameters) & set(_RUN_PARAMETERS))
    if fixed:
        raise InputError(
            f"parameters {fixed}: set by the report itself; use --input / --seed instead"
        )
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        known = sorted(set(declared) - set(_RUN_PARAMETERS))
        raise InputError(f"parameters {unknown}: no report notebook declares them; known: {known}")
    return {name: _coerce(name, value, declared) for name, value in parameters.items()}


# --- provenance -------------------------------------------------------------------------


def _git_revision() -> str | None:
    """The satlab checkout's commit (``+dirty`` with local changes); None outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}+dirty" if dirty else rev


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from .cli import _versions as satlab_versions

    out = satlab_versions()
    for pkg in _REPORT_PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _new_run_dir(out: Path, seed: int) -> Path:
    """A directory no earlier run used (created here, so two runs cannot share it)."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        path = out / (f"{stamp}-seed{seed}" + (f"-{n}" if n > 1 else ""))
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise InputError(f"--out {out}: could not create a new run directory for {stamp}")


def _resolve_input(input) -> str:
    """A catalogue entry or ``simulate:<preset>`` stays as is; a path becomes absolute."""
    from .catalog import open_catalog

    text = os.fspath(input)
    if text.startswith("simulate:"):
        from .simulate import PRESETS

        if text.split(":", 1)[1] not in PRESETS:
            raise InputError(
                f"input {text!r}: unknown simulator preset; expected simulate:<preset> with "
                f"<preset> one of {sorted(PRESETS)}"
            )
        return text
    if Path(text).exists():
        return str(Path(text).resolve())
    if any(c in text for c in "*?["):
        return str(Path(text).expanduser().absolute())
    cat = open_catalog()
    if text in cat:
        return text
    raise MissingFileError(
        f"input {text!r}: neither an existing path or glob nor a catalogue entry "
        f"(known entries: {sorted(cat)})"
    )


# --- running ----------------------------------------------------------------------------


@dataclass
class ReportResult:
    """What :func:`run_report` produced."""

    run_dir: Path
    html: Path | None
    summary: object  # pandas.DataFrame, see read_summary
    steps: dict[str, str] = field(default_factory=dict)  # step name -> ran / skipped

    def _repr_html_(self) -> str:
        link = f"<a href='{self.html}'>{self.html}</a>" if self.html else "no HTML"
        return f"<b>satlab report</b> {self.run_dir}: {link}" + self.summary.to_html(index=False)


def run_report(
    input="cheops-sample",
    *,
    parameters: dict | None = None,
    out="reports",
    seed: int = 0,
    kernel_name: str | None = None,
    notebook_dir=None,
    progress: bool = True,
    cell_timeout: float | None = 3600.0,
) -> ReportResult:
    """Run the notebook chain on ``input`` and export ``report.html``.

    Parameters
    ----------
    input : str or path
        A data-catalogue entry (``"cheops-sample"``), a path / glob of frames, or
        ``"simulate:<preset>"`` (frames drawn by :func:`satlab.simulate.simulate_frames`
        with ``seed``, whose injected truth the summary shows beside each number).
    parameters : dict, optional
        ``name -> value`` for the chain notebooks' parameters (see
        :func:`chain_parameters`); strings are parsed as YAML and checked against the
        declared type. Each notebook receives the parameters it declares.
    out : str or path
        Parent directory of the run directories.
    seed : int
        Seed handed to every step and recorded in ``run.json``.
    kernel_name : str, optional
        Jupyter kernel to execute with (default: the notebooks' own, ``python3``).
    notebook_dir : str or path, optional
        Where the chain notebooks are (default :func:`default_notebook_dir`).
    progress : bool
        Show tqdm progress over the steps and cells.
    cell_timeout : float or None [s]
        Longest a cell may run. Now and then a cell's reply never reaches papermill
        while the kernel sits idle (a stall seen a few times in hundreds of runs), which
        would hold the report forever: a step with a cell past this limit runs once more
        in a fresh kernel, and fails if that happens again. The slowest cell on the
        sample archive takes about a minute; raise it (or ``None``: no limit) for
        archives whose steps take longer.

    Returns
    -------
    ReportResult
        The run directory, the HTML path and the summary table.

    Raises
    ------
    satlab.errors.InputError
        An unknown parameter or one of the wrong type.
    ReportError
        A notebook failed (or a cell ran past ``cell_timeout`` twice); the message names
        the notebook, cell and exception. The executed notebooks and files of the steps
        up to the failure stay in the run directory and ``run.json`` records the failure.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError
    from tqdm.auto import tqdm

    from .device import device_summary

    notebook_dir = Path(notebook_dir) if notebook_dir is not None else default_notebook_dir()
    declared = chain_parameters(notebook_dir)
    parameters = _check_parameters(dict(parameters or {}), declared)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InputError(f"seed: expected an integer, got {seed!r}")
    if cell_timeout is not None and not (
        isinstance(cell_timeout, int | float) and math.isfinite(cell_timeout) and cell_timeout > 0
    ):
        raise InputError(f"cell_timeout: expected seconds > 0 or None, got {cell_timeout!r}")
    source = _resolve_input(input)
    run_dir = _new_run_dir(Path(out), seed)

    todo, status = _plan(notebook_dir)
    meta = {
        "satlab_report": 1,
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "input": source,
        "seed": seed,
        "parameters": parameters,
        "versions": _versions(),
        "device": device_summary(),
        "git_revision": _git_revision(),
        "python": sys.executable,
        "steps": status,
    }
    _write_json(run_dir / "run.json", meta)

    bar = tqdm(todo, desc="satlab report", unit="step", disable=not progress)
    with _kernel_sees_this_satlab():
        for step in bar:
            bar.set_postfix_str(step.notebook)
            mine = {k: v for k, v in parameters.items() if step.name in declared[k]["notebooks"]}
            # absolute: the notebooks run inside run_dir, where a relative one would nest
            mine.update({"run_dir": str(run_dir.resolve()), "seed": seed})
            if step.name in declared["input"]["notebooks"]:
                mine["input"] = source
            for attempt in (1, 2):
                try:
                    papermill.execute_notebook(
                        str(notebook_dir / step.notebook),
                        str(run_dir / step.notebook),
                        parameters=mine,
                        kernel_name=kernel_name,
                        cwd=str(run_dir),
                        progress_bar=progress,
                        execution_timeout=cell_timeout,
                    )
                    break
                except PapermillExecutionError as exc:
                    status[step.name] = (
                        f"failed at In [{exc.exec_count}]: {exc.ename}: {exc.evalue}"
                    )
                    raise _failed_step(
                        run_dir,
                        meta,
                        step,
                        f"failed at In [{exc.exec_count}] (cell {exc.cell_index} of the "
                        f"executed notebook): {exc.ename}: {exc.evalue}",
                    ) from exc
                except TimeoutError as exc:  # nbclient's CellTimeoutError
                    if attempt == 2:
                        status[step.name] = f"failed: a cell ran past {cell_timeout:g} s twice"
                        raise _failed_step(
                            run_dir,
                            meta,
                            step,
                            f"failed: a cell ran past the {cell_timeout:g} s cell timeout "
                            f"twice ({exc}); raise --cell-timeout if its work takes longer",
                        ) from exc
                    status[step.name] = f"retrying: a cell ran past {cell_timeout:g} s"
                    _write_json(run_dir / "run.json", meta)
            status[step.name] = "ran" if attempt == 1 else "ran (once more: a cell stalled)"
            _write_json(run_dir / "run.json", meta)

    summary = read_summary(run_dir)
    summary.to_csv(run_dir / "summary.csv", index=False)
    meta["summary"] = summary.to_dict(orient="records")
    html = _export_html(run_dir, meta, summary, todo)
    meta["finished_utc"] = datetime.now(UTC).isoformat(timespec="seconds")
    meta["html"] = html.name
    _write_json(run_dir / "run.json", meta)
    return ReportResult(run_dir=run_dir, html=html, summary=summary, steps=dict(status))


def _failed_step(run_dir: Path, meta: dict, step: Step, message: str) -> ReportError:
    """Record the end of a failed run in ``run.json``; the error naming the notebook."""
    meta["finished_utc"] = datetime.now(UTC).isoformat(timespec="seconds")
    _write_json(run_dir / "run.json", meta)
    return ReportError(
        f"{step.notebook} {message}. The notebook with the traceback is "
        f"{run_dir / step.notebook}; earlier steps' outputs are kept in {run_dir}"
    )


def _plan(notebook_dir: Path) -> tuple[list[Step], dict[str, str]]:
    """The steps to run and each step's status before the run.

    Each step reads what the ones before it wrote, so the chain stops at the first step
    that is not in this installation.
    """
    todo, status = [], {}
    for step in STEPS:
        if not step.available(notebook_dir):
            status[step.name] = "skipped: not in this installation"
        elif len(todo) < len(status):
            status[step.name] = "skipped: an earlier step is missing"
        else:
            status[step.name] = "pending"
            todo.append(step)
    return todo, status


@contextmanager
def _kernel_sees_this_satlab():
    """Put this satlab first on the kernel's ``PYTHONPATH`` while the chain runs.

    The kernel is a new process that imports whichever satlab its interpreter finds;
    a report must run the satlab that launched it (a source checkout beside an older
    install, say).
    """
    root = str(Path(__file__).resolve().parent.parent)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([root, *([old] if old else [])])
    try:
        yield
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, default=str))


def _summary_markdown(meta: dict, summary) -> str:
    lines = [
        "# satlab report",
        "",
        f"- input: `{meta['input']}`",
        f"- seed: {meta['seed']}, parameters: `{json.dumps(meta['parameters'])}`",
        f"- satlab {meta['versions']['satlab']}, git `{meta['git_revision']}`, "
        f"device {meta['device']['device']}, started {meta['started_utc']} UTC",
        "- steps: " + ", ".join(f"{k} ({v})" for k, v in meta["steps"].items()),
        "",
    ]
    if summary.empty:
        lines.append("No step recorded a number.")
        return "\n".join(lines)
    has_truth = summary["truth"].notna().any()
    head = "| step | quantity | recovered |" + (" injected truth |" if has_truth else "")
    lines += [head, "|---" * (4 if has_truth else 3) + "|"]
    for row in summary.itertuples():
        cells = [row.step, row.quantity, _with_unit(row.value, row.unit)]
        if has_truth:
            cells.append("" if _missing(row.truth) else _with_unit(row.truth, row.unit))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _with_unit(value, unit: str) -> str:
    return _fmt(value) + (f" {unit}" if unit and not _missing(value) else "")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _fmt(value) -> str:
    if _missing(value):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


_LOADER_MIME = "application/vnd.holoviews_load.v0+json"


def _export_html(run_dir: Path, meta: dict, summary, steps: list[Step]) -> Path:
    """All executed notebooks in one HTML file, code hidden, summary on top.

    The notebooks load BokehJS inline (``hv.extension("bokeh", inline=True)``) so the
    plots stay interactive offline; only the first copy of that loader is kept.
    """
    import nbformat
    from nbconvert import HTMLExporter

    merged = nbformat.v4.new_notebook()
    merged.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    merged.cells.append(nbformat.v4.new_markdown_cell(_summary_markdown(meta, summary)))
    loader_seen = False
    for step in steps:
        nb = nbformat.read(run_dir / step.notebook, as_version=4)
        merged.cells.append(nbformat.v4.new_markdown_cell(f"# {step.title} ({step.notebook})"))
        for cell in nb.cells:
            if "parameters" in cell.metadata.get("tags", []):
                continue  # the run's parameters are in the summary and run.json
            if cell.cell_type == "code":
                kept = []
                for output in cell.outputs:
                    if output.output_type == "display_data" and not output.get("data"):
                        continue  # an empty display (hv.extension's) has nothing to show
                    if _LOADER_MIME in output.get("data", {}):
                        if loader_seen:
                            continue
                        loader_seen = True
                    kept.append(output)
                cell.outputs = kept
            merged.cells.append(cell)
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(merged)
    path = run_dir / "report.html"
    path.write_text(body, encoding="utf-8")
    return path


# --- command line -----------------------------------------------------------------------


@click.command("report")
@click.option(
    "--input",
    "input_",
    default="cheops-sample",
    show_default=True,
    help="Data-catalogue entry, path / glob of frames, or simulate:<preset>.",
)
@click.option(
    "-p",
    "--parameter",
    "parameters",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="A notebook parameter (repeatable); --list-parameters shows them.",
)
@click.option(
    "--out",
    default="reports",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Parent directory of the run directories.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the run.")
@click.option("--kernel", default=None, help="Jupyter kernel name (default: python3).")
@click.option("--list-parameters", is_flag=True, help="List the chain's parameters and exit.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--cell-timeout",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="Seconds a cell may run before its step runs once more in a fresh kernel "
    "(a stalled reply); 0: no limit.",
)
def report_command(input_, parameters, out, seed, kernel, list_parameters, quiet, cell_timeout):
    """Run the notebook chain (load, detect, photometry, crossmatch, trends) on INPUT.

    Writes a new run directory under --out with the executed notebooks, run.json,
    summary.csv and a self-contained report.html.
    """
    if list_parameters:
        for name, spec in chain_parameters().items():
            if name in _RUN_PARAMETERS:
                continue
            click.echo(
                f"{name} ({spec['type']}, default {spec['default']}; "
                f"{', '.join(spec['notebooks'])}): {spec['help']}"
            )
        return
    given = {}
    for name, value in parameters:
        if name in given:
            raise InputError(f"parameter {name!r}: given twice (-p {name} ...)")
        given[name] = value
    result = run_report(
        input_,
        parameters=given,
        out=out,
        seed=seed,
        kernel_name=kernel,
        progress=not quiet,
        cell_timeout=cell_timeout or None,
    )
    click.echo(f"run directory: {result.run_dir}")
    click.echo(f"report: {result.html}")
    for name, state in result.steps.items():
        click.echo(f"  {name}: {state}")
    for row in result.summary.itertuples():
        truth = "" if _missing(row.truth) else f" (injected {_with_unit(row.truth, row.unit)})"
        click.echo(f"  {row.quantity}: {_with_unit(row.value, row.unit)}{truth}")
