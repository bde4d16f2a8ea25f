"""Quality gate: a score and named defects per document image, modelled on what commercial document APIs
report (blur, glare, darkness, cut-off, low resolution, no colour, screenshot).

Metrics are measured on the text itself where possible (edge sharpness relative to the glyph size, ink
contrast against the local paper), so a faint but sharp scan and a dark but readable photo are told apart.
A poor page is flagged, never dropped: the defects become warnings and the score goes to the Document.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.pages import QualityReport
from worker.imaging.text import Glyphs, background, darker_than_paper, halve, to_grey
from worker.raster import components, percentile_u8

_ANALYSIS_LONG = 700
_SCREEN_WIDTHS = frozenset(
    {640, 720, 750, 768, 828, 1080, 1125, 1170, 1179, 1242, 1284, 1290, 1366, 1440, 1536, 1600, 1920, 2560}
)
# motion blur: the edge spread measured along every 15° (a shake at any angle lies within 7.5° of one), on at
# most this many edge pixels (~2 ms a page; the 97th percentiles of all ~90k in a window moved by under 1%).
# Thresholds from `bench gcn --world` seeds 23/5/41 and the 59 real images: motion-blurred photos the overall
# check passed measured a worst direction of 0.134-0.177 glyph heights and 1.56-2.12x the best; no other
# page or card measured over 0.115 at a ratio above 1.45 (0.124 at 1.34), nor a ratio above 1.86
_DIRECTION_STEP = 15
_DIRECTIONS = [(math.cos(math.radians(a)), math.sin(math.radians(a))) for a in range(0, 180, _DIRECTION_STEP)]
_MOTION_SAMPLES = 20_000
_MOTION_REL = 0.125
_MOTION_RATIO = 1.45


@dataclass
class _Findings:
    """What the checks measured and the defects they named, each with its share of the score taken off (in
    the order named)."""

    metrics: dict[str, float] = field(default_factory=dict)
    penalty: dict[str, float] = field(default_factory=dict)

    def flag(self, defect: str, penalty: float) -> None:
        self.penalty[defect] = penalty


def assess(
    colour: np.ndarray,
    *,
    glyph_info: Glyphs | None,
    source_glyph_px: float | None,
    effective_dpi: float | None,
    kind: str,
    cut_off: bool,
    source_is_raster: bool,
    source_shape: tuple[int, int] | None = None,
) -> QualityReport:
    """Assess one normalised document image (colour BGR, upright, cropped)."""
    small_c, scale = _analysis_copy(colour)
    small = to_grey(small_c)
    bg = background(small, 41)
    ink = darker_than_paper(small, bg, 0.72) > 0
    found = _Findings()
    contrast = _exposure(small, bg, ink, found)
    if ink.sum() > 200 and contrast > 20:
        _blur(colour, ink, scale, contrast, glyph_info, found)
    noise = _noise(small, ink, contrast, found)
    _resolution(effective_dpi, source_glyph_px, kind, found)
    if cut_off:
        found.flag("cut_off", 0.3)
    _glare(small_c, small, found)
    _colour(small_c, found)
    if source_is_raster and source_shape is not None:
        _screenshot(source_shape, noise, found)
    return _report(found, glyph_info)


def _exposure(small: np.ndarray, bg: np.ndarray, ink: np.ndarray, found: _Findings) -> float:
    """Paper and ink levels: too dark, or too bright for the print to stand out. Returns the contrast."""
    paper = percentile_u8(bg, 50)
    ink_level = percentile_u8(small[ink], 20) if ink.sum() > 50 else paper
    contrast = paper - ink_level
    found.metrics["paper_level"] = round(paper, 1)
    found.metrics["ink_level"] = round(ink_level, 1)
    found.metrics["contrast"] = round(contrast, 1)
    if paper < 110:
        found.flag("too_dark", min(0.6, (110 - paper) / 110 + 0.2))
    if ink_level > 140 or (contrast < 60 and paper >= 110):
        found.flag("too_bright", min(0.7, max(0.2, (80 - contrast) / 80)))
    return contrast


def _blur(
    colour: np.ndarray,
    ink: np.ndarray,
    scale: float,
    contrast: float,
    glyph_info: Glyphs | None,
    found: _Findings,
) -> None:
    """The steepest text edges against the contrast give the edge spread (a Gaussian sigma, px). Measured at
    full resolution on the inkiest central window: downscaling would hide the blur."""
    # greyscale of the window only: converting the whole page cost more than the rest of this check
    crop = to_grey(_inky_window(colour, ink, scale, 640))
    crop_ink = darker_than_paper(crop, background(crop, 41), 0.72)
    gx = cv2.Sobel(crop, cv2.CV_32F, 1, 0, ksize=3, scale=1.0 / 8.0)
    gy = cv2.Sobel(crop, cv2.CV_32F, 0, 1, ksize=3, scale=1.0 / 8.0)
    mag = cv2.magnitude(gx, gy)
    near_ink = cv2.dilate(crop_ink, np.ones((3, 3), np.uint8)).astype(bool)
    if near_ink.sum() <= 100:
        return
    g97 = float(np.percentile(mag[near_ink], 97))
    glyph_h = glyph_info.height if glyph_info is not None and glyph_info.height else 15.0
    sigma = _spread(contrast, g97)
    rel = sigma / max(glyph_h, 1.0)
    found.metrics["blur_sigma_px"] = round(sigma, 2)
    found.metrics["blur_rel"] = round(rel, 3)
    if rel > 0.09:
        found.flag("blurry", min(0.8, (rel - 0.09) * 4 + 0.2))
    else:
        _motion_blur(gx[near_ink], gy[near_ink], contrast, glyph_h, found)


def _spread(contrast: float, steepest: float) -> float:
    """The Gaussian sigma (px) of an edge of `contrast` whose steepest slope is `steepest`."""
    return contrast / (math.sqrt(2 * math.pi) * max(steepest, 1e-3))


def _motion_blur(gx: np.ndarray, gy: np.ndarray, contrast: float, glyph_h: float, found: _Findings) -> None:
    """A phone moved during the shot smears the print along one direction: edges across it are spread, the
    others stay sharp, and the steepest edges of any direction (`_blur`) look sharp. The edge spread is
    measured along every 15° instead; the worst direction is motion blur when it is both spread like a
    blurry page's and well beyond the best direction (sharp print differs by 1.05-1.4 between directions,
    its strokes being mostly upright)."""
    step = max(1, gx.size // _MOTION_SAMPLES)
    gx, gy = gx[::step], gy[::step]
    k = int(0.97 * (gx.size - 1))  # the 97th percentile, by partition: a third of np.percentile's time
    steepest = [float(np.partition(np.abs(gx * c + gy * s), k)[k]) for c, s in _DIRECTIONS]
    worst = int(np.argmin(steepest))
    rel = _spread(contrast, steepest[worst]) / max(glyph_h, 1.0)
    ratio = max(steepest) / max(steepest[worst], 1e-3)
    found.metrics["motion_blur_rel"] = round(rel, 3)
    found.metrics["motion_blur_ratio"] = round(ratio, 2)
    if rel > _MOTION_REL and ratio > _MOTION_RATIO:
        found.metrics["motion_blur_deg"] = float(worst * _DIRECTION_STEP)
        found.flag("motion_blur", min(0.8, (rel - _MOTION_REL) * 4 + 0.2))


def _noise(small: np.ndarray, ink: np.ndarray, contrast: float, found: _Findings) -> float:
    """Immerkær's estimator on the paper only. Returns the noise sigma."""
    lap = cv2.filter2D(small.astype(np.float32), -1, np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32))
    flat = ~cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    noise = float(np.mean(np.abs(lap[flat])) * math.sqrt(math.pi / 2) / 6.0) if flat.sum() > 100 else 0.0
    found.metrics["noise_sigma"] = round(noise, 2)
    if noise > max(6.0, 0.08 * contrast):
        found.flag("noisy", min(0.5, noise / 40))
    return noise


