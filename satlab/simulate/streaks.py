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
"""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import InputError

__all__ = ["PIECE_PX", "render_streak", "streak_area", "streak_mask", "streak_path"]

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


def _clip(poly: np.ndarray, count: np.ndarray, a, b, d) -> tuple[np.ndarray, np.ndarray]:
    """Clip convex polygons ``(n, k, 2)`` to ``a x + b y <= d`` (Sutherland-Hodgman).

    Vectorised over polygons: every edge emits at most two vertices (its start if
    inside, the crossing if it leaves or enters), which are then compacted in order.
    """
    n, k, _ = poly.shape
    idx = np.arange(k)
    valid = idx[None, :] < count[:, None]
    nxt = np.where(idx[None, :] + 1 < count[:, None], idx[None, :] + 1, 0)
    p = poly
    q = np.take_along_axis(poly, nxt[..., None], axis=1)
    sp = a[:, None] * p[..., 0] + b[:, None] * p[..., 1] - d[:, None]
    sq = a[:, None] * q[..., 0] + b[:, None] * q[..., 1] - d[:, None]
    inside_p = sp <= 0
    cross = valid & (inside_p != (sq <= 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(cross, sp / (sp - sq), 0.0)
    inter = p + t[..., None] * (q - p)
    out = np.stack([p, inter], axis=2).reshape(n, 2 * k, 2)
    keep = np.stack([valid & inside_p, cross], axis=2).reshape(n, 2 * k)
    new_count = keep.sum(axis=1)
    compact = np.zeros((n, k, 2))  # a convex polygon clipped by a half-plane gains <= 1 vertex
    rows = np.broadcast_to(np.arange(n)[:, None], keep.shape)
    compact[rows[keep], (np.cumsum(keep, axis=1) - 1)[keep]] = out[keep]
    return compact, new_count


def _area(poly: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Shoelace area of compacted polygons; slots past ``count`` repeat the last vertex."""
    k = poly.shape[1]
    last = np.take_along_axis(poly, np.maximum(count - 1, 0)[:, None, None], axis=1)
    poly = np.where((np.arange(k)[None, :] < count[:, None])[..., None], poly, last)
    x, y = poly[..., 0], poly[..., 1]
    cross = x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y
    return np.where(count >= 3, 0.5 * np.abs(cross.sum(axis=1)), 0.0)


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
    ny, nx = shape
    p0, u, nrm, s0, s1, half = _pieces(path, width)
    w = np.ones(len(u)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(u),):
        raise InputError(f"weights: expected {len(u)} values (one per piece), got {w.shape}")
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
    # a unit square clipped by 4 half-planes has at most 8 vertices
    sq = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]] + [[0.0, 0.0]] * 4)
    poly = np.column_stack([cx, cy])[:, None, :] + sq[None]
    count = np.full(len(cx), 4)
    uu, nn, pp = u[piece], nrm[piece], p0[piece]
    base_along = np.einsum("ij,ij->i", uu, pp)
    base_across = np.einsum("ij,ij->i", nn, pp)
    for a, b, d in (
        (-uu[:, 0], -uu[:, 1], -(base_along + s0[piece])),
        (uu[:, 0], uu[:, 1], base_along + s1[piece]),
        (nn[:, 0], nn[:, 1], base_across + half[piece]),
        (-nn[:, 0], -nn[:, 1], -base_across + half[piece]),
    ):
        # only squares the plane cuts need clipping (most lie wholly inside the end planes)
        cut = a * cx + b * cy + 0.5 * (np.abs(a) + np.abs(b)) > d
        if cut.any():
            poly[cut], count[cut] = _clip(poly[cut], count[cut], a[cut], b[cut], d[cut])
    area = _area(poly, count) * w[piece]
    image += np.bincount(cy * nx + cx, area, minlength=ny * nx).reshape(shape)
    return image, total


def streak_mask(shape: tuple[int, int], path: np.ndarray, diameter: float) -> np.ndarray:
    """The unitary streak convolved with a disk of ``diameter`` [px], as a boolean mask.

    Seed 002's ground-truth mask (``diameter`` = PSF FWHM): the pixels whose centre lies
    within ``diameter / 2`` of the (length + 1) x 1 rectangle, taken as the path extended
    by half a pixel at both ends and widened by half a pixel (a stadium; it differs from
    the rectangle only at its four corners, by at most 0.21 px).
    """
    path = np.asarray(path, dtype=float)
    ny, nx = shape
    seg = path[1:] - path[:-1]
    length = np.hypot(seg[:, 0], seg[:, 1])
    if length.sum() > 0:
        first = seg[np.argmax(length > 0)] / length[length > 0][0]
        last = seg[len(seg) - 1 - np.argmax(length[::-1] > 0)] / length[length > 0][-1]
        path = path.copy()
        path[0] -= 0.5 * first
        path[-1] += 0.5 * last
    reach = diameter / 2 + 0.5
    mask = np.zeros(shape, bool)
    # a straight path is one stadium; a wavy one the union of one per piece
    ends = [(path[0], path[-1])] if _is_straight(path) else list(itertools.pairwise(path))
    for a, b in ends:
        lo = np.floor(np.minimum(a, b) - reach).astype(int).clip(0, [nx - 1, ny - 1])
        hi = np.ceil(np.maximum(a, b) + reach).astype(int).clip(0, [nx - 1, ny - 1])
        yy, xx = np.mgrid[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1]
        d = b - a
        rx, ry = xx - a[0], yy - a[1]
        t = np.clip((rx * d[0] + ry * d[1]) / max(d @ d, 1e-12), 0.0, 1.0)
        near = (rx - t * d[0]) ** 2 + (ry - t * d[1]) ** 2 <= reach**2
        mask[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1] |= near
    return mask


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
    area, total = streak_area(shape, path, width=width, weights=weights)
    if require_inside and not area.any():
        raise InputError(
            f"streak ({x0:.1f}, {y0:.1f}) -> ({x1:.1f}, {y1:.1f}): wholly outside the "
            f"{shape[1]}x{shape[0]} px field; expected at least part of it inside"
        )
    image = area * (flux * exptime / total)
    if psf is None:
        return image
    from .optics import PSF

    return (psf if isinstance(psf, PSF) else PSF.from_kernel(psf)).convolve(image).astype(float)


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
