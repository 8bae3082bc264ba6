"""Trend analysis of a detection set: the tables behind seed 001 Figs. 5-11 and Table 1.

Every function returns a tidy :class:`pandas.DataFrame` (units in the column names,
fitted numbers in ``attrs``) that :mod:`satlab.plot` turns into a holoviews plot:

=============================  ======================================================
:func:`monthly_rate`           Fig. 5: percentage of frames with trails per month, the
                               six-month rolling average and its linear trend with a
                               confidence band
:func:`population`             Fig. 6: objects by type and RCS size
:func:`phase_angle_histogram`  Fig. 7: phase angles of the identified objects
:func:`brightness_histogram`   Fig. 8: detected brightness [ADU] and its peak, the
                               brightness limit of the method
:func:`magnitude_per_year`     Fig. 9: standard-magnitude histograms per year
:func:`magnitude_over_time`    Fig. 10: standard magnitude against observation time
:func:`magnitude_vs_launch`    Fig. 11: standard magnitude against launch date, with a
                               trend line and its slope +- error
:func:`method_comparison`      Table 1: detections, brightness limit, time per image,
                               false-positive rate, line information per method
=============================  ======================================================

:func:`brightness_table` joins photometry, crossmatch and frame times into the one table
the brightness figures read. Nothing to show gives an empty typed table and a
:class:`SatlabWarning`, never an exception.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from .errors import InputError, SatlabWarning
from .photometry import standard_magnitude

__all__ = [
    "brightness_histogram",
    "brightness_table",
    "linear_trend",
    "magnitude_over_time",
    "magnitude_per_year",
    "magnitude_vs_launch",
    "method_comparison",
    "monthly_rate",
    "phase_angle_histogram",
    "population",
]

_MATCH_COLUMNS = [
    "norad_id",
    "range_km",
    "phase_angle_deg",
    "object_type",
    "rcs_size",
    "launch_date",
    "match",
]


def _warn(message: str) -> None:
    warnings.warn(message, SatlabWarning, stacklevel=3)


def _require(table, columns, name: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{name}: expected a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table]
    if missing:
        raise InputError(f"{name}: missing column(s) {missing}; expected {list(columns)}")
    return table


def _decimal_year(times) -> np.ndarray:
    t = pd.DatetimeIndex(pd.to_datetime(times))
    start = pd.to_datetime(t.year.astype(str) + "-01-01")
    end = pd.to_datetime((t.year + 1).astype(str) + "-01-01")
    return np.asarray(t.year + (t - start) / (end - start), dtype=float)


def linear_trend(x, y, *, confidence: float = 0.95) -> dict:
    """Ordinary least-squares line with the confidence band of the fitted mean.

    scipy's ``linregress`` gives slope, intercept and their standard errors; the band is
    ``t * s * sqrt(1/n + (x - mean x)^2 / Sxx)`` with Student's t at ``confidence``.

    Returns
    -------
    dict
        ``slope``, ``slope_err``, ``intercept``, ``n``, and ``fit``, ``lo``, ``hi``
        (arrays at ``x``); NaN when fewer than three finite points.
    """
    from scipy import stats

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    nan = np.full(x.shape, np.nan)
    out = {"slope": np.nan, "slope_err": np.nan, "intercept": np.nan, "n": int(ok.sum())}
    out.update(fit=nan, lo=nan, hi=nan)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0:
        return out
    res = stats.linregress(x[ok], y[ok])
    fit = res.intercept + res.slope * x
    n = int(ok.sum())
    resid = y[ok] - (res.intercept + res.slope * x[ok])
    s = math.sqrt(float(resid @ resid) / (n - 2))
    sxx = float(((x[ok] - x[ok].mean()) ** 2).sum())
    half = (
        stats.t.ppf(0.5 + confidence / 2, n - 2)
        * s
        * np.sqrt(1 / n + (x - x[ok].mean()) ** 2 / sxx)
    )
    out.update(
        slope=float(res.slope),
        slope_err=float(res.stderr),
        intercept=float(res.intercept),
        fit=fit,
        lo=fit - half,
        hi=fit + half,
    )
    return out


# --- Fig. 5 ----------------------------------------------------------------------------


def _frame_times(frames) -> pd.DataFrame:
    """``frame, time`` of every frame, from a frames Dataset or a table."""
    if isinstance(frames, pd.DataFrame):
        _require(frames, ["frame", "time"], "frames")
        return frames[["frame", "time"]].assign(time=pd.to_datetime(frames["time"]))
    from .frames import as_frames
    from .lines import frame_index

    ds = as_frames(frames)
    return pd.DataFrame({"frame": frame_index(ds), "time": pd.to_datetime(ds["time"].values)})


def monthly_rate(
    frames,
    trails: pd.DataFrame,
    *,
    window_months: int = 6,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Percentage of frames with at least one trail, per calendar month (seed 001 Fig. 5).

    Parameters
    ----------
    frames : frames-like or pandas.DataFrame
        All frames searched: a Dataset (its ``time`` coord) or a table with ``frame`` and
        ``time`` columns (an archive index).
    trails : pandas.DataFrame
        Detections with a ``frame`` column (one row per trail).
    window_months : int
        Width of the rolling average [months] (seed 001: six).
    confidence : float
        Level of the trend's confidence band.

    Returns
    -------
    pandas.DataFrame
        One row per month from the first to the last: ``month`` (month start),
        ``n_frames``, ``n_with_trails``, ``percent``, ``rolling_percent``, and the linear
        trend of the rolling average ``trend_percent`` with ``trend_lo`` / ``trend_hi``.
        ``attrs``: ``slope_percent_per_year``, ``slope_err``, ``mean_percent``. A single
        month gives no trend (NaN) and a :class:`SatlabWarning`.
    """
    if int(window_months) < 1:
        raise InputError(f"window_months: expected >= 1, got {window_months}")
    _require(trails, ["frame"], "trails")
    times = _frame_times(frames).dropna(subset=["time"])
    cols = ["month", "n_frames", "n_with_trails", "percent", "rolling_percent"]
    cols += ["trend_percent", "trend_lo", "trend_hi"]
    if times.empty:
        _warn("monthly_rate: no frame with a time; nothing to count")
        return pd.DataFrame(
            {c: pd.Series(dtype="datetime64[ns]" if c == "month" else float) for c in cols}
        )
    times["has_trail"] = times["frame"].isin(set(trails["frame"]))
    times["month"] = times["time"].dt.to_period("M")
    per = times.groupby("month").agg(n_frames=("frame", "size"), n_with_trails=("has_trail", "sum"))
    months = pd.period_range(per.index.min(), per.index.max(), freq="M")
    per = per.reindex(months, fill_value=0)
    out = pd.DataFrame(
        {
            "month": months.to_timestamp(),
            "n_frames": per["n_frames"].to_numpy(),
            "n_with_trails": per["n_with_trails"].to_numpy(),
        }
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        out["percent"] = 100.0 * out["n_with_trails"] / out["n_frames"].where(out["n_frames"] > 0)
    out["rolling_percent"] = out["percent"].rolling(int(window_months), min_periods=1).mean()
    x = _decimal_year(out["month"])
    trend = linear_trend(x, out["rolling_percent"], confidence=confidence)
    if len(out) < 3:
        _warn(f"monthly_rate: only {len(out)} month(s) of data; no linear trend")
    out["trend_percent"], out["trend_lo"], out["trend_hi"] = trend["fit"], trend["lo"], trend["hi"]
    total = out["n_frames"].sum()
    out.attrs.update(
        slope_percent_per_year=trend["slope"],
        slope_err=trend["slope_err"],
        mean_percent=100.0 * out["n_with_trails"].sum() / total if total else np.nan,
        window_months=int(window_months),
        confidence=confidence,
    )
    return out


# --- the brightness table --------------------------------------------------------------


def brightness_table(
    photometry: pd.DataFrame, matches=None, *, frames=None, min_snr: float = 3.0
) -> pd.DataFrame:
    """One row per measured trail with its identification and time.

    Parameters
    ----------
    photometry : pandas.DataFrame
        :func:`satlab.photometry.trail_photometry` output (``trail``, ``frame``, ``flux``,
        ``mag``, ``mag_err`` ...).
    matches : pandas.DataFrame, optional
        :func:`satlab.orbits.crossmatch` output; its ``best`` strict/relaxed row per
        ``trail`` adds ``norad_id, range_km, phase_angle_deg, object_type, rcs_size,
        launch_date, match``.
    frames : frames-like or pandas.DataFrame, optional
        Adds each trail's ``time`` (from the frame's time); else a ``time`` column of
        ``photometry`` is kept.
    min_snr : float
        Trails measured at a lower S/N (``snr`` column) get no standard magnitude: an
        upper limit, as in :func:`satlab.photometry.trail_photometry`.

    Returns
    -------
    pandas.DataFrame
        ``photometry`` plus those columns and ``mag_std`` (from ``mag`` and ``range_km``;
        NaN where either is missing or the S/N is below ``min_snr``).
    """
    _require(photometry, ["trail", "frame", "mag"], "photometry")
    out = photometry.copy()
    if matches is not None:
        _require(matches, ["trail", "best", "match"], "matches")
        best = matches[matches["best"].astype(bool) & matches["match"].isin(["strict", "relaxed"])]
        best = best.drop_duplicates("trail")
        keep = ["trail", *[c for c in _MATCH_COLUMNS if c in best]]
        out = out.drop(columns=[c for c in keep[1:] if c in out]).merge(
            best[keep], on="trail", how="left"
        )
    if frames is not None:
        times = _frame_times(frames)
        out = out.drop(columns=["time"], errors="ignore").merge(times, on="frame", how="left")
    if "launch_date" in out:
        out["launch_date"] = pd.to_datetime(out["launch_date"], errors="coerce")
    if "range_km" in out:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SatlabWarning)  # NaN where unidentified
            out["mag_std"] = standard_magnitude(
                out["mag"].to_numpy(float), out["range_km"].to_numpy(float)
            )
        if "snr" in out:
            out.loc[~(pd.to_numeric(out["snr"], errors="coerce") >= min_snr), "mag_std"] = np.nan
    return out


