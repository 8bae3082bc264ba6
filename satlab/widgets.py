"""Interactive views for notebooks: ipywidgets controls around holoviews plots.

Each widget is a thin shell around pure functions that build the data or the holoviews
object for one state (:func:`stretch_frame`, :func:`frame_view`, :func:`flagged_frames`,
:func:`candidates`, :func:`filter_trends` ...), so tests and scripts call those without a
display, and the widget only wires controls to them.

* :class:`FrameBrowser`: frame slider, stretch (ZScale / arcsinh / linear) and overlays
  (trail masks, fitted trail lines, predicted tracks, the footprint).
* :class:`DetectionReview`: frames flagged by ``satlab.detect.classify`` sorted by score,
  a threshold slider and a button that appends the shown frame to a hard-negative list
  (:func:`write_hard_negatives`), the visual-inspection loop of seed 001 section 2.
* :class:`CrossmatchInspector`: per trail, the catalogue candidates with separation,
  angle difference and CSR against the matching limits.
* :class:`TrendExplorer`: standard magnitude over time and against launch date
  (seed 001 Figs. 10-11), filtered by object type, RCS size class and year.

``frames.satlab.browse()`` and ``frames.satlab.review(scores)`` open the first two.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import holoviews as hv
import ipywidgets as w
import numpy as np
import pandas as pd

from .errors import InputError, SatlabWarning
from .frames import arcsinh_stretch, as_frames, zscale_stretch

__all__ = [
    "HARD_NEGATIVE_COLUMNS",
    "OVERLAYS",
    "STRETCHES",
    "CrossmatchInspector",
    "DetectionReview",
    "FrameBrowser",
    "TrendExplorer",
    "candidates",
    "crossmatch_sky_view",
    "crossmatch_view",
    "filter_trends",
    "flagged_frames",
    "frame_label",
    "frame_table",
    "frame_view",
    "read_hard_negatives",
    "stretch_frame",
    "trend_view",
    "write_hard_negatives",
]

STRETCHES = ("zscale", "arcsinh", "linear")
OVERLAYS = ("trails", "mask", "tracks", "truth", "footprint")
HARD_NEGATIVE_COLUMNS = ["file", "frame", "time", "trail_score", "marked_utc"]
_FRAME_PX = 420  # plot width [screen px]


def _load_bokeh() -> None:
    """Load the bokeh backend once; in a notebook this also loads BokehJS.

    Inline, from the installed bokeh: classrooms and clusters are often offline.
    """
    if hv.Store.current_backend != "bokeh" or "bokeh" not in hv.Store.renderers:
        hv.extension("bokeh", inline=True)


def _check_index(ds, index) -> int:
    n = ds.sizes["frame"]
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < n:
        raise InputError(f"index: expected a frame position 0..{n - 1}, got {index!r}")
    return int(index)


# --- FrameBrowser -----------------------------------------------------------------------


def stretch_frame(frames, index: int, *, stretch: str = "zscale") -> np.ndarray:
    """One frame as display values.

    Parameters
    ----------
    frames : frames-like
        Anything :func:`satlab.as_frames` accepts.
    index : int
        Frame position (0-based).
    stretch : {"zscale", "arcsinh", "linear"}
        ``zscale``: [0, 1] between astropy's ZScale limits
        (:func:`satlab.frames.zscale_stretch`); ``arcsinh``: seed 002 eq. 1
        (:func:`satlab.frames.arcsinh_stretch`); ``linear``: the flux [ADU].

    Returns
    -------
    numpy.ndarray
        ``(y, x)`` float32; NaN outside the footprint and at non-finite pixels.
    """
    ds = as_frames(frames)
    i = _check_index(ds, index)
    one = ds.isel(frame=[i])
    if stretch == "zscale":
        values = zscale_stretch(one).values[0]
    elif stretch == "arcsinh":
        values = arcsinh_stretch(one).values[0]
    elif stretch == "linear":
        values = np.asarray(one["flux"].values[0], dtype=np.float32)
    else:
        raise InputError(f"stretch: expected one of {STRETCHES}, got {stretch!r}")
    return np.where(ds["valid"].values, values, np.float32(np.nan))


def frame_label(frames, index: int, *, scores=None) -> str:
    """``"frame 3 · 2021-06-01 03:03:30 UTC · 60 s"`` (plus the trail score if given)."""
    ds = as_frames(frames)
    i = _check_index(ds, index)
    time = pd.Timestamp(ds["time"].values[i])
    parts = [
        f"frame {i}",
        "no time" if pd.isna(time) else time.strftime("%Y-%m-%d %H:%M:%S UTC"),
        f"{float(ds['exptime'].values[i]):g} s",
    ]
    if "file" in ds.coords:
        parts.append(Path(str(ds["file"].values[i])).name)
    if scores is not None:
        parts.append(f"trail score {float(np.asarray(scores)[i]):.3f}")
    return " · ".join(parts)


def _rows_for(table, ds, i: int):
    """Endpoints ``x0, y0, x1, y1`` [px] of the rows of a table for frame position ``i``.

    Tables name frames by the frames' integer ``frame`` coordinate when there is one,
    else by position (:func:`satlab.lines.frame_index`).
    """
    from .lines import frame_index

    rows = table[table["frame"].to_numpy() == frame_index(ds)[i]]
    # only the endpoints, as float64: other columns would go to the browser with the plot
    return rows[["x0", "y0", "x1", "y1"]].astype("float64")


def frame_view(
    frames,
    index: int,
    *,
    stretch: str = "zscale",
    trails=None,
    prob=None,
    tracks=None,
    truth=None,
    overlays=OVERLAYS,
    prob_threshold: float = 0.5,
) -> hv.Overlay:
    """The holoviews view of one frame with its overlays.

    Parameters
    ----------
    frames : frames-like
    index : int
        Frame position (0-based).
    stretch : {"zscale", "arcsinh", "linear"}
        See :func:`stretch_frame`.
    trails : pandas.DataFrame, optional
        Fitted trails (``satlab.detect.trails``): ``frame, x0, y0, x1, y1`` [px].
    prob : xarray.DataArray, optional
        ``trail_prob (frame, y, x)`` from ``satlab.detect.segment``; pixels at or above
        ``prob_threshold`` are drawn as the trail mask.
    tracks : pandas.DataFrame, optional
        Predicted satellite tracks in pixels: ``frame, x0, y0, x1, y1`` [px] and
        optionally ``norad_id``.
    truth : pandas.DataFrame, optional
        Injected trails of simulated frames (``satlab.simulate.truth_table``).
    overlays : sequence of str
        Which of ``"trails", "mask", "tracks", "truth", "footprint"`` to draw.
    prob_threshold : float
        Trail-mask level of ``prob`` (0..1).

    Returns
    -------
    holoviews.Overlay
        The image (``hv.Image``, vdim named after the stretch) then the overlays, each
        labelled (``"outside footprint"``, ``"trail mask"``, ``"fitted trails"``,
        ``"predicted tracks"``, ``"injected trails"``).
    """
    _load_bokeh()
    ds = as_frames(frames)
    i = _check_index(ds, index)
    unknown = sorted(set(overlays) - set(OVERLAYS))
    if unknown:
        raise InputError(f"overlays: unknown {unknown}; expected a subset of {OVERLAYS}")
    # pixel centres at integer (x, y) as in the trail tables, row y = 0 at the bottom
    grid = (np.arange(ds.sizes["x"]), np.arange(ds.sizes["y"]))

    def layer(values, **kwargs):
        return hv.Image((*grid, values), kdims=["x", "y"], **kwargs)

    vdim = "flux [ADU]" if stretch == "linear" else f"flux ({stretch})"
    image = layer(stretch_frame(ds, i, stretch=stretch), vdims=[vdim]).opts(
        cmap="gray",
        frame_width=_FRAME_PX,
        aspect="equal",
        colorbar=True,
        clipping_colors={"NaN": "#3a2f5b"},
        tools=["hover"],
        title=frame_label(ds, i),
        xlabel="x [px]",
        ylabel="y [px]",
    )
    layers = [image]
    if "footprint" in overlays:
        outside = np.where(ds["valid"].values, np.nan, 1.0)
        layers.append(layer(outside, label="outside footprint").opts(cmap=["#3a2f5b"], alpha=0.6))
    if "mask" in overlays and prob is not None:
        p = np.asarray(prob.isel(frame=i).values if hasattr(prob, "isel") else prob[i])
        mask = np.where(p >= prob_threshold, 1.0, np.nan)
        layers.append(layer(mask, label="trail mask").opts(cmap=["#ff3b30"], alpha=0.45))
    if "trails" in overlays and trails is not None:
        rows = _rows_for(trails, ds, i)
        layers.append(
            hv.Segments(rows, ["x0", "y0", "x1", "y1"], label="fitted trails").opts(
                color="#ffcc00", line_width=2
            )
        )
    for name, table, label, colour in (
        ("tracks", tracks, "predicted tracks", "#00c8ff"),
        ("truth", truth, "injected trails", "#34c759"),
    ):
        if name in overlays and table is not None:
            layers.append(
                hv.Segments(_rows_for(table, ds, i), ["x0", "y0", "x1", "y1"], label=label).opts(
                    color=colour, line_width=2, line_dash="dashed"
                )
            )
    return hv.Overlay(layers).opts(legend_position="bottom_right")


class _Widget:
    """An ipywidgets layout that shows itself in a notebook."""

    widget: w.Widget

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def _show(self, out: w.Output, view) -> None:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is None:
            return  # no kernel to draw in (a script or a test): `view` holds the state
        with out:
            out.clear_output(wait=True)
            display(view)


class FrameBrowser(_Widget):
    """Browse frames with a slider, a stretch and overlays.

    Parameters
    ----------
    frames : frames-like
    trails, prob, tracks, truth : optional
        Overlays; see :func:`frame_view`.
    scores : xarray.DataArray, optional
        ``trail_score (frame)`` shown in each frame's label.
    index : int
        First frame shown.
    stretch : {"zscale", "arcsinh", "linear"}

    Attributes
    ----------
    view : holoviews.Overlay
        What is shown now (:func:`frame_view` of the current state).
    frame, stretch, overlays : ipywidgets
        The controls (``frame.value = 3`` moves the browser, as the slider does).
    """

    def __init__(
        self,
        frames,
        *,
        trails=None,
        prob=None,
        tracks=None,
        truth=None,
        scores=None,
        index: int = 0,
        stretch: str = "zscale",
    ):
        _load_bokeh()
        self.frames = as_frames(frames)
        _check_index(self.frames, index)
        if stretch not in STRETCHES:
            raise InputError(f"stretch: expected one of {STRETCHES}, got {stretch!r}")
        self.trails, self.prob, self.tracks, self.truth = trails, prob, tracks, truth
        self.scores = None if scores is None else np.asarray(scores, dtype=float)
        available = [
            name
            for name, thing in (
                ("trails", trails),
                ("mask", prob),
                ("tracks", tracks),
                ("truth", truth),
                ("footprint", True),
            )
            if thing is not None
        ]
        n = self.frames.sizes["frame"]
        self.frame = w.IntSlider(
            value=index, min=0, max=n - 1, description="frame", continuous_update=False
        )
        self.stretch = w.ToggleButtons(options=list(STRETCHES), value=stretch)
        self.overlays = w.SelectMultiple(
            options=available, value=tuple(available), description="overlays", rows=5
        )
        self.label = w.HTML()
        self._out = w.Output()
        for control in (self.frame, self.stretch, self.overlays):
            control.observe(self._refresh, names="value")
        self.widget = w.VBox(
            [w.HBox([self.frame, self.stretch]), self.overlays, self.label, self._out]
        )
        self._refresh()

    def _refresh(self, *_):
        i = self.frame.value
        self.view = frame_view(
            self.frames,
            i,
            stretch=self.stretch.value,
            trails=self.trails,
            prob=self.prob,
            tracks=self.tracks,
            truth=self.truth,
            overlays=self.overlays.value,
        )
        self.label.value = f"<b>{frame_label(self.frames, i, scores=self.scores)}</b>"
        self._show(self._out, self.view)


# --- DetectionReview --------------------------------------------------------------------


def flagged_frames(scores, *, threshold: float = 0.8) -> pd.DataFrame:
    """Frames whose trail score reaches ``threshold``, highest score first.

    Parameters
    ----------
    scores : xarray.DataArray
        ``trail_score (frame)`` from ``satlab.detect.classify`` (frame coords kept).
    threshold : float
        Decision threshold in [0, 1] (seed 001 uses 0.8).

    Returns
    -------
    pandas.DataFrame
        ``index`` (frame position), ``file``, ``frame`` (position in that file when the
        frames came from several files, else the position), ``time``, ``trail_score``.
        Empty (same columns) with a :class:`SatlabWarning` when no frame is flagged.
    """
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"threshold: expected a score in [0, 1], got {threshold}")
    if getattr(scores, "dims", None) != ("frame",):
        raise InputError(
            "scores: expected the trail_score (frame) DataArray of satlab.detect.classify, "
            f"got {type(scores).__name__} with dims {getattr(scores, 'dims', None)}"
        )
    table = frame_table(scores)
    table["trail_score"] = np.asarray(scores.values, dtype=float)
    table = table[table["trail_score"] >= threshold]
    table = table.sort_values("trail_score", ascending=False, kind="stable")
    if table.empty:
        warnings.warn(
            f"flagged_frames: no frame scores >= {threshold}", SatlabWarning, stacklevel=2
        )
    return table.reset_index(drop=True)


def frame_table(obj) -> pd.DataFrame:
    """Position, file, position within the file and time of each frame of ``obj``."""
    n = obj.sizes["frame"]
    files = (
        np.asarray([Path(str(f)).name for f in obj["file"].values])
        if "file" in obj.coords
        else np.full(n, "")
    )
    within = pd.Series(files).groupby(files).cumcount().to_numpy()
    times = obj["time"].values if "time" in obj.coords else np.full(n, np.datetime64("NaT"))
    return pd.DataFrame(
        {"index": np.arange(n), "file": files, "frame": within, "time": pd.to_datetime(times)}
    )


def write_hard_negatives(rows: pd.DataFrame, path) -> Path:
    """Append frames marked as false positives to a hard-negative CSV list.

    The file has one row per frame, columns ``file, frame, time, trail_score,
    marked_utc`` (``file`` the frame's file name, ``frame`` its position in that file,
    ``time`` UTC ISO); a frame already listed is not listed twice.

    Parameters
    ----------
    rows : pandas.DataFrame
        Rows of :func:`flagged_frames`.
    path : str or path
        The CSV list; created with its header when missing.

    Returns
    -------
    pathlib.Path
    """
    missing = [c for c in HARD_NEGATIVE_COLUMNS[:4] if c not in rows.columns]
    if missing:
        raise InputError(f"rows: missing columns {missing}; expected rows of flagged_frames()")
    path = Path(path)
    new = rows[HARD_NEGATIVE_COLUMNS[:4]].copy()
    new["time"] = pd.to_datetime(new["time"]).dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    new["marked_utc"] = datetime.now(UTC).isoformat(timespec="seconds")
    old = read_hard_negatives(path) if path.exists() else new.iloc[:0]
    keys = set(zip(old["file"].astype(str), old["frame"].astype(int), strict=True))
    fresh = new[[(f, int(k)) not in keys for f, k in zip(new["file"], new["frame"], strict=True)]]
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh.to_csv(path, mode="a", header=not path.exists(), index=False)
    return path


def read_hard_negatives(path) -> pd.DataFrame:
    """Read a hard-negative list written by :func:`write_hard_negatives`."""
    from .errors import FileFormatError, MissingFileError

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no hard-negative list")
    table = pd.read_csv(path, dtype={"file": str}, keep_default_na=False)
    missing = [c for c in HARD_NEGATIVE_COLUMNS if c not in table.columns]
    if missing:
        raise FileFormatError(
            f"{path}: missing columns {missing}; expected {HARD_NEGATIVE_COLUMNS}"
        )
    return table


class DetectionReview(_Widget):
    """Review frames flagged by the classifier and mark false positives.

    Parameters
    ----------
    frames : frames-like
    scores : xarray.DataArray
        ``trail_score (frame)`` of ``satlab.detect.classify(frames)``.
    threshold : float
        Initial decision threshold (the slider's value).
    hard_negatives : str or path
        CSV list the *false positive* button appends to (:func:`write_hard_negatives`).
    trails, prob : optional
        Overlays of the frame view (see :func:`frame_view`).
    """

    def __init__(
        self,
        frames,
        scores,
        *,
        threshold: float = 0.8,
        hard_negatives="hard_negatives.csv",
        trails=None,
        prob=None,
    ):
        _load_bokeh()
        self.frames = as_frames(frames)
        if scores.sizes.get("frame") != self.frames.sizes["frame"]:
            raise InputError(
                f"scores: expected one score per frame ({self.frames.sizes['frame']}), "
                f"got sizes {dict(scores.sizes)}"
            )
        self.scores, self.trails, self.prob = scores, trails, prob
        self.path = Path(hard_negatives)
        self.threshold = w.FloatSlider(
            value=threshold, min=0, max=1, step=0.01, description="threshold"
        )
        self.flagged = w.Select(description="flagged", rows=8, layout=w.Layout(width="420px"))
        self.mark = w.Button(description="false positive", icon="ban", button_style="warning")
        self.status = w.HTML()
        self._out = w.Output()
        self.threshold.observe(self._refilter, names="value")
        self.flagged.observe(self._refresh, names="value")
        self.mark.on_click(self._mark)
        self.widget = w.VBox(
            [w.HBox([self.threshold, self.mark]), self.flagged, self.status, self._out]
        )
        self._refilter()

    def _refilter(self, *_):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SatlabWarning)  # an empty list is shown as such
            self.table = flagged_frames(self.scores, threshold=self.threshold.value)
        self.flagged.options = [
            (f"{r.trail_score:.3f} · frame {r.index} · {r.file or r.time}", r.index)
            for r in self.table.itertuples()
        ]
        self.flagged.value = self.flagged.options[0][1] if len(self.table) else None
        if self.table.empty:
            self.view = None
            self._show(self._out, f"no frame scores >= {self.threshold.value:.2f}")
        self._status()

    def _refresh(self, *_):
        if self.flagged.value is None:
            return
        self.view = frame_view(
            self.frames,
            self.flagged.value,
            trails=self.trails,
            prob=self.prob,
            overlays=("trails", "mask", "footprint"),
        )
        self._show(self._out, self.view)

    def _mark(self, *_):
        if self.flagged.value is None:
            return
        write_hard_negatives(self.table[self.table["index"] == self.flagged.value], self.path)
        self._status()

    def _status(self):
        listed = len(read_hard_negatives(self.path)) if self.path.exists() else 0
        self.status.value = (
            f"{len(self.table)} flagged of {self.frames.sizes['frame']} frames; "
            f"{listed} in the hard-negative list <code>{self.path}</code>"
        )


# --- CrossmatchInspector ----------------------------------------------------------------

_CANDIDATE_COLUMNS = [
    "norad_id",
    "name",
    "match",
    "best",
    "sep_arcsec",
    "angle_diff_deg",
    "csr",
    "range_km",
    "phase_angle_deg",
    "object_type",
    "rcs_size",
]
_MATCH_COLOURS = {"strict": "#2ca02c", "relaxed": "#ff7f0e", "rejected": "#d62728"}


def _check_matches(matches) -> None:
    missing = [c for c in ("trail", "frame", *_CANDIDATE_COLUMNS) if c not in matches.columns]
    if missing:
        raise InputError(
            f"matches: missing columns {missing}; expected the table of satlab.orbits.crossmatch"
        )


def candidates(matches: pd.DataFrame, trail: int) -> pd.DataFrame:
    """The catalogue candidates of one trail, best first, then by CSR.

    Parameters
    ----------
    matches : pandas.DataFrame
        The table of ``satlab.orbits.crossmatch``.
    trail : int
        The trail's row position in the trail table (``matches["trail"]``).

    Returns
    -------
    pandas.DataFrame
        ``norad_id, name, match, best, sep_arcsec, angle_diff_deg, csr, range_km,
        phase_angle_deg, object_type, rcs_size``; empty (same columns) when the trail had
        no candidate.
    """
    _check_matches(matches)
    if trail not in set(matches["trail"]):
        raise InputError(f"trail: {trail!r} is not in matches['trail']")
    rows = matches[(matches["trail"] == trail) & (matches["match"] != "none")]
    rows = rows.sort_values(["best", "csr"], ascending=[False, True], kind="stable")
    return rows[_CANDIDATE_COLUMNS].reset_index(drop=True)


def crossmatch_view(matches: pd.DataFrame, trail: int) -> hv.Overlay:
    """Candidates of one trail in the (angle difference, separation) plane.

    The strict window (``radius_arcsec`` and ``angle_tol_deg``) and the relaxed radius
    are drawn from ``matches.attrs["parameters"]`` when the table carries them, else
    seed 001's 250 arcsec, 6 deg and 350 arcsec.

    Returns
    -------
    holoviews.Overlay
        One ``hv.Points`` per match class (``strict``, ``relaxed``, ``rejected``) with
        hover on name, NORAD id and CSR, and the limits as ``hv.Bounds`` / ``hv.HLine``.
    """
    _load_bokeh()
    table = candidates(matches, trail)
    params = matches.attrs.get("parameters", {})
    radius = float(params.get("radius_arcsec", 250.0))
    relaxed = float(params.get("relaxed_radius_arcsec", 350.0))
    tol = float(params.get("angle_tol_deg", 6.0))
    layers = [
        hv.Bounds((-tol, 0, tol, radius), label="strict window").opts(color="#2ca02c"),
        hv.HLine(relaxed, label="relaxed radius").opts(color="#ff7f0e", line_dash="dashed"),
    ]
    for kind, colour in _MATCH_COLOURS.items():
        rows = table[table["match"] == kind].astype({"norad_id": "float64"})
        layers.append(
            hv.Points(
                rows, ["angle_diff_deg", "sep_arcsec"], ["norad_id", "csr", "name"], label=kind
            ).opts(color=colour, size=9, tools=["hover"])
        )
    return hv.Overlay(layers).opts(
        title=f"trail {trail}: {len(table)} candidate(s)",
        xlabel="angle difference [deg]",
        ylabel="separation [arcsec]",
        frame_width=_FRAME_PX,
        frame_height=300,
        legend_position="top_right",
        xlim=(-90, 90),
        ylim=(0, max(relaxed, float(table["sep_arcsec"].max() if len(table) else 0)) * 1.1),
    )


def crossmatch_sky_view(
    matches: pd.DataFrame, trails: pd.DataFrame, frames, catalogue, trail: int, *, samples=9
) -> hv.Overlay:
    """One trail and its candidates' predicted tracks on the sky, around the frame centre.

    The frame outline and the trail's endpoints go through the frame's WCS
    (:func:`satlab.io.wcs.frame_wcs`); each candidate is propagated with
    :func:`satlab.orbits.predict` (light-time corrected, as crossmatch compares them) at
    ``samples`` times across the exposure, from the element set closest in time. Axes are
    offsets from the frame centre [arcsec], east to the left as on the sky.

    Parameters
    ----------
    matches : pandas.DataFrame
        The table of ``satlab.orbits.crossmatch``.
    trails : pandas.DataFrame
        The trail table crossmatch was given (``matches["trail"]`` is its row position).
    frames : frames-like
        The frames, with pointing (``ra``, ``dec``, ``roll``, ``pixel_scale``) and the
        observer (``attrs["observer"]`` or an ``observer`` coord).
    catalogue : satlab.orbits.Catalogue
        The catalogue crossmatch searched.
    trail : int
        The trail's row position.

    Returns
    -------
    holoviews.Overlay
        ``frame`` and ``trail`` curves and one curve per candidate, labelled by name and
        coloured by match class.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    from .io.wcs import frame_wcs
    from .orbits import Observer, predict

    _load_bokeh()
    table = candidates(matches, trail)
    if not 0 <= trail < len(trails):
        raise InputError(f"trail: {trail!r} is not a row of trails ({len(trails)} rows)")
    ds = as_frames(frames)
    row = trails.iloc[trail]
    k = int(row["frame"])
    wcs = frame_wcs(ds, k)
    centre = wcs.pixel_to_world((ds.sizes["x"] - 1) / 2.0, (ds.sizes["y"] - 1) / 2.0)

    def offsets(coord):
        east, north = centre.spherical_offsets_to(coord)
        return east.to_value(u.arcsec), north.to_value(u.arcsec)

    nx, ny = ds.sizes["x"] - 0.5, ds.sizes["y"] - 0.5
    outline = offsets(wcs.pixel_to_world([-0.5, nx, nx, -0.5, -0.5], [-0.5, -0.5, ny, ny, -0.5]))
    layers = [
        hv.Curve(outline, "east [arcsec]", "north [arcsec]", label="frame").opts(color="grey"),
        hv.Curve(
            offsets(wcs.pixel_to_world([row["x0"], row["x1"]], [row["y0"], row["y1"]])),
            "east [arcsec]",
            "north [arcsec]",
            label="trail",
        ).opts(color="black", line_width=5, alpha=0.6),
    ]
    if len(table):
        observer = ds["observer"].values[k] if "observer" in ds.coords else ds.attrs["observer"]
        half = 0.5 * float(ds["exptime"].values[k])
        times = pd.Timestamp(ds["time"].values[k]) + pd.to_timedelta(
            np.linspace(-half, half, samples), unit="s"
        )
        pred = predict(
            catalogue.select(table["norad_id"].astype("int64").unique()),
            times,
            Observer.from_attr(observer),
            light_time=True,
        )
        # history files hold several element sets per object: keep the closest in time
        age = np.abs(pred["epoch_age_h"]).mean("time").to_series()
        closest = age.groupby(pred["norad_id"].values).idxmin()
        for cand in table.itertuples():
            track = pred.isel(object=int(closest[int(cand.norad_id)]))
            sky = SkyCoord(track["ra"].values, track["dec"].values, unit="deg")
            layers.append(
                hv.Curve(offsets(sky), "east [arcsec]", "north [arcsec]", label=cand.name).opts(
                    color=_MATCH_COLOURS.get(cand.match, "grey"),
                    line_dash="solid" if cand.best else "dashed",
                )
            )
    return hv.Overlay(layers).opts(
        title=f"trail {trail} on the sky (frame {k})",
        frame_width=_FRAME_PX,
        frame_height=_FRAME_PX,
        data_aspect=1,
        invert_xaxis=True,
        legend_position="right",
    )


class CrossmatchInspector(_Widget):
    """Per trail, its catalogue candidates: table, (angle, separation) plot and, given the
    trails, frames and catalogue crossmatch used, a sky plot (:func:`crossmatch_sky_view`).

    Parameters
    ----------
    matches : pandas.DataFrame
        The table of ``satlab.orbits.crossmatch``.
    trails, frames, catalogue : optional
        What crossmatch was given; all three draw the sky plot.
    """

    def __init__(self, matches: pd.DataFrame, *, trails=None, frames=None, catalogue=None):
        _load_bokeh()
        _check_matches(matches)
        sky = (trails, frames, catalogue)
        if any(v is not None for v in sky) and any(v is None for v in sky):
            raise InputError("trails, frames and catalogue: give all three for the sky plot")
        self._sky = None if trails is None else sky
        if matches.empty:
            raise InputError("matches: the crossmatch table is empty (no trail to inspect)")
        self.matches = matches
        first = matches.drop_duplicates("trail")
        best = matches[matches["best"]].set_index("trail")["name"]
        self.trail = w.Dropdown(
            options=[
                (f"trail {t} · frame {f} · {best.get(t, 'unidentified')}", int(t))
                for t, f in zip(first["trail"], first["frame"], strict=True)
            ],
            description="trail",
        )
        self.table = w.HTML()
        self._out = w.Output()
        self.trail.observe(self._refresh, names="value")
        self.widget = w.VBox([self.trail, self._out, self.table])
        self._refresh()

    def _refresh(self, *_):
        self.view = crossmatch_view(self.matches, self.trail.value)
        if self._sky is not None:
            trails, frames, catalogue = self._sky
            self.view = self.view + crossmatch_sky_view(
                self.matches, trails, frames, catalogue, self.trail.value
            )
        self.table.value = candidates(self.matches, self.trail.value).to_html(
            index=False, float_format=lambda v: f"{v:.3g}", na_rep=""
        )
        self._show(self._out, self.view)


# --- TrendExplorer ----------------------------------------------------------------------


def filter_trends(
    table: pd.DataFrame, *, object_types=None, rcs_sizes=None, years=None
) -> pd.DataFrame:
    """Rows of a brightness table kept by the explorer's filters.

    Parameters
    ----------
    table : pandas.DataFrame
        ``satlab.trends.brightness_table`` output (``time``, ``mag_std``, and
        ``object_type`` / ``rcs_size`` for identified trails).
    object_types, rcs_sizes : sequence of str, optional
        Keep these values of ``object_type`` / ``rcs_size`` (None: all).
    years : (first, last), optional
        Keep observation years ``first..last`` inclusive (None: all).

    Returns
    -------
    pandas.DataFrame
        The kept rows (index reset); empty, same columns, when none is left.
    """
    keep = np.ones(len(table), bool)
    for column, values in (("object_type", object_types), ("rcs_size", rcs_sizes)):
        if values is not None:
            if column not in table:
                raise InputError(f"table: no {column!r} column to filter on")
            keep &= table[column].isin(list(values)).to_numpy()
    if years is not None:
        first, last = years
        year = pd.to_datetime(table["time"]).dt.year.to_numpy()
        keep &= (year >= first) & (year <= last)
    return table[keep].reset_index(drop=True)


def trend_view(table: pd.DataFrame):
    """Standard magnitude over time and, with launch dates, against launch date.

    Returns
    -------
    holoviews.Layout or str
        ``satlab.plot.magnitude_over_time_plot`` (and ``magnitude_vs_launch_plot``) of the
        rows; a message when fewer than three rows have a standard magnitude.
    """
    from . import plot, trends

    _load_bokeh()
    if "mag_std" not in table or table["mag_std"].notna().sum() < 3:
        return "fewer than three standard magnitudes: no trend to draw"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatlabWarning)  # left-out rows are expected here
        figures = [plot.magnitude_over_time_plot(trends.magnitude_over_time(table))]
        if "launch_date" in table and table["launch_date"].notna().sum() >= 3:
            figures.append(plot.magnitude_vs_launch_plot(trends.magnitude_vs_launch(table)))
    return hv.Layout([f.opts(frame_width=380) for f in figures]).cols(2)


