"""Text rows of a printed form found from the ink alone, for forms whose colour background defeats the OCR
engine's own layout analysis (the 9-digit CMND: green guilloche, a red hatch behind the number, values
typed onto dotted leaders).

- The form's print is coloured and its typed or printed text dark: the brightest channel of a pixel is
  high on green or red print and low only on dark ink, so that channel over its local background is an
  image with the form's colours gone and the ink kept in grey levels.
- Rows are the peaks of the horizontal ink profile of glyph-sized components (specks, leader dots and
  photo-sized blobs are left out of the profile).
- A row's image keeps only its own ink: components centred on a neighbouring row and runs of leader dots
  are whitened, so a single-line read sees one line of text.
No OCR happens here: the extractor reads each row's image through the Reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from worker.imaging.cleanup import soft_ramp
from worker.imaging.text import background
from worker.raster import components

# ink is darker than this share of the local background in the brightest channel
INK_RATIO = 0.62
# the soft ramp that turns the ratio image into OCR grey: below DARK black, above LIGHT white
_DARK, _LIGHT = 0.2, 0.75


def colourless(colour: np.ndarray) -> np.ndarray:
    """uint8 image of the ink alone (paper and coloured print ≈ 255): the brightest channel over its local
    background."""
    bright = colour.max(axis=2) if colour.ndim == 3 else colour
    h = min(bright.shape[:2])
    bg = background(bright, max(31, int(h * 0.065) | 1))
    return cv2.divide(bright, np.maximum(bg, 1), scale=255.0)


@dataclass(frozen=True)
class Row:
    y0: int
    y1: int  # exclusive


@dataclass
class FormRows:
    """The rows found in a region of a form and what is needed to cut each one out clean."""

    ratio: np.ndarray  # colourless(): 255 paper
    labels: np.ndarray  # component label of every ink pixel
    stats: np.ndarray  # cv2 component stats (row 0: background)
    centres: np.ndarray
    glyph_h: float  # median glyph height, px
    x0: int  # the region's left edge: rows are read from here to x1
    x1: int
    rows: list[Row]
    _dot_cache: np.ndarray | None = field(default=None, repr=False)

    def ocr_image(self) -> np.ndarray:
        """The whole image as OCR grey, colours gone and leader dots whitened (for re-reading a region)."""
        grey = soft_ramp(self.ratio, _DARK, _LIGHT)
        grey[self._dot_mask()] = 255
        return grey

    def row_image(self, row: Row) -> tuple[np.ndarray, tuple[int, int]]:
        """One row's image as OCR grey, and where its top-left corner is in the page."""
        h = self.glyph_h
        H = self.ratio.shape[0]
        ya, yb = max(0, int(row.y0 - 0.35 * h)), min(H, int(row.y1 + 0.2 * h))
        crop = soft_ramp(self.ratio[ya:yb, self.x0 : self.x1], _DARK, _LIGHT)
        cy = self.centres[:, 1]
        other = (cy < row.y0 - 0.3 * h) | (cy > row.y1 + 0.2 * h)
        other[0] = False
        crop[other[self.labels[ya:yb, self.x0 : self.x1]] | self._dot_mask()[ya:yb, self.x0 : self.x1]] = 255
        return crop, (self.x0, ya)

    def _dot_mask(self) -> np.ndarray:
        """Where leader dots are: each one's box and a pixel around it (the ink mask holds a blurred dot's
        core only, and its lighter rim would still read as a ring)."""
        if self._dot_cache is None:
            mask = np.zeros(self.ratio.shape[:2], bool)
            for i in np.flatnonzero(leader_dots(self.stats, self.centres, self.glyph_h)):
                x, y, w, h = (int(v) for v in self.stats[i, :4])
                mask[max(0, y - 2) : y + h + 2, max(0, x - 2) : x + w + 2] = True
            self._dot_cache = mask
        return self._dot_cache


def leader_dots(stats: np.ndarray, centres: np.ndarray, glyph_h: float) -> np.ndarray:
    """Per component: whether it is a speck with four more specks on its level within three glyph heights."""
    small = (stats[:, cv2.CC_STAT_HEIGHT] <= 0.3 * glyph_h) & (stats[:, cv2.CC_STAT_WIDTH] <= 0.4 * glyph_h)
    small[0] = False
    idx = np.flatnonzero(small)
    dots = np.zeros(len(stats), bool)
    order = idx[np.argsort(centres[idx, 1])]
    ys, xs = centres[order, 1], centres[order, 0]
    lo = np.searchsorted(ys, ys - 0.15 * glyph_h, side="left")
    hi = np.searchsorted(ys, ys + 0.15 * glyph_h, side="right")
    for k in range(len(order)):
        if hi[k] - lo[k] >= 5 and int((np.abs(xs[lo[k] : hi[k]] - xs[k]) < 3 * glyph_h).sum()) >= 5:
            dots[order[k]] = True
    return dots & ~_under_a_letter(stats, centres, glyph_h)