def _column(table, column: str, name: str) -> pd.DataFrame:
    _require(table, [column], name)
    ok = table[np.isfinite(pd.to_numeric(table[column], errors="coerce"))]
    if len(ok) < len(table):
        _warn(f"{name}: {len(table) - len(ok)} row(s) without a finite {column!r} left out")
    return ok


# --- Figs. 6 and 7 ---------------------------------------------------------------------


def population(matches: pd.DataFrame, *, unique_objects: bool = True) -> pd.DataFrame:
    """Counts by object type and RCS size (seed 001 Fig. 6).

    ``matches`` needs ``object_type`` and ``rcs_size`` (a crossmatch table or
    :func:`brightness_table`); with ``unique_objects`` each ``norad_id`` counts once.
    Missing metadata count as ``"UNKNOWN"``. Returns ``object_type, rcs_size, count``.
    """
    _require(matches, ["object_type", "rcs_size"], "matches")
    table = matches
    if "best" in table:
        table = table[table["best"].astype(bool)]
    if unique_objects and "norad_id" in table:
        table = table.dropna(subset=["norad_id"]).drop_duplicates("norad_id")
    cols = {"object_type": "object", "rcs_size": "object", "count": "int64"}
    if table.empty:
        _warn("population: no identified object")
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    cat = table[["object_type", "rcs_size"]].astype(object).where(lambda t: t.notna(), "UNKNOWN")
    cat = cat.replace("", "UNKNOWN")
    out = cat.value_counts().rename("count").reset_index()
    return out.sort_values(["object_type", "rcs_size"], ignore_index=True).astype(cols)


