"""Trail geometry: line segments from trail masks, and the trail table every detector returns.

Convention (seed 001 eq. 1, the Hough normal form): a trail lies on the line

    rho = x cos(theta) + y sin(theta)

with ``x`` the column and ``y`` the row index of a pixel centre (pixel ``(0, 0)`` at the
origin), ``theta`` [deg] in ``[-90, 90)`` the angle of the line's normal from +x towards +y
and ``rho`` [px] the signed distance of the line from the origin. This is the convention of
:func:`skimage.transform.hough_line`, so Hough peaks map onto it unchanged.

``trails_from_mask`` turns a trail probability or mask ``(frame, y, x)`` into one row per
trail: connected components, a robust (RANSAC, then weighted total least squares) line fit
per component, and collinear fragments merged into one trail (seed 002 saw faint trails
break into pieces).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from .errors import InputError, SatlabWarning

__all__ = [
    "END_SOFT_PX",
    "MAX_BEND_PX",
    "MAX_LINE_ERR_PX",
    "TRAIL_COLUMNS",
    "TRAIL_UNITS",
    "distance_to_segment",
    "edge_distance",
    "empty_trails",
    "fit_segment",
    "line_from_points",
    "refine",
    "trail_footprint",
    "trail_table",
    "trails",
    "trails_from_mask",
]

# column -> dtype of the trail table (one row per trail)
TRAIL_COLUMNS = {
    "frame": "int64",
    "rho": "float64",
    "theta": "float64",
    "x0": "float64",
    "y0": "float64",
    "x1": "float64",
    "y1": "float64",
    "length_px": "float64",
    "width_px": "float64",
    "score": "float64",
    "method": "object",
}
TRAIL_UNITS = {
    "frame": "",
    "rho": "px",
    "theta": "deg",
    "x0": "px",
    "y0": "px",
    "x1": "px",
    "y1": "px",
    "length_px": "px",
    "width_px": "px",
    "score": "",
    "method": "",
}


def trail_table(rows: list[dict], *, method: str, params: dict | None = None) -> pd.DataFrame:
    """Typed trail table from row dicts; ``attrs`` carry units, method and parameters."""
    df = pd.DataFrame(rows, columns=list(TRAIL_COLUMNS)).astype(TRAIL_COLUMNS)
    df["method"] = method
    df.attrs["units"] = dict(TRAIL_UNITS)
    df.attrs["method"] = method
    df.attrs["params"] = dict(params or {})
    return df.sort_values(["frame", "score"], ascending=[True, False], ignore_index=True)


def empty_trails(*, method: str, reason: str, params: dict | None = None) -> pd.DataFrame:
    """The typed empty trail table plus a :class:`SatlabWarning` saying why."""
    warnings.warn(f"trails ({method}): no trail found; {reason}", SatlabWarning, stacklevel=3)
    return trail_table([], method=method, params=params)


def _wrap_line(theta_rad: float, rho: float) -> tuple[float, float]:
    """Bring (theta, rho) to theta in [-90, 90) deg, flipping the sign of rho if needed."""
    deg = np.degrees(theta_rad)
    if deg >= 90.0:
        deg, rho = deg - 180.0, -rho
    elif deg < -90.0:
        deg, rho = deg + 180.0, -rho
    return float(deg), float(rho)


def line_from_points(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float]:
    """``(rho [px], theta [deg])`` of the line through two points (module convention)."""
    d = np.array([x1 - x0, y1 - y0], float)
    if not np.hypot(*d) > 0:
        raise InputError(f"line_from_points: the two points coincide at ({x0}, {y0})")
    theta = np.arctan2(d[0], -d[1])  # normal = direction rotated by +90 deg
    return _wrap_line(theta, x0 * np.cos(theta) + y0 * np.sin(theta))[::-1]


def _pca_line(x, y, w):
    """Weighted total-least-squares line: centre, unit direction and unit normal."""
    w = w / w.sum()
    cx, cy = float(w @ x), float(w @ y)
    dx, dy = x - cx, y - cy
    cov = np.array([[w @ (dx * dx), w @ (dx * dy)], [w @ (dx * dy), w @ (dy * dy)]])
    _, vecs = np.linalg.eigh(cov)
    d = vecs[:, 1]  # largest eigenvalue: along the trail
    return np.array([cx, cy]), d, np.array([-d[1], d[0]])


def fit_segment(x, y, w, edge, *, seed: int) -> dict | None:
    """Robust segment fit to the pixels of one trail; ``None`` if too few inliers.

    RANSAC (skimage) first so that a star or hot pixel touching the mask does not tilt the
    line; the inliers are then refitted by weighted total least squares.

    Parameters
    ----------
    x, y : ndarray
        Column and row of the trail's pixels [px].
    w : ndarray
        Positive weight per pixel (probability, significance).
    edge : ndarray (y, x)
        :func:`edge_distance` of the footprint the trail was seen through [px].
    seed : int
        RANSAC seed.

    Returns
    -------
    dict or None
        ``rho, theta, x0, y0, x1, y1, length_px, width_px, score`` (module convention;
        ``score`` the mean weight) and ``_pix``, the inlier pixels.
    """
    from skimage.measure import LineModelND, ransac

    shape = edge.shape
    pts = np.column_stack([x, y])
    _, d, n = _pca_line(x, y, w)
    u = (pts - pts.mean(0)) @ n
    # a uniform strip of full width W has median |u| = W / 4: threshold at half the width
    half = max(1.5, 2.0 * float(np.median(np.abs(u))))
    if len(pts) > 3:
        _, inl = ransac(
            pts,
            LineModelND,
            min_samples=2,
            residual_threshold=half,
            max_trials=100,
            rng=seed,
        )
        if inl is None or inl.sum() < 3:
            return None
    else:
        inl = np.ones(len(pts), bool)
    # RANSAC's line may sit tilted inside a wide strip: refit on the inliers, then take back
    # every pixel within the refitted half width (plus a pixel), a few times
    for _ in range(3):
        c, d, n = _pca_line(x[inl], y[inl], w[inl])
        u = (pts - c) @ n
        width = float(np.sqrt(12.0 * np.average(u[inl] ** 2, weights=w[inl])))
        inl = np.abs(u) <= width / 2.0 + 1.0  # uniform strip of full width W: var = W^2/12
    x, y, w = x[inl], y[inl], w[inl]
    c, d, n = _pca_line(x, y, w)
    rel = np.column_stack([x, y]) - c
    t, u = rel @ d, rel @ n
    width = max(float(np.sqrt(12.0 * np.average(u**2, weights=w))), 1.0)
    t0, t1 = float(t.min()), float(t.max())
    ends = []
    for tt, inward in ((t0, 1.0), (t1, -1.0)):
        p = c + tt * d
        # a mask is the centre line widened by ~W/2 all round: step back to the centre line,
        # except where the mask runs off the footprint (it was cut there, not rounded)
        iy = int(np.clip(round(p[1]), 0, shape[0] - 1))
        ix = int(np.clip(round(p[0]), 0, shape[1] - 1))
        at_edge = edge[iy, ix] <= 1.5
        if not at_edge:
            tt = tt + inward * min(width / 2.0, (t1 - t0) / 2.0)
        ends.append(tt)
    # keep the centre line inside the image (a tilted strip's corner pixel reaches beyond)
    lo, hi = -np.inf, np.inf
    for ci, di, n_px in ((c[0], d[0], shape[1]), (c[1], d[1], shape[0])):
        if abs(di) > 1e-12:
            a, b = sorted(((0.0 - ci) / di, (n_px - 1.0 - ci) / di))
            lo, hi = max(lo, a), min(hi, b)
    ends = [c + float(np.clip(tt, lo, hi)) * d for tt in ends]
    theta = np.arctan2(n[1], n[0])
    deg, rho = _wrap_line(theta, float(c @ n))
    (x0, y0), (x1, y1) = ends
    return {
        "rho": rho,
        "theta": deg,
        "x0": float(x0),
        "y0": float(y0),
        "x1": float(x1),
        "y1": float(y1),
        "length_px": float(np.hypot(x1 - x0, y1 - y0)),
        "width_px": width,
        "score": float(np.average(w)),
        "_pix": (x, y, w),
    }


def _collinear(a: dict, b: dict, *, angle_tol_deg: float, dist_px: float) -> bool:
    dtheta = abs((a["theta"] - b["theta"] + 90.0) % 180.0 - 90.0)
    # a fragment's angle is known to about its width over its length: halves of a trail
    # on either side of a bright star differ by several degrees (up to 15 allowed; the
    # end-point test below is the real guard)
    short = min(a["length_px"], b["length_px"])
    wide = max(a["width_px"], b["width_px"])
    angle_tol_deg = max(angle_tol_deg, min(15.0, np.degrees(np.arctan2(wide, max(short, 1.0)))))
    if dtheta > angle_tol_deg:
        return False
    for p, q in ((a, b), (b, a)):
        th = np.radians(q["theta"])
        tol = max(dist_px, q["width_px"])
        for ex, ey in ((p["x0"], p["y0"]), (p["x1"], p["y1"])):
            if abs(ex * np.cos(th) + ey * np.sin(th) - q["rho"]) > tol:
                return False
    return True


def merge_collinear(segs: list[dict], edge, *, angle_tol_deg: float, dist_px: float, seed: int):
    """Merge segments lying on one line (pixels pooled, line refitted) until none is left.

    A merged segment keeps the higher ``score`` of the two: a detector's score (votes,
    a sinogram peak) is not the refitted segment's mean pixel weight."""
    segs = list(segs)
    merged = True
    while merged:
        merged = False
        for i in range(len(segs)):
            for j in range(i + 1, len(segs)):
                if _collinear(segs[i], segs[j], angle_tol_deg=angle_tol_deg, dist_px=dist_px):
                    pix = [
                        np.concatenate(v)
                        for v in zip(segs[i]["_pix"], segs[j]["_pix"], strict=True)
                    ]
                    fit = fit_segment(*pix, edge, seed=seed)
                    if fit is None:
                        continue
                    fit["score"] = max(segs[i]["score"], segs[j]["score"])
                    segs[i] = fit
                    del segs[j]
                    merged = True
                    break
            if merged:
                break
    return segs


