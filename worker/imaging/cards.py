"""ID-card detection: find card-shaped quadrilaterals in a photo or a photocopy sheet, refine their edges to
sub-pixel lines, and warp each card to the ID-1 aspect ratio at 300 dpi.

Detection runs on a small copy (two complementary candidate sources: colour distance from the surroundings,
and edge contours, which catch a photocopied card whose face is nearly the paper's colour but whose rim is
drawn). Refinement then runs on the full-resolution image: each side's edge is located along ~40 normals
and a robust straight line fitted, the rounded corners excluded; corners are the intersections.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from worker.imaging.edges import ID1_ASPECT, intersect_lines, order_clockwise, refine_quad, robust_tls
from worker.imaging.text import resize_long
from worker.raster import median, percentile_u8

CARD_SIZE = (1012, 638)  # ID-1 at 300 dpi
CARD_WIDTH_IN = 85.6 / 25.4
_DETECT_LONG = 640
_SAME_SHEET_AREA = 0.85  # outlines of one sheet photographed: its rim, paper edge and shadow
_CLEAR_SHEET_EDGE = 40.0  # grey-level step across a sheet's edge that no printed outline makes
_L_SPREAD_CAP = 16.0  # lightness spread of the border sample, Lab units (0-255)
_REFINED_ASPECT = (1.42, 1.80)  # a card in perspective measures 1.42-1.77 (A4 is 1.41; see _printed_frame)
_ASPECT_RANGE = (1.42, 1.85)  # pages that get in are rejected by their print size after the warp
_GROUP_STEP_SHARE = 0.1  # see _refined_of_group
_SAME_CARD_AREA = 0.6  # area ratio of two overlapping candidates taken for views of one card
_SAME_START_PX = 12.0  # full-resolution px: a candidate this close to a refined quad is not refined again
# an outline covering this share of the photo may be the photo's own (vignette, a mat, a streaky table's
# edge): a card of this share of it or more lying inside it is sought too (hand-held photos: 12-50%; a
# crop's own card covers 80% and more, and print boxes inside it under 10%)
_FRAME_OUTLINE = 0.6
_NESTED_CARD = 0.12


@dataclass
class CardQuad:
    corners: np.ndarray  # (4, 2) float, clockwise on screen, corners[0]→corners[1] is a long side
    score: float
    touches_border: bool  # some part of the card may be outside the image
    edge_contrast: float = 0.0  # median grey-level step across the sides (0 when not refined)


def quad_aspect(q: np.ndarray) -> float:
    long = float(np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[3] - q[2])) / 2
    short = float(np.linalg.norm(q[2] - q[1]) + np.linalg.norm(q[0] - q[3])) / 2
    return float(long / max(short, 1e-6))


def detect_cards(image: np.ndarray, prep: Prepared | None = None) -> list[CardQuad]:
    """Card quadrilaterals in a BGR image (full-resolution coordinates), refined, in reading order."""
    h, w = image.shape[:2]
    prep = prep or prepare(image)
    scale = prep.scale
    cands = _candidates(prep)
    # candidates of about one size overlapping one another are views of one card (the colour mask, the
    # edge contours, the lightness-capped mask): each is refined, and the group's card is chosen among the
    # refined quads. One much smaller than a better-scored one it overlaps is a detail inside it (a table
    # on a photographed page, a photo frame on a card) and is dropped.
    groups: list[list[tuple[np.ndarray, float]]] = []
    nested: set[int] = set()  # groups sought inside a photo-sized outline: kept only if they stand out
    frame_area = float(prep.small.shape[0] * prep.small.shape[1])
    for quad, score in sorted(cands, key=lambda c: -c[1]):
        inside_outline = False
        for group in groups:
            if _overlap(quad, group[0][0]) >= 0.3:
                same = _area_ratio(quad, group[0][0]) >= _SAME_CARD_AREA
                if same and all(np.abs(quad - other).max() > 1.5 for other, _ in group):
                    group.append((quad, score))
                if (
                    not same
                    and _is_outline_of_frame(group[0][0], frame_area)
                    and _area(quad) >= _NESTED_CARD * frame_area
                ):
                    inside_outline = True
                    continue  # a card lying inside an outline the size of the photo (its vignette, a mat)
                break
        else:
            if inside_outline:
                nested.add(len(groups))
            groups.append([(quad, score)])
    if not groups:
        return []
    sizes = [_area(g[0][0]) for g in groups]
    biggest = max([a for a in sizes if a < _FRAME_OUTLINE * frame_area] or sizes)
    grey = prep.grey
    out = []
    for index, group in enumerate(groups):
        lead, score = group[0]
        if _area(lead) < 0.3 * biggest:
            continue  # a card-shaped detail (a photo frame, a box) next to a real card
        full, contrast = _refined_of_group(grey, [q / scale for q, _ in group])
        if not _REFINED_ASPECT[0] <= quad_aspect(full) <= _REFINED_ASPECT[1] or _printed_frame(full, prep):
            continue  # once measured precisely it is an A-series sheet (1.41), not an ID-1 card (1.59)
        if index in nested and not _differs_from_surroundings(prep.small, full * scale):
            continue  # a box printed on a page that fills the photo: paper on both sides of its edge
        margin = 0.004 * max(h, w)
        touches = bool(
            np.any(full[:, 0] < margin)
            or np.any(full[:, 1] < margin)
            or np.any(full[:, 0] > w - 1 - margin)
            or np.any(full[:, 1] > h - 1 - margin)
        )
        out.append(CardQuad(order_clockwise(full), score, touches, contrast))
    return _reading_order(_inner_cards(out, prep))


def _area(quad: np.ndarray) -> float:
    return float(cv2.contourArea(quad.astype(np.float32)))


def _is_outline_of_frame(quad: np.ndarray, frame_area: float) -> bool:
    return _area(quad) >= _FRAME_OUTLINE * frame_area


def _inner_cards(quads: list[CardQuad], prep: Prepared) -> list[CardQuad]:
    """Without the photo-sized outline around a card lying on a table (the table's own texture or the
    photo's vignette can make one): the card inside stands out from what surrounds it and its edges step
    more than the outline's (a crop's own card steps more than a print box inside it)."""
    frame_area = float(prep.grey.shape[0] * prep.grey.shape[1])
    inner = [q for q in quads if not _is_outline_of_frame(q.corners, frame_area) and stands_out(prep, q)]

    def holds_a_card(outline: CardQuad) -> bool:
        return _is_outline_of_frame(outline.corners, frame_area) and any(
            _overlap(i.corners, outline.corners) >= 0.9 and i.edge_contrast > outline.edge_contrast for i in inner
        )

    return [q for q in quads if not holds_a_card(q)]


def _refined_of_group(grey: np.ndarray, quads: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """The card among overlapping candidate quads (full-resolution coordinates, best score first): each is
    refined; of those that refine, the one whose weakest side steps most (the largest of those within 10%).

    Every side of a card is a step from card to table: the colour mask can stop at a band printed inside
    the card (a quad 50 px inside the top edge, beyond the refinement's reach: that side then steps the
    wrong way or hardly at all), an edge contour can take in a table streak, and a quad grown into the
    table fails to refine. None refining: the best-scored quad as it is, with contrast 0."""
    pad_quad = np.concatenate(quads)
    blurred = _blurred_around(grey, pad_quad)
    refined_all: list[tuple[np.ndarray, float]] = []
    for full in quads:
        if any(np.abs(full - q).max() < _SAME_START_PX for q, _ in refined_all):
            continue  # starts where a refined quad ended: it would refine to the same
        refined, contrast = refine_quad(blurred, full)
        if refined is None or abs(quad_aspect(refined) - quad_aspect(full)) >= 0.15:
            continue
        if any(np.abs(refined - q).max() < 2.0 for q, _ in refined_all):
            continue  # the same card edges as a quad already refined twice
        # once more from the refined sides: the coarse quad can be a degree off an edge, and then the
        # ends of that side sample the edge at the rim of their search window
        again, again_contrast = refine_quad(blurred, refined)
        if again is not None and abs(quad_aspect(again) - quad_aspect(refined)) < 0.05:
            refined, contrast = again, again_contrast
        refined_all.append((refined, contrast))
    if not refined_all:
        return quads[0], 0.0
    # an outline around the card that refined to another shape (a lamination pouch's rim, 1.39) is no
    # card, however much its weakest side steps: the choice is among the card-shaped ones
    shaped = [qc for qc in refined_all if _REFINED_ASPECT[0] <= quad_aspect(qc[0]) <= _REFINED_ASPECT[1]]
    refined_all = shaped or refined_all
    if len(refined_all) == 1:
        return refined_all[0]
    weakest = [_weakest_side_step(blurred, q) for q, _ in refined_all]
    best = max(weakest)
    return max(
        (qc for qc, step in zip(refined_all, weakest, strict=True) if step >= best - _GROUP_STEP_SHARE * abs(best)),
        key=lambda qc: cv2.contourArea(qc[0].astype(np.float32)),
    )


def _weakest_side_step(grey: np.ndarray, quad: np.ndarray, off: float = 4.0, samples: int = 40) -> float:
    """The smallest of the four sides' grey-level steps, inside less outside, `off` px either side of the
    side's line (median along the side's middle; sides or samples outside the image are not measured)."""
    h, w = grey.shape[:2]
    q = order_clockwise(quad)
    centre = q.mean(axis=0)
    steps = []
    for i in range(4):
        p0, p1 = q[i], q[(i + 1) % 4]
        d = p1 - p0
        t = d / max(float(np.linalg.norm(d)), 1e-6)
        n = np.array([-t[1], t[0]])
        if np.dot((p0 + p1) / 2 - centre, n) < 0:
            n = -n  # outward
        base = p0 + np.linspace(0.15, 0.85, samples)[:, None] * d
        inside = (base[:, 0] >= off) & (base[:, 0] < w - off) & (base[:, 1] >= off) & (base[:, 1] < h - off)
        if inside.sum() < 5:
            continue
        pts = np.concatenate([base[inside] - off * n, base[inside] + off * n]).astype(np.float32)
        vals = cv2.remap(grey, pts[:, :1], pts[:, 1:], cv2.INTER_LINEAR).astype(np.float32).ravel()
        k = int(inside.sum())
        steps.append(median(vals[:k] - vals[k:]))
    if not steps:
        return 0.0
    # either sign (a dark card on a light table), but one sign for the whole card
    return max(min(steps), -max(steps))


def _printed_frame(q: np.ndarray, prep: Prepared) -> bool:
    """The printed border of a certificate page scanned square on (aspect about 1.45): a card only measures
    that short when seen in perspective, and then its opposite sides differ in length; and a printed frame
    has paper on both sides, where a card photographed on a table (turned so that its perspective leaves
    opposite sides equal) has the table outside."""
    sides = [float(np.linalg.norm(q[(i + 1) % 4] - q[i])) for i in range(4)]
    square_on = abs(sides[0] - sides[2]) < 0.01 * max(sides[0], sides[2]) and abs(sides[1] - sides[3]) < 0.01 * max(
        sides[1], sides[3]
    )
    return square_on and quad_aspect(q) < 1.5 and not _differs_from_surroundings(prep.small, q * prep.scale)


def _reading_order(quads: list[CardQuad]) -> list[CardQuad]:
    """Top to bottom, then left to right (cards side by side share a row): the order of `part` numbers."""
    if len(quads) < 2:
        return quads
    tall = float(np.median([np.ptp(q.corners[:, 1]) for q in quads]))
    return sorted(
        quads, key=lambda q: (round(float(q.corners[:, 1].mean()) / (0.5 * tall)), float(q.corners[:, 0].mean()))
    )


def detect_page(image: np.ndarray, prep: Prepared | None = None) -> CardQuad | None:
    """The sheet of paper in a photo (paper on a table): a large quadrilateral of A4-like aspect, refined.

    None when the paper fills the image (a flatbed scan) or no clear sheet is visible."""
    h, w = image.shape[:2]
    prep = prep or prepare(image)
    cands = sorted(_candidates(prep, (1.2, 1.7), 0.25, 297 / 210), key=lambda c: -c[1])
    # the best outline and those nested close around it (the sheet's rim, its shadow) are one sheet: the
    # first of them that stands out from the table and refines is it. A smaller outline (the best was a
    # pattern of the table's cloth) is taken only with a clear paper edge: a card's print can outline one too
    for quad, score in cands:
        same_sheet = _area_ratio(quad, cands[0][0]) >= _SAME_SHEET_AREA
        sheet = _refined_sheet(prep, quad)
        if sheet is None or (not same_sheet and sheet[1] < _CLEAR_SHEET_EDGE):
            continue
        refined, contrast = sheet
        margin = 0.004 * max(h, w)
        touches = bool(
            np.any(refined[:, 0] < margin)
            or np.any(refined[:, 1] < margin)
            or np.any(refined[:, 0] > w - 1 - margin)
            or np.any(refined[:, 1] > h - 1 - margin)
        )
        return CardQuad(order_clockwise(refined), score, touches, contrast)
    return None


def _refined_sheet(prep: Prepared, quad: np.ndarray) -> tuple[np.ndarray, float] | None:
    """A candidate outline (small-image coordinates) refined on the full image, or None when it is no sheet."""
    if not _differs_from_surroundings(prep.small, quad):
        return None  # a printed frame on a scanned page: paper on both sides of the edge
    full = quad / prep.scale
    refined, contrast = refine_quad(_blurred_around(prep.grey, full), full, card=False)
    if refined is None or abs(quad_aspect(refined) - quad_aspect(full)) > 0.1 or contrast < 20:
        return None
    return refined, contrast


def stands_out(prep: Prepared, quad: CardQuad) -> bool:
    """A card lying on a table: just outside its edge the tone differs from just inside (a frame printed
    on a page has paper on both sides)."""
    return _differs_from_surroundings(prep.small, quad.corners * prep.scale)


def _differs_from_surroundings(small: np.ndarray, quad: np.ndarray) -> bool:
    """Paper on a table: the band just outside the sheet has another tone or colour than the band inside."""
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    c = quad.mean(axis=0)

    def poly(f: float) -> np.ndarray:
        m = np.zeros(grey.shape, np.uint8)
        cv2.fillConvexPoly(m, np.round(c + (quad - c) * f).astype(np.int32), 1)
        return m

    inner = (poly(0.97) - poly(0.92)).astype(bool)
    outer = (poly(1.08) - poly(1.03)).astype(bool)
    if inner.sum() < 50 or outer.sum() < 50:
        return False
    return abs(float(np.median(grey[inner])) - float(np.median(grey[outer]))) > 25


def _blurred_around(grey: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The grey image smoothed (sigma 1) only within the quad's neighbourhood: refinement samples nowhere else."""
    h, w = grey.shape
    pad = 0.06 * float(np.max(np.ptp(quad, axis=0))) + 8
    x0, y0 = (max(0, int(v - pad)) for v in quad.min(axis=0))
    x1, y1 = int(min(w, quad[:, 0].max() + pad)), int(min(h, quad[:, 1].max() + pad))
    out = grey.copy()
    out[y0:y1, x0:x1] = cv2.GaussianBlur(grey[y0:y1, x0:x1], (0, 0), 1.0)
    return out


