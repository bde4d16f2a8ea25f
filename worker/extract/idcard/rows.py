"""A layout of the 9-digit CMND front that does not come from the OCR engine's layout analysis.

On the green guilloche form with dotted leaders the engine's layout pass (psm 3, and psm 6 as a second try)
drops the number, name and birth-date lines even on a clean crop. Here the text rows are found from the ink
(worker/imaging/formrows.py), each row is read alone as one line, and the rows become a TextPage the
field parsing takes as it takes a layout pass: labels are found in them, values after or under the labels,
and the value regions are re-read on the same colourless image the rows were read from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.elements import Line, TextPage, Word, union
from worker.imaging.formrows import find_rows
from worker.ocr import Reader
from worker.vntext import name_key

# where a tight crop of the card prints its labelled rows: right of the photo, under the title (shares of
# the card; the label column starts at ~0.31 of the width, the number's row at ~0.27 of the height)
FRONT_REGION = (0.285, 0.24, 0.985, 0.99)
# the national motto's first line spans ~0.34-0.93 of a tight crop's width and starts at ~0.055 of its width
_MOTTO = (0.34, 0.93, 0.055)
# text this tall reads best (the `vie` model misses diacritics on small capitals)
_TARGET_H = 36.0


@dataclass
class RowLayout:
    page: TextPage  # the rows as lines, in the coordinates of the card image
    image: np.ndarray  # the card's OCR grey without its colours and leader dots (value regions re-read on it)


def front_region(layout: TextPage, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """The labelled rows' region, placed by the motto line the layout pass read when the card is not cropped
    tight (a photo of the card on a table), else the tight crop's."""
    H, W = shape[:2]
    for line in layout.lines:
        if "CONG HOA" not in name_key(line.text):
            continue
        x, y, w, _ = line.box
        card_w = w / (_MOTTO[1] - _MOTTO[0])
        left = x - _MOTTO[0] * card_w
        top = y - _MOTTO[2] * card_w * 0.63
        # a tight crop prints the motto in the top ~8% (real crops 5-7%, synthetic 8%); lower down, the card
        # is smaller than the image and the region is placed on it by the motto's width
        if y > 0.12 * H and card_w < 0.95 * W:
            box = (left + FRONT_REGION[0] * card_w, top + FRONT_REGION[1] * card_w * 0.63,
                   left + FRONT_REGION[2] * card_w, top + FRONT_REGION[3] * card_w * 0.63)  # fmt: skip
            return (max(0.0, box[0] / W), max(0.0, box[1] / H), min(1.0, box[2] / W), min(1.0, box[3] / H))
        break
    return FRONT_REGION


def read_rows(reader: Reader, colour: np.ndarray, layout: TextPage) -> RowLayout:
    """Every text row of a CMND front read as one line (raw-line mode when line mode gives up on it)."""
    form = find_rows(colour, front_region(layout, colour.shape))
    scale = float(min(3.0, max(1.0, _TARGET_H / max(form.glyph_h, 1.0))))
    lines: list[Line] = []
    for row in form.rows:
        crop, (ox, oy) = form.row_image(row)
        r = reader.read_line(crop, psm=7, scale=scale)
        if not r.text.strip():
            r = reader.read_line(crop, psm=13, scale=scale)
        words = [_shifted(w, ox, oy) for w in r.words if w.text.strip()]
        if words:
            lines.append(Line(text=" ".join(w.text for w in words), confidence=r.confidence,
                              box=union(w.box for w in words), words=words))  # fmt: skip
    return RowLayout(TextPage.of_lines(lines), form.ocr_image())


def _shifted(w: Word, dx: int, dy: int) -> Word:
    x, y, bw, bh = w.box
    return w.model_copy(update={"box": (x + dx, y + dy, bw, bh)})


def shifted_line(line: Line, dx: int, dy: int) -> Line:
    """A line read from a crop, moved into the coordinates of the image the crop was cut from."""
    x, y, bw, bh = line.box
    words = [_shifted(w, dx, dy) for w in line.words]
    return line.model_copy(update={"box": (x + dx, y + dy, bw, bh), "words": words})