def _inside(small: dict, big: dict, *, dist_px: float) -> bool:
    """Does segment ``small`` lie within ``big``'s band: both ends within its width of
    its line, and between its ends (give or take a width)?"""
    if small["length_px"] >= big["length_px"]:
        return False
    th = np.radians(big["theta"])
    n, u = (np.cos(th), np.sin(th)), (-np.sin(th), np.cos(th))
    tol = max(dist_px, big["width_px"])
    t_big = sorted(big[f"x{k}"] * u[0] + big[f"y{k}"] * u[1] for k in (0, 1))
    for k in (0, 1):
        x, y = small[f"x{k}"], small[f"y{k}"]
        if abs(x * n[0] + y * n[1] - big["rho"]) > tol:
            return False
        if not t_big[0] - tol <= x * u[0] + y * u[1] <= t_big[1] + tol:
            return False
    return True


def drop_contained(segs: list[dict], *, dist_px: float) -> list[dict]:
    """Drop segments lying inside a longer one's band (see :func:`_inside`).

    A threshold can cut a wide trail's mask into its core and thin slivers along its
    edges (a few px off the core's line and a few degrees off its angle, as short
    fragments' angles are); they are the same trail, not trails of their own.
    """
    return [
        s for i, s in enumerate(segs)
        if not any(j != i and _inside(s, o, dist_px=dist_px) for j, o in enumerate(segs))
    ]  # fmt: skip


