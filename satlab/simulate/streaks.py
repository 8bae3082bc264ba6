"""Pixel-exact satellite streaks (seed 002 §2.2.4, the third, "pixel perfect" approach).

The unitary streak from A to B is the rectangle of length ``|AB| + 1`` and width 1 centred
on the segment; each pixel receives the exact area of its intersection with that
rectangle, and the result is then convolved with the PSF. Sub-pixel shifts and rotations
below ``arctan(1 / length)`` therefore change the image, which the "line perfect" approach
could not do.

Pixel convention (the one of :mod:`satlab.lines`): pixel ``(row i, column j)`` is the unit
square centred on ``(x=j, y=i)``; endpoints are given in that frame.

Beyond orbitAI (its §2.5 "future improvements"): flux variation along the trail
(scintillation, tumbling) as a brightness ``profile``, a wavy path (``jitter_px``), and
streaks that cross the border lose the flux that falls outside. The path is cut into
pieces of at most :data:`PIECE_PX` pixels; each piece is its own rectangle, the first and
last extended by half a pixel, so a straight streak is partitioned exactly.

Speed (the simulator renders hundreds of frames per second): a straight streak is one
rectangle, visited column by column along its major axis (a few pixels per column). A
pixel wholly between the two end lines gets the area of its square between the two long
sides in closed form (the distribution of ``q . n`` over a unit square is a trapezoid);
only the few pixels cut by an end line take the exact polygon overlap. With a brightness
profile, each pixel takes the weight of the piece that holds its centre.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = [
    "PIECE_PX",
    "render_segments",
    "render_streak",
    "streak_area",
    "streak_mask",
    "streak_path",
]

PIECE_PX = 4.0


def streak_path(
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    *,
    jitter_px: float = 0.0,
    jitter_period_px: float = 20.0,
    jitter_phase: float = 0.0,
) -> np.ndarray:
    """Vertices ``(m, 2)`` of the streak path (x, y) [px], straight or wavy.

    The wavy path (telescope jitter, seed 002 §2.5) is displaced perpendicular to AB by
    ``jitter_px * sin(2 pi s / jitter_period_px + jitter_phase)``, ``s`` the distance
    from A; both endpoints stay on the path's straight line only when the sine vanishes.
    """
    length = float(np.hypot(x1 - x0, y1 - y0))
    n_pieces = max(1, int(np.ceil(length / PIECE_PX)))
    if jitter_px:
        if jitter_period_px <= 0:
            raise InputError(f"jitter_period_px: expected > 0 px, got {jitter_period_px}")
        n_pieces = max(n_pieces, int(np.ceil(8 * length / jitter_period_px)))
    s = np.linspace(0.0, 1.0, n_pieces + 1)
    x = x0 + s * (x1 - x0)
    y = y0 + s * (y1 - y0)
    if jitter_px and length > 0:
        off = jitter_px * np.sin(2 * np.pi * s * length / jitter_period_px + jitter_phase)
        x = x - off * (y1 - y0) / length
        y = y + off * (x1 - x0) / length
    return np.column_stack([x, y])


def _box_overlap(poly: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """Exact area of convex polygons ``(n, m, 2)`` inside the unit pixels centred on (cx, cy).

    Green's theorem edge by edge: the area is the signed integral, along the polygon's
    edges, of the height clamped to the pixel's rows, over the part of each edge within
    the pixel's columns. The clamped height is linear between the (at most two) points
    where an edge crosses the pixel's bottom and top, so three trapezoids are exact.
    """
    x0 = (cx - 0.5)[:, None]
    y0 = (cy - 0.5)[:, None]
    x1, y1 = x0 + 1.0, y0 + 1.0
    xa, ya = poly[..., 0], poly[..., 1]
    nxt = np.r_[1 : poly.shape[1], 0]
    xb, yb = xa[:, nxt], ya[:, nxt]
    # (np.minimum / np.maximum: np.clip costs several times more on small arrays)
    p, q = np.minimum(np.maximum(xa, x0), x1), np.minimum(np.maximum(xb, x0), x1)
    dx, dy = xb - xa, yb - ya
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(dy != 0, dx / dy, 0.0)
        slope = np.where(dx != 0, dy / dx, 0.0)
    lo, hi = np.minimum(p, q), np.maximum(p, q)
    c0 = np.minimum(np.maximum(xa + (y0 - ya) * inv, lo), hi)
    c1 = np.minimum(np.maximum(xa + (y1 - ya) * inv, lo), hi)
    t = (lo, np.minimum(c0, c1), np.maximum(c0, c1), hi)
    f = [np.minimum(np.maximum(ya + (ti - xa) * slope, y0), y1) for ti in t]
    integral = sum((f[k] + f[k + 1]) * (t[k + 1] - t[k]) for k in range(3))
    return 0.5 * np.abs((np.sign(q - p) * integral).sum(axis=1))


def _corners(p0, u, nrm, s0, s1, half) -> np.ndarray:
    """The 4 corners ``(n, 4, 2)``, in order, of rectangles along ``u`` from ``s0`` to ``s1``."""
    a, b = p0 + u * s0[:, None], p0 + u * s1[:, None]
    w = nrm * half[:, None]
    return np.stack([a - w, b - w, b + w, a + w], axis=1)


def _square_cdf(t, w1: float, w2: float):
    """Area of the unit square (centred at 0) where ``q . v <= t``, ``v`` a unit vector.

    ``q . v`` is the sum of two uniform variables of widths ``w1 = max(|vx|, |vy|)`` and
    ``w2 = min(...)``: its distribution is a trapezoid, its CDF quadratic-linear-quadratic.
    """
    e = 0.5 * (w1 + w2)
    t = np.minimum(np.maximum(t, -e), e)
    if w2 < 1e-9:  # axis-aligned: the quadratic ends have no width
        return (t + e) / w1
    lo = (t + e) ** 2 / (2 * w1 * w2)
    hi = 1.0 - (e - t) ** 2 / (2 * w1 * w2)
    return np.where(t < w2 - e, lo, np.where(t > e - w2, hi, (t + e - 0.5 * w2) / w1))


def _rectangle_area(shape, a, b, half: float, weights):
    """Exact pixel areas of the straight rectangle from ``a`` to ``b`` (see module doc)."""
    ny, nx = shape
    d = b - a
    length = float(np.hypot(*d))
    u = d / length if length > 0 else np.array([1.0, 0.0])
    # walk along the major axis: transpose so that |u_x| >= |u_y|
    swap = abs(u[1]) > abs(u[0])
    if swap:
        a, u, (ny, nx) = a[::-1], u[::-1], (nx, ny)
    s0, s1 = -0.5, length + 0.5
    e = 0.5 * (abs(u[0]) + abs(u[1]))  # half extent of a pixel along u (and across it)
    ends_x = (a[0] + u[0] * s0, a[0] + u[0] * s1)
    reach_x = half * abs(u[1]) + e
    x_lo = int(np.floor(min(ends_x) - reach_x))
    x_hi = int(np.ceil(max(ends_x) + reach_x))
    if weights is None:  # the total is known: only the columns in the image matter
        x_lo, x_hi = max(x_lo, 0), min(x_hi, nx - 1)
    image = np.zeros(shape)
    if x_hi < x_lo:
        return image, float((s1 - s0) * 2 * half)
    cols = np.arange(x_lo, x_hi + 1, dtype=float)
    centre = a[1] + (cols - a[0]) * (u[1] / u[0])
    half_rows = (half + e) / abs(u[0])
    rows = np.floor(centre - half_rows)[:, None] + np.arange(int(np.ceil(2 * half_rows)) + 2)
    cx, cy = np.broadcast_arrays(cols[:, None], rows)
    cx, cy = cx.ravel(), cy.ravel()
    along = (cx - a[0]) * u[0] + (cy - a[1]) * u[1]
    across = (cy - a[1]) * u[0] - (cx - a[0]) * u[1]
    keep = (np.abs(across) < half + e) & (along > s0 - e) & (along < s1 + e)
    cx, cy, along, across = cx[keep], cy[keep], along[keep], across[keep]
    w1, w2 = max(abs(u[0]), abs(u[1])), min(abs(u[0]), abs(u[1]))
    area = _square_cdf(half - across, w1, w2) - _square_cdf(-half - across, w1, w2)
    cut = (along - e < s0) | (along + e > s1)
    if cut.any():  # squares an end line crosses: the exact polygon overlap
        w = half * np.array([-u[1], u[0]])
        start, end = a + s0 * u, a + s1 * u
        rect = np.array([start - w, end - w, end + w, start + w])
        area[cut] = _box_overlap(np.broadcast_to(rect, (int(cut.sum()), 4, 2)), cx[cut], cy[cut])
    if weights is not None:
        fraction = along / length if length > 0 else np.zeros_like(along)
        area = area * weights[np.clip((fraction * len(weights)).astype(int), 0, len(weights) - 1)]
        total = float(area.sum())
    else:
        total = float((s1 - s0) * 2 * half)
    ix, iy = cx.astype(int), cy.astype(int)
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    ix, iy, area = ix[inside], iy[inside], area[inside]
    if swap:
        ix, iy = iy, ix
    image[iy, ix] = area
    return image, total


def _pieces(path: np.ndarray, width: float):
    """Per piece: start point, unit direction, normal, start/end extents along it."""
    p0, p1 = path[:-1], path[1:]
    seg = p1 - p0
    length = np.hypot(seg[:, 0], seg[:, 1])
    if not np.all(length > 0):
        # a point source: an axis-aligned unit square (length 0 + 1)
        u = np.tile([1.0, 0.0], (len(seg), 1))
    else:
        u = seg / length[:, None]
    nrm = np.column_stack([-u[:, 1], u[:, 0]])
    s0 = np.zeros(len(seg))
    s1 = length.copy()
    s0[0] -= 0.5
    s1[-1] += 0.5
    return p0, u, nrm, s0, s1, np.full(len(seg), width / 2.0)


def streak_area(
    shape: tuple[int, int],
    path: np.ndarray,
    *,
    width: float = 1.0,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Exact pixel areas of the unitary streak along ``path`` (seed 002 §2.2.4).

    Parameters
    ----------
    shape : (ny, nx)
        Image shape [px].
    path : array (m, 2)
        Path vertices (x, y) [px], from :func:`streak_path` or two endpoints.
    width : float
        Rectangle width [px]; 1 in seed 002.
    weights : array (m - 1,), optional
        Relative brightness of each piece (flux variation along the trail).

    Returns
    -------
    image : ndarray (ny, nx)
        Weighted intersection area of each pixel [px^2]; unweighted, it sums to
        ``(length + 1) * width`` when the rectangle lies inside the image.
    total : float
        The weighted area of the whole rectangle, inside the image or not.
    """
    if width <= 0:
        raise InputError(f"width: expected > 0 px, got {width}")
    path = np.asarray(path, dtype=float)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) < 2:
        raise InputError(f"path: expected (m >= 2, 2) vertices (x, y), got {path.shape}")
    n_pieces = len(path) - 1
    w = np.ones(n_pieces) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (n_pieces,):
        raise InputError(f"weights: expected {n_pieces} values (one per piece), got {w.shape}")
    if _is_straight(path):
        return _rectangle_area(
            shape, path[0], path[-1], width / 2.0, None if weights is None else w
        )
    return _pieces_area(shape, *_pieces(path, width), w)


