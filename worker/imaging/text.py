"""Text evidence shared by deskew, orientation and quality: an ink mask and glyph-sized connected components.

Everything works on an analysis copy scaled so glyphs are a few dozen pixels tall at most: precise enough for
0.05° skew and cheap enough for the 150 ms per page budget.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from worker.raster import components, median


@dataclass
class Glyphs:
    """Glyph-like connected components of an ink mask (analysis-image coordinates)."""

    x0: np.ndarray  # left
    y0: np.ndarray  # top
    x1: np.ndarray  # right (exclusive)
    y1: np.ndarray  # bottom (exclusive)
    cx: np.ndarray  # centroid
    cy: np.ndarray
    area: np.ndarray
    height: float  # median glyph height, px
    shape: tuple[int, int]  # analysis image (h, w)

    def __len__(self) -> int:
        return len(self.cx)

    def subset(self, keep: np.ndarray) -> Glyphs:
        return Glyphs(
            self.x0[keep], self.y0[keep], self.x1[keep], self.y1[keep], self.cx[keep], self.cy[keep],
            self.area[keep], self.height, self.shape,
        )  # fmt: skip


def to_grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def resize_long(image: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most long_side; returns the image and the scale applied."""
    h, w = image.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    out = image
    # halving with pyrDown first is several times cheaper than one large INTER_AREA step
    while max(out.shape[:2]) >= 2 * long_side:
        out = cv2.pyrDown(out)
    out = cv2.resize(out, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return out, scale


def halve(image: np.ndarray) -> np.ndarray:
    """2×2 block means: OpenCV's fastest shrink (~1 ms for a 200 dpi A4 page in colour, where a fractional
    area resize costs 15 ms and even a whole factor of 3 or 4 costs 6-8 ms)."""
    return cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


def background(grey: np.ndarray, window: int) -> np.ndarray:
    """Local paper brightness: a grey-level closing (max filter) wide enough to erase strokes, smoothed.

    Computed at quarter resolution: the paper varies slowly, and the max filter is the costliest step.
    """
    h, w = grey.shape
    small = cv2.resize(grey, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    k = max(3, (window // 4) | 1)
    small = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    small = cv2.blur(small, (k, k))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def ink_mask(grey: np.ndarray, *, window: int = 41, darkness: float = 0.72) -> np.ndarray:
    """Pixels clearly darker than the local paper (uint8 0/255).

    The ratio to the local background ignores uneven lighting, and a fixed ratio (rather than Otsu) keeps
    light guilloche and paper texture out of the mask even when there is little text.
    """
    return darker_than_paper(grey, background(grey, window), darkness, paper_above=40)


def darker_than_paper(grey: np.ndarray, paper: np.ndarray, darkness: float, *, paper_above: int = -1) -> np.ndarray:
    """uint8 0/255: pixels whose ratio to the paper level (uint8, same shape) is below `darkness`, where the
    paper is brighter than `paper_above`.

    Both are 8-bit, so the test is a per-paper-level grey threshold: a table lookup and one comparison
    instead of a float division over the image (4 of an ink mask's 10 ms on a 1600 px page).
    """
    return cv2.compare(grey, cv2.LUT(paper, _ink_below(darkness, paper_above)), cv2.CMP_LT)


@functools.lru_cache(maxsize=16)
def _ink_below(darkness: float, paper_above: int) -> np.ndarray:
    """For each paper level, the first grey level that is not ink: grey / max(paper, 1) < darkness, in the
    float32 arithmetic the ratio had when it was computed per pixel."""
    if not 0.0 < darkness <= 1.0:
        raise ValueError(f"darkness is a ratio to the paper level in (0, 1], not {darkness}")
    paper = np.arange(256, dtype=np.float32)[:, None]
    grey = np.arange(256, dtype=np.float32)[None, :]
    ink = (grey / np.maximum(paper, 1.0) < darkness) & (paper > paper_above)
    return ink.sum(axis=1).astype(np.uint8)  # the ratio grows with the grey level: ink is a prefix


def glyphs(mask: np.ndarray, *, min_px: int = 4) -> Glyphs:
    """Connected components that look like glyphs: big blobs (photos, rules, seals) and specks are dropped."""
    return glyphs_and_marks(mask, min_px=min_px)[0]


def glyphs_and_marks(mask: np.ndarray, *, min_px: int = 4) -> tuple[Glyphs, Glyphs]:
    """Glyphs, and the much smaller marks (diacritics, i-dots, punctuation) from one labelling pass."""
    n, _labels, stats, cents = components(mask)
    st = stats[1:]
    ce = cents[1:]
    w, h, area = st[:, cv2.CC_STAT_WIDTH], st[:, cv2.CC_STAT_HEIGHT], st[:, cv2.CC_STAT_AREA]
    shape = mask.shape[:2]
    base = (h >= min_px) & (w >= 2) & (area >= 6)
    if n <= 1 or not base.any():
        empty = np.zeros(0, np.float64)
        none = Glyphs(empty, empty, empty, empty, empty, empty, empty, 0.0, shape)
        return none, none
    # The typical glyph height, from components that are neither specks nor huge
    cand = base & (h < shape[0] / 8) & (w < shape[1] / 4)
    med = median(h[cand]) if cand.any() else median(h[base])
    keep = base & (h >= 0.45 * med) & (h <= 3.0 * med) & (w <= 6.0 * med) & (area <= 4.0 * med * med * 1.5)
    # solid blocks (photo corners, black bars) are not glyphs either
    keep &= area <= 0.85 * w * h + 4
    x0 = st[keep, cv2.CC_STAT_LEFT].astype(np.float64)
    y0 = st[keep, cv2.CC_STAT_TOP].astype(np.float64)
    kept_h = h[keep]
    med = median(kept_h) if keep.any() else med
    mk = (h < 0.45 * med) & (w < 0.9 * med) & (area >= 3)
    mx0 = st[mk, cv2.CC_STAT_LEFT].astype(np.float64)
    my0 = st[mk, cv2.CC_STAT_TOP].astype(np.float64)
    marks = Glyphs(mx0, my0, mx0 + w[mk], my0 + h[mk], ce[mk, 0], ce[mk, 1], area[mk].astype(np.float64), med, shape)
    return Glyphs(
        x0=x0,
        y0=y0,
        x1=x0 + w[keep],
        y1=y0 + kept_h,
        cx=ce[keep, 0].astype(np.float64),
        cy=ce[keep, 1].astype(np.float64),
        area=area[keep].astype(np.float64),
        height=med,
        shape=shape,
    ), marks
