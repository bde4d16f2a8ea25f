"""Land-use-right certificates (GCN, "sổ đỏ"): page role, form, fields, owners, cross-checks, confidences.

    CertificateExtractor                the extractor the registry (worker/extract/registry.py) hands pages to
    extract_gcn(page, ocr=None, settings=None, *, doc_type=None, reader=None) -> Document
    extract_gcn_detailed(...) -> (Document, {field: Evidence})   plus the evidence behind each confidence
    detect_form(text) -> (form, confidence)      `gcn_pre2009` | `gcn_2009` | `gcn_2024_qr` | None
    cross_check_certificate(documents)           page 1 vs page 2 of one certificate, owners vs ID cards

Forms (ids shared with the generator's truth): `gcn_pre2009` (1993/2003 red certificates: `I- Tên người sử
dụng đất`, `II- Thửa đất được quyền sử dụng`), `gcn_2009` (four-page form of Circulars 17/2009 and 23/2014),
`gcn_2024_qr` (Circular 10/2024: QR, 12-character certificate code, owners and parcel on page 1). The form is
recorded in the field `certificate_form`. A scan of the open A3 sheet is split into pages by worker/imaging.

Fields (models/fields.py). Page 1: the serial, the form, owners (full name, birth year, ID number, ID type
CMND/CCCD/other, address, relationship as printed: Ông, Bà, Hộ ông(bà), Và vợ ...). Page 2 (and page 1 of
the 2024 form): parcel and map sheet number, address, area in digits and in words, land-use form, purpose
and code (`ODT`, `ONT+CLN`, ...), term, origin, registry number, issue date (ISO), issuing authority; 2024
form: certificate code and QR payload. Other pages: changes (rows recorded under `IV. Những thay đổi ...`),
the certificate code, parcel number and area from the sketch's label, the barcode and its parts.

How a page is read (one module per part): red seals are found by colour and the lines under them read again
with the red dropped (images.py); the layout reading is regrouped into visual lines and searched with label
patterns on a diacritic-folded copy (text.py, patterns.py); values are sliced between a label and the next
one. When the layout pass loses a page's labels the page is read once more, contrast-stretched; when it
loses lines of one section, that section is read again as a block (page.py); a page neither pass could name
(a blurred or glared photo) is named from a read with every ink dark at a reduced size, where its red title
survives, and its values are held below 0.9 unless a QR or barcode vouches for them (`page_poorly_read`).
The fields the registry keys on are read again from their own region (digits whitelist, upscaled; red ink on the green channel); a
disagreement is settled by a third reading from the `eng` model, and the serial is voted on by four
readings (numbers.py, codes.py). Names go through the stage's name lexicon (owners.py), addresses through
the official unit and street lists (address.py; the units ending an address are respelled only as one
official chain of units; an address whose street or village no official list spells stays below 0.9),
purposes, use form, term and origin through the legal wording, snapped only where every word agrees
(phrases.py; worker/lexicons). Cross-checks: area digits vs words, the sum of the purpose areas vs the
total, the QR payload vs the print, serial format per form, the owner ID's province prefix, the owner's
12-digit ID vs birth year and the sex implied by Ông/Bà, the issue date vs the form's years in force (checks.py,
owners.py). Entries written in by hand (ballpoint ink on a colour scan) are flagged and capped at HANDWRITTEN_CAP.
"""

from __future__ import annotations

from models.document import Document
from worker.extract.classify import Classification
from worker.extract.gcn.checks import cross_check_certificate
from worker.extract.gcn.evidence import Evidence, family_of
from worker.extract.gcn.form import GCN_FORMS, detect_form
from worker.extract.gcn.page import CertificatePage, extract_gcn, extract_gcn_detailed, read_certificate
from worker.extract.scan import PageScan

__all__ = [
    "GCN_FORMS",
    "CertificateExtractor",
    "CertificatePage",
    "Evidence",
    "cross_check_certificate",
    "detect_form",
    "extract_gcn",
    "extract_gcn_detailed",
    "family_of",
]

CERTIFICATE_PAGES = ("gcn_page1", "gcn_page2", "gcn_other")


class CertificateExtractor:
    """Reads the certificate pages the classifier recognised; the page's own text settles its role."""

    doc_types = frozenset(CERTIFICATE_PAGES)

    def extract(self, scan: PageScan, doc: Document, classification: Classification) -> dict[str, Evidence]:
        return read_certificate(scan, classification.doc_type).fill(doc)

    def cross_check(self, documents: list[Document]) -> None:
        cross_check_certificate(documents)