def _histogram(values, bins, *, name: str) -> pd.DataFrame:
    counts, edges = np.histogram(values, bins=bins)
    return pd.DataFrame({f"{name}_lo": edges[:-1], f"{name}_hi": edges[1:], "count": counts})


def phase_angle_histogram(matches: pd.DataFrame, *, bin_deg: float = 5.0) -> pd.DataFrame:
    """Histogram of ``phase_angle_deg`` (seed 001 Fig. 7) in ``bin_deg`` bins over 0-180.

    Returns ``phase_angle_deg_lo, phase_angle_deg_hi, count``.
    """
    ok = _column(matches, "phase_angle_deg", "phase_angle_histogram")
    if "best" in ok:
        ok = ok[ok["best"].astype(bool)]
    return _histogram(
        ok["phase_angle_deg"], np.arange(0.0, 180.0 + bin_deg, bin_deg), name="phase_angle_deg"
    )


# --- Fig. 8 and Table 1 ----------------------------------------------------------------


def brightness_histogram(
    photometry: pd.DataFrame, *, column: str = "flux", bins: int = 40
) -> pd.DataFrame:
    """Histogram of detected brightness on log-spaced bins, and its peak (seed 001 Fig. 8).

    The peak (the most populated bin, before detections fade) is the method's brightness
    limit, ``attrs["peak"]`` [units of ``column``, ADU for ``flux``]. Returns
    ``<column>_lo, <column>_hi, count``. Non-positive or NaN values are left out.
    """
    ok = _column(photometry, column, "brightness_histogram")
    values = ok[column].to_numpy(float)
    values = values[values > 0]
    if values.size == 0:
        _warn(f"brightness_histogram: no positive {column!r}")
        out = _histogram([], np.array([0.0, 1.0]), name=column).iloc[:0]
        out.attrs["peak"] = np.nan
        return out
    lo, hi = values.min(), values.max()
    edges = (
        np.geomspace(lo, hi * (1 + 1e-9), int(bins) + 1)
        if hi > lo
        else np.array([lo * 0.9, lo * 1.1])
    )
    out = _histogram(values, edges, name=column)
    i = int(np.argmax(out["count"].to_numpy()))
    out.attrs["peak"] = float(math.sqrt(out[f"{column}_lo"].iloc[i] * out[f"{column}_hi"].iloc[i]))
    out.attrs["n"] = int(values.size)
    return out