@dataclass
class Prepared:
    """What card and sheet detection share for one image: computed once per page."""

    small: np.ndarray
    scale: float
    quads: list[tuple[np.ndarray, float, float, float]]  # quad (small coords), area fraction, rectangularity, aspect
    grey: np.ndarray  # full-resolution grey


def prepare(image: np.ndarray) -> Prepared:
    small, scale = resize_long(image, _DETECT_LONG)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return Prepared(small, scale, _contour_quads(small), grey)


def _candidates(
    prep: Prepared,
    aspect_range: tuple[float, float] = _ASPECT_RANGE,
    min_area: float = 0.015,
    target_aspect: float = ID1_ASPECT,
) -> list[tuple[np.ndarray, float]]:
    out = []
    for quad, area, rect, aspect in prep.quads:
        if not _shaped(area, aspect, aspect_range, min_area):
            continue
        fit = 1.0 - abs(aspect - target_aspect) / 0.4
        out.append((quad, area * rect * (0.5 + fit)))
    return out


def _contour_quads(small: np.ndarray) -> list[tuple[np.ndarray, float, float, float]]:
    h, w = small.shape[:2]
    # 1. colour distance from the surroundings (the image border is table or paper, not card)
    lab = cv2.cvtColor(cv2.GaussianBlur(small, (5, 5), 0), cv2.COLOR_BGR2LAB)
    b = max(2, int(0.03 * min(h, w)))
    border = np.concatenate(
        [lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3), lab[:, :b].reshape(-1, 3), lab[:, -b:].reshape(-1, 3)]
    )
    ref, spread = _border_colour(border)
    k = max(3, int(0.012 * max(h, w)) | 1)
    # the squared float32 difference from the border's colour looked up per 8-bit Lab level: the same values
    # as computing it over the image in float32, in a tenth of the time
    sq = cv2.LUT(lab, ((np.arange(256, dtype=np.float32)[:, None] - ref) ** 2).reshape(1, 256, 3))
    out = _quads_of(_colour_mask(sq, spread, k), cv2.RETR_EXTERNAL)
    # 2. edges: a photocopied card differs from the paper only by its rim and a faint tone
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    blur = cv2.GaussianBlur(grey, (5, 5), 0)
    med = percentile_u8(blur, 50)  # np.median's value, from a histogram
    out += _edge_quads(blur, max(10, 0.33 * med * 0.5), max(30, 0.66 * med * 0.5))
    if spread[0] > _L_SPREAD_CAP:
        # 3. a streaky dark table, or a card running off the image (its pixels then sit in the border
        # sample), widens the lightness spread until a white card is "only" 6 spreads away and its grey
        # photo not at all, and the table's streaks join the card's rim in the edges. Lightness spread
        # capped; its quads join the others' groups (detect_cards), where every side must step.
        capped = np.array([_L_SPREAD_CAP, spread[1], spread[2]], np.float32)
        out += _quads_of(_colour_mask(sq, capped, k), cv2.RETR_EXTERNAL)
    if not any(_shaped(area, aspect) for _, area, _, aspect in out):
        # 4. glare on a coloured table makes a speckle of weak edges that joins the card's rim where they
        # meet: the card's own edge is strong, and at twice the thresholds it stands alone
        out += [q for q in _edge_quads(blur, max(20, 0.33 * med), max(60, 0.66 * med)) if _shaped(q[1], q[3])]
    return out


