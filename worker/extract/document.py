"""One document image in, one Document out: a layout OCR pass, the machine-readable zones, classification,
then dispatch to the extractor for the document type (identity cards here, certificates in gcn.py).

The layout pass is the only full-image OCR; every field after it reads only its own region. Codes (QR,
barcodes) are looked for on every card (cheap: zxing-cpp, ~4 ms on a card) and on any page whose text does not
already settle it as a certificate (~20 ms on a page; the certificate extractor looks for its form's codes
itself), the MRZ only when the layout pass saw `<<` filler or the classifier says a chip-card back.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from models.document import Document, FieldValue
from models.elements import TextPage
from models.pages import NormalisedPage
from models.settings import Settings, get_settings
from worker.extract import confidence as conf
from worker.extract.classify import Classification, classify
from worker.extract.idcard import extract_card, has_issuer_trigger, issuer_region_text
from worker.ocr import DecodedCode, Reader, TesseractReader, decode_codes, parse_cccd_qr, read_mrz
from worker.vntext import clean, name_key

_SERIAL = re.compile(r"\b([A-Z]{2})\s?(\d{6}|\d{8})\b")
_CARD_TYPES = ("cccd_front", "cccd_back", "cmnd_front", "cmnd_back")
_QR_SIDES = {("cccd_chip_2021", "front"), ("cancuoc_2024", "back")}


def read_document(
    page: NormalisedPage, *, settings: Settings | None = None, reader: Reader | None = None
) -> Document:
    """OCR, classify, extract and validate one document image."""
    return read_page(page, settings=settings, reader=reader)[0]


def read_page(
    page: NormalisedPage, *, settings: Settings | None = None, reader: Reader | None = None
) -> tuple[Document, NormalisedPage]:
    """As read_document, plus the page as it was read: turned half round when the layout pass showed the
    imaging stage had it upside down (keep that one for the review page)."""
    settings = settings or get_settings()
    doc, _, page = _read(page, settings, reader or TesseractReader(settings.tesseract_lang))
    return doc, page


def read_document_detailed(
    page: NormalisedPage, *, settings: Settings | None = None, reader: Reader | None = None
) -> tuple[Document, dict[str, conf.Features]]:
    """As read_document, plus the evidence behind each identity-card field's confidence (for calibration)."""
    settings = settings or get_settings()
    doc, features, _ = _read(page, settings, reader or TesseractReader(settings.tesseract_lang))
    return doc, features


# the layout pass's words on an upright page: most read at >= 0.8 confidence (the seed-11/1011 sample pages:
# 0.4-1.0 of them, mean 0.6-0.95); an upside-down page reads as junk (0.07, mean 0.31)
_WEAK_LAYOUT_SHARE = 0.3
_WEAK_LAYOUT_MEAN = 0.5
_TURN_GAIN = 0.15


def _word_stats(ocr: TextPage) -> tuple[int, float, float]:
    confs = [w.confidence for line in ocr.lines for w in line.words]
    if not confs:
        return 0, 0.0, 0.0
    return len(confs), float(np.mean(confs)), float(np.mean([c >= 0.8 for c in confs]))


