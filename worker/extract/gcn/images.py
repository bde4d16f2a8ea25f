"""The page's images a field is read again from: red seals found by colour and dropped, faint print
stretched, bands of the page read on their own, the ink's colour (print or ballpoint)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.elements import Line, TextPage
from models.pages import NormalisedPage
from worker.ocr import Reader
from worker.raster import components, percentile_u8


def ink_tint(bgr: np.ndarray) -> tuple[float, float]:
    """Median blue-minus-red and blue-minus-green of the dark (ink) pixels of a crop. Red print (the title,
    the serial, seals) is left out: on a red certificate it would outvote the black print and make plain
    black look blue by comparison."""
    # uint8 channel ops (a saturating difference is > t exactly when the signed one is): 5x cheaper than
    # widening the whole crop, and this runs on every text line of a page
    if bgr.size == 0:  # a box at the page's edge can crop to nothing (cv2.split has no channels to give)
        return 0.0, 0.0
    b, g, r = cv2.split(bgr)
    ink = (cv2.min(cv2.min(b, g), r) < 150) & ~((cv2.subtract(r, g) > 40) & (cv2.subtract(r, b) > 30))
    if int(np.count_nonzero(ink)) < 25:
        return 0.0, 0.0
    bi = b[ink].astype(np.int16)
    return float(np.median(bi - r[ink])), float(np.median(bi - g[ink]))


def pen_ink_fraction(
    bgr: np.ndarray, baseline: tuple[float, float] = (0.0, 0.0), margin: tuple[int, int] = (35, 15)
) -> float:
    """Share of the ink in a crop that is blue/violet ballpoint rather than the page's print (`baseline`:
    the print's own tint, so a photo's colour cast is not taken for pen; `margin`: how much bluer than the
    print a pixel must be) or a red seal. Ink is what is clearly darker than the crop's paper: a dim phone
    photo puts the paper itself below a fixed level."""
    if bgr.size == 0:
        return 0.0
    b, g, r = cv2.split(bgr)
    darkest = cv2.min(cv2.min(b, g), r)
    paper = float(np.percentile(darkest, 90))
    ink = darkest < min(150.0, paper - 40.0)
    n = int(np.count_nonzero(ink))
    if n < 25:
        return 0.0
    bi = b.astype(np.int16)
    blue = ink & (bi - r > baseline[0] + margin[0]) & (bi - g > baseline[1] + margin[1])
    return float(np.count_nonzero(blue)) / n


def red_dropout(bgr: np.ndarray) -> np.ndarray:
    """Greyscale with red ink removed: the red channel, levels stretched so that the seal's red (bright
    on that channel, but not white) becomes paper while black print stays black."""
    # uint8 channels and a lookup table: the same result as widening the crop, without the int16 and float64
    # copies (a band across a page reached 100 MB of temporaries)
    if bgr.size == 0:
        return bgr[:, :, 2].copy()
    b, g, r = cv2.split(bgr)
    red = (cv2.subtract(r, g) > 60) & (cv2.subtract(r, b) > 50)
    if int(np.count_nonzero(red)) < 50:
        return r
    white = percentile_u8(r[red], 50) - 20.0
    black = percentile_u8(r, 1.0)
    if white - black < 40:
        return r
    lut = np.clip((np.arange(256, dtype=np.int16) - black) * (255.0 / (white - black)), 0, 255).astype(np.uint8)
    return cv2.LUT(r, lut)


# the level (of the stretched crop, 0-255) below which ink counts as the darkest print
_DARKEST_INK = 76


@dataclass
class PageImages:
    """The images a field is re-read from, with the factor from layout-OCR coordinates to colour pixels."""

    colour: np.ndarray | None
    grey: np.ndarray
    fx: float
    fy: float
    reader: Reader

    @classmethod
    def of(cls, page: NormalisedPage, reader: Reader) -> PageImages:
        grey = page.ocr_image if page.ocr_image.ndim == 2 else cv2.cvtColor(page.ocr_image, cv2.COLOR_BGR2GRAY)
        colour = page.image if page.image is not None and page.image.ndim == 3 else None
        fx = fy = 1.0
        if colour is not None:
            fy = colour.shape[0] / grey.shape[0]
            fx = colour.shape[1] / grey.shape[1]
        return cls(colour, grey, fx, fy, reader)

    def crop(self, box: tuple[int, int, int, int], ink: str = "black", pad: float = 0.35) -> np.ndarray:
        x, y, w, h = box
        px, py = int(h * pad) + 4, int(h * pad) + 2
        if self.colour is not None:
            img = self.colour
            x0, y0 = int((x - px) * self.fx), int((y - py) * self.fy)
            x1, y1 = int((x + w + px) * self.fx), int((y + h + py) * self.fy)
        else:
            img = self.grey
            x0, y0, x1, y1 = x - px, y - py, x + w + px, y + h + py
        H, W = img.shape[:2]
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
        crop = img[y0:y1, x0:x1]
        if crop.ndim == 3:
            # red ink (serials) is darkest on the green channel; black ink under a red seal keeps its
            # contrast on the red channel, where the seal fades into the paper
            crop = crop[:, :, 1] if ink in ("red", "dark") else red_dropout(crop)
        if crop.size:
            # photocopies and faint scans: stretch to full contrast (paper white, darkest ink black)
            lo, hi = np.percentile(crop, (1, 95))
            if hi - lo > 20:
                crop = np.clip((crop.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
            if ink == "dark":
                # the darkest ink only: a photocopy greys a copy stamp printed over the serial lighter than
                # the serial's own bold print
                crop = np.where(crop < _DARKEST_INK, 0, 255).astype(np.uint8)
        return crop

    def read(
        self,
        box: tuple[int, int, int, int],
        *,
        whitelist: str | None = None,
        ink: str = "black",
        choices: bool = False,
        psm: int = 7,
        pad: float = 0.35,
        lang: str | None = None,
        zoom: float = 1.0,
    ) -> tuple[str, float, Line | None]:
        """Read one region again on its own. `lang="eng"` gives a second opinion on Latin letters and
        digits from a differently trained model; `zoom` changes the text size the recogniser sees."""
        crop = self.crop(box, ink, pad)
        if crop.size == 0 or min(crop.shape[:2]) < 4:
            return "", 0.0, None
        scale = max(1.0, min(5.0, zoom * 48.0 / max(1, box[3] * self.fy)))
        r = self.reader.read_line(crop, lang=lang, psm=psm, whitelist=whitelist, scale=scale, choices=choices)
        return r.text.strip(), r.confidence, r

    def second_opinion(self, box: tuple[int, int, int, int], whitelist: str) -> tuple[str, float, Line | None]:
        """The region read by the `eng` model, a little larger: a recogniser trained apart slips on other
        characters than `vie`, so it breaks the tie between re-reads that disagree, or confirms a lone one."""
        return self.read(box, whitelist=whitelist, lang="eng", zoom=1.3)


def enhanced(pg: PageImages) -> np.ndarray:
    """Greyscale for a second layout pass: red print and seals dropped (colour scans), then levels
    stretched so that the paper and a photocopied grey seal go white while the text stays black."""
    grey = red_dropout(pg.colour) if pg.colour is not None else pg.grey
    if pg.colour is not None and (pg.fx != 1.0 or pg.fy != 1.0):
        grey = cv2.resize(grey, (pg.grey.shape[1], pg.grey.shape[0]), interpolation=cv2.INTER_AREA)
    ink = grey[grey < 200]
    if ink.size < 1000:
        return grey
    black = float(np.percentile(ink, 2))
    white = max(black + 60.0, min(200.0, float(np.percentile(ink, 50))))
    return np.clip((grey.astype(np.float32) - black) * (255.0 / (white - black)), 0, 255).astype(np.uint8)


def seal_boxes(pg: PageImages) -> list[tuple[int, int, int, int]]:
    """Red stamps on the page (layout coordinates): round blobs of red ink, not the long red print lines."""
    if pg.colour is None:
        return []
    small = cv2.resize(pg.colour, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA).astype(np.int16)
    b, g, r = small[:, :, 0], small[:, :, 1], small[:, :, 2]
    mask = ((r - g > 50) & (r - b > 40) & (r > 110)).astype(np.uint8)
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    _, _, stats, _ = components(closed)
    side = 0.06 * max(small.shape[:2])  # a seal is ~15-25% of the page width across
    boxes = []
    for x, y, w, h, area in stats[1:]:
        if w >= side and h >= side and 0.5 < w / h < 2.0 and area > 0.08 * w * h:
            boxes.append((int(x * 4 / pg.fx), int(y * 4 / pg.fy), int(w * 4 / pg.fx), int(h * 4 / pg.fy)))
    return boxes


def reread_under_seals(ocr: TextPage, pg: PageImages, seals: list[tuple[int, int, int, int]]) -> TextPage:
    """Lines a red seal covers are read again on the red channel, where the seal all but vanishes; a
    band's new reading replaces the old one when Tesseract is more confident in it."""
    lines = list(ocr.lines)
    for sx, sy, sw, sh in seals:
        hit = [
            ln
            for ln in lines
            if ln.box[1] < sy + sh and ln.box[1] + ln.box[3] > sy and ln.box[0] < sx + sw and ln.box[0] + ln.box[2] > sx
        ]
        if not hit and not _black_print_under(pg, (sx, sy, sw, sh)):
            continue  # red artwork over paper (the national emblem above the title): nothing to read again
        # no line under the seal may mean the layout pass gave up on the lines it covers
        y0 = max(0, min([ln.box[1] for ln in hit] + [sy]) - 6)
        y1 = max([ln.box[1] + ln.box[3] for ln in hit] + [sy + sh]) + 6
        band_lines = [ln for ln in lines if y0 <= ln.box[1] + ln.box[3] / 2 <= y1]
        fresh = ocr_band(pg, y0, y1)
        old_conf = np.mean([w.confidence for ln in band_lines for w in ln.words]) if band_lines else 0.0
        new_conf = np.mean([w.confidence for ln in fresh for w in ln.words]) if fresh else 0.0
        old_chars = sum(len(ln.text) for ln in band_lines)
        new_chars = sum(len(ln.text) for ln in fresh)
        if fresh and new_conf >= max(old_conf - 0.02, 0.6) and new_chars >= 0.8 * old_chars:
            lines = [ln for ln in lines if ln not in band_lines] + fresh
    return TextPage.of_lines(lines)