def _border_colour(border: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The median Lab colour of the border sample (N×3, 8-bit) and its spread (1.4826 × the median absolute
    deviation, + 1), float32: what np.median gives on the sample in float32, from 8-bit histograms instead
    of sorting (a deviation from a median halfway between two levels is a whole number plus a half)."""
    ref = np.array([percentile_u8(border[:, c], 50) for c in range(3)], np.float32)
    mads = []
    for c in range(3):
        level, half = math.floor(ref[c]), float(ref[c]) % 1.0
        v = border[:, c].astype(np.int16)
        dev = np.where(v > level, v - level - 1, level - v) if half else np.abs(v - level)
        mads.append(percentile_u8(dev.astype(np.uint8), 50) + half)
    return ref, np.array(mads, np.float32) * 1.4826 + 1.0


def _edge_quads(blur: np.ndarray, low: float, high: float) -> list[tuple[np.ndarray, float, float, float]]:
    edges = cv2.Canny(blur, low, high)
    edges = cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    return _quads_of(edges, cv2.RETR_LIST)


def _shaped(
    area: float, aspect: float, aspect_range: tuple[float, float] = _ASPECT_RANGE, min_area: float = 0.015
) -> bool:
    """Whether a quadrilateral (its share of the image, its aspect) is a candidate: a card by default."""
    return area >= min_area and aspect_range[0] <= aspect <= aspect_range[1]


def _colour_mask(sq: np.ndarray, spread: np.ndarray, k: int) -> np.ndarray:
    """Pixels more than 6 spreads from the surroundings' colour; `sq` is the squared Lab difference."""
    dist2 = sq @ (1.0 / (spread.astype(np.float32) ** 2))
    fg = (dist2 > 36.0).astype(np.uint8) * 255
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    return cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))


