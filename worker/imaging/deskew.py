"""Text-line geometry: the direction of the text (coarse, over a half turn) and the fine skew angle.

Angles are counter-clockwise as seen on screen (PIL's Image.rotate convention): content rotated by +θ has text
lines rising to the right; undoing it means rotating by -θ.

1. Coarse: glyph centroids projected at every whole degree over 180° (vectorised histograms); the sharpest
   projection gives the line direction (horizontal or vertical text) and the angle to ~0.5°.
2. Fine: the ink mask is rotated to upright-ish, glyphs found again, grouped into text-line segments and each
   segment's baseline and top line fitted robustly. The weighted mean slope of hundreds of glyphs over long
   lines is what makes ~0.05° possible. The same fits tell whether the baselines (flat) are at the bottom
   (upright) or at the top (upside down): see orientation.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from worker.imaging.text import Glyphs, glyphs_and_marks, ink_mask
from worker.raster import median


@dataclass
class LineEvidence:
    """What the fitted text lines say, in the frame the mask was rotated to."""

    delta_deg: float = 0.0  # residual skew found by the line fits (CCW)
    lines: int = 0
    glyphs_used: int = 0
    # > 0: baselines align better at the bottom (text upright); < 0: at the top (upside down)
    updown: float = 0.0
    updown_weight: float = 0.0
    # marks (diacritics, i-dots) above the line band minus those below, normalised by the count
    marks: float = 0.0
    marks_count: int = 0
    slope_spread_deg: float = 0.0
    segment_slopes: list[float] = field(default_factory=list)


def coarse_angle(g: Glyphs) -> tuple[float, float]:
    """Best text-line angle in [-45, 135) degrees from glyph centroids, and a sharpness contrast (>1 = clear).

    The contrast is the best projection's sharpness over that of the direction at right angles to it.
    """
    if len(g) < 6:
        return 0.0, 0.0
    angles = np.arange(-45.0, 135.0, 1.0)
    scores = _sharpness(g.cx, g.cy, np.radians(angles), bin_px=max(1.0, 0.35 * g.height))
    best = int(np.argmax(scores))
    # parabolic peak interpolation on the circular score list
    left, right = scores[best - 1], scores[(best + 1) % len(scores)]
    denom = left - 2 * scores[best] + right
    offset = 0.5 * (left - right) / denom if denom < 0 else 0.0
    angle = float(angles[best] + max(-0.5, min(0.5, offset)))
    ortho = scores[(best + 90) % len(scores)]
    contrast = float(scores[best] / max(ortho, 1e-9))
    return angle, contrast


def refine_angle(g: Glyphs, angle: float, *, span: float = 1.5, step: float = 0.1) -> float:
    """Sharpen an angle estimate with a finer centroid projection around it."""
    if len(g) < 6:
        return angle
    angles = np.arange(angle - span, angle + span + step / 2, step)
    scores = _sharpness(g.cx, g.cy, np.radians(angles), bin_px=max(1.0, 0.25 * g.height))
    best = int(np.argmax(scores))
    if 0 < best < len(scores) - 1:
        left, right = scores[best - 1], scores[best + 1]
        denom = left - 2 * scores[best] + right
        if denom < 0:
            return float(angles[best] + step * max(-0.5, min(0.5, 0.5 * (left - right) / denom)))
    return float(angles[best])


def _sharpness(x: np.ndarray, y: np.ndarray, thetas: np.ndarray, bin_px: float) -> np.ndarray:
    """Sum of squared bin counts of r = x·sinθ + y·cosθ for each θ: peaks when lines of glyphs align."""
    r = np.outer(np.sin(thetas), x) + np.outer(np.cos(thetas), y)  # (angles, points)
    idx = np.floor(r / bin_px).astype(np.int64)
    idx -= idx.min(axis=1, keepdims=True)
    nb = int(idx.max()) + 1
    flat = (idx + np.arange(len(thetas))[:, None] * nb).ravel()
    counts = np.bincount(flat, minlength=nb * len(thetas)).reshape(len(thetas), nb).astype(np.float64)
    # adjacent-bin smoothing makes the score robust to a line straddling two bins
    counts = counts[:, :-1] + counts[:, 1:] if nb > 1 else counts
    return (counts**2).sum(axis=1)


def rotate_image(
    image: np.ndarray, angle: float, *, interpolation: int = cv2.INTER_CUBIC, zoom: float = 1.0
) -> np.ndarray:
    """Rotate by -angle (undoing a CCW rotation of angle) on an expanded canvas, edges replicated; `zoom`
    scales the result in the same warp."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), -angle, zoom)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = math.ceil(w * c + h * s), math.ceil(w * s + h * c)
    m[0, 2] += nw / 2.0 - w / 2.0
    m[1, 2] += nh / 2.0 - h / 2.0
    return cv2.warpAffine(image, m, (nw, nh), flags=interpolation, borderMode=cv2.BORDER_REPLICATE)