def _as_prob(prob) -> xr.DataArray:
    if isinstance(prob, xr.Dataset):
        if "trail_prob" not in prob:
            raise InputError(
                f"trail probability: expected a 'trail_prob' variable, found {sorted(prob)}"
            )
        prob = prob["trail_prob"]
    if not isinstance(prob, xr.DataArray):
        prob = np.asarray(prob)
        dims = ("y", "x") if prob.ndim == 2 else ("frame", "y", "x")
        if prob.ndim not in (2, 3):
            raise InputError(
                f"trail probability: expected (y, x) or (frame, y, x), got shape {prob.shape}"
            )
        prob = xr.DataArray(prob, dims=dims)
    if prob.ndim == 2:
        prob = prob.expand_dims("frame")
    if set(prob.dims) != {"frame", "y", "x"}:
        raise InputError(f"trail probability: expected dims (frame, y, x), got {prob.dims}")
    return prob.transpose("frame", "y", "x")


def distance_to_segment(xx, yy, a, b) -> np.ndarray:
    """Distance [px] of the points ``(xx, yy)`` to the segment from ``a`` to ``b`` (x, y)."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    l2 = dx * dx + dy * dy
    t = np.clip(((xx - ax) * dx + (yy - ay) * dy) / l2, 0.0, 1.0) if l2 > 0 else 0.0
    return np.hypot(xx - ax - t * dx, yy - ay - t * dy)


def edge_distance(valid) -> np.ndarray:
    """Distance [px] of each pixel to the nearest pixel outside ``valid`` or the image."""
    from scipy import ndimage

    return ndimage.distance_transform_edt(np.pad(np.asarray(valid, bool), 1))[1:-1, 1:-1]


def _component_segments(mask, weight, edge, *, min_pixels: int, seed: int) -> list[dict]:
    """Line segments of the connected components of ``mask``.

    Pixels a fit leaves out (a crossing trail, a star touching the trail) are labelled
    again and fitted in turn, so two trails crossing in one component give two segments.
    """
    from scipy import ndimage

    todo = [mask]
    segs = []
    while todo:
        labels, _ = ndimage.label(todo.pop(), structure=np.ones((3, 3)))
        for idx, sl in enumerate(ndimage.find_objects(labels), start=1):
            yy, xx = np.nonzero(labels[sl] == idx)
            if yy.size < min_pixels:
                continue
            y, x = yy + sl[0].start, xx + sl[1].start
            fit = fit_segment(x.astype(float), y.astype(float), weight[y, x], edge, seed=seed)
            if fit is None:
                continue
            segs.append(fit)
            # what the fitted strip explains (its own fringe included) is done; the rest
            # (a crossing trail, a star) is labelled again
            th = np.radians(fit["theta"])
            u = x * np.cos(th) + y * np.sin(th) - fit["rho"]
            t = -x * np.sin(th) + y * np.cos(th)
            ends = [-ex * np.sin(th) + ey * np.cos(th) for ex, ey in _ends(fit)]
            reach = fit["width_px"]
            explained = (np.abs(u) <= fit["width_px"] / 2.0 + 2.0) & (
                (t >= min(ends) - reach) & (t <= max(ends) + reach)
            )
            rest = np.zeros(mask.shape, bool)
            rest[y[~explained], x[~explained]] = True
            if rest.sum() >= min_pixels:
                todo.append(rest)
    return segs


def _ends(fit: dict):
    return (fit["x0"], fit["y0"]), (fit["x1"], fit["y1"])


def frame_index(da: xr.DataArray | xr.Dataset) -> np.ndarray:
    """Integer ``frame`` labels for a trail table: the input's coordinate, else 0..n-1."""
    if "frame" in da.coords and np.asarray(da["frame"]).dtype.kind in "iu":
        return np.asarray(da["frame"].values, dtype=np.int64)
    return np.arange(da.sizes["frame"], dtype=np.int64)


