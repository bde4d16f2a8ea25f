"""Clean-up for OCR: a greyscale image with flat white paper, dark text, and the red seal faded out.

- Red seals are stamped over names and signatures; in the red channel red ink is as light as paper while
  black ink stays dark, so inside seal-shaped red regions the red channel replaces the luminance. Red
  *text* (the GCN title, the card's "CĂN CƯỚC CÔNG DÂN") is not seal-shaped and is kept.
- Dividing by the local paper brightness removes lighting gradients and the shade of a photocopied card.
- A soft threshold maps anything lighter than ~80 % of the paper to white: guilloche lines and paper
  texture go, anti-aliased glyph edges stay (Tesseract's LSTM reads grey better than a hard binarisation).
"""

from __future__ import annotations

import cv2
import numpy as np

from worker.imaging.text import background
from worker.raster import components, percentile_u8

_BLURRED_WHITE = 0.95


def seal_mask(colour: np.ndarray, glyph_h: float) -> np.ndarray:
    """Regions (uint8 0/255, at the image's size) covered by round red stamps.

    Found on a quarter-size copy: stamps are large, and this runs on every page."""
    h0, w0 = colour.shape[:2]
    f = 4 if min(h0, w0) >= 400 else 1
    # the fractional area resize costs 12 ms on a page where two halvings cost 2, but their slightly different
    # stamp outlines made `bench gcn` read 4 more fields wrong (31 errors against 27): the outline stays
    small = cv2.resize(colour, (max(1, w0 // f), max(1, h0 // f)), interpolation=cv2.INTER_AREA) if f > 1 else colour
    gh = glyph_h / f
    b, g, r = cv2.split(small)
    redness = cv2.subtract(r, cv2.max(g, b))
    red = ((redness > 40) & (r > 90)).astype(np.uint8) * 255
    mask = np.zeros(small.shape[:2], np.uint8)
    if cv2.countNonZero(red) < max(4, 50 // (f * f)):
        return np.zeros((h0, w0), np.uint8)
    k = max(3, int(gh * 0.4) | 1)
    blob = cv2.dilate(red, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    n, _labels, st, _ = components(blob)
    drawn = False
    for i in range(1, n):
        w, h = st[i, cv2.CC_STAT_WIDTH], st[i, cv2.CC_STAT_HEIGHT]
        # a stamp is big, roundish and hollow (ring and lettering); a partly visible one is still hollow.
        # Red words are short and dense once dilated.
        if max(w, h) < 5 * gh or min(w, h) < 3 * gh or not 0.4 < w / h < 2.5:
            continue
        if st[i, cv2.CC_STAT_AREA] > 0.55 * w * h:
            continue
        x, y = st[i, cv2.CC_STAT_LEFT], st[i, cv2.CC_STAT_TOP]
        cv2.ellipse(mask, ((x + w / 2, y + h / 2), (w * 1.05, h * 1.05), 0), 255, -1)
        drawn = True
    if not drawn:
        return np.zeros((h0, w0), np.uint8)  # no stamp: a page-sized resize of nothing saved
    if f > 1:
        mask = cv2.resize(mask, (w0, h0), interpolation=cv2.INTER_NEAREST)
    return mask


def clean_for_ocr(
    colour: np.ndarray, glyph_h: float, *, suppress_seals: bool = True, blurred: bool = False
) -> np.ndarray:
    """Greyscale OCR image from an upright BGR document image. A blurred image's thin strokes come out
    lighter than 80 % of the paper, so there only what is nearly paper turns white."""
    grey = cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)
    if suppress_seals:
        seals = seal_mask(colour, glyph_h)
        if seals.any():
            # in place: on an 8 MP page each full-size temporary is 8 MB more at the worker's peak
            np.copyto(grey, cv2.max(grey, colour[:, :, 2]), where=seals > 0)
        del seals
    return _paper_flattened(grey, int(max(31, 3 * glyph_h)), white=_BLURRED_WHITE if blurred else 0.80, stride=7)


def _paper_flattened(grey: np.ndarray, window: int, *, white: float, stride: int) -> np.ndarray:
    """Divided by the local paper brightness (paper ≈ 255), then a soft threshold: lighter than `white` of
    the paper is white, the darkest ink (its 1st percentile, sampled every `stride` pixels) black."""
    paper = background(grey, window)
    np.maximum(paper, 1, out=paper)
    norm = cv2.divide(grey, paper, scale=255.0)
    del paper
    dark = min(percentile_u8(norm[::stride, ::stride], 1.0) / 255.0, 0.55) if norm.size else 0.0
    return soft_ramp(norm, dark, white)


def soft_ramp(grey: np.ndarray, dark: float, light: float) -> np.ndarray:
    """Grey levels (as shares of 255) below `dark` to black, above `light` to white, linear between: anti-aliased
    glyph edges stay grey, which Tesseract's LSTM reads better than a hard binarisation."""
    lut = np.clip((np.arange(256, dtype=np.float32) / 255.0 - dark) / max(light - dark, 1e-3) * 255.0, 0, 255)
    return cv2.LUT(grey, lut.astype(np.uint8))


def all_ink_for_ocr(colour: np.ndarray, long_side: int = 1400) -> np.ndarray:
    """Greyscale in which every ink is dark, coloured print included, at a reduced size: a second look at a
    page whose layout pass found no document's words. The OCR image fades red print with the paper's tint
    (a blurred photo of a pink certificate loses its red title), while the darkest channel keeps red, blue
    and black ink alike; the reduced size shrinks a photo's blur along with the glyphs, and reading it
    costs half a layout pass."""
    darkest = colour.min(axis=2) if colour.ndim == 3 else colour
    h, w = darkest.shape[:2]
    f = min(1.0, long_side / max(h, w, 1))
    if f < 1.0:
        darkest = cv2.resize(darkest, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
    # a paper-relative level: the window spans a few lines of body text at this size
    return _paper_flattened(darkest, max(31, darkest.shape[0] // 40), white=0.85, stride=5)