def _pieces_area(shape, p0, u, nrm, s0, s1, half, w):
    """Exact areas of rectangular pieces (a wavy streak, or many segments) and their total."""
    ny, nx = shape
    total = float(np.sum(w * (s1 - s0) * 2 * half))
    image = np.zeros(shape)
    # candidate pixels: each piece's bounding box (pieces are short, so boxes are small)
    ends = (p0 + u * s0[:, None], p0 + u * s1[:, None])
    corners = np.stack([e + nrm * half[:, None] * sgn for e in ends for sgn in (1, -1)], axis=1)
    lo = np.floor(corners.min(axis=1) + 0.5).astype(int)
    hi = np.floor(corners.max(axis=1) + 0.5).astype(int)
    span = int((hi - lo).max()) + 1
    off = np.arange(span)
    cx = lo[:, 0, None, None] + off[None, None, :]
    cy = lo[:, 1, None, None] + off[None, :, None]
    cx, cy = np.broadcast_arrays(cx, cy)
    inside_img = (cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny)
    piece = np.broadcast_to(np.arange(len(u))[:, None, None], cx.shape)
    cx, cy, piece = cx[inside_img], cy[inside_img], piece[inside_img]
    # keep pixels whose square can touch the piece: centre within half a diagonal of it
    rel_x, rel_y = cx - p0[piece, 0], cy - p0[piece, 1]
    along = rel_x * u[piece, 0] + rel_y * u[piece, 1]
    across = np.abs(rel_x * nrm[piece, 0] + rel_y * nrm[piece, 1])
    reach = np.sqrt(0.5)
    near = (along >= s0[piece] - reach) & (along <= s1[piece] + reach)
    near &= across <= half[piece] + reach
    cx, cy, piece = cx[near], cy[near], piece[near]
    if cx.size == 0:
        return image, total
    rect = _corners(p0, u, nrm, s0, s1, half)
    area = _box_overlap(rect[piece], cx.astype(float), cy.astype(float)) * w[piece]
    image += np.bincount(cy * nx + cx, area, minlength=ny * nx).reshape(shape)
    return image, total