class TrendExplorer(_Widget):
    """Trend plots of a brightness table with filters by object type, RCS size and year.

    Parameters
    ----------
    table : pandas.DataFrame
        ``satlab.trends.brightness_table`` output (``brightness.parquet`` of a report run).
    """

    def __init__(self, table: pd.DataFrame):
        _load_bokeh()
        missing = [c for c in ("time", "mag_std") if c not in table]
        if missing:
            raise InputError(
                f"table: missing columns {missing}; expected satlab.trends.brightness_table"
            )
        self.table = table
        years = pd.to_datetime(table["time"]).dt.year.dropna()
        lo, hi = (int(years.min()), int(years.max())) if len(years) else (2000, 2000)
        self.years = w.IntRangeSlider(value=(lo, hi), min=lo, max=hi, description="years")

        def choices(column):
            values = sorted(table[column].dropna().unique()) if column in table else []
            return w.SelectMultiple(options=values, value=tuple(values), rows=4,
                                    description=column.replace("_", " "))  # fmt: skip

        self.object_types, self.rcs_sizes = choices("object_type"), choices("rcs_size")
        self.count = w.HTML()
        self._out = w.Output()
        for control in (self.years, self.object_types, self.rcs_sizes):
            control.observe(self._refresh, names="value")
        self.widget = w.VBox(
            [w.HBox([self.object_types, self.rcs_sizes]), self.years, self.count, self._out]
        )
        self._refresh()

    def _refresh(self, *_):
        self.shown = filter_trends(
            self.table,
            object_types=self.object_types.value if "object_type" in self.table else None,
            rcs_sizes=self.rcs_sizes.value if "rcs_size" in self.table else None,
            years=self.years.value,
        )
        self.view = trend_view(self.shown)
        self.count.value = f"{len(self.shown)} of {len(self.table)} trails"
        self._show(self._out, self.view)