def trails_from_mask(
    prob,
    *,
    threshold: float = 0.5,
    low: float | None = None,
    valid=None,
    min_pixels: int = 30,
    min_length_px: float = 20.0,
    min_elongation: float = 3.0,
    angle_tol_deg: float = 3.0,
    merge_dist_px: float = 5.0,
    seed: int = 0,
    method: str = "mask",
) -> pd.DataFrame:
    """One row per trail from a trail probability or mask cube.

    Parameters
    ----------
    prob : xarray.DataArray, xarray.Dataset or array
        ``trail_prob (frame, y, x)`` in [0, 1] (from :func:`satlab.detect.segment`), a
        boolean mask, or a Dataset holding ``trail_prob``; a ``(y, x)`` image is one frame.
    threshold : float
        Pixels with ``prob >= threshold`` belong to a trail.
    low : float, optional
        Hysteresis: pixels with ``prob >= low`` join a trail when connected to one at or
        above ``threshold`` (:func:`skimage.filters.apply_hysteresis_threshold`). A faint
        trail's probability sags below ``threshold`` along stretches; without this the
        trail breaks into short pieces that fail the length and elongation cuts.
    valid : array-like of bool (y, x), optional
        Footprint the probabilities were measured in (default: the Dataset's ``valid``,
        else the whole image). Where a trail runs out of it, its endpoint stays at the
        footprint edge instead of being moved half a width inwards.
    min_pixels : int
        Smaller connected components are ignored [px].
    min_length_px, min_elongation : float
        A fitted trail shorter than ``min_length_px`` [px] or with ``length / width`` below
        ``min_elongation`` (a star, a blob) is dropped.
    angle_tol_deg, merge_dist_px : float
        Fragments whose angles differ by less than ``angle_tol_deg`` [deg] (or, for short
        fragments, than their width over length allows, up to 15 deg) and whose
        endpoints lie within ``max(merge_dist_px, width)`` [px] of each other's line are
        merged into one trail; a shorter fragment lying within a trail's width of its line
        and between its ends is a sliver of it and is dropped.
    seed : int
        Seed of the RANSAC line fit.
    method : str
        Written to the ``method`` column.

    Returns
    -------
    pandas.DataFrame
        Columns ``frame, rho, theta, x0, y0, x1, y1, length_px, width_px, score, method``
        (units in ``attrs["units"]``; see the module docstring for the convention).
        ``frame`` is the input's ``frame`` coordinate; ``score`` is the mean probability of
        the trail's pixels. No trail: the empty table and a :class:`SatlabWarning`.
    """

    from skimage.filters import apply_hysteresis_threshold

    if not 0.0 < threshold <= 1.0:
        raise InputError(f"threshold: expected a probability in (0, 1], got {threshold}")
    if low is not None and not 0.0 < low <= threshold:
        raise InputError(f"low: expected a probability in (0, threshold={threshold}], got {low}")
    if valid is None and isinstance(prob, xr.Dataset) and "valid" in prob:
        valid = prob["valid"].values
    da = _as_prob(prob)
    frame_ids = frame_index(da)
    shape = (da.sizes["y"], da.sizes["x"])
    valid = np.ones(shape, bool) if valid is None else np.asarray(valid, bool)
    if valid.shape != shape:
        raise InputError(f"valid: expected the (y, x) shape {shape} of the probabilities")
    edge = edge_distance(valid)
    params = {
        "threshold": threshold,
        "low": low,
        "min_pixels": min_pixels,
        "min_length_px": min_length_px,
        "min_elongation": min_elongation,
        "angle_tol_deg": angle_tol_deg,
        "merge_dist_px": merge_dist_px,
        "seed": seed,
    }
    rows = []
    for k in range(da.sizes["frame"]):
        p = np.asarray(da[k].values, dtype=np.float64)
        p = np.where(np.isfinite(p), p, 0.0)
        mask = p >= threshold if low is None else apply_hysteresis_threshold(p, low, threshold)
        segs = _component_segments(mask, p, edge, min_pixels=min_pixels, seed=seed)
        segs = merge_collinear(
            segs, edge, angle_tol_deg=angle_tol_deg, dist_px=merge_dist_px, seed=seed
        )
        segs = drop_contained(segs, dist_px=merge_dist_px)
        for s in segs:
            if s["length_px"] < min_length_px or s["length_px"] < min_elongation * s["width_px"]:
                continue
            s.pop("_pix")
            rows.append({"frame": frame_ids[k], **s})
    if not rows:
        return empty_trails(
            method=method,
            reason=f"no elongated component with probability >= {threshold}",
            params=params,
        )
    return trail_table(rows, method=method, params=params)


METHODS = ("unet", "hough", "radon", "findsat")