def fit_lines(g: Glyphs, marks: Glyphs | None = None) -> LineEvidence:
    """Group glyphs of a near-horizontal text image into line segments and fit their bottoms and tops.

    The slope is one common slope over all lines (pooled regression), with a separate intercept for each
    run of words sharing a baseline: labels and values in different fonts on one card line sit a few pixels
    apart, and fitting one straight line through both would tilt it.
    """
    ev = LineEvidence()
    if len(g) < 4:
        return ev
    h = g.height
    segments, words = _line_segments(g)
    ev.lines = len(segments)
    ev.glyphs_used = sum(len(seg) for seg in segments)
    if not segments:
        return ev
    xs = np.concatenate([(g.x0[s] + g.x1[s]) / 2.0 for s in segments])
    tol = max(1.0, 0.08 * h)
    # bottoms and tops of every segment fitted at once: which edge is the flat one (the baseline)
    sizes = np.array([len(s) for s in segments])
    seg_ids = np.repeat(np.arange(len(segments)), sizes)
    everything = np.concatenate(segments)
    ok_b, frac_b = _robust_line_fractions(xs, g.y1[everything], seg_ids, len(segments), tol)
    ok_t, frac_t = _robust_line_fractions(xs, g.y0[everything], seg_ids, len(segments), tol)
    both = ok_b & ok_t
    up_num = float(np.sum((sizes * (frac_b - frac_t))[both]))
    up_den = float(np.sum(sizes[both]))
    mark_bands = [
        (float(g.x0[seg].min()), float(g.x1[seg].max()), median(g.y0[seg]), median(g.y1[seg]))
        for seg in (segments[i] for i in np.flatnonzero(both))
    ]
    estimates = _edge_slopes(g, segments, words, xs, tol)
    if not estimates:
        return ev
    wsum = sum(1.0 / v for _, v in estimates)
    slope = sum(s / v for s, v in estimates) / wsum
    # image y points down, so a line rising to the right has a negative slope: CCW angle = -atan(slope)
    ev.delta_deg = -float(np.degrees(np.arctan(slope)))
    ev.segment_slopes = [-float(np.degrees(np.arctan(s))) for s, _ in estimates]
    ev.slope_spread_deg = float(np.degrees(np.sqrt(1.0 / wsum)))
    if up_den:
        ev.updown = up_num / up_den
        ev.updown_weight = up_den
    if marks is not None and len(marks) and mark_bands:
        above, below = _marks_beside(marks, mark_bands)
        ev.marks_count = above + below
        ev.marks = (above - below) / max(1, above + below)
    return ev