# share of a seal's box that is black print once the red is dropped: 0.000 under the emblem and on bare
# paper, 0.005-0.06 where a seal covers text lines (measured on generated certificates of every form)
_PRINT_UNDER_SEAL = 0.002


def _black_print_under(pg: PageImages, box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    if pg.colour is None:
        return True
    crop = pg.colour[int(y * pg.fy) : int((y + h) * pg.fy), int(x * pg.fx) : int((x + w) * pg.fx)]
    return crop.size > 0 and float((red_dropout(crop) < 100).mean()) >= _PRINT_UNDER_SEAL


def ocr_band(pg: PageImages, y0: int, y1: int, psm: int = 6) -> list[Line]:
    """OCR one full-width horizontal band (layout coordinates), on the red channel when there is colour."""
    if pg.colour is not None:
        img = red_dropout(pg.colour[int(y0 * pg.fy) : int(y1 * pg.fy), :])
        fx, fy = pg.fx, pg.fy
    else:
        img = pg.grey[y0:y1, :]
        fx = fy = 1.0
    if img.size == 0:
        return []
    band = pg.reader.read(img, psm=psm)

    def move(b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        return (int(b[0] / fx), int(b[1] / fy) + y0, int(b[2] / fx), int(b[3] / fy))

    out = []
    for line in band.lines:
        words = [w.model_copy(update={"box": move(w.box)}) for w in line.words]
        out.append(line.model_copy(update={"words": words, "box": move(line.box)}))
    return out


def red_text_box(pg: PageImages, h: int) -> tuple[int, int, int, int] | None:
    """Where red print sits in the bottom band of the page, in layout coordinates (serial fallback)."""
    if pg.colour is None:
        return None
    img = pg.colour
    H, W = img.shape[:2]
    # the lower part of the page: a photographed or cropped page puts the serial well above the bottom edge
    y0 = int(H * 0.6)
    band = img[y0:, int(W * 0.45) :].astype(np.int16)
    b, g, r = band[:, :, 0], band[:, :, 1], band[:, :, 2]
    mask = ((r - g > 60) & (r - b > 50) & (r > 120)).astype(np.uint8)
    mask |= _shaded_red(b, g, r)
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 25), np.uint8))
    _, labels, stats, _ = components(closed)
    # a line of text: wider than tall, not a rule of the printed frame (long, thin, solid; a tilted frame
    # left in an uncropped photo closes into a box of text's shape, but it is one stroke, a serial is many)
    comps = [
        s
        for k, s in enumerate(stats[1:], 1)
        if 4 * s[3] < s[2] < 0.4 * W and H * 0.008 < s[3] < H * 0.05 and _strokes(mask, labels, k, s) >= 3
    ]
    if not comps:
        return None
    # the lowest line of red print (a red title or stamp text sits higher)
    x, y, w, hh, _ = max(comps, key=lambda s: s[1] + s[3])
    # with the pieces of the same line beside it: the serial's two letters are a blob of their own, too
    # short to pass as a line, and a box without them reads the number alone
    for sx, sy, sw, sh, _ in sorted(stats[1:], key=lambda s: -s[0]):
        same_line = abs((sy + sh / 2) - (y + hh / 2)) < 0.35 * hh and 0.5 * hh < sh < 1.6 * hh
        if same_line and sx + sw <= x and x - (sx + sw) < 1.5 * hh and sw < 4 * hh:
            w, x = x + w - sx, sx
    gx = (x + int(W * 0.45)) / pg.fx
    gy = (y + y0) / pg.fy
    return (int(gx), int(gy), int(w / pg.fx), int(hh / pg.fy))


def _shaded_red(b: np.ndarray, g: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Red print in shade or under a dim light (int16 channels): red by its share of the pixel's brightness
    rather than a fixed level, green and blue alike (an orange or yellow surface is red well above blue)."""
    excess = r - np.maximum(g, b)
    return ((excess > np.maximum(40, 0.4 * r)) & (np.abs(g - b) < 0.5 * excess)).astype(np.uint8)


def _strokes(mask: np.ndarray, labels: np.ndarray, k: int, stat: np.ndarray) -> int:
    """How many separate strokes of `mask` make up the closed component `k` (characters, not one rule)."""
    x, y, w, h = (int(v) for v in stat[:4])
    inside = mask[y : y + h, x : x + w] & (labels[y : y + h, x : x + w] == k)
    return components(inside.astype(np.uint8))[0] - 1
