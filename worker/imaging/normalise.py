"""Turn a loaded page into upright, deskewed, cropped document images ready for OCR.

Two paths:
- cards: one or more ID-card quadrilaterals are found (a photo of a card, a photocopy sheet with front and
  back): each is warped to ID-1 at 300 dpi (1012×638) and becomes its own NormalisedPage (`part` 1, 2 …);
- pages (and tightly cropped card scans): text direction, fine skew and up/down come from the text lines;
  the page is rotated once (orientation + skew + scale in a single warp) to ~200 dpi. An open A3 sheet with
  two certificate pages side by side is split into two.

Conventions: `orientation_deg` is how far the upright document had been turned counter-clockwise in the
loaded image (0/90/180/270) and `skew_deg` the remaining small counter-clockwise tilt; normalisation undid
both. `corners` are TL, TR, BR, BL of the document in the loaded image's pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from models.pages import LoadedPage, NormalisedPage
from models.settings import Settings, get_settings
from worker.imaging import cards as cardmod
from worker.imaging import frames
from worker.imaging.cardprint import CARD_PRINT_MIN_PX, print_runs_across, print_under_specks
from worker.imaging.cleanup import clean_for_ocr
from worker.imaging.deskew import LineEvidence, coarse_angle, line_evidence, refine_angle
from worker.imaging.orientation import OSD_BELOW, half_turn, osd_flip, updown_score
from worker.imaging.quality import assess
from worker.imaging.text import Glyphs, glyphs, ink_mask, resize_long, to_grey
from worker.ocr.reader import Reader, TesseractReader

PAGE_DPI = 200.0
_ANALYSIS_LONG = 1600  # analysis copy of a page: ~0.01° skew precision at ~20 ms per pass
_GLYPH_TARGET_PX = 21.0  # median glyph height of body text at 200 dpi; used when the dpi is unknown
# an open A3 spread at 200 dpi is 7.7 Mpx: a page of small print (a sketch page's labels, a footnote) must
# not be enlarged past that, or one photo costs a worker 200 MB and Tesseract twice the time
_MAX_PAGE_PIXELS = 8.5e6
_MIN_GLYPHS = 15
# text lines within this of horizontal lie level as captured (orientation.half_turn prefers them as they are)
_LEVEL_DEG = 45.0
# an open certificate (two pages side by side) is an A3 sheet, 16.5 in wide; where the file gives its size
# (a PDF page), a narrower scan is one document, however its print falls into two columns
_SPREAD_MIN_WIDTH_IN = 10.0
_COARSE_LONG = 900
_WEAK_EDGE = 14.0
_FAINT_AGREE_DEG = 1.0  # a faint-edged card's edges and its text lines agree within this
# a card photographed at a slant: its top and bottom edges lean apart by a degree or two, its print at
# angles between theirs; edges further apart are not one rectangle's outline seen in perspective
_PERSPECTIVE_MAX_DEG = 2.5
_FINE_ZOOM = 1.5
_SETTLED_DEG = 0.3  # a line fit's correction below this needs no second fit
_FINE_ZOOM_MAX_PX = 2400
_FINE_MAX_DEG = 0.5  # the 1x fit has converged to within ~0.3°: the zoomed fit only refines it
_FINE_MIN_SHARE = 0.5  # of the 1x fit's glyphs
# a centroid projection this little sharper than the one at right angles does not tell the text's direction
# (wood grain or a guilloche across a full-frame card): the lines fitted both ways decide, and the other
# direction wins only when its lines hold this many times the glyphs
_WEAK_DIRECTION = 1.25
_ACROSS_WINS = 1.25


def normalise_page(
    page: LoadedPage, *, settings: Settings | None = None, reader: Reader | None = None
) -> list[NormalisedPage]:
    """Normalise one loaded page into one or more document images (see module docstring). `reader` is
    asked for orientation (Tesseract OSD) when the text lines' own up/down evidence is weak."""
    settings = settings or get_settings()
    reader = reader or TesseractReader(settings.tesseract_lang)
    image = page.image if page.image.ndim == 3 else cv2.cvtColor(page.image, cv2.COLOR_GRAY2BGR)
    prep = cardmod.prepare(image)
    quads = cardmod.detect_cards(image, prep)
    faint: cardmod.CardQuad | None = None
    if len(quads) == 1 and quads[0].edge_contrast < _WEAK_EDGE:
        # one faint-edged card: its text lines give a better angle than its edges
        faint, quads = quads[0], []
    if quads and (all(_card_on_a_table(prep, q) for q in quads) or _cards_hold_the_content(prep.grey, quads)):
        pages = _card_pages(page, image, quads, settings, reader)
        if pages:
            return pages
    if frames.is_square(image):
        squashed = frames.card_in_squashed_frame(image) or frames.frame_as_card(image)
        if squashed is not None:
            pages = _card_pages(page, image, [squashed], settings, reader)
            if pages:
                return pages
    sheet = cardmod.detect_page(image, prep)
    if sheet is not None:
        return _photographed_page(page, image, sheet, settings, reader)
    turned = _turned_page(page, image, settings, reader, prep.grey)
    if faint is not None and turned.pieces == 1 and turned.kind == "page":
        # the faint card lies on a larger scan (paper all round): crop it, at the text lines' angle
        cropped = _faint_card(page, image, faint, turned.angle, prep.grey, settings, reader)
        if cropped:
            return cropped
    return turned.finish()


