"""Card edges at sub-pixel precision: each side of a detected quadrilateral is located along normals on the
full-resolution image and fitted with a robust straight line (rounded corners excluded); the corners are the
lines' intersections. A side running off the image is placed from the ID-1 aspect ratio."""

from __future__ import annotations

import cv2
import numpy as np

from worker.raster import median

ID1_ASPECT = 85.6 / 53.98
_BORDER_REACH = 0.08  # search reach across a side at the image border, share of its length
_MEDIAN_SHARE = 0.25  # see _edge_offset
_STEP_HALF = 8  # half-samples (0.5 px each): the step is measured 4 px either side
_OUTERMOST_SHARE = 0.35  # see _edge_offset
_MIN_VISIBLE_SHARE = 0.1  # of a side running off the image: fitted on its visible stretch from this


def order_clockwise(pts: np.ndarray) -> np.ndarray:
    """Clockwise on screen (y down), starting so that the first side is a long side."""
    c = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    p = pts[np.argsort(ang)]
    if np.linalg.norm(p[1] - p[0]) < np.linalg.norm(p[2] - p[1]):
        p = np.roll(p, -1, axis=0)
    return p.astype(np.float64)


Line = tuple[np.ndarray, np.ndarray]


def refine_quad(
    grey: np.ndarray, quad: np.ndarray, samples: int = 48, *, card: bool = True
) -> tuple[np.ndarray | None, float]:
    """Sub-pixel card corners: strongest consistent edge along normals of each side, robust line fits.

    Also returns the grey-level step across the weakest side: a card whose edge barely differs from the
    paper is located better by its printed text than by its edges. For a card (`card`), the step is taken
    at each sample's own edge and a side running off the image is placed from the ID-1 aspect ratio; for a
    sheet of paper the step is taken at the side's mean edge position and such a side fails the quad."""
    q = order_clockwise(quad)
    centre = q.mean(axis=0)
    lines: list[Line | None] = []
    steps = []
    h, w = grey.shape[:2]
    for i in range(4):
        side = _refine_side(grey, q[i], q[(i + 1) % 4], centre, samples, card)
        if side is None:
            return None, 0.0
        line, step = side
        lines.append(line)  # None: this side runs along the image border (the card is cut off there)
        if line is not None:
            steps.append(step)
    missing = [i for i, line in enumerate(lines) if line is None]
    if len(missing) > 1:
        return None, 0.0
    if missing:
        lines[missing[0]] = _side_from_aspect(lines, missing[0], centre, (w, h))
    corners = []
    for i in range(4):
        prev, this = lines[i - 1], lines[i]
        c = intersect_lines(prev, this) if prev is not None and this is not None else None
        if c is None:
            return None, 0.0
        corners.append(c)
    # corner i is where side i-1 meets side i, i.e. the start point of side i
    return np.array(corners), median(steps)


def _refine_side(
    grey: np.ndarray, p0: np.ndarray, p1: np.ndarray, centre: np.ndarray, samples: int, card: bool
) -> tuple[Line | None, float] | None:
    """The side p0→p1 fitted to the edge found along its normals, and the grey-level step across it. The
    line is None for a card side running off the image; None altogether when the side fails the quad."""
    h, w = grey.shape[:2]
    d = p1 - p0
    length = float(np.linalg.norm(d))
    if length < 10:
        return None
    t = d / length
    n = np.array([-t[1], t[0]])
    if np.dot((p0 + p1) / 2 - centre, n) < 0:
        n = -n  # outward
    # a side at the image border may be a card side running off the image: the contour then follows
    # the border for a stretch and its coarse side is off the real one by more than the usual reach
    at_border = card and _at_border(p0, p1, w, h)
    reach = max(4.0, (_BORDER_REACH if at_border else 0.03) * length)
    offs = np.arange(-reach, reach + 0.5, 0.5)
    ts = np.linspace(0.1, 0.9, samples)
    if at_border:
        # all the samples on the side's visible stretch: beside a cut-off corner it can be a sixth of
        # the side, too few of the evenly spread samples to fit it, and the border would be fitted
        span = _visible_span(p0, d, w, h)
        if span is not None and min(0.9, span[1]) - max(0.1, span[0]) >= _MIN_VISIBLE_SHARE:
            ts = np.linspace(max(0.1, span[0]), min(0.9, span[1]), samples)
    base = p0[None, :] + ts[:, None] * d[None, :]
    # samples outside the image only see the replicated border: they have no say where the edge is
    use = (base[:, 0] >= 1) & (base[:, 0] <= w - 2) & (base[:, 1] >= 1) & (base[:, 1] <= h - 2)
    if not at_border or use.sum() < samples // 4:
        use = np.ones(len(base), bool)
    pts = base[:, None, :] + offs[None, :, None] * n[None, None, :]
    prof = cv2.remap(
        grey,
        pts[..., 0].astype(np.float32),
        pts[..., 1].astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    ).astype(np.float32)
    pos, strong, step = _edge_positions(prof, use, at_border=at_border, card=card)
    edge_pts = base + (offs[0] + pos)[:, None] * n[None, :]
    edge_pts = edge_pts[strong]
    line = robust_tls(edge_pts) if len(edge_pts) >= samples // 4 else None
    if line is None and not (card and _at_border(p0, p1, w, h)):
        return None
    return line, step


