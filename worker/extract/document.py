"""One document image in, one Document out: the page's scan (its one layout pass, confirmed upright by
it), classification, then the extractor the registry names for the document type.

The layout pass is the only full-image OCR; every field after it reads only its own region. The text is
matched against the classifier's keywords once; what else the page shows joins that evidence as it is
found: its QR codes and barcodes (decoded once per page, cheap: zxing-cpp, ~4 ms on a card, ~20 ms on a
page) unless the text already settles the page as a certificate by more than any code could change, and,
on a card back whose issuer the layout pass lost, the issuer's region read without the seal.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from models.document import Document
from models.pages import NormalisedPage
from models.settings import Settings, get_settings
from worker import imaging
from worker.extract.calibration import calibrated
from worker.extract.classify import CARD_TYPES, Classification, TextEvidence, decide, text_evidence
from worker.extract.idcard import has_issuer_trigger, issuer_region_text, mrz_filler_seen
from worker.extract.registry import cross_check, extractor_for
from worker.extract.scan import PageScan, grey_of, page_document
from worker.extract.validate import enforce_field_types
from worker.ocr import DecodedCode, Reader, TesseractReader

__all__ = ["cross_check", "read_document", "read_document_detailed", "read_page"]


def read_document(page: NormalisedPage, *, settings: Settings | None = None, reader: Reader | None = None) -> Document:
    """OCR, classify, extract and validate one document image."""
    return read_page(page, settings=settings, reader=reader)[0]


def read_page(
    page: NormalisedPage, *, settings: Settings | None = None, reader: Reader | None = None
) -> tuple[Document, NormalisedPage]:
    """As read_document, plus the page as it was read: turned half round when the layout pass showed the
    imaging stage had it upside down (keep that one for the review page)."""
    doc, _, scan = _read(page, _reader(settings, reader))
    return doc, scan.page


def read_document_detailed(
    page: NormalisedPage, *, settings: Settings | None = None, reader: Reader | None = None
) -> tuple[Document, Mapping[str, object]]:
    """As read_document, plus the evidence behind each field's confidence (for calibration)."""
    doc, evidence, _ = _read(page, _reader(settings, reader))
    return doc, evidence


def _reader(settings: Settings | None, reader: Reader | None) -> Reader:
    return reader or TesseractReader((settings or get_settings()).tesseract_lang)


def _read(page: NormalisedPage, reader: Reader) -> tuple[Document, Mapping[str, object], PageScan]:
    scan = _scan(page, reader)
    c = _classify(scan)
    doc = page_document(scan.page)
    doc.doc_type, doc.doc_type_confidence = c.doc_type, c.confidence  # type: ignore[assignment]
    extractor = extractor_for(c.doc_type)
    evidence = extractor.extract(scan, doc, c) if extractor is not None else {}
    _drop_mistyped(doc)
    return calibrated(doc), evidence, scan


def _drop_mistyped(doc: Document) -> None:
    """Every value validated against its field's type (a name is letters; markup never passes), owners too."""
    enforce_field_types(doc.fields, doc.warnings)
    for owner in doc.owners:
        enforce_field_types(owner, doc.warnings)


def _scan(page: NormalisedPage, reader: Reader) -> PageScan:
    """The layout pass, and the page the right way up by it (imaging.upright_by_reading)."""
    layout = reader.read(grey_of(page), psm=3)
    page, layout = imaging.upright_by_reading(page, layout, lambda p: reader.read(grey_of(p), psm=3))
    return PageScan(page, reader, layout, grey_of(page))


def _classify(scan: PageScan) -> Classification:
    """The page's type from its text, its codes and (on a card back) its issuer, each looked at once."""
    is_card = _looks_like_card(scan.page, scan.grey)
    outline = None if is_card else False
    has_mrz = mrz_filler_seen(scan.layout.text)
    evidence = text_evidence(scan.layout.text)
    c = decide(evidence, has_mrz=has_mrz, is_card=outline)
    if c.doc_type == "unknown" and not is_card:
        # a blurred or glared photo of a page: the layout pass lost even the title, which a read with
        # every ink dark (red print included) at a smaller size often finds
        evidence = evidence.combined(text_evidence(scan.ink_layout().text))
        c = decide(evidence, has_mrz=has_mrz, is_card=outline)
    if not _settled_certificate(c, is_card):
        c = decide(evidence, has_mrz=has_mrz, is_card=outline, **_code_flags(scan.codes()))
    if c.doc_type in ("cccd_back", "cmnd_back") and not has_issuer_trigger(scan.layout.text):
        c = _with_issuer(scan, evidence, has_mrz)
    return c


def _with_issuer(scan: PageScan, evidence: TextEvidence, has_mrz: bool) -> Classification:
    """The issuer tells the CMND back from the CCCD back, and a seal over it often hides it from the layout
    pass: that part of the card read without the seal joins the evidence. The card was recognised as a card
    by its text, so the missing outline no longer counts against it."""
    scan.issuer_text = issuer_region_text(scan.reader, scan.grey, scan.page.image)
    codes = scan.codes() if scan.codes_decoded else []
    return decide(evidence.combined(text_evidence(scan.issuer_text)), has_mrz=has_mrz, **_code_flags(codes))


def _code_flags(codes: list[DecodedCode]) -> dict[str, bool]:
    return {
        "has_qr": any(x.format == "QRCode" for x in codes),
        "has_barcode": any(x.format != "QRCode" for x in codes),
    }


# the most a decoded code adds to a card type's score in classify() (a QR: +2.0 to a back, +1.5 to a front;
# a barcode: +1.5 to a back); codes add nothing to the certificate types
_CODE_EVIDENCE_MAX = 2.0


def _settled_certificate(c: Classification, is_card: bool) -> bool:
    """A page whose text alone makes it a certificate by more than any QR or barcode could add to a card
    type: decoding its codes for classification could not change the call, and the certificate extractor
    (which sets the page's type and confidence itself) asks the scan for the codes its form carries."""
    if is_card or not c.doc_type.startswith("gcn"):
        return False
    cards = max((c.scores.get(t, 0.0) for t in CARD_TYPES), default=0.0)
    return c.scores.get(c.doc_type, 0.0) - max(cards, 0.0) > _CODE_EVIDENCE_MAX + 0.5


def _looks_like_card(page: NormalisedPage, grey: np.ndarray) -> bool:
    if page.kind != "unknown":
        return page.kind == "card"
    h, w = grey.shape[:2]
    return 1.35 < max(w, h) / max(min(w, h), 1) < 1.85