def _faint_card(
    page: LoadedPage,
    image: np.ndarray,
    quad: cardmod.CardQuad,
    total: float,
    grey: np.ndarray,
    settings: Settings,
    reader: Reader,
) -> list[NormalisedPage]:
    """The card pages of a faint-edged card whose edges agree with its text lines to `_FAINT_AGREE_DEG`:
    the quadrilateral turned onto the text's angle (faint edges are placed to a pixel or two, tenths of a
    degree over a card's width; the text lines give hundredths). A card seen in perspective has top and
    bottom edges that lean apart, its lines of print at angles between theirs: its outline is cut as found.
    `total` is the text's angle as the page reports it (orientation + skew)."""
    c = quad.corners
    d = _angle_to(total, c[0], c[1])
    if abs(d) <= _FAINT_AGREE_DEG:
        if not _cards_hold_the_content(grey, [quad]):
            return []
        turned = cardmod.CardQuad(_turned(c, d), quad.score, quad.touches_border, quad.edge_contrast)
        return _card_pages(page, image, [turned], settings, reader)
    d_bottom = _angle_to(total, c[3], c[2])
    between = min(d, d_bottom) - _FAINT_AGREE_DEG <= 0.0 <= max(d, d_bottom) + _FAINT_AGREE_DEG
    if abs(d - d_bottom) < _PERSPECTIVE_MAX_DEG and between and _cards_hold_the_content(grey, [quad]):
        return _card_pages(page, image, [quad], settings, reader)
    return []


def _angle_to(total: float, a: np.ndarray, b: np.ndarray) -> float:
    """How far the text's angle `total` lies counter-clockwise of the edge a→b, in (-90, 90] degrees."""
    return (total - cardmod.rotation_of(np.stack([a, b])) + 90.0) % 180.0 - 90.0


def _photographed_page(
    page: LoadedPage, image: np.ndarray, sheet: cardmod.CardQuad, settings: Settings, reader: Reader
) -> list[NormalisedPage]:
    """A sheet photographed on a table: undo the perspective first, then read orientation from the text.

    The sheet is warped portrait (its short side on top); the text decides which quarter turn is up. The
    reported skew is that of the sheet's top edge, as for cards."""
    frame = sheet.corners  # clockwise, frame[0]→frame[1] is a long side
    frame = np.roll(frame, 1, axis=0)  # now frame[0]→frame[1] is a short side: portrait
    if not -90.0 < cardmod.rotation_of(frame) <= 90.0:
        frame = np.roll(frame, 2, axis=0)
    top = (np.linalg.norm(frame[1] - frame[0]) + np.linalg.norm(frame[2] - frame[3])) / 2
    side = (np.linalg.norm(frame[3] - frame[0]) + np.linalg.norm(frame[2] - frame[1])) / 2
    warped = cardmod.warp_card(image, frame, (round(float(top)), round(float(side))))
    flat = page.model_copy(update={"image": warped})
    out = _turned_page(flat, warped, settings, reader).finish()
    alpha = cardmod.rotation_of(frame)
    for p in out:
        text_total = p.orientation_deg + p.skew_deg
        total = alpha + text_total
        orientation, skew = _split_angle(total)
        quarter = round(text_total / 90.0) % 4
        corners = np.roll(frame, quarter, axis=0)
        p.orientation_deg = orientation
        p.skew_deg = round(skew, 3)
        p.corners = [(float(x), float(y)) for x, y in corners] if p.part is None else p.corners
        if sheet.touches_border and "quality:cut_off" not in p.warnings:
            p.warnings.append("quality:cut_off")
            if p.quality is not None:
                p.quality.defects.append("cut_off")
        p.warnings.append("perspective:corrected")
    return out