def _line_segments(g: Glyphs) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Runs of glyphs on one text line (rows of similar centre height, cut at wide gaps), and per run the
    word index of each glyph (in x order)."""
    h = g.height
    order = np.argsort(g.cy)
    cy = g.cy[order]
    breaks = np.flatnonzero(np.diff(cy) > 0.45 * h) + 1
    segments: list[np.ndarray] = []
    words: list[np.ndarray] = []
    for rows in np.split(order, breaks):
        if len(rows) < 4:
            continue
        rows = rows[np.argsort(g.x0[rows])]
        gaps = g.x0[rows[1:]] - np.maximum.accumulate(g.x1[rows])[:-1]
        start = 0
        cuts: list[int] = [int(c) for c in np.flatnonzero(gaps > 3.0 * h) + 1]
        for cut in [*cuts, len(rows)]:
            seg = rows[start:cut]
            seg_gaps = gaps[start : cut - 1]
            start = cut
            if len(seg) < 4 or float(g.x1[seg].max() - g.x0[seg].min()) < 5.0 * h:
                continue
            segments.append(seg)
            words.append(np.concatenate([[0], np.cumsum(seg_gaps > 0.5 * h)]))
    return segments, words


def _edge_slopes(
    g: Glyphs, segments: list[np.ndarray], words: list[np.ndarray], xs: np.ndarray, tol: float
) -> list[tuple[float, float]]:
    """The pooled slope (and its variance) of the glyphs' bottoms and of their tops, each fitted with one
    intercept per run of words sharing a baseline."""
    estimates = []
    for edge in (g.y1, g.y0):
        ys = np.concatenate([edge[s] for s in segments])
        word_ids = _global_ids(words)
        s1, _v1, _r1 = _pooled_slope(xs, ys, word_ids, tol)
        if s1 is None:
            continue
        group_ids = _merge_words(xs, ys, words, s1, 1.5 * tol)
        s2, v2, _ = _pooled_slope(xs, ys, group_ids, tol)
        if s2 is not None:
            estimates.append((s2, v2))
    return estimates


def _marks_beside(marks: Glyphs, mark_bands: list[tuple[float, float, float, float]]) -> tuple[int, int]:
    """Marks (diacritics, i-dots) just above and just below the line bands (x_lo, x_hi, top, bottom)."""
    above = below = 0
    for x_lo, x_hi, top, bottom in mark_bands:
        inside = (marks.cx >= x_lo) & (marks.cx <= x_hi)
        band = bottom - top
        above += int(np.sum(inside & (marks.y1 <= top + 0.15 * band) & (marks.y1 >= top - 0.9 * band)))
        below += int(np.sum(inside & (marks.y0 >= bottom - 0.15 * band) & (marks.y0 <= bottom + 0.9 * band)))
    return above, below


def _global_ids(words: list[np.ndarray]) -> np.ndarray:
    out, base = [], 0
    for w in words:
        out.append(w + base)
        base += int(w.max()) + 1
    return np.concatenate(out)


def _merge_words(xs: np.ndarray, ys: np.ndarray, words: list[np.ndarray], slope: float, tol: float) -> np.ndarray:
    """Intercept groups for the pooled fit: runs of glyphs on one level, joined across words and outliers.

    Within a segment the detrended edge (y - slope·x) of consecutive glyphs stays on one level until the font
    changes (label → value) or a glyph sticks out (descender, MRZ chevron). A lone glyph off the level gets a
    group of its own (a group of one carries no slope information, so it cannot bias the fit); a longer run
    on another level starts a new group.
    """
    level = (ys - slope * xs).tolist()
    out = np.empty(len(xs), np.int64)
    gid, pos = -1, 0
    for w in words:
        n = len(w)
        anchor = None
        i = pos
        end = pos + n
        while i < end:
            # extent of the run starting at i: glyphs within tol of each other
            j = i + 1
            while j < end and abs(level[j] - level[j - 1]) <= tol:
                j += 1
            run_level = level[i] if j - i == 1 else sorted(level[i:j])[(j - i) // 2]
            if anchor is not None and abs(run_level - anchor) <= tol:
                out[i:j] = gid
            elif j - i == 1 and anchor is not None:
                gid += 1
                out[i] = gid
                gid += 1  # the next run that matches the anchor rejoins the previous group id below
                gid -= 1
                out[i] = -1  # marked; given a unique id after the loop
            else:
                gid += 1
                anchor = run_level
                out[i:j] = gid
            i = j
        pos = end
    lone = np.flatnonzero(out < 0)
    out[lone] = gid + 1 + np.arange(len(lone))
    return out


def _pooled_slope(x: np.ndarray, y: np.ndarray, groups: np.ndarray, tol: float) -> tuple[float | None, float, float]:
    """Common slope of y = a_g + b·x over groups, with robust outlier rejection: (slope, variance, sigma)."""
    keep = np.ones(len(x), bool)
    slope, var, sigma = None, 1.0, tol
    ng = int(groups.max()) + 1
    for _ in range(3):
        gk = groups[keep]
        cnt = np.bincount(gk, minlength=ng).astype(np.float64)
        if cnt.sum() < 3:
            return None, 1.0, tol
        safe = np.maximum(cnt, 1.0)
        xm = np.bincount(gk, x[keep], ng) / safe
        ym = np.bincount(gk, y[keep], ng) / safe
        xc, yc = x[keep] - xm[gk], y[keep] - ym[gk]
        sxx = float(np.sum(xc * xc))
        if sxx <= 0:
            return None, 1.0, tol
        slope = float(np.sum(xc * yc) / sxx)
        # intercepts from the kept points; residuals for all points
        a = ym - slope * xm
        resid = y - (a[groups] + slope * x)
        rk = resid[keep]
        mad = median(np.abs(rk - median(rk))) * 1.4826
        dof = max(1.0, float(keep.sum() - np.count_nonzero(cnt) - 1))
        sigma = max(0.3, float(np.sqrt(np.sum(rk * rk) / dof)))
        var = sigma * sigma / sxx
        keep = (np.abs(resid) <= max(tol, 2.5 * mad)) & (cnt[groups] >= 2)
    return slope, var, sigma


def _segmented_median(values: np.ndarray, groups: np.ndarray, keep: np.ndarray, n: int) -> np.ndarray:
    """Median of `values[keep]` within each group 0..n-1 (nan for a group with nothing kept)."""
    order = np.lexsort((np.where(keep, values, np.inf), groups))
    ordered = np.where(keep, values, np.inf)[order]
    start = np.concatenate([[0], np.cumsum(np.bincount(groups, minlength=n))[:-1]])
    k = np.bincount(groups, keep, n).astype(np.int64)
    lo = start + np.maximum(k - 1, 0) // 2
    hi = start + k // 2
    top = len(ordered) - 1
    med = (ordered[np.minimum(lo, top)] + ordered[np.minimum(hi, top)]) / 2.0
    return np.where(k > 0, med, np.nan)


def _robust_line_fractions(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, n: int, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """For each group, a robust straight-line fit y = a + b·x (3 rounds of MAD rejection) and the fraction of
    its points within tol of the line: (fit succeeded, fraction). All groups at once: fitted one text line
    at a time, numpy's per-call overhead made this ~1 ms per line, the largest cost of the stage."""
    keep = np.ones(len(x), bool)
    alive = np.ones(n, bool)
    resid = np.zeros(len(x))
    for _ in range(3):
        cnt = np.bincount(groups, keep, n)
        alive &= cnt >= 3
        safe = np.maximum(cnt, 1.0)
        xm = np.bincount(groups, x * keep, n) / safe
        ym = np.bincount(groups, y * keep, n) / safe
        xc = x - xm[groups]
        var = np.bincount(groups, keep * xc * xc, n)
        alive &= var > 0
        slope = np.bincount(groups, keep * xc * (y - ym[groups]), n) / np.where(var > 0, var, 1.0)
        resid = y - (ym[groups] + slope[groups] * xc)
        centre = _segmented_median(resid, groups, keep, n)
        mad = _segmented_median(np.abs(resid - centre[groups]), groups, keep, n) * 1.4826
        limit = np.maximum(tol, 2.5 * np.nan_to_num(mad))
        keep = np.abs(resid) <= limit[groups]
    alive &= np.bincount(groups, keep, n) >= 3
    total = np.maximum(np.bincount(groups, minlength=n), 1)
    frac = np.bincount(groups, np.abs(resid) <= tol, n) / total
    return alive, frac


def line_evidence(grey: np.ndarray, angle: float, *, zoom: float = 1.0) -> tuple[LineEvidence, Glyphs]:
    """Rotate the analysis image upright by `angle` and fit its text lines (glyphs in the rotated frame).

    The grey image is rotated, not the ink mask: thresholding after a cubic rotation keeps glyph edges where
    they were, while rotating a binary mask shifts them by up to a pixel in a pattern that biases the fit.
    With `zoom` > 1 the rotation also upsamples (glyphs then come in the zoomed frame): on a small image
    with few text lines, glyph edges located to a fraction of a source pixel are what brings the skew from
    ~0.06° to ~0.03°.
    """
    if zoom != 1.0:
        rotated = rotate_image(grey, angle, zoom=zoom)
        g, marks = glyphs_and_marks(ink_mask(rotated, window=int(41 * zoom) | 1))
    else:
        rotated = rotate_image(grey, angle) if abs(angle) > 1e-6 else grey
        g, marks = glyphs_and_marks(ink_mask(rotated))
    return fit_lines(g, marks), g