def render_segments(shape: tuple[int, int], x0, y0, x1, y1, flux, *, width: float = 1.0):
    """Many pixel-exact straight streaks at once, each holding ``flux`` (no PSF).

    For the short tracks a frame holds by the dozen (cosmic rays, stars trailing at the
    sidereal rate): one vectorised pass instead of one :func:`render_streak` each.

    Parameters
    ----------
    shape : (ny, nx)
        Image shape [px].
    x0, y0, x1, y1 : array_like
        Endpoints of each segment [px].
    flux : array_like
        Total signal of each segment, inside the image or not [any unit].
    width : float
        Rectangle width [px].

    Returns
    -------
    ndarray (ny, nx) float64
    """
    if width <= 0:
        raise InputError(f"width: expected > 0 px, got {width}")
    arrays = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x0, y0, x1, y1, flux))
    x0, y0, x1, y1, flux = np.broadcast_arrays(*arrays)
    if x0.size == 0:
        return np.zeros(shape)
    d = np.column_stack([x1 - x0, y1 - y0])
    length = np.hypot(d[:, 0], d[:, 1])
    u = np.where(length[:, None] > 0, d / np.where(length > 0, length, 1.0)[:, None], [1.0, 0.0])
    nrm = np.column_stack([-u[:, 1], u[:, 0]])
    half = np.full(length.shape, width / 2.0)
    image, _ = _pieces_area(
        shape,
        np.column_stack([x0, y0]),
        u,
        nrm,
        np.full(length.shape, -0.5),
        length + 0.5,
        half,
        flux / ((length + 1.0) * width),
    )
    return image


