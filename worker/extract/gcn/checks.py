"""Checks on a certificate: the serial's format and the issue date against the form, entries written in
by hand, and the pages of one certificate against each other and against the submission's ID cards."""

from __future__ import annotations

from datetime import date

import numpy as np

from models import fields as F
from models.document import Document
from worker.extract.gcn.evidence import Evidence
from worker.extract.gcn.form import FORM_YEARS, SERIAL_FORMATS
from worker.extract.gcn.images import PageImages, ink_tint, pen_ink_fraction

# entries clerks wrote in by hand on forms printed with blanks
_WRITTEN_IN = frozenset({F.REGISTRY_NUMBER, F.ISSUE_DATE})
_PRINTED_ONLY = frozenset({F.CERTIFICATE_SERIAL, F.QR_PAYLOAD, F.CERTIFICATE_FORM, F.ISSUING_AUTHORITY, F.CHANGES})


def flag_handwriting(
    pg: PageImages,
    fields: dict[str, Evidence],
    owners: list[dict[str, Evidence]],
    warnings: list[str],
    lines: list[tuple[int, int, int, int]],
) -> None:
    """Old forms were often filled in by hand, in ballpoint ink: such a value is flagged and its confidence
    capped instead of trusting a print-trained recogniser's guess. Only colour scans show the ink."""
    if pg.colour is None:
        return
    items = [(name, ev) for name, ev in fields.items()] + [
        (f"owner {i + 1} {name}", ev) for i, owner in enumerate(owners) for name, ev in owner.items()
    ]
    crops = []
    for label, ev in items:
        if ev.box is None or label in _PRINTED_ONLY or "qr" in ev.sources:
            continue
        x, y, w, h = ev.box
        if label in _WRITTEN_IN:
            # the clerk's digits often sit beside what the layout pass took for the value (the printed
            # `CH` prefix, the dots of the date): look a little further right and around
            w, y, h = w + 6 * h, y - h // 3, h + 2 * (h // 3)
        y = max(0, y)
        crop = pg.colour[int(y * pg.fy) : int((y + h) * pg.fy), int(x * pg.fx) : int((x + w) * pg.fx)]
        if crop.size:
            crops.append((label, ev, crop))
    # what black print looks like on this scan: the median tint of the text lines (labels and titles are
    # printed even where every value was written in), not of the whole page, where a photo's background
    # (a wooden table) would set it
    tints = [
        ink_tint(pg.colour[int(y * pg.fy) : int((y + h) * pg.fy), int(x * pg.fx) : int((x + w) * pg.fx)])
        for x, y, w, h in lines
        if w > 0 and h > 0
    ]
    tints = [tn for tn in tints if tn != (0.0, 0.0)]
    if len(tints) >= 3:
        baseline = (float(np.median([tn[0] for tn in tints])), float(np.median([tn[1] for tn in tints])))
    else:
        H, W = pg.colour.shape[:2]
        baseline = ink_tint(pg.colour[int(H * 0.05) : int(H * 0.9) : 2, int(W * 0.05) : int(W * 0.95) : 2])
    for label, ev, crop in crops:
        # a registry number or date is a printed prefix with a few written digits: less of its ink is pen,
        # and a dim photo leaves the pen less blue than a scan does
        written = label in _WRITTEN_IN
        if pen_ink_fraction(crop, baseline, (20, 8) if written else (35, 15)) > (0.06 if written else 0.4):
            ev.handwritten = True
            warnings.append(f"handwritten_entry: {label} looks written in by hand; check it on the scan")


def check_form(fields: dict[str, Evidence], form: str, warnings: list[str]) -> None:
    serial = fields.get(F.CERTIFICATE_SERIAL)
    if serial is not None and isinstance(serial.value, str) and not SERIAL_FORMATS[form].fullmatch(serial.value):
        serial.valid = False
        serial.check = -1
        warnings.append(f"serial_format_mismatch: {serial.value!r} is not a {form} serial")
    issue = fields.get(F.ISSUE_DATE)
    if issue is not None and issue.value:
        d = date.fromisoformat(issue.value)
        lo, hi = FORM_YEARS[form]
        if not lo <= d <= hi:
            issue.check = -1
            warnings.append(
                f"issue_date_outside_form_years: {d.isoformat()} is outside {form} ({lo.year}-{hi.year if hi.year < 2100 else ''})"
            )
        elif d > date.today():
            issue.check = -1
            warnings.append(f"issue_date_in_future: {d.isoformat()}")
        else:
            issue.check = 1


def cross_check_certificate(documents: list[Document]) -> None:
    """Submission-level checks between the pages of one certificate: one form throughout, and owners' ID
    numbers on page 1 against the ID cards in the same submission (warnings only)."""
    gcn = [d for d in documents if d.doc_type.startswith("gcn")]
    forms = {d.value(F.CERTIFICATE_FORM) for d in gcn if d.value(F.CERTIFICATE_FORM)}
    if len(forms) > 1:
        for d in gcn:
            d.warnings.append(f"certificate_form_differs_between_pages: {sorted(forms)}")
    card_ids = {
        d.value(F.ID_NUMBER) for d in documents if d.doc_type.startswith(("cccd", "cmnd")) and d.value(F.ID_NUMBER)
    }
    old_ids = {d.value(F.OLD_ID_NUMBER) for d in documents if d.value(F.OLD_ID_NUMBER)}
    if not card_ids:
        return
    for d in gcn:
        ids = [
            o[F.OWNER_ID_NUMBER]
            for o in d.owners
            if o.get(F.OWNER_ID_NUMBER) is not None and o[F.OWNER_ID_NUMBER].value
        ]
        matched = False
        for fv in ids:
            if fv.value in card_ids | old_ids:
                matched = True
                fv.sources = sorted({*fv.sources, "id_card"})
                fv.confidence = max(fv.confidence, 0.99)
        if ids and not matched:
            d.warnings.append(
                "owner_id_not_on_card: no owner's id number on the certificate equals an ID card's in this submission"
            )
