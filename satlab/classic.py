"""Classic (non-learned) trail detectors: the baselines satlab's models are measured against.

Both run on a background-subtracted, smoothed, star-masked significance image of each frame:

* ``hough``: skimage's :func:`~skimage.transform.hough_line` on the thresholded image (the
  linear-feature route of Billot et al. 2024 that seed 001 compares with), iteratively:
  strongest line, fit, remove its pixels, repeat;
* ``radon``: skimage's :func:`~skimage.transform.radon` of the significance image: each
  line's mean over its path through the valid footprint, less the brighter of the lines
  beside it (a trail is a ridge; the Earth's limb or a glow is a step), times the square
  root of the path, over the robust scatter of all lines, so a peak reads as a
  significance in sigma (the idea of Stark et al. 2022's modified Radon transform, which
  uses a median along the line; here stars are masked before the sum instead, which
  skimage supports directly); strongest line, fit, mask its band, transform again;
* ``findsat``: :func:`acstools.findsat_mrt` itself when the optional ``acstools`` is
  installed.

Each returns the trail table of :mod:`satlab.lines` with the same ``(rho, theta)``
convention, so every detector is scored by the same metrics.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .errors import InputError
from .frames import as_frames
from .lines import (
    distance_to_segment,
    edge_distance,
    empty_trails,
    fit_segment,
    frame_index,
    merge_collinear,
    trail_table,
)

__all__ = ["findsat_trails", "hough_trails", "radon_trails", "significance"]


def significance(
    image,
    good,
    *,
    smooth_px: float = 2.0,
    star_sigma: float = 5.0,
    star_elongation: float = 2.0,
    star_max_px: float = 60.0,
    star_max_width_px: float = 40.0,
):
    """Background-subtracted, smoothed significance map with compact sources masked.

    Parameters
    ----------
    image : ndarray (y, x)
        Flux [ADU]; NaN where not measured.
    good : ndarray of bool (y, x)
        Pixels that may be used.
    smooth_px : float
        Gaussian smoothing sigma [px] (a matched filter for trails wider than a pixel).
    star_sigma, star_elongation : float
        Sources above ``star_sigma`` (photutils segmentation) are split into their cores
        (connected pixels above half the source's peak); a core with an axis ratio below
        ``star_elongation`` is a star, hot pixel or cosmic ray. A disc is masked out to
        where the azimuthal median around the core falls below 1 sigma (at least 1.5
        times the core's equivalent radius), plus ``2 * smooth_px``.
        Sources are not deblended: deblending cuts bright, tumbling trails into round
        pieces.
    star_max_px : float
        A core touching the footprint edge or a star already masked, shorter than this
        [px] and running along that boundary (within 45 deg) is a star cut by the edge or
        by that disc (a short chord, a crescent); a trail leaving the frame or passing the
        star points away from it.
    star_max_width_px : float
        A core wider than this [px] across its long axis is a star, however long: a bright
        star centred outside the footprint leaves a long, wide segment of a disc.

    Returns
    -------
    ndarray (y, x)
        Significance [sigma of the smoothed background]; NaN outside ``good`` and on stars.
    """
    from astropy.stats import sigma_clipped_stats
    from photutils.segmentation import detect_sources
    from photutils.utils.exceptions import NoDetectionsWarning
    from scipy import ndimage

    good = good & np.isfinite(image)
    if good.sum() < 10:
        return np.full(image.shape, np.nan)
    _, med, _ = sigma_clipped_stats(image[good], sigma=3.0, maxiters=5)
    r = np.where(good, image - med, 0.0)
    if smooth_px > 0:
        # normalised convolution: the footprint edge does not dim the smoothed sky
        weight = ndimage.gaussian_filter(good.astype(float), smooth_px)
        r = ndimage.gaussian_filter(r, smooth_px) / np.maximum(weight, 1e-3)
        r[~good] = 0.0
    _, med, std = sigma_clipped_stats(r[good], sigma=3.0, maxiters=5)
    if not std > 0:
        return np.full(image.shape, np.nan)
    s = np.where(good, (r - med) / std, 0.0)
    yy, xx = np.ogrid[: s.shape[0], : s.shape[1]]
    near_edge = ndimage.binary_dilation(~good, iterations=2)
    # the nearest pixel off the footprint, per pixel: where the edge lies from a core
    outside = ndimage.distance_transform_edt(good, return_distances=False, return_indices=True)
    discs = []  # (y, x) of the stars masked so far
    # a few passes: a faint star joined to a bright one only shows its own core once the
    # bright one is masked
    for _ in range(3):
        near_disc = ndimage.binary_dilation(~good & ~near_edge, iterations=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoDetectionsWarning)  # nothing (left) to mask
            seg = detect_sources(np.where(good, s, 0.0), star_sigma, n_pixels=5)
        if seg is None:
            break
        stars = good.copy()
        for idx, sl in enumerate(ndimage.find_objects(seg.data), start=1):
            if sl is None:
                continue
            inside = seg.data[sl] == idx
            # the core (above half the peak) decides: round for a star however bright its
            # wings, long for a trail however short; two touching stars give two cores
            core, n_core = ndimage.label(inside & (s[sl] >= 0.5 * s[sl][inside].max()))
            for c in range(1, n_core + 1):
                cy, cx = np.nonzero(core == c)
                cy, cx = cy + sl[0].start, cx + sl[1].start
                if _is_star(
                    cy,
                    cx,
                    near_edge,
                    outside,
                    near_disc,
                    discs,
                    star_elongation=star_elongation,
                    star_max_px=star_max_px,
                    star_max_width_px=star_max_width_px,
                ):
                    centre = cy.mean(), cx.mean()
                    radius = _star_radius(s, good, *centre, np.sqrt(cx.size / np.pi))
                    radius += 2.0 * smooth_px
                    stars &= (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 > radius**2
                    discs.append(centre)
        if stars.sum() == good.sum():
            break
        good = stars
    return np.where(good, s, np.nan)


def _is_star(
    cy, cx, near_edge, outside, near_disc, discs, *, star_elongation, star_max_px, star_max_width_px
) -> bool:
    """Is the core of pixels ``(cy, cx)`` a star (see :func:`significance`)?"""
    lam, vec = (
        np.linalg.eigh(np.cov(np.vstack([cx, cy]))) if cx.size >= 3 else (np.ones(2), np.eye(2))
    )
    if np.sqrt(max(lam[1], 0.25) / max(lam[0], 0.25)) < star_elongation:
        return True
    # a core wider than any trail is light of a star partly outside the footprint
    if 4.0 * np.sqrt(max(lam[0], 0.0)) > star_max_width_px:
        return True
    if not 4.0 * np.sqrt(max(lam[1], 0.0)) < star_max_px:
        return False
    y, x = cy.mean(), cx.mean()

    def along(dy, dx) -> bool:
        """Does the core's long axis run along a boundary lying towards ``(dy, dx)``?"""
        cos = abs(dx * vec[0, 1] + dy * vec[1, 1]) / max(np.hypot(dx, dy), 1e-9)
        return bool(cos < np.cos(np.radians(45.0)))

    # a star cut by the footprint edge is a short chord along it, a star beside a masked
    # one a crescent around that disc; a trail leaving either points away from it
    if near_edge[cy, cx].any():
        iy, ix = outside[:, round(y), round(x)]
        return along(iy - y, ix - x)
    if near_disc[cy, cx].any():
        return along(*min(((a - y, b - x) for a, b in discs), key=lambda d: np.hypot(*d)))
    return False


# a star's disc reaches out to where its azimuthal median falls below this [sigma]: its
# wings summed along a line would otherwise pass for a faint trail
_STAR_WING_SIGMA = 1.0


def _star_radius(s, good, cy: float, cx: float, r_core: float) -> float:
    """Radius [px] at which the azimuthal median of ``s`` around ``(cx, cy)`` falls below
    ``_STAR_WING_SIGMA``, at least 1.5 ``r_core``.

    The median over each ring ignores a trail through or beside the star (it covers a
    small share of a ring wider than the trail), which the area of the star's
    segmentation source does not: a bright trail joined to the star made that source,
    and the disc of its equivalent radius masked the trail itself.
    """
    from scipy import ndimage

    # a star's wings fade within a few core radii; the cap keeps large frames cheap
    reach = int(np.ceil(min(max(8.0 * r_core, 32.0), 0.5 * max(s.shape))))
    y0, x0 = max(int(cy) - reach, 0), max(int(cx) - reach, 0)
    box = (slice(y0, int(cy) + reach + 1), slice(x0, int(cx) + reach + 1))
    yy, xx = np.indices(s[box].shape)
    ring = np.hypot(yy + y0 - cy, xx + x0 - cx).astype(int) + 1
    ring[~good[box]] = 0
    n = int(ring.max())
    med = ndimage.median(s[box], labels=ring, index=np.arange(1, n + 1))
    known = np.bincount(ring.ravel(), minlength=n + 1)[1:] > 0
    below = np.nonzero(known & (med < _STAR_WING_SIGMA))[0]
    edge = below[below >= r_core][:1]  # the first faint ring beyond the core
    radius = float(edge[0]) if edge.size else float(n)
    return max(radius, 1.5 * r_core)


def _segment_on_line(s, sel, edge, rho, theta_deg, *, band_px, min_fill, seed):
    """Fit the trail segment near an approximate line from the selected pixels around it.

    Pixels of ``sel`` within ``band_px / 2`` of the line are binned along it (5 px bins).
    A bin is full when at least ``min_fill`` of its measured (non-NaN) band pixels are
    selected, unknown when most of it is masked (a star, the footprint edge). The longest
    run of full bins, bridging single empty bins and any unknown stretch, is the trail,
    fitted by :func:`satlab.lines.fit_segment` (``edge``: distance to the footprint edge).
    """
    th = np.radians(theta_deg)
    ny, nx = s.shape
    yy, xx = np.mgrid[:ny, :nx]
    u = xx * np.cos(th) + yy * np.sin(th) - rho
    t = -xx * np.sin(th) + yy * np.cos(th)
    inband = np.abs(u) <= band_px / 2.0
    measured = inband & np.isfinite(s)
    if not measured.any():
        return None
    edges = np.arange(t[inband].min(), t[inband].max() + 5.0, 5.0)
    total, _ = np.histogram(t[inband], edges)
    seen, _ = np.histogram(t[measured], edges)
    hit, _ = np.histogram(t[measured & sel], edges)
    state = np.where(seen < 0.5 * total, -1, (hit >= min_fill * np.maximum(seen, 1)).astype(int))
    best, start, last_full, gap = (0, 0, 0), None, None, 0
    for i, st in enumerate([*state, 0, 0]):
        if st == 1:
            start = i if start is None else start
            last_full, gap = i, 0
        elif start is not None and st == 0:
            gap += 1
            if gap > 1:  # two empty bins end the run
                best = max(best, (last_full + 1 - start, start, last_full + 1))
                start, gap = None, 0
    if best[0] < 2:
        return None
    lo, hi = edges[best[1]], edges[best[2]]
    pick = measured & sel & (t >= lo) & (t <= hi)
    if pick.sum() < 5:
        return None
    y, x = np.nonzero(pick)
    w = np.clip(s[y, x], 1e-3, None)
    return fit_segment(x.astype(float), y.astype(float), w, edge, seed=seed)


def _band_width(s, rho, theta_deg, *, max_px: float) -> float:
    """Full width [px] of the trail across the line: FWHM of the mean cross profile."""
    th = np.radians(theta_deg)
    ny, nx = s.shape
    yy, xx = np.mgrid[:ny, :nx]
    u = np.rint(xx * np.cos(th) + yy * np.sin(th) - rho).astype(int)
    near = (np.abs(u) <= max_px) & np.isfinite(s)
    prof = np.bincount(u[near] + int(max_px), weights=s[near], minlength=2 * int(max_px) + 1)
    cnt = np.bincount(u[near] + int(max_px), minlength=2 * int(max_px) + 1)
    prof = prof / np.maximum(cnt, 1)
    c = int(max_px)
    half = prof[c - 1 : c + 2].max() / 2.0
    lo = c
    while lo > 0 and prof[lo - 1] > half:
        lo -= 1
    hi = c
    while hi < len(prof) - 1 and prof[hi + 1] > half:
        hi += 1
    return float(hi - lo + 1)


def _frames_loop(frames, detect, *, method, params, empty_reason):
    ds = as_frames(frames)
    valid = np.asarray(ds["valid"].values, bool)
    ids = frame_index(ds)
    column = params["reject_column_deg"]
    rows = []
    for k in range(ds.sizes["frame"]):
        img = np.asarray(ds["flux"][k].values, dtype=np.float64)
        for seg in detect(img, valid):
            seg.pop("_pix", None)
            # theta = 0 is a line along a pixel column: seed 001 drops those (readout smear)
            if column is not None and abs(seg["theta"]) < column:
                continue
            rows.append({"frame": ids[k], **seg})
    if not rows:
        return empty_trails(method=method, reason=empty_reason, params=params)
    return trail_table(rows, method=method, params=params)


def _check(threshold, name="threshold"):
    if not np.isfinite(threshold) or threshold <= 0:
        raise InputError(f"{name}: expected a positive number, got {threshold}")


def hough_trails(
    frames,
    *,
    threshold: float = 3.0,
    min_votes: int | None = None,
    smooth_px: float = 2.0,
    min_length_px: float = 30.0,
    max_trails: int = 5,
    angle_step_deg: float = 0.5,
    max_width_px: float = 40.0,
    reject_column_deg: float | None = 3.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Trails by the Hough transform of the thresholded significance image.

    Parameters
    ----------
    frames : frames-like
        Anything :func:`satlab.as_frames` accepts.
    threshold : float
        Binarisation level of the significance map [sigma].
    min_votes : int, optional
        Accumulator peak (pixels on the line) a trail needs; default ``min_length_px``.
    smooth_px : float
        Gaussian smoothing before thresholding [px].
    min_length_px : float
        Shorter fitted trails are dropped [px].
    max_trails : int
        At most this many trails per frame.
    angle_step_deg : float
        Hough angle resolution [deg].
    max_width_px : float
        Widest trail searched for [px]; sets the band pixels are collected from.
    reject_column_deg : float or None
        Trails within this angle of a pixel column are dropped [deg]: seed 001's filter
        for readout smear, which every line detector finds (a smear band ~20 px wide and
        200 px long holds lines up to ~5 deg off the column); ``None`` keeps them.
    seed : int
        Seed of the RANSAC segment fit.

    Returns
    -------
    pandas.DataFrame
        The trail table (:data:`satlab.lines.TRAIL_COLUMNS`); ``score`` is the Hough
        peak [pixels on the line]. No trail: empty table and a :class:`SatlabWarning`.
    """
    from skimage.transform import hough_line, hough_line_peaks

    _check(threshold)
    min_votes = int(min_length_px if min_votes is None else min_votes)
    params = {
        "threshold": threshold,
        "min_votes": min_votes,
        "smooth_px": smooth_px,
        "min_length_px": min_length_px,
        "max_trails": max_trails,
        "angle_step_deg": angle_step_deg,
        "max_width_px": max_width_px,
        "reject_column_deg": reject_column_deg,
        "seed": seed,
    }
    angles = np.radians(np.arange(-90.0, 90.0, angle_step_deg))

    def detect(img, valid):
        s = significance(img, valid, smooth_px=smooth_px)
        edge = edge_distance(valid & np.isfinite(img))
        binary = s > threshold
        found = []
        for _ in range(max_trails):
            if binary.sum() < min_votes:
                break
            h, th, d = hough_line(binary, theta=angles)
            votes, th, d = hough_line_peaks(h, th, d, num_peaks=1, threshold=min_votes)
            if len(votes) == 0:
                break
            theta_deg, rho = float(np.degrees(th[0])), float(d[0])
            width = min(_band_width(s, rho, theta_deg, max_px=max_width_px), max_width_px)
            seg = _segment_on_line(
                s, binary, edge, rho, theta_deg, band_px=2 * width, min_fill=0.3, seed=seed
            )
            # remove what this line explains whether or not it made a trail
            th_r = np.radians(theta_deg)
            yy, xx = np.mgrid[: s.shape[0], : s.shape[1]]
            binary &= np.abs(xx * np.cos(th_r) + yy * np.sin(th_r) - rho) > width
            if seg is None or seg["length_px"] < min_length_px:
                continue
            seg["score"] = float(votes[0])
            found.append(seg)
        return merge_collinear(found, edge, angle_tol_deg=3.0, dist_px=5.0, seed=seed)

    return _frames_loop(
        frames,
        detect,
        method="hough",
        params=params,
        empty_reason=f"no line with >= {min_votes} pixels above {threshold} sigma",
    )


def radon_trails(
    frames,
    *,
    threshold: float = 5.0,
    smooth_px: float = 2.0,
    bin_factor: int = 2,
    angle_step_deg: float = 1.0,
    min_length_px: float = 30.0,
    max_trails: int = 5,
    max_width_px: float = 40.0,
    reject_column_deg: float | None = 3.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Trails by a path-length-normalised Radon transform of the significance image.

    A line scores its mean significance less that of the brighter of the lines
    ``max_width_px`` to either side (towards the footprint edge, the furthest line there
    is, down to half that; a line without one on either side scores nothing), times the
    square root of its path length, over the robust scatter of all lines' scores. The
    strongest line is fitted as a segment and its band masked before the transform is
    taken again: lines crossing a bright trail at a few degrees pick up its light. Each
    trail found costs one more transform: 0.2 s per 200x200 CHEOPS frame here, 15 s per
    1032x768 frame with two trails.

    Parameters
    ----------
    frames : frames-like
        Anything :func:`satlab.as_frames` accepts.
    threshold : float
        Peak significance a trail needs in the normalised sinogram [sigma].
    smooth_px : float
        Gaussian smoothing of the significance map [px].
    bin_factor : int
        The significance map is block-averaged by this factor before the transform
        (trails are wider than a pixel; the transform costs the square of the size).
    angle_step_deg : float
        Angle resolution of the sinogram [deg].
    min_length_px : float
        Shorter fitted trails, and lines shorter than this through the footprint, are
        dropped [px].
    max_trails : int
        At most this many trails per frame.
    max_width_px : float
        Widest trail searched for [px].
    reject_column_deg : float or None
        Trails within this angle of a pixel column are dropped [deg] (readout smear, as
        in :func:`hough_trails`).
    seed : int
        Seed of the RANSAC segment fit.

    Returns
    -------
    pandas.DataFrame
        The trail table; ``score`` is the sinogram peak [sigma]. No trail: empty table and
        a :class:`SatlabWarning`.
    """
    _check(threshold)
    if int(bin_factor) < 1:
        raise InputError(f"bin_factor: expected an integer >= 1, got {bin_factor}")
    b = int(bin_factor)
    params = {
        "threshold": threshold,
        "smooth_px": smooth_px,
        "bin_factor": b,
        "angle_step_deg": angle_step_deg,
        "min_length_px": min_length_px,
        "max_trails": max_trails,
        "max_width_px": max_width_px,
        "reject_column_deg": reject_column_deg,
        "seed": seed,
    }
    radon_angles = np.arange(0.0, 180.0, angle_step_deg)

    def detect(img, valid):
        s = significance(img, valid, smooth_px=smooth_px)
        edge = edge_distance(valid & np.isfinite(img))
        found = []
        yy, xx = np.indices(s.shape)
        sep = max(2, int(max_width_px / (2 * b)))  # peaks closer than this are one line
        # the strongest line first; its trail is then masked and the transform taken
        # again, as Hough removes the pixels it fitted: lines crossing a bright trail
        # pick up its light and would pass for trails of their own (taking the next peak
        # of the same transform instead, with the trail masked for the fits only, lets
        # more false lines through: 39 % against 52 % of the trails at 1 % FPR)
        z = _ridge_significance(s, b, radon_angles, min_length_px, max_width_px)
        for _ in range(3 * max_trails):
            if z is None or len(found) == max_trails:
                break
            i, j = np.unravel_index(np.argmax(z), z.shape)
            if not z[i, j] >= threshold:
                break
            rho, theta_deg = _radon_line(i, j, z.shape[0], radon_angles, s.shape, b)
            width = min(_band_width(s, rho, theta_deg, max_px=max_width_px), max_width_px)
            seg = _segment_on_line(
                s, s > 1.0, edge, rho, theta_deg, band_px=2 * width, min_fill=0.5, seed=seed
            )
            if seg is None or seg["length_px"] < min_length_px:
                z[max(i - sep, 0) : i + sep + 1, max(j - sep, 0) : j + sep + 1] = 0.0
                continue
            seg["score"] = float(z[i, j])
            found.append(seg)
            ends = (seg["x0"], seg["y0"]), (seg["x1"], seg["y1"])
            s = np.where(distance_to_segment(xx, yy, *ends) <= width, np.nan, s)
            z = _ridge_significance(s, b, radon_angles, min_length_px, max_width_px)
        found = merge_collinear(found, edge, angle_tol_deg=3.0, dist_px=5.0, seed=seed)
        return sorted(found, key=lambda r: -r["score"])

    return _frames_loop(
        frames,
        detect,
        method="radon",
        params=params,
        empty_reason=f"no sinogram peak above {threshold} sigma",
    )


def _ridge_significance(s, b, angles, min_length_px, max_width_px):
    """Significance [sigma] of a trail along each line of the binned map ``s``: a
    ``(position, angle)`` array as skimage's ``radon`` lays it out, or None (too few
    lines)."""
    from astropy.stats import mad_std
    from skimage.measure import block_reduce
    from skimage.transform import radon

    # masked pixels (footprint, stars, trails found) add nothing and do not count in the
    # path length
    path = radon(block_reduce(np.isfinite(s).astype(float), (b, b), np.mean), angles, False)
    ok = path * b >= min_length_px
    sino = radon(block_reduce(np.nan_to_num(s), (b, b), np.mean), angles, False)
    mean = np.where(ok, sino / np.maximum(path, 1e-9), np.nan)
    # a trail is a ridge along the position axis; an edge (the Earth's limb, a glow) is a
    # step and a gradient a slope. Each line's mean is measured against the brighter of
    # the lines beside it on either side, max_width_px away (or, towards the footprint
    # edge, the furthest there is, down to half that): a trail stands above both.
    far, near = max(1, round(max_width_px / b)), max(1, round(max_width_px / (2 * b)))
    sides = np.full((2, *mean.shape), np.nan)
    for d in range(near, far + 1):
        sides[0, d:] = np.where(np.isnan(mean[:-d]), sides[0, d:], mean[:-d])
        sides[1, :-d] = np.where(np.isnan(mean[d:]), sides[1, :-d], mean[d:])
    excess = (mean - sides.max(axis=0)) * np.sqrt(np.maximum(path, 1e-9))
    ok &= np.isfinite(excess)
    if ok.sum() < 10:
        return None
    # the scatter over every line: the ridge test takes out a bright trail's light on
    # the lines crossing it (their neighbours cross it too), which inflated the scatter
    # of the plain sums and deflated the trail's own peak to a few sigma
    sigma = mad_std(excess[ok])
    if not sigma > 0:
        return None
    return np.where(ok, (excess - np.median(excess[ok])) / sigma, 0.0)


def _radon_line(i, j, n_positions, angles, shape, b):
    """``(rho [px], theta [deg])`` of sinogram cell ``(i, j)`` of a map of ``shape`` binned
    by ``b``."""
    # skimage's radon: angle a sums along the direction at -a (image y down), the
    # position axis runs from the binned image's centre pixel
    theta_deg, sign = -angles[j], 1.0
    if theta_deg < -90.0:
        theta_deg, sign = theta_deg + 180.0, -1.0
    th = np.radians(theta_deg)
    cy, cx = (-(-n // b) // 2 for n in shape)
    rho_b = sign * (i - n_positions // 2) + cx * np.cos(th) + cy * np.sin(th)
    return rho_b * b + (b - 1) / 2.0 * (np.cos(th) + np.sin(th)), float(theta_deg)


def findsat_trails(frames, *, threshold: float = 5.0, seed: int = 0) -> pd.DataFrame:
    """Trails by :class:`acstools.findsat_mrt.TrailFinder` (optional ``acstools``).

    Parameters
    ----------
    frames : frames-like
        Anything :func:`satlab.as_frames` accepts.
    threshold : float
        ``TrailFinder`` detection threshold [sigma].
    seed : int
        Seed of the RANSAC segment fit.

    Returns
    -------
    pandas.DataFrame
        The trail table from ``TrailFinder``'s trail mask (components and line fit as in
        :func:`satlab.lines.trails_from_mask`); ``score`` is the mask fraction (1).

    Raises
    ------
    satlab.errors.InputError
        If ``acstools`` is not installed (``pip install acstools``).
    """
    from .lines import trails_from_mask

    try:
        from acstools.findsat_mrt import TrailFinder
    except ImportError as exc:
        raise InputError(
            "method='findsat': needs the optional package acstools (pip install acstools)"
        ) from exc
    _check(threshold)
    ds = as_frames(frames)
    masks = []
    for k in range(ds.sizes["frame"]):
        img = np.asarray(ds["flux"][k].values, dtype=np.float64)
        img = np.where(ds["valid"].values & np.isfinite(img), img, np.nan)
        # TrailFinder wants a background-subtracted image; write nothing, plot nothing
        tf = TrailFinder(
            img - np.nanmedian(img),
            threshold=threshold,
            processes=1,
            mask_include_status=[2, 3],
            plot=False,
            save_catalog=False,
            save_diagnostic=False,
            save_mrt=False,
            save_mask=False,
        )
        tf.run_all()
        mask = getattr(tf, "mask", None)
        masks.append(np.zeros(img.shape, bool) if mask is None else np.asarray(mask, bool))
    cube = np.stack(masks).astype(np.float32)
    import xarray as xr

    prob = xr.DataArray(cube, dims=("frame", "y", "x"), coords={"frame": frame_index(ds)})
    return trails_from_mask(prob, threshold=0.5, seed=seed, method="findsat")