# ---------------------------------------------------------------------------------------------- cards


# a card photographed on a table or copied on A4 fills 7% of the picture or more; a card-shaped detail
# inside a tightly scanned card (its QR code, a printed box: 1-2%) also differs from what surrounds it
_MIN_STANDOUT_SHARE = 0.05
_MAX_GLYPHS_CUT_BY_EDGE = 15


def _card_on_a_table(prep: cardmod.Prepared, quad: cardmod.CardQuad) -> bool:
    h, w = prep.grey.shape[:2]
    share = cv2.contourArea(quad.corners.astype(np.float32)) / float(max(1, h * w))
    return share >= _MIN_STANDOUT_SHARE and cardmod.stands_out(prep, quad)


def _cards_hold_the_content(grey: np.ndarray, quads: list[cardmod.CardQuad]) -> bool:
    """Cards on a table or a photocopy sheet leave little ink outside them; a certificate page whose map
    frame happens to be card-shaped does not. (Asked only when some card does not stand out from its
    surroundings: a streaky or grainy table makes hundreds of glyph-like specks outside a card.)"""
    small, scale = resize_long(grey, 1000)
    g = glyphs(ink_mask(small))
    if len(g) < _MIN_GLYPHS:
        return True
    inside = np.zeros(small.shape, np.uint8)
    for q in quads:
        cv2.fillConvexPoly(inside, np.round(q.corners * scale).astype(np.int32), 1)
    h, w = small.shape

    def inside_at(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return inside[np.clip(y.astype(int), 0, h - 1), np.clip(x.astype(int), 0, w - 1)]

    outside = float(np.sum(inside_at(g.cx, g.cy) == 0)) / len(g)
    covered = float(inside.mean())
    # a card's edge runs through no print; a card-shaped quadrilateral made of a page's text margin and a
    # table rule cuts through a line of words (none on 180 cards, photos and sheets; 26-32 on such pages)
    box_corners = np.stack([inside_at(g.x0, g.y0), inside_at(g.x1, g.y0), inside_at(g.x0, g.y1), inside_at(g.x1, g.y1)])
    cut = int(np.sum((box_corners.min(axis=0) == 0) & (box_corners.max(axis=0) == 1)))
    if cut >= _MAX_GLYPHS_CUT_BY_EDGE:
        return False
    # a textured table makes glyph-like specks, so large cards may leave "glyphs" outside them
    return outside < 0.3 or (covered >= 0.12 and outside < 0.8)


def _card_pages(
    page: LoadedPage, image: np.ndarray, quads: list[cardmod.CardQuad], settings: Settings, reader: Reader
) -> list[NormalisedPage]:
    out = []
    for index, q in enumerate(quads, start=1):
        corners = q.corners
        if not -90.0 < cardmod.rotation_of(corners) <= 90.0:
            corners = np.roll(corners, 2, axis=0)
        warped = cardmod.warp_card(image, corners)
        grey = to_grey(warped)
        ev, g = line_evidence(grey, 0.0)
        if len(g) >= 40 and g.height < CARD_PRINT_MIN_PX and not print_under_specks(grey, g):
            # page-sized print squeezed into a card: this quadrilateral is a page or a frame, not a card
            return []
        if print_runs_across(g):
            return []  # a page's outline taken sideways: a card prints along its long side
        warnings: list[str] = []
        flip, conf, ask_osd = half_turn(updown_score(ev), abs(cardmod.rotation_of(corners)) < _LEVEL_DEG)
        if ask_osd:
            osd = osd_flip(grey if not flip else np.ascontiguousarray(grey[::-1, ::-1]), reader)
            if osd is not None and osd[1] > conf:
                flip = flip ^ osd[0]
                conf = osd[1]
                warnings.append("orientation:osd")
        if flip:
            corners = np.roll(corners, 2, axis=0)
            warped = np.ascontiguousarray(warped[::-1, ::-1])
            g = _flip_glyphs(g)
        if conf < OSD_BELOW:
            warnings.append("orientation:low_confidence")
        alpha = cardmod.rotation_of(corners)
        orientation, skew = _split_angle(alpha)
        width_px = float(np.linalg.norm(corners[1] - corners[0]) + np.linalg.norm(corners[2] - corners[3])) / 2
        dpi = width_px / cardmod.CARD_WIDTH_IN
        quality = assess(
            warped,
            glyph_info=g,
            source_glyph_px=g.height * width_px / cardmod.CARD_SIZE[0] if len(g) else None,
            effective_dpi=dpi,
            kind="card",
            cut_off=q.touches_border,
            source_is_raster=page.dpi is None or page.dpi != float(settings.pdf_dpi),
            source_shape=image.shape[:2],
        )
        if len(quads) > 1:
            warnings.append(f"split:{len(quads)}_cards")
        warnings += [f"quality:{d}" for d in quality.defects]
        out.append(
            NormalisedPage(
                source=page.source,
                page=page.page,
                sha256=page.sha256,
                part=index if len(quads) > 1 else None,
                kind="card",
                image=warped,
                ocr_image=clean_for_ocr(warped, max(g.height, 12.0)),
                orientation_deg=orientation,
                orientation_confidence=round(conf, 3),
                skew_deg=round(skew, 3),
                quality=quality,
                warnings=warnings,
                corners=[(float(x), float(y)) for x, y in corners],
            )
        )
    return out


def _turned(corners: np.ndarray, deg: float) -> np.ndarray:
    """The quadrilateral turned counter-clockwise (on screen) by `deg` about its centre."""
    c = corners.mean(axis=0)
    a = math.radians(deg)
    d = corners - c
    return np.stack([c[0] + d[:, 0] * math.cos(a) + d[:, 1] * math.sin(a),
                     c[1] - d[:, 0] * math.sin(a) + d[:, 1] * math.cos(a)], axis=1)  # fmt: skip


def _flip_glyphs(g: Glyphs) -> Glyphs:
    h, w = g.shape
    return Glyphs(w - g.x1, h - g.y1, w - g.x0, h - g.y0, w - g.cx, h - g.cy, g.area, g.height, g.shape)


Orientation = Literal[0, 90, 180, 270]
_QUARTERS: tuple[Orientation, ...] = (0, 90, 180, 270)


def _split_angle(alpha: float) -> tuple[Orientation, float]:
    """A total CCW rotation into a quarter-turn orientation and a skew in (-45, 45]."""
    quarter = round(alpha / 90.0)
    skew = alpha - 90.0 * quarter
    return _QUARTERS[quarter % 4], skew


# ---------------------------------------------------------------------------------------------- pages


@dataclass
class _Rotation:
    """How a page is turned back upright: the total CCW rotation (quarter turns and skew), the glyphs of the
    analysis copy in the upright frame, and how sure the up/down reading is."""

    total: float
    glyphs: Glyphs
    confidence: float
    warnings: list[str]


@dataclass
class _Turned:
    """A page turned upright whose pieces are not yet assessed nor cleaned for OCR: where a faint card is cut
    from the page instead, that work (0.1-0.2 CPU-s on a photo) is not done at all."""

    kind: Literal["card", "page"]
    pieces: int
    angle: float  # orientation_deg + skew_deg as the pages report them
    finish: Callable[[], list[NormalisedPage]]


def _turned_page(
    page: LoadedPage, image: np.ndarray, settings: Settings, reader: Reader, grey_full: np.ndarray | None = None
) -> _Turned:
    H, W = image.shape[:2]
    grey_full = to_grey(image) if grey_full is None else grey_full
    small, scale = resize_long(grey_full, _ANALYSIS_LONG)
    mask, g0 = _analysis_glyphs(small)
    turn = _page_rotation(small, scale, grey_full, g0, reader, probe_scale=min(1.0, 1200 / max(H, W)))
    g_up, warnings, total = turn.glyphs, turn.warnings, turn.total
    orientation, skew = _split_angle(total)
    # the document's own size: the loaded image is the bounding box of the rotated document
    doc_w, doc_h = _unrotated_size(W, H, total)
    glyph_src = g_up.height / scale if len(g_up) else None
    out_scale = _output_scale(page, glyph_src, doc_w, doc_h)
    kind = _page_kind(g_up, scale, doc_w, doc_h)
    upright, dpi = _upright(image, page, kind, total, out_scale, (doc_w, doc_h))
    corners = _rotated_corners(W, H, doc_w, doc_h, total)
    cut = _text_cut_off(g0, mask.shape) if len(g0) >= _MIN_GLYPHS else False
    pieces = [upright]
    if kind == "page" and (page.dpi is None or doc_w / page.dpi >= _SPREAD_MIN_WIDTH_IN):
        pieces = _split_spread(upright)
        if len(pieces) == 2:
            warnings.append("split:2_pages")
    piece_glyph_h = (
        (g_up.height / scale * (out_scale if kind == "page" else cardmod.CARD_SIZE[0] / doc_w)) if len(g_up) else 20.0
    )

    def finish() -> list[NormalisedPage]:
        return [piece_page(index, piece) for index, piece in enumerate(pieces, start=1)]

    def piece_page(index: int, piece: np.ndarray) -> NormalisedPage:
        quality = assess(
            piece,
            glyph_info=_scaled_glyphs(g_up, piece_glyph_h),
            source_glyph_px=glyph_src,
            effective_dpi=dpi,
            kind=kind,
            cut_off=cut,
            source_is_raster=page.dpi is None or page.dpi != float(settings.pdf_dpi),
            source_shape=(H, W),
        )
        return NormalisedPage(
            source=page.source,
            page=page.page,
            sha256=page.sha256,
            part=index if len(pieces) > 1 else None,
            kind=kind,
            image=piece,
            # cards keep the sharp white point: on real blurred cards the grey kept cost more lines than it gave
            ocr_image=clean_for_ocr(piece, max(piece_glyph_h, 12.0), blurred=kind == "page" and quality.blurred),
            orientation_deg=orientation,
            orientation_confidence=round(turn.confidence, 3),
            skew_deg=round(skew, 3),
            quality=quality,
            warnings=warnings + [f"quality:{d}" for d in quality.defects],
            corners=_piece_corners(corners, index, len(pieces)),
        )

    return _Turned(kind, len(pieces), orientation + round(skew, 3), finish)


def _analysis_glyphs(small: np.ndarray) -> tuple[np.ndarray, Glyphs]:
    """The ink mask and glyphs the page's direction is read from: on a coarse copy, or on the analysis copy
    itself when the coarse one loses small print."""
    coarse_img, coarse_scale = resize_long(small, _COARSE_LONG)
    mask = ink_mask(coarse_img)
    g0 = glyphs(mask)
    if len(g0) < _MIN_GLYPHS and coarse_scale < 1.0:  # small print: look at full analysis resolution
        mask = ink_mask(small)
        g0 = glyphs(mask)
    return mask, g0


def _page_rotation(
    small: np.ndarray, scale: float, grey_full: np.ndarray, g0: Glyphs, reader: Reader, *, probe_scale: float
) -> _Rotation:
    """Text direction and skew from the lines, then up or down: from the lines' shape, or from Tesseract's
    OSD on a probe of the page when the lines are unsure."""
    warnings: list[str] = []
    if len(g0) < _MIN_GLYPHS:
        warnings.append("orientation:no_text")
        return _Rotation(0.0, g0, 0.0, warnings)
    angle, ev, g_up = _line_angle(small, scale, g0)
    flip, conf, ask_osd = half_turn(updown_score(ev), abs(angle) < _LEVEL_DEG)
    if ask_osd:
        probe = _render(grey_full, angle + (180.0 if flip else 0.0), probe_scale)
        osd = osd_flip(probe, reader)
        if osd is not None and osd[1] > conf:
            flip = flip ^ osd[0]
            conf = osd[1]
            warnings.append("orientation:osd")
    if conf < OSD_BELOW:
        warnings.append("orientation:low_confidence")
    return _Rotation(angle + (180.0 if flip else 0.0), _flip_glyphs(g_up) if flip else g_up, conf, warnings)


def _line_angle(small: np.ndarray, scale: float, g0: Glyphs) -> tuple[float, LineEvidence, Glyphs]:
    """The text lines' angle (before up/down), their evidence and the glyphs in that frame."""
    angle, contrast = coarse_angle(g0)
    angle = refine_angle(g0, angle)
    ev, g_up = line_evidence(small, angle)
    if contrast < _WEAK_DIRECTION:
        across = refine_angle(g0, angle - 90.0 if angle >= 45.0 else angle + 90.0)
        ev_across, g_across = line_evidence(small, across)
        if ev_across.glyphs_used > _ACROSS_WINS * ev.glyphs_used:
            angle, ev, g_up = across, ev_across, g_across
    if abs(ev.delta_deg) > _SETTLED_DEG:
        again, g_again = line_evidence(small, angle + ev.delta_deg)
        # a correction that text lines confirm leaves less to correct; on a blurred photo through a
        # laminate the fitted "lines" are noise and each fit swings further (+1.5°, then -8°): keep the
        # glyph rows' own angle then
        if abs(again.delta_deg) <= max(_SETTLED_DEG, abs(ev.delta_deg)):
            angle += ev.delta_deg + again.delta_deg
            ev, g_up = again, g_again
    else:
        angle += ev.delta_deg
    if scale == 1.0 and max(small.shape) * _FINE_ZOOM <= _FINE_ZOOM_MAX_PX:
        # a small image (a tight card scan): a few short lines, so one more fit on a 1.5x upsampled
        # copy for sub-pixel glyph edges; the up/down evidence and glyph sizes stay those at 1x
        fine, _ = line_evidence(small, angle, zoom=_FINE_ZOOM)
        # a correction of the 1x fit, not a new reading: on a faint card the upsampled mask can keep
        # only a few glyphs, and wavy guilloche lines then fit as text tilted by degrees
        if (
            fine.glyphs_used >= max(_MIN_GLYPHS, _FINE_MIN_SHARE * ev.glyphs_used)
            and abs(fine.delta_deg) <= _FINE_MAX_DEG
        ):
            angle += fine.delta_deg
    return angle, ev, g_up


def _output_scale(page: LoadedPage, glyph_src: float | None, doc_w: int, doc_h: int) -> float:
    """To PAGE_DPI where the file gives its dpi, else to body text of the usual height, within bounds."""
    if page.dpi:
        out_scale = PAGE_DPI / page.dpi
    elif glyph_src:
        out_scale = _GLYPH_TARGET_PX / glyph_src
    else:
        out_scale = 1.0
    return float(min(2.5, max(0.25, out_scale), math.sqrt(_MAX_PAGE_PIXELS / max(1, doc_w * doc_h))))


def _page_kind(g_up: Glyphs, scale: float, doc_w: int, doc_h: int) -> Literal["card", "page"]:
    """A tightly cropped card scan: ID-1's landscape aspect, few glyphs and large print for its size."""
    aspect = max(doc_w, doc_h) / max(1.0, min(doc_w, doc_h))
    if 1.45 <= aspect <= 1.75 and doc_w > doc_h and len(g_up) < 600 and g_up.height * 60 > doc_h * scale:
        return "card"
    return "page"


def _upright(
    image: np.ndarray, page: LoadedPage, kind: str, total: float, out_scale: float, size: tuple[int, int]
) -> tuple[np.ndarray, float | None]:
    """The page turned upright in one warp (a card warped to ID-1 at 300 dpi), and its dpi where known."""
    doc_w = size[0]
    if kind == "card":
        upright = _render(image, total, 1.0, size=size)
        upright = cv2.resize(
            upright,
            cardmod.CARD_SIZE,
            interpolation=cv2.INTER_AREA if doc_w > cardmod.CARD_SIZE[0] else cv2.INTER_CUBIC,
        )
        return upright, doc_w / cardmod.CARD_WIDTH_IN
    return _render(image, total, out_scale, size=size), page.dpi if page.dpi else None


def _scaled_glyphs(g: Glyphs, height: float) -> Glyphs:
    return Glyphs(g.x0, g.y0, g.x1, g.y1, g.cx, g.cy, g.area, height, g.shape)


def _unrotated_size(W: int, H: int, total: float) -> tuple[int, int]:
    """Width and height of a document whose rotation by `total` has the bounding box W×H (upright frame)."""
    a = math.radians(total % 180.0)
    c, s = abs(math.cos(a)), abs(math.sin(a))
    det = c * c - s * s
    if abs(det) < 0.35:  # near 45° the system is ill-conditioned: keep the rotated bounding box
        w, h = W * c + H * s, W * s + H * c
    else:
        w, h = (W * c - H * s) / det, (H * c - W * s) / det
    if w <= 0 or h <= 0:
        w, h = W * c + H * s, W * s + H * c
    return max(1, round(w)), max(1, round(h))


def _render(image: np.ndarray, total: float, scale: float, size: tuple[int, int] | None = None) -> np.ndarray:
    """Undo a CCW rotation of `total` and scale, in one warp; the result is `size` (upright frame) × scale,
    centred on the image centre."""
    H, W = image.shape[:2]
    if size is None:
        size = (
            _unrotated_size(W, H, total)
            if abs(total % 90.0) > 1e-3
            else (W, H)
            if round(total / 90) % 2 == 0
            else (H, W)
        )
    out_w, out_h = max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
    m = cv2.getRotationMatrix2D((W / 2.0, H / 2.0), -total, scale)
    m[0, 2] += out_w / 2.0 - W / 2.0
    m[1, 2] += out_h / 2.0 - H / 2.0
    if scale < 0.8:
        # warpAffine has no area filter: pre-shrink, then rotate at the target size
        pre = cv2.resize(image, (max(1, round(W * scale)), max(1, round(H * scale))), interpolation=cv2.INTER_AREA)
        return _render(pre, total, 1.0, size=(out_w, out_h))
    return cv2.warpAffine(image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _rotated_corners(W: int, H: int, w: int, h: int, total: float) -> list[tuple[float, float]]:
    """Corners TL,TR,BR,BL of the upright w×h document in the loaded image."""
    a = math.radians(total)
    c, s = math.cos(a), math.sin(a)
    pts = []
    for x, y in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        # CCW rotation on screen (y down): x' = x·c + y·s, y' = -x·s + y·c
        pts.append((W / 2 + x * c + y * s, H / 2 - x * s + y * c))
    return pts


def _piece_corners(corners: list[tuple[float, float]], index: int, count: int) -> list[tuple[float, float]]:
    if count == 1:
        return corners
    tl, tr, br, bl = (np.array(p) for p in corners)
    top_mid, bottom_mid = (tl + tr) / 2, (bl + br) / 2
    quad = [tl, top_mid, bottom_mid, bl] if index == 1 else [top_mid, tr, br, bottom_mid]
    return [(float(p[0]), float(p[1])) for p in quad]


def _text_cut_off(g: Glyphs, shape: tuple[int, int]) -> bool:
    """Text running off the image edge: several glyphs touching the border."""
    h, w = shape
    m = 1.0
    touching = (g.x0 <= m) | (g.y0 <= m) | (g.x1 >= w - m) | (g.y1 >= h - m)
    return int(touching.sum()) >= 3


def _split_spread(upright: np.ndarray) -> list[np.ndarray]:
    """Two portrait pages side by side on one landscape sheet (an open A3 certificate) → two images."""
    h, w = upright.shape[:2]
    if not 1.2 <= w / h <= 1.75:
        return [upright]
    small, scale = resize_long(to_grey(upright), 1000)
    mask = ink_mask(small) > 0
    cols = mask.sum(axis=0).astype(np.float64)
    sw = len(cols)
    total = cols.sum()
    if total < 200:
        return [upright]
    lo, hi = int(sw * 0.38), int(sw * 0.62)
    band = max(3, int(sw * 0.012))
    smooth = np.convolve(cols, np.ones(band) / band, mode="same")
    mid = lo + int(np.argmin(smooth[lo:hi]))
    gutter_ink = smooth[mid]
    left, right = cols[:mid].sum(), cols[mid:].sum()
    typical = np.median(smooth[cols > 0]) if (cols > 0).any() else 0
    if gutter_ink > 0.02 * typical or min(left, right) < 0.2 * total:
        return [upright]
    # the gutter must be an empty column band from top to bottom, not a gap between two table columns
    cut = round(mid / scale)
    return [np.ascontiguousarray(upright[:, :cut]), np.ascontiguousarray(upright[:, cut:])]
