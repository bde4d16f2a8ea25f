"""Identity cards: every generation (9- and 12-digit CMND, 2016 barcode CCCD, 2021 chip CCCD, 2024 Căn
cước), both sides.

    IdCardExtractor            the extractor the registry (worker/extract/registry.py) hands card pages to
    extract_card(...)          the fields of one card side from its layout pass, QR and MRZ (card.py)
    cross_check_cards(docs)    front against back, one person's numbers across cards (checks.py)

One module per part: labels (finding a field's label and value words), regions (reading a region again),
numbers (the number and the dates), text (name, addresses, sex, nationality), issuer (the signing block),
vote (deciding between readings), evidence (what the confidence model weighs), checks (validation).
"""

from __future__ import annotations

from models.document import Document
from worker.extract.classify import CARD_TYPES, GENERATION_GUESS, Classification
from worker.extract.idcard.card import CardResult, extract_card
from worker.extract.idcard.checks import cross_check_cards
from worker.extract.idcard.evidence import Features
from worker.extract.idcard.issuer import has_issuer_trigger, issuer_region_text
from worker.extract.scan import PageScan
from worker.ocr import parse_cccd_qr, read_mrz

__all__ = [
    "CardResult",
    "IdCardExtractor",
    "cross_check_cards",
    "extract_card",
    "has_issuer_trigger",
    "issuer_region_text",
    "mrz_filler_seen",
]

# the sides that carry a QR code: the chip card's front and the 2024 card's back
_QR_SIDES = {("cccd_chip_2021", "front"), ("cancuoc_2024", "back")}


def mrz_filler_seen(text: str) -> bool:
    """The layout pass saw a machine-readable zone: filler runs or the document code (a stray `<<` read
    off a fingerprint is not a zone)."""
    lines = text.splitlines()
    return sum(line.count("<") >= 4 for line in lines) >= 2 or "IDVNM" in text.replace(" ", "")


def _generation_confidence(c: Classification, side: str, qr_read: bool) -> float:
    """How sure the card's generation is: a decoded CCCD payload names it (only the chip card's front and the
    2024 card's back carry one); else the classifier's evidence, a guess when it named none."""
    if qr_read and (c.generation, side) in _QR_SIDES:
        return 0.99
    return c.generation_confidence if c.generation else GENERATION_GUESS


class IdCardExtractor:
    """Reads the card sides the classifier recognised, machine-readable zones first."""

    doc_types = frozenset(CARD_TYPES)

    def extract(self, scan: PageScan, doc: Document, classification: Classification) -> dict[str, Features]:
        c = classification
        generation = c.generation or ("cmnd_9" if c.doc_type.startswith("cmnd") else "cccd_chip_2021")
        side = c.doc_type.split("_")[1]
        codes = scan.codes()
        if (generation, side) in _QR_SIDES and not any(x.format == "QRCode" for x in codes):
            codes = scan.search_qr_harder()
        qr = next((q for q in (parse_cccd_qr(x.text) for x in codes if x.format == "QRCode") if q is not None), None)
        chip_back = side == "back" and generation in ("cccd_chip_2021", "cancuoc_2024")
        mrz = read_mrz(scan.grey, scan.reader) if (mrz_filler_seen(scan.layout.text) or chip_back) else None
        result = extract_card(
            scan.reader,
            scan.grey,
            scan.layout,
            generation,
            side,
            qr=qr,
            mrz=mrz,
            colour=scan.page.image,
            issuer_text=scan.issuer_text,
            generation_confidence=_generation_confidence(c, side, qr is not None),
        )
        doc.fields = result.fields
        doc.warnings += result.warnings
        # a decoded CCCD payload or a verified MRZ settles the card family beyond keyword evidence
        if qr is not None or (mrz is not None and mrz.valid):
            doc.doc_type_confidence = max(c.confidence, 0.995)
        else:
            doc.doc_type_confidence = c.confidence
        return result.features

    def cross_check(self, documents: list[Document]) -> None:
        cross_check_cards(documents)