def _under_a_letter(stats: np.ndarray, centres: np.ndarray, glyph_h: float) -> np.ndarray:
    """Per component: a speck right under a glyph's foot, where a dot below a vowel (`ụ`, `ạ`) sits; a
    leader dot there is kept too, a small price beside a tone mark lost."""
    hs, ws = stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_WIDTH]
    glyph = (hs >= 0.45 * glyph_h) & (hs <= 2.2 * glyph_h) & (ws < 2 * glyph_h)
    glyph[0] = False
    speck = (hs <= 0.3 * glyph_h) & (ws <= 0.4 * glyph_h)
    speck[0] = False
    out = np.zeros(len(stats), bool)
    g, sp = np.flatnonzero(glyph), np.flatnonzero(speck)
    if len(g) == 0 or len(sp) == 0:
        return out
    gx0 = stats[g, cv2.CC_STAT_LEFT]
    gx1 = gx0 + ws[g]
    gy1 = stats[g, cv2.CC_STAT_TOP] + hs[g]
    # the speck's centre within the middle of a glyph's width, at most a third of a glyph under its foot
    cx, cy = centres[sp, 0][:, None], centres[sp, 1][:, None]
    inset = 0.2 * ws[g]
    below = (cx >= gx0 + inset) & (cx <= gx1 - inset) & (cy >= gy1) & (cy <= gy1 + 0.35 * glyph_h)
    out[sp[below.any(axis=1)]] = True
    return out


def find_rows(colour: np.ndarray, region: tuple[float, float, float, float]) -> FormRows:
    """Text rows inside `region` (left, top, right, bottom as shares of the image) of a form image."""
    ratio = colourless(colour)
    H, W = ratio.shape
    ink = (ratio < INK_RATIO * 255).astype(np.uint8)
    _n, labels, stats, centres = components(ink)
    hs, ws = stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_WIDTH]
    glyph_like = (hs > 0.02 * H) & (hs < 0.12 * H) & (ws < 0.3 * W)
    glyph_like[0] = False
    glyph_h = float(np.median(hs[glyph_like])) if glyph_like.any() else 0.035 * H
    keep = (hs >= 0.45 * glyph_h) & (hs <= 2.2 * glyph_h) & (ws < 8 * glyph_h)
    keep[0] = False
    x0, y0, x1, y1 = (int(region[0] * W), int(region[1] * H), int(region[2] * W), int(region[3] * H))
    profile = keep[labels[y0:y1, x0:x1]].sum(axis=1).astype(np.float64)
    profile = np.convolve(profile, np.ones(5) / 5, mode="same")
    rows = [Row(y0 + a, y0 + b) for a, b in _bands(profile, glyph_h)]
    return FormRows(ratio, labels, stats, centres, glyph_h, x0, x1, rows)


def _bands(profile: np.ndarray, glyph_h: float) -> list[tuple[int, int]]:
    """Runs of the profile above a low floor (a row holding one short word counts), each holding ink of a
    glyph or two at least, split at their thinnest point while taller than two rows can be apart."""
    on = profile > max(3.0, 0.04 * float(profile.max(initial=0.0)))
    out: list[tuple[int, int]] = []
    start: int | None = None
    for y, o in enumerate([*on.tolist(), False]):
        if o and start is None:
            start = y
        elif not o and start is not None:
            out.extend(_split(profile, start, y, glyph_h))
            start = None
    # a band thinner than half a glyph is a rule or a row of dots, not text; one with less ink than a
    # glyph or two is a speck of the background
    return [(a, b) for a, b in out if b - a >= 0.4 * glyph_h and profile[a:b].sum() >= 0.5 * glyph_h**2]


def _split(profile: np.ndarray, a: int, b: int, glyph_h: float) -> list[tuple[int, int]]:
    """A band taller than 2.6 glyphs holds two rows touching (a descender on the next row's accents): cut
    it where the profile is lowest, away from its edges."""
    if b - a <= 2.6 * glyph_h:
        return [(a, b)]
    lo, hi = a + int(0.6 * glyph_h), b - int(0.6 * glyph_h)
    cut = lo + int(np.argmin(profile[lo:hi]))
    return [*_split(profile, a, cut, glyph_h), *_split(profile, cut, b, glyph_h)]
