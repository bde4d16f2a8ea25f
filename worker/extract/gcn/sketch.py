"""The sketch and changes page: the parcel's label in the sketch (its number above its area) and the rows
recorded under `IV. Những thay đổi ...`."""

from __future__ import annotations

import re

import cv2
import numpy as np

from models import fields as F
from models.elements import TextPage, union
from worker.extract.gcn.evidence import Evidence
from worker.extract.gcn.images import PageImages, ocr_band
from worker.extract.gcn.numbers import DIGITS, parse_area
from worker.extract.gcn.patterns import CHANGES_HEADING, CODE_RE
from worker.extract.gcn.text import PageText
from worker.vntext import name_key


def read_diagram(t: PageText, pg: PageImages, fields: dict[str, Evidence]) -> None:
    """The parcel sketch (`III. Sơ đồ thửa đất`) labels the parcel with its number above its area; the
    neighbours' numbers around it are decoys, so only a number directly above an area counts."""
    head = re.search(r"so\s*do\s*thua\s*dat", t.fold)
    tail = CHANGES_HEADING.search(t.fold)
    # the heading lost (a low-resolution scan) but the sketch's table of corner coordinates read above the
    # changes section: the sketch is the page's top, above that section
    corners = re.search(r"toa\s*do\s*goc", t.fold[: tail.start() if tail else len(t.fold)])
    if not head and not corners:
        return
    if not _diagram_label(t, pg, fields):
        # page segmentation takes the sketch for a picture: read its region as sparse text
        top = t.lines[t.line_index(head.start())].box if head else (0, 0, 0, 0)
        y0 = top[1] + top[3] + 4
        y1 = t.lines[t.line_index(tail.start())].box[1] - 4 if tail else int(pg.grey.shape[0] * 0.55)
        if y1 - y0 > 100:
            sparse = PageText.of(TextPage.of_lines(ocr_band(pg, y0, y1, psm=11)))
            if not _diagram_label(sparse, pg, fields):
                _diagram_centre(pg, y0, y1, fields)