def _edge_positions(
    prof: np.ndarray, use: np.ndarray, *, at_border: bool, card: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """Along each sample's profile: the edge's sub-pixel offset from the profile's start, whether it is
    strong enough to fit, and the median grey-level step across the side."""
    deriv = np.diff(prof, axis=1)
    if card:
        k, sign = _edge_offset(prof[use], at_border=at_border)
    else:  # a sheet's edge on a table is a strong step along the whole side: the mean step finds it
        mean_d = deriv.mean(axis=0)
        k = int(np.argmax(np.abs(mean_d)))
        sign = 1.0 if mean_d[k] >= 0 else -1.0
    lo, hi = max(0, k - 8), min(deriv.shape[1], k + 9)
    window = deriv[:, lo:hi] * sign
    j = np.argmax(window, axis=1)
    peak = window[np.arange(len(j)), j]
    # the grey-level step 3 px either side of each sample's own edge: measured at the mean position k,
    # a start quad a degree off the edge would see the step only where it happens to cross k
    edge = lo + j
    rows = np.arange(len(j))
    after, before = np.minimum(edge + 7, prof.shape[1] - 1), np.maximum(edge - 6, 0)
    if not card:
        after, before = np.full_like(edge, min(k + 7, prof.shape[1] - 1)), np.full_like(edge, max(0, k - 6))
    step = median(np.abs(prof[rows, after] - prof[rows, before])[use])
    jj = np.clip(j, 1, window.shape[1] - 2)
    rows_idx = np.arange(len(jj))
    left, mid, right = window[rows_idx, jj - 1], window[rows_idx, jj], window[rows_idx, jj + 1]
    den = left - 2 * mid + right
    sub = np.where(den < 0, 0.5 * (left - right) / np.where(den < 0, den, -1), 0.0)
    sub = np.where((j == jj), np.clip(sub, -0.5, 0.5), 0.0)
    strong = (peak > 0.35 * float(np.median(np.abs(peak[use])) + 1e-6) + 2.0) & use
    return 0.5 * (lo + j + sub + 0.5), strong, step  # derivative i sits between samples i and i+1


def _edge_offset(prof: np.ndarray, *, at_border: bool = False) -> tuple[int, float]:
    """Where along the normals a side's edge lies and its sign: an index into the profiles' derivative
    (`prof` is samples × offsets, offsets running outward).

    An edge is a step in grey level, not a line: each offset is scored by the difference between the
    profile 4 px outward and 4 px inward, which a thin printed line hardly changes. When most samples agree
    on a step (the median is a fair share of the mean), the median decides: a mean lets a few strong steps
    win, such as the top of a QR code, an emblem or a title line just inside a faint card edge over a
    third of the side. A start quad crossing the edge at an angle smears the step over many offsets, and
    then only the mean sees it. The derivative's mean within ±4 px of the chosen offset places the edge.
    Of the steps most samples agree on, the outermost strong one is taken: outside a card there is only
    the table or the paper, inside it a title line, the MRZ or a QR code can step more than a faint edge.
    So too on a side `at_border` (searched far, because the card runs off the image there)."""
    half = _STEP_HALF
    deriv_mean = np.diff(prof, axis=1).mean(axis=0)
    if prof.shape[1] <= 2 * half + 2:
        k = int(np.argmax(np.abs(deriv_mean)))
        return k, 1.0 if deriv_mean[k] >= 0 else -1.0
    steps = prof[:, 2 * half :] - prof[:, : -2 * half]  # index j: step centred on derivative j + half - 1
    mean_s, med_s = steps.mean(axis=0), np.median(steps, axis=0)
    consistent = bool(np.abs(med_s).max() >= _MEDIAN_SHARE * np.abs(mean_s).max())
    profile = med_s if consistent else mean_s
    best = int(np.argmax(np.abs(profile)))
    if consistent or at_border:  # either sign: a dark band inside a light card steps the other way
        best = int(np.flatnonzero(np.abs(profile) >= _OUTERMOST_SHARE * abs(profile[best]))[-1])
        sign = 1.0 if profile[best] >= 0 else -1.0
        while best + 1 < len(profile) and profile[best + 1] * sign > profile[best] * sign:
            best += 1  # up to the top of that step
    sign = 1.0 if profile[best] >= 0 else -1.0
    centre = best + half - 1
    lo, hi = max(0, centre - half), min(len(deriv_mean), centre + half + 1)
    return lo + int(np.argmax(deriv_mean[lo:hi] * sign)), sign


def _at_border(p0: np.ndarray, p1: np.ndarray, w: int, h: int) -> bool:
    """A side of the coarse quad ending at the image border: where a card runs off the image, its contour
    follows the border, and the real side is partly or wholly outside."""
    m = 0.01 * max(w, h)
    return any(x < m or y < m or x > w - 1 - m or y > h - 1 - m for x, y in (p0, p1))


def _visible_span(p0: np.ndarray, d: np.ndarray, w: int, h: int) -> tuple[float, float] | None:
    """The stretch t0..t1 of the segment p0 + t·d (0 <= t <= 1) inside the image less a 1 px rim."""
    t0, t1 = 0.0, 1.0
    for axis, limit in ((0, w - 2), (1, h - 2)):
        if abs(d[axis]) < 1e-9:
            if not 1 <= p0[axis] <= limit:
                return None
            continue
        a, b = (1 - p0[axis]) / d[axis], (limit - p0[axis]) / d[axis]
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
    return (float(t0), float(t1)) if t1 > t0 else None


def _side_from_aspect(
    lines: list[tuple[np.ndarray, np.ndarray] | None], missing: int, centre: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The side of a card cut off by the image border, placed from the three visible ones: parallel to the
    opposite side, at the distance the ID-1 aspect ratio gives for the opposite side's length, and no
    nearer than where the two neighbouring sides leave the image (the side is not visible, so it is not
    inside the image: perspective can shorten the card beyond the aspect ratio's distance)."""
    opposite, before, after = lines[(missing + 2) % 4], lines[(missing - 1) % 4], lines[(missing + 1) % 4]
    if opposite is None or before is None or after is None:
        return None
    a, b = intersect_lines(opposite, before), intersect_lines(opposite, after)
    if a is None or b is None:
        return None
    length = float(np.linalg.norm(b - a))
    # sides 0 and 2 are the long ones: the missing long side lies a card height away, a short side a width
    distance = length / ID1_ASPECT if missing % 2 == 0 else length * ID1_ASPECT
    point, direction = opposite
    normal = np.array([-direction[1], direction[0]])
    if np.dot(centre - point, normal) < 0:
        normal = -normal  # towards the card
    for start, side in ((a, before), (b, after)):
        leaves = _leaves_image(start, side[1] if np.dot(side[1], normal) > 0 else -side[1], size)
        if leaves is not None:
            distance = max(distance, float(np.dot(leaves - point, normal)))
    return point + distance * normal, direction


def _leaves_image(start: np.ndarray, direction: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """Where the ray from `start` (inside the image) along `direction` leaves the image (w, h)."""
    w, h = size
    if not (0 <= start[0] <= w - 1 and 0 <= start[1] <= h - 1):
        return None
    ts = []
    for axis, limit in ((0, w - 1), (1, h - 1)):
        if direction[axis] > 1e-9:
            ts.append((limit - start[axis]) / direction[axis])
        elif direction[axis] < -1e-9:
            ts.append(-start[axis] / direction[axis])
    return start + min(ts) * direction if ts else None


def robust_tls(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    keep = np.ones(len(pts), bool)
    for _ in range(4):
        if keep.sum() < 4:
            return None
        p = pts[keep]
        c = p.mean(axis=0)
        _, _, vt = np.linalg.svd(p - c, full_matrices=False)  # only the 2x2 directions are needed
        direction = vt[0]
        normal = np.array([-direction[1], direction[0]])
        resid = (pts - c) @ normal
        mad = median(np.abs(resid[keep])) * 1.4826
        keep = np.abs(resid) <= max(1.0, 3.0 * mad)
    return c, direction


def intersect_lines(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    (p, r), (q, s) = a, b
    den = r[0] * s[1] - r[1] * s[0]
    if abs(den) < 1e-6:
        return None
    t = ((q[0] - p[0]) * s[1] - (q[1] - p[1]) * s[0]) / den
    return p + t * r