def _resolution(effective_dpi: float | None, source_glyph_px: float | None, kind: str, found: _Findings) -> None:
    """How tall the glyphs were in the source pixels, and the dpi where known."""
    if effective_dpi is not None:
        found.metrics["effective_dpi"] = round(effective_dpi, 1)
    if source_glyph_px is not None:
        found.metrics["source_glyph_px"] = round(source_glyph_px, 1)
    low_res = (effective_dpi is not None and effective_dpi < (180 if kind == "card" else 140)) or (
        source_glyph_px is not None and source_glyph_px < 10
    )
    if low_res:
        found.flag("low_resolution", 0.35)


def _glare(small_c: np.ndarray, small: np.ndarray, found: _Findings) -> None:
    """Blown-out patches on a document that is not itself white."""
    hsv = cv2.cvtColor(small_c, cv2.COLOR_BGR2HSV) if small_c.ndim == 3 else None
    blown = small >= 250
    if hsv is not None:
        blown &= hsv[:, :, 1] < 25
    glare = float(blown.mean())
    found.metrics["glare_fraction"] = round(glare, 4)
    if glare > 0.004 and percentile_u8(small, 50) < 235:
        n, _l, st, _c = components(blown.astype(np.uint8))
        big = (st[1:, cv2.CC_STAT_AREA] > 0.001 * small.size).sum() if n > 1 else 0
        if big:
            found.flag("glare", min(0.5, glare * 20 + 0.15))