def trails(
    frames_or_prob,
    *,
    method: str = "unet",
    threshold: float | None = None,
    min_length_px: float = 20.0,
    model: str = "trail-unet",
    device: str = "auto",
    seed: int = 0,
    **options,
) -> pd.DataFrame:
    """Trail parameters, one row per trail, from a trail probability or from frames.

    Parameters
    ----------
    frames_or_prob : frames-like, or trail probability
        With ``method="unet"``: ``trail_prob (frame, y, x)`` (a DataArray named
        ``trail_prob``, a Dataset holding it, or a boolean mask), or frames, which are
        segmented first by :func:`satlab.detect.segment`. Other methods take frames
        (anything :func:`satlab.as_frames` accepts).
    method : {"unet", "hough", "radon", "findsat"}
        ``unet``: components of the segmentation (:func:`trails_from_mask`); ``hough`` /
        ``radon``: the classic detectors of :mod:`satlab.classic`; ``findsat``:
        ``acstools.findsat_mrt`` (optional package).
    threshold : float, optional
        ``unet``: pixel probability (default 0.5, with hysteresis down to ``low=0.3``,
        see :func:`trails_from_mask`); ``hough``: binarisation level [sigma]
        (default 3); ``radon`` and ``findsat``: peak significance [sigma] (default 5).
    min_length_px : float
        Shorter trails are dropped [px] (``unet``, ``hough`` and ``radon``).
    model, device : str
        Segmentation model and torch device when frames are given to ``unet``.
    seed : int
        Seed of the RANSAC line fits.
    **options
        Passed to the detector (:func:`trails_from_mask`,
        :func:`satlab.classic.hough_trails`, :func:`satlab.classic.radon_trails`).

    Returns
    -------
    pandas.DataFrame
        ``frame, rho, theta, x0, y0, x1, y1, length_px, width_px, score, method``; ``rho``
        [px] and ``theta`` [deg] follow ``rho = x cos(theta) + y sin(theta)`` (seed 001
        eq. 1, pixel-centre coordinates, see :mod:`satlab.lines`); units in
        ``attrs["units"]``, parameters in ``attrs["params"]``. Nothing found: the typed
        empty table and a :class:`SatlabWarning`.

    Examples
    --------
    >>> prob = satlab.detect.segment(frames)                    # doctest: +SKIP
    >>> satlab.detect.trails(prob)                              # doctest: +SKIP
    >>> satlab.detect.trails(frames, method="hough")            # doctest: +SKIP
    """
    from . import classic

    if method not in METHODS:
        raise InputError(f"method: expected one of {METHODS}, got {method!r}")
    if method == "unet":
        if _is_prob(frames_or_prob):
            prob = frames_or_prob
        else:
            from .detect import segment
            from .frames import as_frames

            frames = as_frames(frames_or_prob)
            prob = segment(frames, model=model, device=device)
            options.setdefault("valid", frames["valid"].values)
        threshold = 0.5 if threshold is None else threshold
        # hysteresis down to 0.3 (at most the threshold): on the sample archive's
        # classifier-flagged frames, 35 of 42 trails found instead of 26
        options.setdefault("low", min(0.3, threshold))
        return trails_from_mask(
            prob,
            threshold=threshold,
            min_length_px=min_length_px,
            seed=seed,
            method="unet",
            **options,
        )
    if _is_prob(frames_or_prob):
        raise InputError(
            f"method={method!r}: expected frames (flux), got a trail probability; "
            "classic detectors run on the images"
        )
    if method == "hough":
        return classic.hough_trails(
            frames_or_prob,
            threshold=3.0 if threshold is None else threshold,
            min_length_px=min_length_px,
            seed=seed,
            **options,
        )
    if method == "radon":
        return classic.radon_trails(
            frames_or_prob,
            threshold=5.0 if threshold is None else threshold,
            min_length_px=min_length_px,
            seed=seed,
            **options,
        )
    return classic.findsat_trails(
        frames_or_prob, threshold=5.0 if threshold is None else threshold, seed=seed, **options
    )


def _is_prob(obj) -> bool:
    """A trail probability / mask rather than frames."""
    if isinstance(obj, xr.Dataset):
        return "trail_prob" in obj and "flux" not in obj
    if isinstance(obj, xr.DataArray):
        # segment()'s output keeps its units when a user renames it
        return (
            obj.name == "trail_prob"
            or obj.attrs.get("units") == "probability"
            or obj.dtype.kind == "b"
        )
    return getattr(getattr(obj, "dtype", None), "kind", "") == "b"


def _check_bands(trails_table: pd.DataFrame) -> None:
    missing = {"frame", "x0", "y0", "x1", "y1", "width_px", "score"} - set(trails_table)
    if missing:
        raise InputError(f"trails_table: expected trail-table columns, missing {sorted(missing)}")


def _box(a, b, reach: float, shape) -> tuple[int, int, int, int]:
    """Rows ``y0:y1`` and columns ``x0:x1`` within ``reach`` [px] of segment ``a``-``b``."""
    ny, nx = shape
    return (max(0, int(np.floor(min(a[1], b[1]) - reach))),
            min(ny, int(np.ceil(max(a[1], b[1]) + reach)) + 1),
            max(0, int(np.floor(min(a[0], b[0]) - reach))),
            min(nx, int(np.ceil(max(a[0], b[0]) + reach)) + 1))  # fmt: skip


