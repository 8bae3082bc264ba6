"""Interactive plots (holoviews + bokeh) of satlab's tables.

holoviews loads inside each function, so ``import satlab.plot`` stays light; call
``hv.extension("bokeh")`` in a notebook (or save with :func:`holoviews.save`) to render.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "brightness_plot",
    "magnitude_over_time_plot",
    "magnitude_per_year_plot",
    "magnitude_vs_launch_plot",
    "monthly_rate_plot",
    "phase_angle_plot",
    "population_plot",
    "pr_plot",
    "roc_plot",
]


def _curves(curves, x: str, y: str, what: str) -> dict[str, pd.DataFrame]:
    if isinstance(curves, pd.DataFrame):
        if "method" in curves:
            return {str(k): v for k, v in curves.groupby("method", sort=False)}
        curves = {"": curves}
    if not isinstance(curves, dict) or not curves:
        raise InputError(f"{what}: expected a DataFrame or a non-empty dict of DataFrames")
    for name, df in curves.items():
        missing = {x, y} - set(df.columns)
        if missing:
            raise InputError(f"{what}[{name!r}]: expected columns {x!r} and {y!r}")
    return curves


def roc_plot(curves, *, fpr_mark: float | None = 0.01, log_fpr: bool = False, title: str = ""):
    """ROC curves (true- against false-positive rate) of one or more detectors.

    Parameters
    ----------
    curves : pandas.DataFrame or dict of str to pandas.DataFrame
        :func:`satlab.metrics.roc_table` output (``fpr``, ``tpr``), one per method, or one
        table with a ``method`` column.
    fpr_mark : float, optional
        Draw a vertical line at this false-positive rate (seed 002's operating point).
    log_fpr : bool
        Logarithmic FPR axis (for pixel curves at 1e-5 FPR).
    title : str
        Plot title.

    Returns
    -------
    holoviews.Overlay
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # registers the backend that .opts needs

    items = []
    for name, df in _curves(curves, "fpr", "tpr", "roc_plot").items():
        data = df[["fpr", "tpr"]]
        if log_fpr:
            data = data[data["fpr"] > 0]
        items.append(
            hv.Curve(data, "fpr", "tpr", label=name).opts(
                xlabel="false-positive rate",
                ylabel="true-positive rate",
                logx=log_fpr,
                tools=["hover"],
            )
        )
    if fpr_mark is not None:
        items.append(hv.VLine(fpr_mark).opts(color="gray", line_dash="dashed"))
    return hv.Overlay(items).opts(title=title, legend_position="bottom_right")


def pr_plot(curves, *, recall_mark: float | None = 0.9, title: str = ""):
    """Precision-recall curves of one or more detectors.

    Parameters
    ----------
    curves : pandas.DataFrame or dict of str to pandas.DataFrame
        :func:`satlab.metrics.pr_table` output (``recall``, ``precision``), one per method,
        or one table with a ``method`` column.
    recall_mark : float, optional
        Draw a vertical line at this recall (seed 002: 90 %).
    title : str
        Plot title.

    Returns
    -------
    holoviews.Overlay
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # registers the backend that .opts needs

    items = [
        hv.Curve(df[["recall", "precision"]], "recall", "precision", label=name).opts(
            tools=["hover"]
        )
        for name, df in _curves(curves, "recall", "precision", "pr_plot").items()
    ]
    if recall_mark is not None:
        items.append(hv.VLine(recall_mark).opts(color="gray", line_dash="dashed"))
    return hv.Overlay(items).opts(title=title, legend_position="bottom_left")


# --- trends (seed 001 Figs. 5-11; tables from satlab.trends) ----------------------------


def _hv():
    import holoviews as hv
    import holoviews.plotting.bokeh

    return hv


def _need(df, columns, what: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame) or not set(columns) <= set(df.columns):
        raise InputError(f"{what}: expected a satlab.trends table with columns {list(columns)}")
    return df


def monthly_rate_plot(df: pd.DataFrame, *, title: str = "Frames with trails per month"):
    """Fig. 5: monthly percentage (bars), rolling average (red) and its trend (grey, dotted).

    ``df`` is :func:`satlab.trends.monthly_rate` output; the confidence band of the trend
    is shaded. Returns a :class:`holoviews.Overlay`.
    """
    hv = _hv()
    cols = ["month", "percent", "rolling_percent", "trend_percent", "trend_lo", "trend_hi"]
    df = _need(df, cols, "monthly_rate_plot")
    slope, err = df.attrs.get("slope_percent_per_year"), df.attrs.get("slope_err")
    label = f"trend {slope:+.3f} ± {err:.3f} %/yr" if slope is not None else "trend"
    bars = hv.Histogram(
        (np.append(df["month"].to_numpy(), df["month"].iloc[-1] + pd.offsets.MonthBegin()),
         df["percent"].fillna(0).to_numpy()),
        kdims="month", vdims="percent",
    ).opts(alpha=0.5, color="steelblue", line_color=None)  # fmt: skip
    mid = df["month"] + pd.Timedelta(days=15)
    band = hv.Area((mid, df["trend_lo"], df["trend_hi"]), "month", ["trend_lo", "trend_hi"])
    return hv.Overlay(
        [
            bars,
            band.opts(color="gray", alpha=0.2, line_alpha=0),
            hv.Curve((mid, df["rolling_percent"]), "month", "percent", label="rolling mean")
            .opts(color="red", line_width=2),
            hv.Curve((mid, df["trend_percent"]), "month", "percent", label=label)
            .opts(color="gray", line_dash="dotted", line_width=2),
        ]
    ).opts(title=title, ylabel="frames with trails [%]", legend_position="top_left")  # fmt: skip


def population_plot(df: pd.DataFrame, *, title: str = "Population by type and RCS size"):
    """Fig. 6: stacked bars of object counts by type, split by RCS size."""
    hv = _hv()
    df = _need(df, ["object_type", "rcs_size", "count"], "population_plot")
    return hv.Bars(df, ["object_type", "rcs_size"], "count").opts(
        stacked=True, title=title, xlabel="object type", ylabel="objects", tools=["hover"],
        legend_position="top_right",
    )  # fmt: skip


def _histogram_plot(df: pd.DataFrame, column: str, what: str, **opts):
    hv = _hv()
    df = _need(df, [f"{column}_lo", f"{column}_hi", "count"], what)
    edges = np.append(df[f"{column}_lo"].to_numpy(), df[f"{column}_hi"].to_numpy()[-1:])
    return hv.Histogram((edges, df["count"].to_numpy()), kdims=column, vdims="count").opts(**opts)


def phase_angle_plot(df: pd.DataFrame, *, title: str = "Phase angle of identified objects"):
    """Fig. 7: histogram of :func:`satlab.trends.phase_angle_histogram`."""
    return _histogram_plot(
        df, "phase_angle_deg", "phase_angle_plot", title=title, xlabel="phase angle [deg]"
    )


def brightness_plot(df: pd.DataFrame, *, column: str = "flux", title: str = "Detected brightness"):
    """Fig. 8: :func:`satlab.trends.brightness_histogram` with its peak as a green line."""
    hv = _hv()
    hist = _histogram_plot(df, column, "brightness_plot", logx=True, xlabel=f"{column} [ADU]")
    peak = df.attrs.get("peak", np.nan)
    items = [hist]
    if np.isfinite(peak):
        items.append(hv.VLine(peak, label=f"peak {peak:.3g}").opts(color="green", line_width=2))
    return hv.Overlay(items).opts(title=title)


def magnitude_per_year_plot(df: pd.DataFrame, *, title: str = "Standard magnitude per year"):
    """Fig. 9: one step histogram per year of :func:`satlab.trends.magnitude_per_year`."""
    hv = _hv()
    df = _need(df, ["year", "mag_std_lo", "mag_std_hi", "count"], "magnitude_per_year_plot")
    curves = {
        int(year): hv.Histogram(
            (
                np.append(sub["mag_std_lo"].to_numpy(), sub["mag_std_hi"].to_numpy()[-1:]),
                sub["count"].to_numpy(),
            ),
            kdims="mag_std",
            vdims="count",
        ).opts(alpha=0.4)
        for year, sub in df.groupby("year")
    }
    return hv.NdOverlay(curves, kdims="year").opts(
        title=title, xlabel="standard magnitude [mag]", legend_position="top_right"
    )


def magnitude_over_time_plot(df: pd.DataFrame, *, title: str = "Standard magnitude over time"):
    """Fig. 10: standard magnitude against time (:func:`satlab.trends.magnitude_over_time`)."""
    hv = _hv()
    df = _need(df, ["time", "mag_std", "trend_mag"], "magnitude_over_time_plot")
    return hv.Overlay(
        [
            hv.Scatter(df, "time", "mag_std").opts(size=4, alpha=0.6, tools=["hover"]),
            hv.Curve(df, "time", "trend_mag").opts(color="gray", line_dash="dotted"),
        ]
    ).opts(title=title, invert_yaxis=True, ylabel="standard magnitude [mag]")


def magnitude_vs_launch_plot(df: pd.DataFrame, *, title: str = "Standard magnitude vs launch date"):
    """Fig. 11: standard magnitude against launch date with the trend and its band."""
    hv = _hv()
    cols = ["launch_date", "mag_std", "trend_mag", "trend_lo", "trend_hi"]
    df = _need(df, cols, "magnitude_vs_launch_plot")
    slope, err = df.attrs.get("slope_mag_per_year", np.nan), df.attrs.get("slope_err", np.nan)
    return hv.Overlay(
        [
            hv.Scatter(df, "launch_date", "mag_std").opts(size=4, alpha=0.6, tools=["hover"]),
            hv.Area(df, "launch_date", ["trend_lo", "trend_hi"]).opts(
                color="gray", alpha=0.2, line_alpha=0
            ),
            hv.Curve(df, "launch_date", "trend_mag", label=f"{slope:+.3f} ± {err:.3f} mag/yr")
            .opts(color="red"),
        ]
    ).opts(title=title, invert_yaxis=True, ylabel="standard magnitude [mag]")  # fmt: skip
