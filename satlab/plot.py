"""Interactive plots (holoviews + bokeh) of satlab's tables.

holoviews loads inside each function, so ``import satlab.plot`` stays light; call
``hv.extension("bokeh")`` in a notebook (or save with :func:`holoviews.save`) to render.
"""

from __future__ import annotations

import pandas as pd

from .errors import InputError

__all__ = ["pr_plot", "roc_plot"]


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