def trail_footprint(trails_table: pd.DataFrame, like, *, soft_px: float = 0.5) -> xr.DataArray:
    """Pixels inside each trail's fitted band: the trails drawn back onto the frames.

    A trail covers the pixels within ``width_px / 2`` of its segment (a stadium: seed
    002's mask is the path widened by the PSF FWHM). Each pixel gets the highest, over its
    frame's trails, of ``score * logistic((width_px / 2 - d) / soft_px)``, ``d`` [px] its
    distance to the segment, so the band's edge is as sharp as the line fit.

    Parameters
    ----------
    trails_table : pandas.DataFrame
        A trail table (:func:`trails`); its ``frame`` values are labels of ``like``'s
        ``frame`` coordinate (or positions when ``like`` has none). A ``soft_px`` column,
        if present, gives each trail its own edge width (:func:`refine` widens the edge
        of a trail whose line is less certain); ``end0_soft_px`` / ``end1_soft_px``, if
        present, fade the band towards the end ``(x0, y0)`` / ``(x1, y1)``: it is
        multiplied by ``logistic(u / end_soft)``, ``u`` [px] the distance from that end
        along the trail, inwards (NaN: the band keeps its round cap there).
    like : xarray.DataArray or xarray.Dataset
        Anything with ``frame, y, x`` dims giving the output's shape and coords (the
        frames, or their ``trail_prob``).
    soft_px : float
        Width [px] of the band's logistic edge (trails without their own).

    Returns
    -------
    xarray.DataArray
        ``trail_footprint`` (``frame, y, x``), float32 in [0, 1]: 0 away from every trail.
    """
    from scipy.special import expit

    if not soft_px > 0:
        raise InputError(f"soft_px: expected a positive width in px, got {soft_px!r}")
    _check_bands(trails_table)
    soft = np.full(len(trails_table), float(soft_px))
    if "soft_px" in trails_table:
        soft = trails_table["soft_px"].to_numpy(float)
        if not (soft > 0).all():
            raise InputError("trails_table: column soft_px: expected positive widths in px")
    fades = []
    for col in ("end0_soft_px", "end1_soft_px"):
        fade = np.full(len(trails_table), np.nan)
        if col in trails_table:
            fade = trails_table[col].to_numpy(float)
            if (fade <= 0).any() or np.isinf(fade).any():
                raise InputError(
                    f"trails_table: column {col}: expected positive widths in px or NaN"
                )
        fades.append(fade)
    da = like["flux"] if isinstance(like, xr.Dataset) and "flux" in like else _as_prob(like)
    if set(da.dims) != {"frame", "y", "x"}:
        raise InputError(f"like: expected dims (frame, y, x), got {da.dims}")
    da = da.transpose("frame", "y", "x")
    ny, nx = da.sizes["y"], da.sizes["x"]
    out = np.zeros((da.sizes["frame"], ny, nx), np.float32)
    where = {f: k for k, f in enumerate(frame_index(da))}
    unknown = sorted(set(trails_table["frame"]) - set(where))
    if unknown:
        raise InputError(f"trails_table: frame(s) {unknown[:10]} are not frames of 'like'")
    for t, s, f0, f1 in zip(trails_table.itertuples(), soft, *fades, strict=True):
        a, b = np.array([t.x0, t.y0]), np.array([t.x1, t.y1])
        # only the band's bounding box, edge included, is computed
        y0, y1, x0, x1 = _box(a, b, t.width_px / 2 + 10 * s, (ny, nx))
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        d = distance_to_segment(xx, yy, a, b)
        band = t.score * expit((t.width_px / 2 - d) / s)
        length = np.hypot(*(b - a))
        for end, inward, fade in ((a, b - a, f0), (b, a - b, f1)):
            if np.isfinite(fade) and length > 0:
                u = ((xx - end[0]) * inward[0] + (yy - end[1]) * inward[1]) / length
                band = band * expit(u / fade)
        k = where[t.frame]
        np.maximum(out[k, y0:y1, x0:x1], band, out=out[k, y0:y1, x0:x1])
    coords = {c: v for c, v in da.coords.items() if set(v.dims) <= {"frame", "y", "x"}}
    res = xr.DataArray(out, dims=("frame", "y", "x"), coords=coords, name="trail_footprint")
    res.attrs = {"soft_px": float(soft_px), "units": "probability"}
    return res