def _turned(page: NormalisedPage) -> NormalisedPage:
    def half_turn(img: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(img[::-1, ::-1])

    return page.model_copy(
        update={
            "image": half_turn(page.image),
            "ocr_image": half_turn(page.ocr_image),
            "orientation_deg": (page.orientation_deg + 180) % 360,
            "corners": page.corners[2:] + page.corners[:2] if page.corners else page.corners,
            "warnings": [w for w in page.warnings if w != "orientation:low_confidence"] + ["orientation:ocr"],
        }
    )


def _upright_by_reading(page: NormalisedPage, layout: TextPage, reader: Reader) -> tuple[NormalisedPage, TextPage]:
    """The last word on up or down. The imaging stage decides it from glyph shapes, which a blurred photo of a
    page with little text (a sketch page) can turn against it; every later stage fails on such a page. When
    the layout pass reads mostly junk, the page is read turned half round too, and the reading Tesseract is
    clearly surer of wins (one more layout pass, on ~1% of pages)."""
    n, mean, share = _word_stats(layout)
    if n < 5 or (share >= _WEAK_LAYOUT_SHARE and mean >= _WEAK_LAYOUT_MEAN):
        return page, layout
    turned = _turned(page)
    again = reader.read(_grey(turned), psm=3)
    _, mean2, share2 = _word_stats(again)
    if share2 >= _WEAK_LAYOUT_SHARE and mean2 >= mean + _TURN_GAIN:
        return turned, again
    return page, layout


def _grey(page: NormalisedPage) -> np.ndarray:
    return page.ocr_image if page.ocr_image.ndim == 2 else cv2.cvtColor(page.ocr_image, cv2.COLOR_BGR2GRAY)


def _read(
    page: NormalisedPage, settings: Settings, reader: Reader
) -> tuple[Document, dict[str, conf.Features], NormalisedPage]:
    layout = reader.read(_grey(page), psm=3)
    page, layout = _upright_by_reading(page, layout, reader)
    grey = _grey(page)
    is_card = _looks_like_card(page, grey)
    colour = page.image if page.image is not None else grey
    # filler runs or the document code; a stray `<<` read off a fingerprint is not a zone
    has_mrz_text = sum(line.text.count("<") >= 4 for line in layout.lines) >= 2 or "IDVNM" in layout.text.replace(
        " ", ""
    )
    codes: list[DecodedCode] = []
    c = classify(layout.text, has_mrz=has_mrz_text, is_card=None if is_card else False)
    if not _settled_certificate(c, is_card):
        codes = decode_codes(colour)
        c = classify(
            layout.text,
            has_qr=any(x.format == "QRCode" for x in codes),
            has_mrz=has_mrz_text,
            has_barcode=any(x.format != "QRCode" for x in codes),
            is_card=None if is_card else False,
        )
    doc = Document(
        source=page.source,
        page=page.page,
        sha256=page.sha256,
        part=page.part,
        doc_type=c.doc_type,
        doc_type_confidence=c.confidence,
        orientation_deg=page.orientation_deg,
        skew_deg=page.skew_deg,
        warnings=list(page.warnings),
        quality_score=page.quality.score if page.quality else None,
    )
    features: dict[str, conf.Features] = {}
    issuer_text = None
    if c.doc_type in ("cccd_back", "cmnd_back") and not has_issuer_trigger(layout.text):
        # the issuer tells the CMND back from the CCCD back, and a seal over it often hides it from the
        # layout pass: read that part without the seal and classify again
        issuer_text = issuer_region_text(reader, grey, page.image)
        c = classify(
            f"{layout.text}\n{issuer_text}",
            has_qr=any(x.format == "QRCode" for x in codes),
            has_mrz=has_mrz_text,
            has_barcode=any(x.format != "QRCode" for x in codes),
        )
        doc.doc_type, doc.doc_type_confidence = c.doc_type, c.confidence  # type: ignore[assignment]
    if c.doc_type in _CARD_TYPES:
        generation = c.generation or ("cmnd_9" if c.doc_type.startswith("cmnd") else "cccd_chip_2021")
        side = c.doc_type.split("_")[1]
        if (generation, side) in _QR_SIDES and not any(x.format == "QRCode" for x in codes):
            # this side carries a QR the quick pass missed (blur, a tilt left over): try harder
            codes += decode_codes(colour, qr_only=True, thorough=True)
        qr = next((q for q in (parse_cccd_qr(x.text) for x in codes if x.format == "QRCode") if q is not None), None)
        mrz = (
            read_mrz(grey, reader)
            if (has_mrz_text or (side == "back" and generation in ("cccd_chip_2021", "cancuoc_2024")))
            else None
        )
        result = extract_card(
            reader, grey, layout, generation, side, qr=qr, mrz=mrz, colour=page.image, issuer_text=issuer_text
        )
        doc.fields = result.fields
        doc.warnings += result.warnings
        features = result.features
        doc.doc_type_confidence = _card_type_confidence(c, qr is not None, mrz is not None and mrz.valid)
    elif c.doc_type.startswith("gcn"):
        _read_gcn(doc, page, layout, settings, reader)
    return doc, features, page


# the most a decoded code adds to a card type's score in classify() (a QR: +2.0 to a back, +1.5 to a front;
# a barcode: +1.5 to a back); codes add nothing to the certificate types
_CODE_EVIDENCE_MAX = 2.0


def _settled_certificate(c: Classification, is_card: bool) -> bool:
    """A page whose text alone makes it a certificate by more than any QR or barcode could add to a card
    type: the dispatcher's code search (~20 ms on a page) could not change the call, and the certificate
    extractor, which sets the page's type and confidence itself, looks for the codes its form carries."""
    if is_card or not c.doc_type.startswith("gcn") or _gcn_extractor() is None:
        return False
    cards = max((c.scores.get(t, 0.0) for t in _CARD_TYPES), default=0.0)
    return c.scores.get(c.doc_type, 0.0) - max(cards, 0.0) > _CODE_EVIDENCE_MAX + 0.5


def _looks_like_card(page: NormalisedPage, grey: np.ndarray) -> bool:
    if page.kind != "unknown":
        return page.kind == "card"
    h, w = grey.shape[:2]
    return 1.35 < max(w, h) / max(min(w, h), 1) < 1.85


def _card_type_confidence(c: Classification, qr: bool, mrz: bool) -> float:
    # a decoded CCCD payload or a verified MRZ settles the card family beyond keyword evidence
    if qr or mrz:
        return max(c.confidence, 0.995)
    return c.confidence


def _gcn_function(name: str) -> Callable[..., Any] | None:
    """A function of the certificate extractor (worker/extract/gcn.py, owned by the GCN engineer):
    `extract_gcn(page, ocr, settings, *, doc_type)` and `cross_check_certificate(documents)`."""
    try:
        module = importlib.import_module("worker.extract.gcn")
    except ImportError:
        return None
    return getattr(module, name, None)


def _gcn_extractor() -> Callable[..., Any] | None:
    return _gcn_function("extract_gcn")


def _read_gcn(doc: Document, page: NormalisedPage, layout: TextPage, settings: Settings, reader: Reader) -> None:
    extractor = _gcn_extractor()
    if extractor is not None:
        result = extractor(page, layout, settings, doc_type=doc.doc_type, reader=reader)
        if isinstance(result, Document):
            doc.fields = result.fields
            doc.owners = result.owners
            doc.warnings += [w for w in result.warnings if w not in doc.warnings]
            if result.doc_type != "unknown":
                doc.doc_type = result.doc_type
                doc.doc_type_confidence = result.doc_type_confidence
            return
    doc.fields = _gcn_regexes(doc.doc_type, layout)


def _gcn_regexes(doc_type: str, ocr: TextPage) -> dict[str, FieldValue]:
    """The first-version certificate fields, kept until the dedicated extractor lands."""
    fields: dict[str, FieldValue] = {}
    text = ocr.text
    if doc_type == "gcn_page1" and (m := _SERIAL.search(text)):
        fields["certificate_serial"] = FieldValue(value=f"{m.group(1)} {m.group(2)}", confidence=0.5)
    if doc_type == "gcn_page2":
        if m := re.search(r"Thửa đất số:?\s*(\d+)", text):
            fields["parcel_number"] = FieldValue(value=int(m.group(1)), confidence=0.5)
        if m := re.search(r"bản đồ số:?\s*(\d+)", text):
            fields["map_sheet_number"] = FieldValue(value=int(m.group(1)), confidence=0.5)
        if m := re.search(r"Diện tích:?\s*([\d.]+(?:,\d+)?)", text):
            fields["area_m2"] = FieldValue(value=float(m.group(1).replace(".", "").replace(",", ".")), confidence=0.5)
        if m := re.search(r"Địa chỉ:?\s*(.+?);", text):
            fields["parcel_address"] = FieldValue(value=clean(m.group(1)), confidence=0.5)
    return fields


# --- submission-level checks ---------------------------------------------------------------------------------

_SHARED_FIELDS = (
    "id_number",
    "date_of_birth",
    "sex",
    "full_name",
    "date_of_expiry",
    "issue_date",
    "place_of_residence",
)


def _card_key(d: Document) -> str | None:
    return str(d.value("card_generation")) if d.value("card_generation") else None


def cross_check(documents: list[Document]) -> None:
    """Submission-level consistency checks; adds warnings (naming both values) to the documents involved.

    Front vs back of the same card: the back's MRZ/QR repeat the number, birth date, sex and expiry, and the
    2024 back repeats the name; any disagreement is flagged on both sides and lowers both confidences.
    Across different cards of one submission only the personal number is compared (a CMND and a CCCD of the
    same person differ in number by design, so an old 9-digit number is compared with the QR's old number)."""
    certificate_check = _gcn_function("cross_check_certificate")
    if certificate_check is not None:
        certificate_check(documents)
    cards = [d for d in documents if d.doc_type in _CARD_TYPES]
    fronts = [d for d in cards if d.doc_type.endswith("front")]
    backs = [d for d in cards if d.doc_type.endswith("back")]
    for back in backs:
        gen = _card_key(back)
        partners = [f for f in fronts if _card_key(f) == gen] or ([fronts[0]] if len(fronts) == 1 else [])
        for front in partners:
            for name in _SHARED_FIELDS:
                a, b = front.fields.get(name), back.fields.get(name)
                if a is None or b is None or a.value is None or b.value is None:
                    continue
                same = name_key(str(a.value)) == name_key(str(b.value)) if name == "full_name" else a.value == b.value
                if name == "place_of_residence":
                    same = name_key(str(a.value)) == name_key(str(b.value))
                if same:
                    continue
                msg = f"{name}_front_back_mismatch: front says {a.value!r}, back says {b.value!r}"
                for d, fv in ((front, a), (back, b)):
                    if msg not in d.warnings:
                        d.warnings.append(msg)
                    fv.confidence = round(fv.confidence * 0.5, 4)
    twelve = {str(d.value("id_number")) for d in cards if d.value("id_number") and len(str(d.value("id_number"))) == 12}
    nine = {str(d.value("id_number")) for d in cards if d.value("id_number") and len(str(d.value("id_number"))) == 9}
    old = {str(d.value("old_id_number")) for d in cards if d.value("old_id_number")}
    if len(twelve) > 1:
        for d in cards:
            if str(d.value("id_number")) in twelve:
                d.warnings.append(f"id_number_mismatch_between_cards: {sorted(twelve)}")
    if nine and old and not nine & old:
        for d in cards:
            if str(d.value("id_number")) in nine:
                d.warnings.append(f"old_id_number_mismatch: CMND says {sorted(nine)}, the CCCD QR says {sorted(old)}")