def _quads_of(mask: np.ndarray, mode: int) -> list[tuple[np.ndarray, float, float, float]]:
    """Roughly rectangular contours of a mask: (quad, area fraction, rectangularity, aspect)."""
    area_img = float(mask.shape[0] * mask.shape[1])
    out = []
    contours, _ = cv2.findContours(mask, mode, cv2.CHAIN_APPROX_SIMPLE)
    for c in _at_least(contours, 0.015 * area_img):
        a = cv2.contourArea(c)
        if a < 0.015 * area_img or a > 0.97 * area_img:
            continue
        hull = cv2.convexHull(c)
        hull_area = cv2.contourArea(hull)
        if hull_area <= 0:
            continue
        peri = cv2.arcLength(hull, True)
        cut = _cut_off_quad(c, hull, mask.shape[:2])
        approx = cv2.approxPolyDP(hull, 0.02 * peri, True).reshape(-1, 2).astype(np.float64)
        if cut is not None:
            quad = cut
        elif len(approx) == 4 and cv2.isContourConvex(approx.astype(np.float32)):
            quad = approx
        else:
            quad = cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float64)
        quad = order_clockwise(quad)
        qa = cv2.contourArea(quad.astype(np.float32))
        if qa <= 0:
            continue
        # a card running off the image is compared with its visible part only
        seen = _visible_area(quad, mask.shape[:2]) if cut is not None else qa
        rect = min(hull_area, seen) / max(hull_area, seen)
        aspect = quad_aspect(quad)
        if rect < 0.88 or not 1.15 <= aspect <= 1.9 or not _angles_ok(quad):
            continue
        out.append((quad, qa / area_img, rect, aspect))
    return out