def method_comparison(methods: dict) -> pd.DataFrame:
    """The method comparison of seed 001 Table 1.

    Parameters
    ----------
    methods : dict of str to dict
        Per method: ``detections`` (a photometry table; gives the number of detections
        and, by :func:`brightness_histogram`, the brightness limit) or ``n_detections``
        and ``brightness_limit`` [ADU]; ``time_per_image_s``; ``false_positive_rate``
        (fraction); ``line_information`` (bool: does the method give rho, theta).

    Returns
    -------
    pandas.DataFrame
        ``method, n_detections, brightness_limit_adu, time_per_image_s,
        false_positive_percent, line_information`` ("yes" / "no").
    """
    if not isinstance(methods, dict) or not methods:
        raise InputError("methods: expected a non-empty dict of method name to its numbers")
    rows = []
    for name, m in methods.items():
        det = m.get("detections")
        n = m.get("n_detections", len(det) if det is not None else np.nan)
        limit = m.get("brightness_limit")
        if limit is None and det is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SatlabWarning)
                limit = brightness_histogram(det).attrs["peak"]
        line = m.get("line_information")
        rows.append(
            {
                "method": str(name),
                "n_detections": n,
                "brightness_limit_adu": np.nan if limit is None else float(limit),
                "time_per_image_s": float(m.get("time_per_image_s", np.nan)),
                "false_positive_percent": 100.0 * float(m.get("false_positive_rate", np.nan)),
                "line_information": "" if line is None else ("yes" if line else "no"),
            }
        )
    return pd.DataFrame(rows).astype({"n_detections": "float64"})


# --- Figs. 9-11 ------------------------------------------------------------------------


def _with_time(table, name: str) -> pd.DataFrame:
    _require(table, ["time"], name)
    ok = _column(table, "mag_std", name)
    return ok.assign(time=pd.to_datetime(ok["time"])).dropna(subset=["time"])


def magnitude_per_year(table: pd.DataFrame, *, bin_mag: float = 0.5) -> pd.DataFrame:
    """Standard-magnitude histograms per observation year (seed 001 Fig. 9).

    ``table`` needs ``time`` and ``mag_std`` (see :func:`brightness_table`). Returns
    ``year, mag_std_lo, mag_std_hi, count``; ``attrs["summary"]`` holds per year
    ``n, mean, std, median`` as a dict, and ``attrs["mean"]``, ``attrs["std"]`` the
    global values (seed 001: 13.4 +- 1.7).
    """
    ok = _with_time(table, "magnitude_per_year")
    cols = {"year": "int64", "mag_std_lo": float, "mag_std_hi": float, "count": "int64"}
    if ok.empty:
        _warn("magnitude_per_year: no standard magnitude to show")
        out = pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
        out.attrs.update(summary={}, mean=np.nan, std=np.nan)
        return out
    m = ok["mag_std"].to_numpy(float)
    lo = math.floor(m.min() / bin_mag) * bin_mag
    edges = np.arange(lo, m.max() + bin_mag, bin_mag)
    if edges.size < 2:
        edges = np.array([lo, lo + bin_mag])
    parts, summary = [], {}
    for year, sub in ok.groupby(ok["time"].dt.year):
        parts.append(_histogram(sub["mag_std"], edges, name="mag_std").assign(year=int(year)))
        v = sub["mag_std"].to_numpy(float)
        summary[int(year)] = {
            "n": int(v.size),
            "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if v.size > 1 else np.nan,
            "median": float(np.median(v)),
        }
    out = pd.concat(parts, ignore_index=True)[list(cols)].astype(cols)
    out.attrs.update(
        summary=summary, mean=float(m.mean()), std=float(m.std(ddof=1)) if m.size > 1 else np.nan
    )
    return out