def _colour(small_c: np.ndarray, found: _Findings) -> None:
    """ID cards and certificates carry red and tinted print; none means a photocopy or a grey scan."""
    if small_c.ndim == 3:
        b, g, r = (small_c[:, :, i].astype(np.float32) for i in range(3))
        rg, yb = r - g, 0.5 * (r + g) - b
        colourful = float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))
    else:
        colourful = 0.0
    found.metrics["colourfulness"] = round(colourful, 2)
    if colourful < 4.0:
        found.flag("photocopy", 0.05)  # readable, but colour cues (seal, red title) are gone


def _screenshot(source_shape: tuple[int, int], noise: float, found: _Findings) -> None:
    """A noiseless raster at a phone's or a monitor's width, in a screen's long aspect."""
    sh, sw = source_shape
    if noise < 0.5 and (sw in _SCREEN_WIDTHS or sh in _SCREEN_WIDTHS) and max(sh, sw) / min(sh, sw) > 1.7:
        found.flag("screenshot", 0.1)


def _report(found: _Findings, glyph_info: Glyphs | None) -> QualityReport:
    """The score is the product of what each defect leaves; a page without text keeps a third of it."""
    defects = list(found.penalty)
    score = 1.0
    for p in found.penalty.values():
        score *= 1.0 - p
    if glyph_info is not None and len(glyph_info) < 15:
        defects.append("no_text")
        score *= 0.3
    if score < 0.25:
        defects.append("unreadable")
    return QualityReport(score=round(max(0.0, min(1.0, score)), 3), defects=defects, metrics=found.metrics)


def _analysis_copy(colour: np.ndarray, long_side: int = _ANALYSIS_LONG) -> tuple[np.ndarray, float]:
    """The image with its longer side at most `long_side`, and the scale applied.

    Halvings (OpenCV's fastest shrink) while they keep 80% of `long_side`, then an area resize if still
    larger: a 200 dpi page comes out at ~585 px for 1.5 ms, where one area resize to 700 px cost 15 ms. On
    125 bench images not one defect changed; page metrics moved by under 7% (the noise estimate, ~0.5 grey
    levels there, by up to 0.2)."""
    h, w = colour.shape[:2]
    if max(h, w) <= long_side:
        return colour, 1.0
    copy = colour
    while max(copy.shape[:2]) // 2 >= 0.8 * long_side:
        copy = halve(copy)
    if max(copy.shape[:2]) > long_side:
        scale = long_side / max(h, w)
        copy = cv2.resize(copy, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return copy, copy.shape[1] / w


def _inky_window(image: np.ndarray, small_ink: np.ndarray, scale: float, size: int) -> np.ndarray:
    """A full-resolution window of at most size×size pixels centred on the densest ink."""
    h, w = image.shape[:2]
    if h <= size and w <= size:
        return image
    k = max(3, int(size * scale) | 1)
    density = cv2.blur(small_ink.astype(np.float32), (k, k))
    y, x = np.unravel_index(int(np.argmax(density)), density.shape)
    cy, cx = int(y / scale), int(x / scale)
    y0 = min(max(0, cy - size // 2), max(0, h - size))
    x0 = min(max(0, cx - size // 2), max(0, w - size))
    return image[y0 : y0 + size, x0 : x0 + size]