def refine(
    prob,
    trails_table: pd.DataFrame | None = None,
    *,
    frames=None,
    weight: float = 0.5,
    soft_px: float = 0.5,
    width_px: float | None = None,
    seed: int = 0,
    **options,
) -> xr.DataArray:
    """Sharpen a trail probability with its trails' fitted lines.

    A network's probability blurs over the few px where a trail's band ends, while a line
    fitted to the whole trail locates that edge to a fraction of a px. The refined
    probability is ``(1 - weight) * prob + weight * footprint``, with ``footprint`` the
    fitted bands (:func:`trail_footprint`): pixels of a fitted trail's band rise, pixels
    outside every band keep at most ``1 - weight``. A band whose probability lies a
    median of more than :data:`MAX_BEND_PX` off its straight line counts half: trails
    are straight, and a network bends its band where it is confused. A band fades over
    :data:`END_SOFT_PX` towards an end that lies inside the footprint: the network
    often draws a trail past such an end, and the fits keep the network's ends.

    Parameters
    ----------
    prob : xarray.DataArray
        ``trail_prob (frame, y, x)`` from :func:`satlab.detect.segment`.
    trails_table : pandas.DataFrame, optional
        Trails found in ``prob``; default ``trails(prob, seed=seed, **options)``.
    frames : frames-like, optional
        The frames ``prob`` was computed from. Each trail's centre line and ends are then
        measured again on the image, by the line-spread fit of
        :func:`satlab.photometry.trail_photometry` (about 0.3 s per CHEOPS trail here;
        the band's width: see ``width_px``), with ``free_ends``: an end the network
        draws on to the footprint edge is fitted too when the light stops short of it.
        The band's edge softens by half the fit's line-position error ``offset_err`` (added
        in quadrature to ``soft_px``) and moves in by that error on either side: the band
        keeps the pixels sure to be on the trail. A trail whose fit places its line no
        better than :data:`MAX_LINE_ERR_PX` keeps the network's line, its edge softened by
        half that and moved in by it; one whose fit fails (too few background pixels among
        galaxies, say) keeps the network's line and edge. On satlab's simulated CHEOPS
        frames the image fit places a S/N 10-30 trail's line within a median 0.10 px of the
        truth, against 0.61 px for the network's. Before bent bands counted half, the pixel
        TPR at 1e-5 FPR of ``satlab evaluate trail-unet --n 300`` rose from 67.2 to 69.9 %
        and its precision at 90 % recall from 98.68 to 98.95 % (other sets of 300 frames
        without hard negatives, seeds 1234 and 5678: TPR 61.3 to 65.6 % and 42.4 to
        49.7 %).
    weight : float
        Share of the fitted bands, in [0, 1].
    soft_px : float
        Width [px] of a band's logistic edge.
    width_px : float, optional
        Width [px] of every band. Default: seed 002's mask width, the PSF FWHM, when
        ``frames`` give it (``attrs["psf_fwhm"]``, or an ``attrs["instrument"]`` whose
        satlab preset has a fixed PSF: CHEOPS, 24.4 px, see
        :func:`satlab.simulate.fixed_psf`); else each trail's fitted width, which
        scatters by 3 px around it on CHEOPS frames.
    seed : int
        Seed of the RANSAC line fits when ``trails_table`` is not given.
    **options
        Passed to :func:`trails` when ``trails_table`` is not given; its hysteresis
        ``low`` defaults to 0.15 here (0.3 in :func:`trails`). A trail that no line fits
        keeps at most ``1 - weight`` of its probability, below the fitted bands. On 16
        CHEOPS-like 1032x768 frames, 0.3 left unfitted a S/N 39 trail along the detector
        columns, which the UNet scores about 0.2 (like read-out smear). 0.15 fits it and
        raises the precision at 90 % pixel recall from 82.9 to 90.0 %.

    Returns
    -------
    xarray.DataArray
        ``trail_prob`` like ``prob`` (NaN where it is NaN), with attrs ``refine_weight``,
        ``refine_soft_px``, ``refine_on_image`` (whether ``frames`` were used) and
        ``refine_width_px`` (NaN: the fitted widths) added.
    """
    if not 0.0 <= weight <= 1.0:
        raise InputError(f"weight: expected a share in [0, 1], got {weight!r}")
    if not soft_px > 0:
        raise InputError(f"soft_px: expected a positive width in px, got {soft_px!r}")
    if frames is not None:
        from .frames import as_frames

        frames = as_frames(frames)
        if width_px is None:
            width_px = _mask_width(frames.attrs)
    if width_px is not None and not (np.isfinite(width_px) and width_px > 0):
        raise InputError(f"width_px: expected a positive width in px, got {width_px!r}")
    da = _as_prob(prob)
    # the footprint the probabilities were measured in: trail ends at its edge stay there
    valid = np.isfinite(da.values).any(axis=0)
    if trails_table is None:
        options.setdefault("valid", valid)
        options.setdefault("low", min(0.15, options.get("threshold") or 0.5))
        with warnings.catch_warnings():
            # a frame without trails keeps its probabilities (times 1 - weight)
            warnings.simplefilter("ignore", SatlabWarning)
            trails_table = trails(da.rename("trail_prob"), seed=seed, **options)
    _check_bands(trails_table)
    if frames is not None:
        trails_table = _lines_on_image(trails_table, frames, da)
    # a band that strays from its straight line is the network's confusion, not a trail
    bent = _bend_px(trails_table, da) > MAX_BEND_PX
    trails_table = trails_table.assign(score=np.where(bent, 0.5, 1.0) * trails_table["score"])
    if width_px is not None:
        trails_table = trails_table.assign(width_px=float(width_px))
    if frames is not None:
        # a band's edge softens by half its line's error, and lies within that error of
        # the trail's on either side: the band keeps the pixels it is sure of. Moving the
        # edge in raised the refined pixel TPR at 1e-5 FPR of `satlab evaluate trail-unet`
        # from 76.2 to 76.8 % (--n 300) and 62.5 to 64.9 % (--n 1000); precision at 90 %
        # recall fell from 99.27 to 99.01 % and 98.50 to 97.99 %. Moving in by half the
        # error gained less TPR on three of four sets (scripted: +1.0-1.3 points against
        # +1.1-2.6) and kept the precision
        err = trails_table["line_err_px"]
        trails_table = trails_table.assign(
            soft_px=np.hypot(soft_px, err / 2),
            width_px=np.maximum(trails_table["width_px"] - 2 * err, 1.0),
        )
    foot = trail_footprint(_fade_inner_ends(trails_table, valid), da, soft_px=soft_px)
    out = ((1.0 - weight) * da + weight * foot.values).astype(np.float32)
    out.name = "trail_prob"
    out.attrs = {
        **da.attrs,
        "refine_weight": float(weight),
        "refine_soft_px": float(soft_px),
        "refine_on_image": int(frames is not None),
        "refine_width_px": np.nan if width_px is None else float(width_px),
    }
    return out


# refine() fades a band over this length [px] towards an end more than END_EDGE_PX inside
# the footprint: only 4 % of simulated CHEOPS trail ends lie inside the frame, and the
# UNet draws 17 of 39 such ends more than 5 px too far (on `satlab evaluate trail-unet
# --n 1000`); at the 1e-5 FPR threshold of the 300-frame set, 50 of its 88 false pixels
# lay in two such overshoots (16 and 28 px). With the bands as wide as the PSF FWHM, the
# fade raised the refined pixel TPR at 1e-5 FPR on four sets of simulated CHEOPS frames
# (evaluation seeds, 300 and 1000 frames; seeds 1234 and 5678, 300 frames without hard
# negatives) from 71.8, 65.6, 67.3, 49.8 % to 73.1, 65.6, 70.9, 49.6 %; 2 px instead of 5
# gave 73.2, 65.6, 69.2, 49.8 %.
END_SOFT_PX = 5.0
END_EDGE_PX = 3.0


def _mask_width(attrs: dict) -> float | None:
    """Seed 002's trail-mask width [px], the PSF FWHM, when the frames' attrs give it."""
    from .simulate.presets import fixed_psf

    if attrs.get("psf_fwhm") is not None:
        return float(attrs["psf_fwhm"])
    psf = fixed_psf(str(attrs["instrument"])) if attrs.get("instrument") else None
    return None if psf is None else float(psf.fwhm_px)