def magnitude_over_time(table: pd.DataFrame) -> pd.DataFrame:
    """Standard magnitude against observation time (seed 001 Fig. 10).

    Returns ``time, mag_std`` (plus ``mag_std_err``, ``norad_id``, ``object_type`` where
    present) sorted by time, with the linear trend ``trend_mag`` [mag] and
    ``attrs["slope_mag_per_year"]``, ``attrs["slope_err"]``, ``attrs["mean"]``,
    ``attrs["std"]``.
    """
    ok = _with_time(table, "magnitude_over_time")
    keep = ["time", "mag_std", *[c for c in ("mag_std_err", "norad_id", "object_type") if c in ok]]
    out = ok[keep].sort_values("time", ignore_index=True)
    trend = linear_trend(_decimal_year(out["time"]), out["mag_std"]) if len(out) else None
    out["trend_mag"] = trend["fit"] if trend else np.array([], float)
    m = out["mag_std"].to_numpy(float)
    out.attrs.update(
        slope_mag_per_year=trend["slope"] if trend else np.nan,
        slope_err=trend["slope_err"] if trend else np.nan,
        mean=float(m.mean()) if m.size else np.nan,
        std=float(m.std(ddof=1)) if m.size > 1 else np.nan,
    )
    if out.empty:
        _warn("magnitude_over_time: no standard magnitude with a time")
    return out


def magnitude_vs_launch(table: pd.DataFrame, *, confidence: float = 0.95) -> pd.DataFrame:
    """Standard magnitude against the object's launch date, with a trend (seed 001 Fig. 11).

    ``table`` needs ``mag_std`` and ``launch_date`` (see :func:`brightness_table`); rows
    without either are left out with a warning. With ``norad_id``, each object counts
    once (its median standard magnitude), so an often-seen object does not weigh more.

    Returns
    -------
    pandas.DataFrame
        ``launch_date, launch_year, mag_std, n_detections, trend_mag, trend_lo,
        trend_hi``; ``attrs``: ``slope_mag_per_year`` (negative: newer objects are
        brighter), ``slope_err``, ``intercept``, ``n_objects``.
    """
    _require(table, ["mag_std", "launch_date"], "magnitude_vs_launch")
    ok = _column(table, "mag_std", "magnitude_vs_launch")
    ok = ok.assign(launch_date=pd.to_datetime(ok["launch_date"], errors="coerce"))
    dated = ok.dropna(subset=["launch_date"])
    if len(dated) < len(ok):
        _warn(f"magnitude_vs_launch: {len(ok) - len(dated)} row(s) without a launch_date left out")
    if "norad_id" in dated:
        dated = (
            dated.groupby("norad_id")
            .agg(
                launch_date=("launch_date", "first"),
                mag_std=("mag_std", "median"),
                n_detections=("mag_std", "size"),
            )
            .reset_index(drop=True)
        )
    else:
        dated = dated[["launch_date", "mag_std"]].assign(n_detections=1)
    out = dated.sort_values("launch_date", ignore_index=True)
    out["launch_year"] = _decimal_year(out["launch_date"]) if len(out) else np.array([], float)
    trend = linear_trend(out["launch_year"], out["mag_std"], confidence=confidence)
    if trend["n"] < 3:
        _warn(f"magnitude_vs_launch: {trend['n']} object(s) with a launch date; no trend line")
    out["trend_mag"], out["trend_lo"], out["trend_hi"] = trend["fit"], trend["lo"], trend["hi"]
    out = out[
        [
            "launch_date",
            "launch_year",
            "mag_std",
            "n_detections",
            "trend_mag",
            "trend_lo",
            "trend_hi",
        ]
    ]
    out.attrs.update(
        slope_mag_per_year=trend["slope"],
        slope_err=trend["slope_err"],
        intercept=trend["intercept"],
        n_objects=trend["n"],
        confidence=confidence,
    )
    return out