def streak_mask(shape: tuple[int, int], path: np.ndarray, diameter: float) -> np.ndarray:
    """The unitary streak convolved with a disk of ``diameter`` [px], as a boolean mask.

    Seed 002's ground-truth mask (``diameter`` = PSF FWHM): the pixels whose centre lies
    within ``diameter / 2`` of the (length + 1) x 1 rectangle, taken as the path extended
    by half a pixel at both ends and widened by half a pixel (a stadium; it differs from
    the rectangle only at its four corners, by at most 0.21 px).
    """
    path = np.asarray(path, dtype=float)
    seg = path[1:] - path[:-1]
    length = np.hypot(seg[:, 0], seg[:, 1])
    if length.sum() > 0:
        first = seg[np.argmax(length > 0)] / length[length > 0][0]
        last = seg[len(seg) - 1 - np.argmax(length[::-1] > 0)] / length[length > 0][-1]
        path = path.copy()
        path[0] -= 0.5 * first
        path[-1] += 0.5 * last
    reach = diameter / 2 + 0.5
    # a straight path is one stadium; a wavy one the union of one per piece
    if _is_straight(path):
        return _stadia(shape, path[:1], path[-1:], reach)
    return _stadia(shape, path[:-1], path[1:], reach)


def _stadia(shape, a: np.ndarray, b: np.ndarray, reach: float) -> np.ndarray:
    """Pixels whose centre lies within ``reach`` of any segment ``a[i] b[i]`` (k, 2).

    Row by row: a stadium meets a row in one interval, the union of its two end discs'
    chords and its band's (each bounded in x by quadratic or linear terms); the intervals
    of all segments are then painted at once through a running sum.
    """
    ny, nx = shape
    mask = np.zeros(shape, bool)
    # the (segment, row) pairs each segment can reach, flattened
    first = np.maximum(np.ceil(np.minimum(a[:, 1], b[:, 1]) - reach), 0).astype(int)
    last = np.minimum(np.floor(np.maximum(a[:, 1], b[:, 1]) + reach), ny - 1).astype(int)
    count = np.maximum(last - first + 1, 0)
    if not count.any():
        return mask
    seg = np.repeat(np.arange(len(a)), count)
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    y = (first[seg] + offset).astype(float)
    ax, ay, bx, by = a[seg, 0], a[seg, 1], b[seg, 0], b[seg, 1]
    lo = np.full(y.shape, np.inf)
    hi = np.full(y.shape, -np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        for px, py in ((ax, ay), (bx, by)):
            half = np.sqrt(reach**2 - (y - py) ** 2)  # NaN where the disc misses the row
            lo, hi = np.fmin(lo, px - half), np.fmax(hi, px + half)
        dx, dy = bx - ax, by - ay
        dd = dx * dx + dy * dy
        band_lo = np.full(y.shape, -np.inf)
        band_hi = np.full(y.shape, np.inf)
        # 0 <= (p - a) . d <= |d|^2 and |(p - a) x d| <= reach |d|, each linear in x
        for coef, const, low, high in (
            (dx, (y - ay) * dy, 0.0, dd),
            (dy, -(y - ay) * dx, -reach * np.sqrt(dd), reach * np.sqrt(dd)),
        ):
            x1, x2 = (low - const) / coef + ax, (high - const) / coef + ax
            flat = coef == 0
            outside = flat & ((const < low) | (const > high))
            band_lo = np.where(flat, band_lo, np.maximum(band_lo, np.minimum(x1, x2)))
            band_hi = np.where(flat, band_hi, np.minimum(band_hi, np.maximum(x1, x2)))
            band_hi = np.where(outside, -np.inf, band_hi)
        ok = (band_hi >= band_lo) & (dd > 0)
        lo = np.where(ok, np.minimum(lo, band_lo), lo)
        hi = np.where(ok, np.maximum(hi, band_hi), hi)
    start = np.clip(np.ceil(lo), 0, nx)
    stop = np.clip(np.floor(hi) + 1, 0, nx)
    hit = stop > start
    row = y[hit].astype(int)
    paint = np.zeros((ny, nx + 1), np.int32)
    np.add.at(paint, (row, start[hit].astype(int)), 1)
    np.add.at(paint, (row, stop[hit].astype(int)), -1)
    return np.cumsum(paint[:, :nx], axis=1) > 0


def _is_straight(path: np.ndarray) -> bool:
    d = path[-1] - path[0]
    n = np.hypot(*d)
    if n == 0:
        return True
    dev = np.abs((path[:, 0] - path[0, 0]) * d[1] - (path[:, 1] - path[0, 1]) * d[0]) / n
    return bool(dev.max() < 1e-9)


def render_streak(
    shape: tuple[int, int],
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    *,
    flux: float,
    exptime: float = 1.0,
    psf=None,
    width: float = 1.0,
    profile=None,
    jitter_px: float = 0.0,
    jitter_period_px: float = 20.0,
    jitter_phase: float = 0.0,
    require_inside: bool = False,
) -> np.ndarray:
    """A noise-free streak image of known total flux (pixel-exact, then PSF-convolved).

    Parameters
    ----------
    shape : (ny, nx)
        Image shape [px].
    x0, y0, x1, y1 : float
        Endpoints A and B [px] (pixel centres at integers; see :mod:`satlab.lines`).
    flux : float
        Flux of the object while it draws the streak [ADU/s, e-/s or photons/s]; the
        image sums to ``flux * exptime`` when the streak and its PSF lie in the field.
    exptime : float
        Time the object takes from A to B [s].
    psf : PSF or 2-D array, optional
        A :class:`satlab.simulate.PSF` or a kernel (normalised here); ``None`` returns the
        unconvolved pixel-exact streak.
    width : float
        Width of the unitary rectangle [px] (1 in seed 002).
    profile : callable or array, optional
        Relative brightness along the trail (scintillation, tumbling): a function of the
        fraction ``s`` in [0, 1] from A to B, or values at evenly spaced ``s``.
    jitter_px, jitter_period_px, jitter_phase : float
        Amplitude [px], period [px] and phase [rad] of a wavy path (see :func:`streak_path`).
    require_inside : bool
        Raise if the streak lies wholly outside the image.

    Returns
    -------
    ndarray (ny, nx) float64
        Flux per pixel [units of ``flux`` x s].

    Raises
    ------
    satlab.errors.InputError
        Negative flux or exposure, a non-positive width, or (``require_inside``) a streak
        wholly outside the field.
    """
    if not flux >= 0:
        raise InputError(f"flux: expected >= 0, got {flux}")
    if not exptime > 0:
        raise InputError(f"exptime: expected > 0 s, got {exptime}")
    path = streak_path(
        x0,
        y0,
        x1,
        y1,
        jitter_px=jitter_px,
        jitter_period_px=jitter_period_px,
        jitter_phase=jitter_phase,
    )
    weights = _profile_weights(profile, len(path) - 1)
    if psf is not None:
        from .optics import PSF

        psf = psf if isinstance(psf, PSF) else PSF.from_kernel(psf)
    # drawn on the image padded by the kernel: beyond the edge the streak goes on, and the
    # PSF carries that light onto the edge pixels
    pad = 0 if psf is None else psf.size
    ny, nx = shape
    area, total = streak_area(
        (ny + 2 * pad, nx + 2 * pad), path + pad, width=width, weights=weights
    )
    if require_inside and not area[pad : pad + ny, pad : pad + nx].any():
        raise InputError(
            f"streak ({x0:.1f}, {y0:.1f}) -> ({x1:.1f}, {y1:.1f}): wholly outside the "
            f"{shape[1]}x{shape[0]} px field; expected at least part of it inside"
        )
    image = area * (flux * exptime / total)
    if psf is None:
        return image
    return psf.convolve(image)[pad : pad + ny, pad : pad + nx].astype(float)


def _profile_weights(profile, n_pieces: int) -> np.ndarray | None:
    if profile is None:
        return None
    s = (np.arange(n_pieces) + 0.5) / n_pieces
    if callable(profile):
        w = np.asarray(profile(s), dtype=float)
    else:
        values = np.asarray(profile, dtype=float)
        if values.ndim != 1 or values.size < 1:
            raise InputError(f"profile: expected a 1-D array or a callable, got {values.shape}")
        w = np.interp(s, np.linspace(0, 1, values.size), values)
    if np.any(w < 0) or not np.isfinite(w).all():
        raise InputError("profile: expected finite relative brightness >= 0 along the trail")
    return np.broadcast_to(w, (n_pieces,)).astype(float)