def _at_least(contours: Sequence[np.ndarray], area: float) -> list[np.ndarray]:
    """The contours enclosing `area` or more, in order. An edge map has thousands of specks: their areas by
    the shoelace formula all at once instead of a call each. On integer points cv2.contourArea's sum is
    exact in double, as is this one in int64, so both keep the same contours."""
    if len(contours) < 64:
        return list(contours)
    sizes = np.fromiter(map(len, contours), np.int64, len(contours))
    pts = np.concatenate(contours).reshape(-1, 2).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    nxt = np.arange(1, len(pts) + 1)
    nxt[starts + sizes - 1] = starts  # each contour closes on its first point
    cross = pts[:, 0] * pts[nxt, 1] - pts[:, 1] * pts[nxt, 0]
    twice = np.abs(np.add.reduceat(cross, starts))
    return [contours[int(i)] for i in np.flatnonzero(twice >= 2.0 * area)]


def _cut_off_quad(contour: np.ndarray, hull: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The whole card of a contour that runs off the image: its outline is the card's visible sides and a
    stretch (or two) along the image border. The border stretches are dropped, a line is fitted to the
    contour along each remaining side (its middle, clear of the rounded corners), and the corners are the
    intersections of neighbouring sides, outside the image where the card is cut off. None when the
    contour does not run along the border or does not leave exactly four sides (a card with a whole side
    outside the image: refinement places that side from the ID-1 aspect ratio)."""
    h, w = shape[:2]
    m = 2.0
    pts = hull.reshape(-1, 2).astype(np.float64)
    on_border = (pts[:, 0] <= m) | (pts[:, 1] <= m) | (pts[:, 0] >= w - 1 - m) | (pts[:, 1] >= h - 1 - m)
    if on_border.sum() < 2:
        return None
    peri = cv2.arcLength(hull, True)
    # a fine approximation: the visible stretch of a side beside a cut-off corner can be short
    approx = cv2.approxPolyDP(hull, 0.006 * peri, True).reshape(-1, 2).astype(np.float64)
    n = len(approx)
    if not 5 <= n <= 12:
        return None

    def along_border(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(
            (a[0] <= m and b[0] <= m)
            or (a[1] <= m and b[1] <= m)
            or (a[0] >= w - 1 - m and b[0] >= w - 1 - m)
            or (a[1] >= h - 1 - m and b[1] >= h - 1 - m)
        )

    segments = [(approx[i], approx[(i + 1) % n]) for i in range(n)]
    border = [along_border(a, b) for a, b in segments]
    if not any(border):
        return None
    start = border.index(True)
    sides: list[list[tuple[np.ndarray, np.ndarray]]] = []  # runs of visible segments, merged when collinear
    for k in range(1, n + 1):
        i = (start + k) % n
        if border[i]:
            continue
        a, b = segments[i]
        if np.linalg.norm(b - a) < 0.025 * peri:
            continue  # a rounded corner's chord
        if sides and not border[(i - 1) % n] and _collinear(sides[-1][-1], (a, b)):
            sides[-1].append((a, b))
        else:
            sides.append([(a, b)])
    if len(sides) != 4:
        return None
    contour_pts = contour.reshape(-1, 2).astype(np.float64)
    lines = []
    for run in sides:
        a, b = run[0][0], run[-1][1]
        length = float(np.linalg.norm(b - a))
        if length < 8:
            return None
        t = (b - a) / length
        normal = np.array([-t[1], t[0]])
        along = (contour_pts - a) @ t
        near = (np.abs((contour_pts - a) @ normal) <= 2.5) & (along >= 0.15 * length) & (along <= 0.85 * length)
        line = robust_tls(contour_pts[near]) if near.sum() >= 4 else None
        lines.append(line if line is not None else (a, t))
    corners = [intersect_lines(lines[i - 1], lines[i]) for i in range(4)]
    if any(c is None for c in corners):
        return None
    quad = np.array(corners, np.float64)
    if not cv2.isContourConvex(quad.astype(np.float32)) or np.abs(quad).max() > 3 * max(h, w):
        return None
    return quad


def _collinear(s: tuple[np.ndarray, np.ndarray], t: tuple[np.ndarray, np.ndarray]) -> bool:
    d1, d2 = s[1] - s[0], t[1] - t[0]
    cos = abs(float(np.dot(d1, d2))) / (float(np.linalg.norm(d1) * np.linalg.norm(d2)) + 1e-9)
    return cos > math.cos(math.radians(8))


def _visible_area(quad: np.ndarray, shape: tuple[int, ...]) -> float:
    h, w = shape[:2]
    frame = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    inter, _ = cv2.intersectConvexConvex(quad.astype(np.float32), frame)
    return float(inter)


def _angles_ok(q: np.ndarray) -> bool:
    """Interior angles near 90° (perspective of a hand-held photo stays within ~±25°)."""
    for i in range(4):
        a, b, c = q[i - 1], q[i], q[(i + 1) % 4]
        v1, v2 = a - b, c - b
        cosang = float(np.dot(v1, v2) / (np.linalg.norm(v1) * np.linalg.norm(v2) + 1e-9))
        if abs(cosang) > math.cos(math.radians(62)):
            return False
    return True


def _area_ratio(a: np.ndarray, b: np.ndarray) -> float:
    """The smaller quad's area over the larger one's."""
    sa, sb = cv2.contourArea(a.astype(np.float32)), cv2.contourArea(b.astype(np.float32))
    return float(min(sa, sb) / max(sa, sb)) if max(sa, sb) > 0 else 0.0


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller area (catches a quad nested in another)."""
    pa, pb = a.astype(np.float32), b.astype(np.float32)
    inter, _ = cv2.intersectConvexConvex(pa, pb)
    small = min(cv2.contourArea(pa), cv2.contourArea(pb))
    return float(inter / small) if small > 0 else 0.0


def warp_card(image: np.ndarray, corners: np.ndarray, size: tuple[int, int] = CARD_SIZE) -> np.ndarray:
    """Perspective-warp the card with corners TL,TR,BR,BL to `size` (w, h)."""
    w, h = size
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(corners.astype(np.float32), dst)
    return cv2.warpPerspective(
        image,
        m,
        (w, h),
        flags=cv2.INTER_AREA if _shrinks(corners, w) else cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _shrinks(corners: np.ndarray, width: int) -> bool:
    return float(np.linalg.norm(corners[1] - corners[0])) > 1.3 * width


def rotation_of(corners: np.ndarray) -> float:
    """CCW angle of the side corners[0]→corners[1] (the card's top edge when upright), degrees."""
    d = corners[1] - corners[0]
    return math.degrees(math.atan2(-d[1], d[0]))
