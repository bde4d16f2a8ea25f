"""One certificate page end to end: the layout pass cleaned of seals (read again where it lost the page),
the page's role and form, then the readers of the sections that page carries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from models import fields as F
from models.document import Document, FieldValue
from models.elements import TextPage
from models.pages import NormalisedPage
from models.settings import Settings, get_settings
from worker.extract.classify import classify
from worker.extract.gcn.checks import check_form, flag_handwriting
from worker.extract.gcn.codes import apply_qr, labelled_code, printed_code, read_barcode, read_codes, read_serial
from worker.extract.gcn.evidence import OWNER, Evidence, field_value
from worker.extract.gcn.form import EXPECTED_LABELS, detect_form, layout_score, page_role
from worker.extract.gcn.images import PageImages, enhanced, reread_under_seals, seal_boxes
from worker.extract.gcn.owners import merge_owners, owner_score, read_owners, rescue_owner_section
from worker.extract.gcn.parcel import read_parcel, rescue_parcel_section
from worker.extract.gcn.patterns import OWNER_SECTION, P2_PATTERNS
from worker.extract.gcn.signature import read_signature_block
from worker.extract.gcn.sketch import read_changes, read_diagram
from worker.extract.gcn.text import PageText
from worker.extract.scan import PageScan, page_document
from worker.ocr import Reader, TesseractReader


def extract_gcn(
    page: NormalisedPage,
    ocr: TextPage | None = None,
    settings: Settings | None = None,
    *,
    doc_type: str | None = None,
    reader: Reader | None = None,
) -> Document:
    """Read one certificate page: `ocr` is its layout pass when made already (psm 3 of `page.ocr_image`),
    `doc_type` the classifier's guess, used only when the page's own text does not settle its role."""
    return extract_gcn_detailed(page, ocr, settings, doc_type=doc_type, reader=reader)[0]


def extract_gcn_detailed(
    page: NormalisedPage,
    ocr: TextPage | None = None,
    settings: Settings | None = None,
    *,
    doc_type: str | None = None,
    reader: Reader | None = None,
) -> tuple[Document, dict[str, Evidence]]:
    """As extract_gcn, plus the evidence behind each confidence (for the benchmark's calibration fit)."""
    settings = settings or get_settings()
    scan = PageScan.of(page, reader or TesseractReader(settings.tesseract_lang), ocr)
    doc = page_document(page)
    return doc, read_certificate(scan, doc_type).fill(doc)


@dataclass
class CertificatePage:
    """What was read off one certificate page, as evidence (confidences are given when it fills a document)."""

    role: str
    role_confidence: float
    fields: dict[str, Evidence] = field(default_factory=dict)
    owners: list[dict[str, Evidence]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def fill(self, doc: Document) -> dict[str, Evidence]:
        """Put the fields, owners, warnings and page role into `doc`; returns the evidence by field."""
        if self.role != "unknown":
            doc.doc_type = self.role  # type: ignore[assignment]
            doc.doc_type_confidence = round(self.role_confidence, 3)
        doc.warnings += [w for w in self.warnings if w not in doc.warnings]
        evidence: dict[str, Evidence] = {}
        doc.fields = {}
        for name, ev in self.fields.items():
            if ev.value is None and name != F.CHANGES:
                continue
            doc.fields[name] = field_value(ev, name)
            evidence[name] = ev
        doc.owners = []
        for i, owner in enumerate(self.owners):
            row: dict[str, FieldValue] = {}
            for name, ev in owner.items():
                if ev.value is None and name != F.OWNER_ID_NUMBER:
                    continue
                row[name] = field_value(ev, OWNER + name)
                evidence[f"owners[{i}].{name}"] = ev
            doc.owners.append(row)
        return evidence


def read_certificate(scan: PageScan, doc_type: str | None) -> CertificatePage:
    """Every section the page carries, by its role (page 1, page 2, sketch and changes) and form."""
    pg = PageImages.of(scan.page, scan.reader)
    ocr, t, role, role_conf = _layout(scan, pg, doc_type)
    # the page's own text did not show which page it is (its role came from the classifier or from the read
    # with every ink dark): a blurred or glared photo, whose values are read off a text that lost lines
    unnamed = role != "unknown" and page_role(t, None)[0] == "unknown"
    form, form_conf = detect_form(t.raw)
    if form == "gcn_2024_qr" and role == "gcn_page2":
        role = "gcn_page1"  # the 2024 form prints the parcel on page 1 (its page 2 is sketch and changes)
    if role in ("gcn_page2", "gcn_page1") and (role == "gcn_page2" or form == "gcn_2024_qr"):
        t = rescue_parcel_section(t, pg, ocr)
    out = CertificatePage(role, role_conf)
    if role == "gcn_page1":
        t, form, form_conf = _read_page1(t, pg, scan, ocr, form, form_conf, out)
    elif role == "gcn_page2":
        read_parcel(t, pg, form, out.fields, out.warnings)
        read_signature_block(t, pg, out.fields, out.warnings)
    elif role == "gcn_other":
        _read_other(t, pg, scan, out)
    if form is not None:
        out.fields[F.CERTIFICATE_FORM] = Evidence(F.CERTIFICATE_FORM, form, None, ["layout"], form_conf, form_conf)
        check_form(out.fields, form, out.warnings)
    flag_handwriting(pg, out.fields, out.owners, out.warnings, [ln.box for ln in t.lines])
    if unnamed:
        _doubt_unnamed_page(out)
    elif scan.page.quality is not None and scan.page.quality.blurred:
        _doubt_blurred_page(out)
    return out


# sources whose own error detection vouches for a value whatever the print looked like
_CODE_SOURCES = frozenset({"qr", "barcode"})
# checks a blurred misreading passes too, so no cross-check on a blurred page: an owner's name "checked" by
# the name lexicon's posterior (a co-owner's name misread as another common name, 0.93 on a shaken page),
# an issue date inside its form's years (a month digit blurred into another, 0.96)
_WEAK_CHECKS = frozenset({OWNER + F.OWNER_FULL_NAME, F.ISSUE_DATE})


def _doubt_unnamed_page(out: CertificatePage) -> None:
    """A page whose text did not name it: an owner line lost shifts the owners after it, a digit blurred
    into another reads with confidence (a photographed 2024 page gave a co-owner's ID a wrong digit at
    0.95). Its values go to a person unless a code vouches for them."""
    _hold_for_review(out, "page_poorly_read: the page's text did not show its section headings; values held for review")


def _doubt_blurred_page(out: CertificatePage) -> None:
    """A page the image stage found blurred: a digit blurred into another reads as surely as a sharp one (a
    photographed page gave an owner's ID two wrong digits at 0.99). Its values go to a person unless a code
    or a cross-check (area digits against words, an ID against the birth year) vouches for them."""
    _hold_for_review(
        out,
        "page_blurred: the photo of the page is blurred; values no check confirms held for review",
        checks_vouch=True,
    )


def _hold_for_review(out: CertificatePage, warning: str, *, checks_vouch: bool = False) -> None:
    """Every value of the page held below 0.9 (with `warning`) but those a code vouches for and, with
    `checks_vouch`, those a cross-check confirmed."""
    held = 0
    for ev in [*out.fields.values(), *(ev for owner in out.owners for ev in owner.values())]:
        cross_checked = checks_vouch and ev.check > 0 and ev.name not in _WEAK_CHECKS
        if ev.value is None or _CODE_SOURCES & set(ev.sources) or cross_checked:
            continue
        ev.doubtful = True
        held += 1
    if held:
        out.warnings.append(warning)


def _layout(scan: PageScan, pg: PageImages, doc_type: str | None) -> tuple[TextPage, PageText, str, float]:
    """The layout pass with the lines under red seals read again, and the page's role. When the pass lost
    much of the page (photocopy speckle, a grey seal, low contrast) the page is read once more on a
    contrast-stretched, seal-dropped image, kept only if it finds more of the form's labels."""
    ocr = scan.layout
    seals = seal_boxes(pg)
    if seals:
        ocr = reread_under_seals(ocr, pg, seals)
    t = PageText.of(ocr)
    role, role_conf = page_role(t, doc_type)
    if layout_score(t, role) < EXPECTED_LABELS.get(role, 3):
        better = pg.reader.read(enhanced(pg), psm=3)
        t2 = PageText.of(better)
        role2, conf2 = page_role(t2, doc_type)
        if layout_score(t2, role2) > layout_score(t, role):
            ocr, t, role, role_conf = better, t2, role2, conf2
    if role == "unknown" and scan.page.image.ndim == 3:
        role, role_conf = _role_by_ink(scan, doc_type)
    return ocr, t, role, role_conf


def _role_by_ink(scan: PageScan, doc_type: str | None) -> tuple[str, float]:
    """The role of a page both layout passes lost (a blurred or glared photo), from its read with every ink
    dark (PageScan.ink_layout): the red title and headings such a photo keeps. Without the classifier's
    guess, that read's own keyword evidence stands in for it."""
    ink = scan.ink_layout()
    hint = doc_type
    if hint is None:
        guess = classify(ink.text).doc_type
        hint = guess if guess.startswith("gcn") else None
    return page_role(PageText.of(ink), hint)


def _read_page1(
    t: PageText,
    pg: PageImages,
    scan: PageScan,
    ocr: TextPage,
    form: str | None,
    form_conf: float,
    out: CertificatePage,
) -> tuple[PageText, str | None, float]:
    """Page 1: the serial, the owners and, on the 2024 form, its QR and the parcel."""
    qr: dict[str, Any] = {}
    if form == "gcn_2024_qr" or form is None:
        qr = read_codes(t, pg, scan, out.fields, out.warnings)
        if qr and form is None:
            form, form_conf = "gcn_2024_qr", 0.9
    serial = read_serial(t, pg, form, pg.grey.shape[0], out.warnings)
    if serial is not None:
        out.fields[F.CERTIFICATE_SERIAL] = serial
    t = _read_owner_section(t, pg, ocr, form, out)
    if form == "gcn_2024_qr" or P2_PATTERNS[F.PARCEL_NUMBER].search(t.fold):
        sec = OWNER_SECTION.search(t.fold)
        parcel_start = _PARCEL_SECTION.search(t.fold, sec.end() if sec else 0)
        read_parcel(t, pg, form, out.fields, out.warnings, parcel_start.start() if parcel_start else 0)
        read_signature_block(t, pg, out.fields, out.warnings)
    if qr:
        apply_qr(out.fields, qr, out.warnings)
    if not out.owners:
        out.warnings.append("no_owner_found: page 1 without a readable owner line")
    return t, form, form_conf


_PARCEL_SECTION = re.compile(r"thong\s*tin\s*thua\s*dat")


def _read_owner_section(t: PageText, pg: PageImages, ocr: TextPage, form: str | None, out: CertificatePage) -> PageText:
    """The owners; a degraded section (an address that ran into a co-owner's lines, a title misread, an
    owner without name or number) is read again as a block and the two readings merged."""
    owners = read_owners(t, pg, form, out.warnings)
    garbled = any(
        (o.get(F.OWNER_ADDRESS) is not None and o[F.OWNER_ADDRESS].repaired) or F.OWNER_RELATIONSHIP not in o
        for o in owners
    )
    if garbled or not owners or any(F.OWNER_FULL_NAME not in o or F.OWNER_ID_NUMBER not in o for o in owners):
        rescued = rescue_owner_section(t, pg, ocr)
        if rescued is not None:
            more: list[str] = []
            again = read_owners(rescued, pg, form, more)
            if owner_score(again) > owner_score(owners):
                owners, t = merge_owners(again, owners), rescued
                out.warnings += more
            else:
                owners = merge_owners(owners, again)
    out.owners = owners
    return t


def _read_other(t: PageText, pg: PageImages, scan: PageScan, out: CertificatePage) -> None:
    """The sketch and changes page (and the 2009 form's last page): changes, the sketch's label, the
    barcode, the 2024 form's certificate code."""
    read_changes(t, out.fields, out.warnings)
    read_diagram(t, pg, out.fields)
    read_barcode(pg, scan, out.fields)
    if span := labelled_code(t):
        out.fields[F.CERTIFICATE_CODE] = printed_code(t, pg, *span)
