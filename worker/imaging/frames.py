"""Square frames that are stretched photos: a phone photo squashed into 640×640 (a model's input size,
saved as is) keeps its content but not its aspect ratio. The card in it is still an ID-1 card, so its true
shape is known: the frame is widened or heightened back to the common camera aspects (4:3, 16:9), the card
is looked for in each, and the one whose card measures closest to ID-1 wins. A card filling the squashed
frame leaves no edge to find: then the frame itself is the card, its long side where the text runs.

Only the corners come from the un-squashed copy: mapped back to the loaded image's pixels, the perspective
warp to ID-1 undoes the squash and the perspective in one step.
"""

from __future__ import annotations

import cv2
import numpy as np

from worker.imaging import cards as cardmod
from worker.imaging.deskew import coarse_angle
from worker.imaging.text import glyphs, ink_mask, to_grey

# a frame is square when its sides differ by under this share (640×640, 1080×1080)
_SQUARE_TOLERANCE = 0.02
# the camera aspects a squashed photo had before: 4:3 and 16:9, landscape or portrait
_CAMERA_ASPECTS = (4 / 3, 16 / 9, 3 / 4, 9 / 16)
# a card found in an un-squashed copy is believed when it measures this close to ID-1 once refined (the
# photo was not exactly 4:3 or 16:9, nor the card square on: the warp to ID-1 undoes whatever is left)
_ID1_TOLERANCE = 0.25
_MIN_GLYPHS = 15
# a card standing in a squashed frame covers a good part of it (a detail inside it, such as a fingerprint
# box on a back, can measure 1.59 too)
_MIN_CARD_SHARE = 0.15
# card print at 300 dpi is 14-22 px tall; the specks of a guilloche photographed in grain 5-6 px
_CARD_GLYPH_MIN_PX = 10
_ALONG_DEG = 15.0
# the print of a card filling the frame reaches from edge to edge (its fields, its emblem and expiry line);
# the print of a smaller card lying in the frame does not
_FILLS_SPAN = 0.7


def is_square(image: np.ndarray) -> bool:
    h, w = image.shape[:2]
    return abs(w - h) <= _SQUARE_TOLERANCE * max(w, h)


def card_in_squashed_frame(image: np.ndarray) -> cardmod.CardQuad | None:
    """The card of a squashed square photo, corners in the loaded image's pixels (TL, TR, BR, BL order as
    in the un-squashed copy, so the first side is the card's long side), or None when no camera aspect
    shows a card of ID-1 shape whose print runs along its long side (a squash can make a card standing on
    its short side measure 1.59 too; the print tells them apart)."""
    h, w = image.shape[:2]
    best: tuple[float, cardmod.CardQuad] | None = None
    for aspect in _CAMERA_ASPECTS:
        sx, sy = (aspect, 1.0) if aspect > 1 else (1.0, 1.0 / aspect)
        size = (round(w * sx), round(h * sy))
        wide = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        quads = cardmod.detect_cards(wide)
        if len(quads) != 1:
            continue
        q = quads[0]
        off = abs(cardmod.quad_aspect(q.corners) - cardmod.ID1_ASPECT)
        share = cv2.contourArea(q.corners.astype(np.float32)) / float(size[0] * size[1])
        if off > _ID1_TOLERANCE or q.edge_contrast <= 0.0 or share < _MIN_CARD_SHARE:
            continue
        contrast = _print_along(cardmod.warp_card(wide, q.corners), horizontal=True)
        if contrast is None:
            continue
        back = q.corners / np.array([size[0] / w, size[1] / h])
        if best is None or contrast > best[0]:
            best = (contrast, cardmod.CardQuad(back, q.score, q.touches_border, q.edge_contrast))
    return best[1] if best else None


def frame_as_card(image: np.ndarray) -> cardmod.CardQuad | None:
    """The whole squashed frame as the card, its long side along the print (None when the print runs
    neither way clearly, or does not reach across the frame)."""
    h, w = image.shape[:2]
    grey = to_grey(image)
    across = _print_along(cv2.resize(grey, cardmod.CARD_SIZE, interpolation=cv2.INTER_AREA), horizontal=True)
    down = _print_along(cv2.resize(grey, cardmod.CARD_SIZE[::-1], interpolation=cv2.INTER_AREA), horizontal=False)
    if across is None and down is None:
        return None
    tl, tr, br, bl = (0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))
    corners = [tl, tr, br, bl] if (across or 0.0) >= (down or 0.0) else [bl, tl, tr, br]
    return cardmod.CardQuad(np.array(corners, np.float64), 0.0, True, 0.0)


def _print_along(card: np.ndarray, *, horizontal: bool) -> float | None:
    """How clearly the print of a card-sized image runs in lines across it (`horizontal`) or down it: the
    text-line sharpness contrast, None when the lines run the other way or the print does not span the
    card. Specks under card print size (guilloche, moiré) are left out: they line up in any direction."""
    g = glyphs(ink_mask(to_grey(card)), min_px=_CARD_GLYPH_MIN_PX)
    if len(g) < _MIN_GLYPHS:
        return None
    sh, sw = g.shape
    span_x = float(np.subtract(*np.percentile(g.cx, [98, 2]))) / sw
    span_y = float(np.subtract(*np.percentile(g.cy, [98, 2]))) / sh
    if min(span_x, span_y) < _FILLS_SPAN:
        return None
    angle, contrast = coarse_angle(g)  # [-45, 135)
    off = abs(angle) if horizontal else abs(angle - 90.0)
    return contrast if off <= _ALONG_DEG and contrast > 1.0 else None