def _diagram_centre(pg: PageImages, y0: int, y1: int, fields: dict[str, Evidence]) -> None:
    """Last resort: the label sits in the middle of the parcel's outline, the largest closed shape in the
    sketch (not its frame). Read the middle of that shape as a block."""
    band = pg.grey[y0:y1]
    ink = (band < 128).astype(np.uint8)
    contours, _ = cv2.findContours(ink, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    H, W = band.shape
    shapes = [
        cv2.boundingRect(c)
        for c in contours
        if cv2.contourArea(c) > 0.02 * H * W and cv2.boundingRect(c)[2] < 0.9 * W and cv2.boundingRect(c)[3] < 0.9 * H
    ]
    if not shapes:
        return
    x, y, w, h = max(shapes, key=lambda b: b[2] * b[3])
    centre = (x + w // 4, y0 + y + h // 4, w // 2, h // 2)
    lines = [
        ln.model_copy(
            update={
                "words": [
                    wd.model_copy(update={"box": (wd.box[0] + centre[0], wd.box[1] + centre[1], wd.box[2], wd.box[3])})
                    for wd in ln.words
                ],
                "box": (ln.box[0] + centre[0], ln.box[1] + centre[1], ln.box[2], ln.box[3]),
            }
        )
        for ln in pg.reader.read(
            pg.grey[centre[1] : centre[1] + centre[3], centre[0] : centre[0] + centre[2]], psm=6
        ).lines
    ]
    _diagram_label(PageText.of(TextPage.of_lines(lines)), pg, fields)


# an area glued to its unit, `m²` read as m, mm, m?, m2: `1473mm?`
_GLUED_AREA = re.compile(r"\d[\d.,]*\d\s*m{1,2}[^\s\d]?[2²?]?")


# the parcel's number, with the specks a sparse reading leaves after it (`273..`)
_LABEL = re.compile(r"\d{1,5}[.,:;]{0,2}")


def _diagram_label(t: PageText, pg: PageImages, fields: dict[str, Evidence]) -> bool:
    """The parcel's label in the sketch: a bare number right above `<area> m²` (word geometry, since the
    sparse reading strings neighbours' numbers on the same row into one line)."""
    words = t.words
    for i, w in enumerate(words):
        if _GLUED_AREA.fullmatch(w.text):
            # the area and its unit read as one word (`1473mm?` for `147,3 m²`): the comma may be lost, so it
            # only locates the label
            area_box, area_text = w.box, ""
        else:
            # the area may end in a misread digit (`57,b`): it only locates the label here
            if not re.fullmatch(r"\d[\d.,]*[0-9A-Za-z]?", w.text) or i + 1 >= len(words):
                continue
            unit = words[i + 1]
            # `m²` comes out as m2, m?, m°, mẽ ...: an `m` with at most one mark after it
            if not re.fullmatch(r"m\S?", unit.text) or abs(unit.box[1] - w.box[1]) > w.box[3]:
                continue
            area_box, area_text = union([w.box, unit.box]), w.text
        ax, ay, aw, ah = area_box
        cx = ax + aw / 2
        above = [
            v
            for v in words
            if _LABEL.fullmatch(v.text)
            and v.box[1] + v.box[3] <= ay + 2
            and ay - (v.box[1] + v.box[3]) < 3 * ah
            and abs(v.box[0] + v.box[2] / 2 - cx) < aw / 2
        ]
        if not above:
            continue
        label = max(above, key=lambda v: v.box[1])
        number = int(label.text.rstrip(".,:;"))
        ev = Evidence(F.PARCEL_NUMBER, number, label.box, ["ocr", "diagram"], label.confidence, label.confidence)
        text, _, _ = pg.read(label.box, whitelist=DIGITS)
        if text.strip() == str(number):
            ev.agree += 1
            ev.sources.append("reread")
        fields[F.PARCEL_NUMBER] = ev
        area, _ = parse_area(f"{area_text} m") if re.fullmatch(r"\d[\d.,]*", area_text) else (None, False)
        if area is not None:
            fields[F.AREA_M2] = Evidence(
                F.AREA_M2, float(area), (ax, ay, aw, ah), ["ocr", "diagram"], w.confidence, w.confidence
            )
        return True
    return False


# a word of a recorded change: a Vietnamese syllable (at most 7 letters) or a number, date, file number
_ROW_TOKEN = re.compile(r"[(\"']?(?:[^\W\d_]{1,7}|\d[\d/.,\-]*)[)\"':;,.]?")


_ROW_TOKEN_CONF = 0.5


def read_changes(t: PageText, fields: dict[str, Evidence], warnings: list[str]) -> None:
    """Rows recorded under `IV. Những thay đổi sau khi cấp Giấy chứng nhận` (or `6.` on the 2024 form)."""
    m = CHANGES_HEADING.search(t.fold)
    if not m:
        return
    li = t.line_index(m.start())
    rows: list[str] = []
    confs: list[float] = []
    boxes = []
    for line in t.lines[li + 1 :]:
        key = name_key(line.text)
        if re.search(r"NOI DUNG THAY DOI|CO SO PHAP LY|XAC NHAN CUA|CO THAM QUYEN|MA GIAY CHUNG NHAN", key):
            continue
        if len(re.sub(r"[^A-Z0-9]", "", key)) < 6:
            continue  # table rules and specks
        if "CHUNG NHAN" in key and CODE_RE.search(line.text):
            continue  # the 2024 form's `Mã Giấy chứng nhận: ...` below the table, its label half read
        if sum(bool(_ROW_TOKEN.fullmatch(w.text)) and w.confidence >= _ROW_TOKEN_CONF for w in line.words) < 3:
            # a table rule or a seal read as letters: an entry is a sentence of syllables and numbers, and
            # the recogniser is sure of some of them (photocopy speckle reads as `L7 T7 7 1L` at 0.0-0.4)
            continue
        rows.append(line.text)
        confs += [w.confidence for w in line.words]
        boxes.append(line.box)
    if rows:
        fields[F.CHANGES] = Evidence(F.CHANGES, rows, union(boxes), ["ocr"], float(np.mean(confs)), float(min(confs)))
        warnings.append(
            f"certificate_changes_recorded: {len(rows)} line(s) under the changes section; page 1/2 values may be superseded"
        )
