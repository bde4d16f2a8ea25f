"""Who issued the card: the signing block on the back, read without the red seal over it, snapped to the
issuers cards carry; when it cannot be read, the issuer a generation's cards carry (a weak rule)."""

from __future__ import annotations

from functools import cache

import numpy as np
from rapidfuzz import fuzz

from models import fields as F
from models.elements import EMPTY_LINE, TextPage, union
from worker.extract.data import word_list
from worker.extract.idcard.evidence import Reading
from worker.extract.idcard.labels import word_key
from worker.extract.idcard.regions import scale_for
from worker.extract.idcard.vote import add_reading
from worker.ocr import Reader
from worker.vntext import name_key


@cache
def issuers() -> tuple[str, ...]:
    """Issuers printed on the backs, canonical spelling; OCR of the two-line capitals is snapped to the
    nearest (worker/extract/data/card_issuers.txt)."""
    return word_list("card_issuers")


# which issuers each generation's backs carry (by position in card_issuers.txt; domain.md): the provincial
# police director signs CMNDs, the national department CCCDs (QLHC from 10/2018, ĐKQL before), the Ministry
# the 2024 card. A short title matches part of a longer one (`BỘ CÔNG AN` inside `GIÁM ĐỐC CÔNG AN TỈNH`), so
# a reading is snapped only to the titles its card can carry.
CARRIED = {
    "cmnd_9": (2, 3),
    "cmnd_12": (2, 3),
    "cccd_barcode_2016": (0, 1),
    "cccd_chip_2021": (0, 1),
    "cancuoc_2024": (4,),
}


def snap_issuer(text: str, generation: str | None = None) -> tuple[str | None, float]:
    """The issuer the text spells best (of those the generation's cards carry) and how well, 0..1."""
    key = name_key(text)
    best, score = None, 0.0
    every = issuers()
    for issuer in (every[i] for i in CARRIED[generation]) if generation in CARRIED else every:
        s = (
            fuzz.partial_ratio(name_key(issuer), key)
            if len(key) >= len(name_key(issuer))
            else fuzz.ratio(name_key(issuer), key)
        )
        if s > score:
            best, score = issuer, s
    return (best, score / 100) if score >= 75 else (None, score / 100)


_ISSUER_WORDS = {"CUC", "TRUONG", "GIAM", "DOC", "BO", "CONG", "AN", "CANH", "SAT"}


def _seal_free(colour: np.ndarray | None, grey: np.ndarray) -> np.ndarray:
    """The red channel: red seal ink turns as light as the paper, black text stays black."""
    if colour is None or colour.ndim != 3:
        return grey
    return colour[:, :, 2]


def issuer_region_text(reader: Reader, img: np.ndarray, colour: np.ndarray | None = None) -> str:
    """Where backs print the issuer and seal, read without the seal (the layout pass often loses it)."""
    H, W = img.shape[:2]
    box = (int(0.3 * W), int(0.15 * H), int(0.7 * W), int(0.55 * H))
    src = _seal_free(colour, img)[box[1] : box[1] + box[3], box[0] : box[0] + box[2]]
    return reader.read_line(src, psm=6).text


def has_issuer_trigger(text: str) -> bool:
    key = name_key(text)
    return any(fuzz.partial_ratio(k, key) >= 80 for k in ("CUC TRUONG", "GIAM DOC", "BO CONG AN", "CUC CANH SAT"))


def read_issuer(
    reader: Reader,
    img: np.ndarray,
    layout: TextPage,
    colour: np.ndarray | None = None,
    region_text: str | None = None,
    generation: str | None = None,
) -> list[Reading]:
    lines = layout.lines
    for i, line in enumerate(lines):
        if not has_issuer_trigger(line.text):
            continue
        text = " ".join(ln.text for ln in lines[i : i + 2])
        issuer, s = snap_issuer(text, generation)
        trigger = [wd for wd in line.words if word_key(wd.text) in _ISSUER_WORDS] or line.words
        x, y, w, h = union(w.box for w in trigger)
        # the signing block is centred: re-read two lines around the trigger without the seal
        H, W = img.shape[:2]
        cx = x + w / 2
        box = (max(0, int(cx - 9 * h)), max(0, y - h // 4), int(18 * h), int(2.6 * h))
        src = _seal_free(colour, img)
        crop = src[box[1] : min(H, box[1] + box[3]), box[0] : min(W, box[0] + box[2])]
        r = reader.read_line(crop, psm=6, scale=scale_for(h)) if crop.size else EMPTY_LINE
        issuer2, s2 = snap_issuer(r.text, generation)
        if issuer2 is not None and s2 >= s:
            issuer, s = issuer2, s2
        if issuer:
            return [Reading(issuer, "ocr", s, s, valid=True, box=list(box), extra={"match": s})]
    # the layout pass lost the signing block under the seal: read the part of the card where it sits
    text = region_text if region_text is not None else issuer_region_text(reader, img, colour)
    issuer, s = snap_issuer(text, generation)
    if issuer is not None and has_issuer_trigger(text):
        return [Reading(issuer, "ocr", s * 0.9, s * 0.9, valid=True, extra={"match": s})]
    return []


def add_issuer_rule(readings: dict[str, list[Reading]], generation: str) -> None:
    """The issuer a generation's cards carry when it could not be read (domain.md): the chip card's and the
    barcode card's from 10/2018 are the QLHC department's, the barcode card's before that the ĐKQL's, the
    2024 card's the Ministry's. Weak evidence (source "rule"), so a low confidence."""
    issued = next((r.value for r in readings.get(F.ISSUE_DATE, []) if r.valid and r.value), None)
    if generation == "cancuoc_2024":
        issuer = issuers()[4]
    elif generation == "cccd_chip_2021":
        issuer = issuers()[0]
    elif generation == "cccd_barcode_2016" and issued:
        issuer = issuers()[0] if str(issued) >= "2018-10-01" else issuers()[1]
    else:
        return
    add_reading(readings, F.ISSUER, Reading(issuer, "rule", 0.0, 0.0, valid=True))
