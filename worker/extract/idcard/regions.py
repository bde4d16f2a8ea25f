"""Reading a field's region again on its own, with settings for that field (a digits whitelist, the date
alphabet, upscaling to a legible text size, another segmentation mode when the first gives nothing)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from models.elements import EMPTY_LINE, Line
from worker.ocr import Reader
from worker.ocr.confusions import digit_translation

DIGITS = "0123456789"
DATE_CHARS = "0123456789/-."
# letters and specks read where a card prints a digit
TO_DIGIT = digit_translation("card")


def crop_box(img: np.ndarray, box: tuple[int, int, int, int], *, pad_x: float = 0.4, pad_y: float = 0.08) -> np.ndarray:
    # tight vertically: a sliver of the neighbouring lines makes psm 7 return nothing
    x, y, w, h = box
    px, py = int(h * pad_x) + 2, int(h * pad_y) + 2
    H, W = img.shape[:2]
    return img[max(0, y - py) : min(H, y + h + py), max(0, x - px) : min(W, x + w + px)]


def scale_for(h: int, target: float = 42.0) -> float:
    """Upscale so the text is ~target px tall: the `vie` model misses diacritics on small capitals."""
    return float(min(3.0, max(1.0, target / max(h, 1))))


def read_region(
    reader: Reader,
    img: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    scale: float | None = None,
    pad_y: float = 0.08,
    **kw: Any,
) -> Line:
    crop = crop_box(img, box, pad_y=pad_y)
    if crop.size == 0:
        return EMPTY_LINE
    sc = scale_for(box[3]) if scale is None else scale
    r = reader.read_line(crop, scale=sc, **kw)
    if not r.text.strip() and kw.get("psm", 7) == 7:
        # psm 7 gives up on a line with clutter above/below; raw-line mode does not
        r = reader.read_line(crop, scale=sc, **{**kw, "psm": 13})
    return r


def redness(colour: np.ndarray) -> np.ndarray:
    """How much redder than its other channels each pixel is: the 2016 card's red number stands out of it,
    where the guilloche under it (pale, of every hue) and the black label beside it do not."""
    b, g, r = (colour[:, :, i].astype(np.int16) for i in range(3))
    return np.clip(r - np.maximum(g, b), 0, 255).astype(np.uint8)


# the least redness the number's ink has over its paper (Otsu can set the cut lower on a pale crop)
_RED_INK = 30


def red_ink_span(colour: np.ndarray) -> tuple[int, int] | None:
    """The columns of a crop the red ink spans (with a margin of a third of the crop's height each side),
    None when the crop holds no red ink: the number alone, without the label glued to it (`Số:0...`)."""
    red = redness(colour)
    cut, _ = cv2.threshold(red, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    cols = np.nonzero((red > max(cut, _RED_INK)).sum(axis=0) >= 2)[0]
    h, w = colour.shape[:2]
    if len(cols) == 0 or cols[-1] - cols[0] < 2 * h:
        return None
    return max(0, int(cols[0]) - h // 3), min(w, int(cols[-1]) + h // 3 + 1)


# when a whitelisted re-read fails its format (a digit dropped or doubled), the same region again with other
# segmentation and size: the recogniser's slips depend on both, so one of these usually reads it whole
RETRIES = ({"psm": 7, "scale": 1.0}, {"psm": 13, "scale": 1.0}, {"psm": 8, "scale": 1.5})


LETTERS_AS_DIGITS = frozenset(ch for k in TO_DIGIT if (ch := chr(k)).isalpha() and ch != "Ø")


# a letter read where a digit stands (`0B`, `DA6G`) was turned into one by guessing; such a reading counts
# for less in a vote than one whose digits were seen as digits
GUESSED = 0.5


def letters_mapped(text: str) -> bool:
    return any(ch in LETTERS_AS_DIGITS for ch in text)


def line_stats(r: Line) -> tuple[float, float]:
    syms = r.symbols
    if not syms:
        return 0.0, 0.0
    cs = [s.confidence for s in syms]
    return float(np.mean(cs)), float(min(cs))
