"""Whether a quadrilateral warped to ID-1 holds a card's print or a page's squeezed into a card's size."""

from __future__ import annotations

import numpy as np

from worker.imaging.deskew import coarse_angle
from worker.imaging.text import Glyphs, glyphs, ink_mask

# median glyph height once a quadrilateral is warped to ID-1 at 300 dpi: card print measures 14-22 px on
# every generation and degradation, an A4 certificate page squeezed into that size 9-10 px. Under 8 px the
# median is specks: a guilloche or a lamination pouch photographed in grain (a CMND in a pouch: 5-6 px), or
# a blurred page's print. Then the components of 10 px and more decide: on a card its print, 20-29 px on a
# CMND in a pouch, on a squeezed page the tail of its small print (12-14 px). A chip card's busy guilloche
# can bring the median to 11 px; its print (17-20 px) decides the same way. A CMND photographed bare
# prints small too (12-14 px), but all of it reaches that size: a card's print is hundreds of such
# components, a squeezed page's tail a hundred or so
CARD_PRINT_MIN_PX = 12.0
_SPECKS_BELOW_PX = 8.0
_PRINT_MIN_PX = 10
_PRINT_OF_A_CARD_PX = 17.0
_PRINT_GLYPHS_OF_A_CARD = 200
# counted in letters of 17 px (`_card_letters`), a blurred page photo squeezed into a card prints ~90, a
# tight crop of a card whose frame is its outline (letters of 25 px) ~300; components taller than this many
# times the print's median are a portrait's or an emblem's blobs
_LARGEST_LETTER = 1.5
# how much sharper the projection along a warped card's short side must be than along its long side to say
# its lines run across: a booklet page taken sideways measures 2.5, a card's guilloche read across at most 1.3
_ACROSS_CLEAR = 1.8


def print_under_specks(grey: np.ndarray, g: Glyphs) -> bool:
    """A warped card whose median glyph is a speck or a guilloche's small mark, with a card's print under it."""
    print_ = glyphs(ink_mask(grey), min_px=_PRINT_MIN_PX)
    if g.height < _SPECKS_BELOW_PX:
        return print_.height >= _PRINT_OF_A_CARD_PX or (
            print_.height >= CARD_PRINT_MIN_PX and len(print_) >= _PRINT_GLYPHS_OF_A_CARD
        )
    # marks of 8-12 px: a chip card's guilloche over hundreds of letters of a card's size, or a blurred page
    # photo squeezed into a card, whose merged words make a hundred or fewer such components; a tight crop
    # of a card prints fewer, larger letters over as much of it
    return print_.height >= _PRINT_OF_A_CARD_PX and (
        len(print_) >= _PRINT_GLYPHS_OF_A_CARD or _card_letters(print_) >= _PRINT_GLYPHS_OF_A_CARD
    )


def _card_letters(print_: Glyphs) -> float:
    """The print counted in letters of `_PRINT_OF_A_CARD_PX`: each component by the area its height spans
    (a 25 px letter covers twice a 17 px one), blobs past `_LARGEST_LETTER` times the median left out."""
    h = (print_.y1 - print_.y0).astype(np.float64)
    h = h[h <= print_.height * _LARGEST_LETTER]
    return float(np.sum((h / _PRINT_OF_A_CARD_PX) ** 2))


def print_runs_across(g: Glyphs) -> bool:
    """Whether a warped card's text lines (its glyphs `g`) clearly run across it, from its short side to the
    other (a card prints along its long side: this is a page's outline taken sideways)."""
    if len(g) < 40:
        return False
    angle, contrast = coarse_angle(g)
    return abs(angle - 90.0) < 20.0 and contrast >= _ACROSS_CLEAR