def _fade_inner_ends(table: pd.DataFrame, valid: np.ndarray) -> pd.DataFrame:
    """``table`` with ``end0_soft_px`` / ``end1_soft_px``: END_SOFT_PX at its ends more
    than END_EDGE_PX inside the footprint ``valid`` (y, x), NaN at the others."""
    edge = edge_distance(valid)
    ny, nx = valid.shape
    out = table.copy()
    for k, (xc, yc) in enumerate((("x0", "y0"), ("x1", "y1"))):
        ix = np.clip(np.round(table[xc].to_numpy(float)), 0, nx - 1).astype(int)
        iy = np.clip(np.round(table[yc].to_numpy(float)), 0, ny - 1).astype(int)
        out[f"end{k}_soft_px"] = np.where(edge[iy, ix] > END_EDGE_PX, END_SOFT_PX, np.nan)
    return out


# A band whose centre lies a median of more than this [px] off its fitted straight line,
# over its BEND_BIN_PX stretches, counts half in refine(). Trails are straight to within
# the telescope's jitter (up to 2 px in satlab's simulator: a median offset under 1.3
# px); the UNet bends its band where it is confused, e.g. along a S/N 0.2 trail, whose
# curved band held 129 of the 293 false pixels that 1e-5 FPR allows on `satlab evaluate
# trail-unet --n 1000`. The median ignores the few stretches another trail crosses. On
# the evaluation sets of 300 and 1000 frames and seeds 1234 and 5678 (300 frames, no hard
# negatives) the pixel TPR at 1e-5 FPR went from 69.9, 59.5, 65.6, 49.7 % to 71.2, 65.1,
# 65.7, 49.7 %.
# The largest offset instead of the median also halved two bright trails of 1032x768
# frames crossed by another (refined TPR 89.7 -> 83.7 %).
MAX_BEND_PX = 3.0
BEND_BIN_PX = 20.0


def _bend_px(table: pd.DataFrame, prob: xr.DataArray) -> np.ndarray:
    """Median offset [px] of each trail's probability band from its line, per stretch.

    The band's centre in each ``BEND_BIN_PX`` stretch along the segment is the mean
    offset across it, weighted by the squared probability within ``width_px / 2 + 10``
    px; stretches holding under 30 % of a full band's weight are skipped.
    """
    values = prob.transpose("frame", "y", "x").values
    ny, nx = values.shape[1:]
    where = {f: k for k, f in enumerate(frame_index(prob))}
    bend = np.zeros(len(table))
    for i, t in enumerate(table.itertuples()):
        a, b = np.array([t.x0, t.y0]), np.array([t.x1, t.y1])
        length = float(np.hypot(*(b - a)))
        if length < 2 * BEND_BIN_PX:
            continue
        along = (b - a) / length
        reach = t.width_px / 2 + 10
        y0, y1, x0, x1 = _box(a, b, reach, (ny, nx))
        yy, xx = np.mgrid[y0:y1, x0:x1]
        tt = (xx - a[0]) * along[0] + (yy - a[1]) * along[1]
        uu = (yy - a[1]) * along[0] - (xx - a[0]) * along[1]
        p = values[where[t.frame], y0:y1, x0:x1]
        ok = np.isfinite(p) & (np.abs(uu) < reach) & (tt >= 0) & (tt <= length)
        w = np.clip(p[ok], 0, 1) ** 2
        k = (tt[ok] // BEND_BIN_PX).astype(int)
        mass = np.bincount(k, w)
        moment = np.bincount(k, w * uu[ok])
        full = mass > 0.3 * BEND_BIN_PX * t.width_px
        if full.any():
            bend[i] = np.median(np.abs(moment[full] / mass[full]))
    return bend


# A line the image fit places no better than this [px] (``offset_err``, its rms error
# across the trail) is left to the network: taking such lines too lowered the pixel TPR
# at 1e-5 FPR of the n 300 evaluation set (lines up to 5 px: 64.0 % against 68.6 %, both
# with 0.5-px edges, when the gate was ``rho_err``, the error at the frame origin, which
# also grows with the trail's distance from it).
MAX_LINE_ERR_PX = 2.0


def _lines_on_image(table: pd.DataFrame, ds: xr.Dataset, prob: xr.DataArray):
    """``table`` with each trail's line and ends from the frames ``ds`` (:func:`as_frames`'
    output) and the line's position error ``line_err_px`` (the fit's ``offset_err``, at
    most MAX_LINE_ERR_PX; 0 where the fit failed)."""
    from .photometry import trail_photometry

    want = {d: prob.sizes[d] for d in ("frame", "y", "x")}
    got = {d: ds.sizes.get(d) for d in want}
    if got != want:
        raise InputError(f"frames: expected the frames of prob, sizes {want}; got {got}")
    out = table.reset_index(drop=True).copy()
    err = np.zeros(len(out))
    if len(out):
        ph = trail_photometry(ds, out, free_ends=True).set_index("trail").reindex(range(len(out)))
        ends = ["x0", "y0", "x1", "y1"]
        geometry = [*ends, "rho", "theta", "length_px"]
        # a fit whose ends met (the fitted line misses the footprint) failed too
        fitted = np.isfinite(ph[geometry]).all(axis=1).to_numpy() & (ph["length_px"] > 0)
        line_err = np.where(fitted, ph["offset_err"], np.nan)
        ok = line_err < MAX_LINE_ERR_PX
        out.loc[ok, geometry] = ph.loc[ok, geometry].to_numpy()
        # a fit that failed (a crowded background, e.g. galaxies) says nothing of the
        # network's line: its edge stays; one that placed the line poorly moves it
        err = np.where(np.isfinite(line_err), np.minimum(line_err, MAX_LINE_ERR_PX), 0.0)
    out["line_err_px"] = err
    return out
