"""Which certificate form printed a page, and which page of it this is."""

from __future__ import annotations

import re
from datetime import date

from models import fields as F
from worker.extract.gcn.patterns import CHANGES_HEADING, OWNER_ID, OWNER_SECTION, OWNER_START, P2_PATTERNS
from worker.extract.gcn.text import PageText, fold_char
from worker.vntext import clean

GCN_FORMS: tuple[str, ...] = ("gcn_pre2009", "gcn_2009", "gcn_2024_qr")


# years each form was issued in (the 2009 form from Decree 88/2009 in force 10/12/2009; Circular 10/2024's
# form from 01/08/2024); an issue date outside them is a warning, not a rejection (late printing happens)
FORM_YEARS: dict[str, tuple[date, date]] = {
    "gcn_pre2009": (date(1988, 1, 1), date(2009, 12, 9)),
    "gcn_2009": (date(2009, 12, 10), date(2024, 7, 31)),
    "gcn_2024_qr": (date(2024, 8, 1), date(2100, 1, 1)),
}


# serial formats per form (domain.md): 1993 one letter + 6 digits, 2003 two letters + 6, 2009 two + 6,
# 2024 two + 8
SERIAL_FORMATS: dict[str, re.Pattern[str]] = {
    "gcn_pre2009": re.compile(r"[A-Z]{1,2} \d{6}|[A-Z]\d{6}"),
    "gcn_2009": re.compile(r"[A-Z]{2} \d{6}"),
    "gcn_2024_qr": re.compile(r"[A-Z]{2} \d{8}"),
}


_FORM_MARKERS: dict[str, tuple[tuple[str, float], ...]] = {
    "gcn_2024_qr": (
        (r"thong\s*tin\s*thua\s*dat", 3.0),
        (r"loai\s*dat\s*:", 2.0),
        (r"chu\s*so\s*huu\s*tai\s*san\s*gan\s*lien", 2.0),
        (r"ma\s*giay\s*chung\s*nhan", 2.5),
        (r"thong\s*tin\s*tai\s*san", 1.5),
        (r"(?m)^\s*5\s*[.)]?\s*so\s*do\s*thua\s*dat", 2.0),
        (r"(?m)^\s*6\s*[.)]?\s*nhung\s*thay\s*doi", 2.0),
        (r"\([a-z]{3}\)\s*:", 1.5),
    ),
    "gcn_pre2009": (
        (r"ten\s*nguoi\s*su\s*dung\s*dat", 3.0),
        (r"thua\s*dat\s*duoc\s*quyen\s*su\s*dung", 3.0),
        (r"ho\s*ong\s*\(\s*ba\s*\)", 2.0),
        (r"thua\s*so\s*:", 1.5),
        (r"qsdd?\s*/", 2.0),
        (r"vao\s*so\s*cap\s*giay\s*chung\s*nhan", 1.5),
        (r"(?m)^\s*i\s*-\s*ten", 1.0),
        (r"so\s*cmnd\s*:", 1.0),
    ),
    "gcn_2009": (
        (r"quyen\s*so\s*huu\s*nha\s*o", 2.5),
        (r"nha\s*o\s*va\s*tai\s*san\s*khac\s*gan\s*lien", 2.5),
        (r"(?m)^\s*iii\s*[.\-]?\s*so\s*do", 2.0),
        (r"(?m)^\s*iv\s*[.\-]?\s*nhung\s*thay\s*doi", 2.0),
        (r"(?m)^\s*2\s*[.)]\s*nha\s*o", 1.5),
        (r"rung\s*san\s*xuat\s*la\s*rung\s*trong", 1.5),
        (r"mau\s*gcn", 1.0),
        (r"(?m)^\s*[a-gø]\s*\)\s*(?:thua\s*dat|dia\s*chi|dien\s*tich)", 1.0),
    ),
}


_FORM_PATTERNS = {f: [(re.compile(p), w) for p, w in ms] for f, ms in _FORM_MARKERS.items()}


def detect_form(text: str) -> tuple[str | None, float]:
    """Which certificate form printed this page: (form id or None, confidence 0..1), from label evidence."""
    folded = "".join(fold_char(c) for c in clean(text).replace("\r", ""))
    scores = {f: sum(w for p, w in pats if p.search(folded)) for f, pats in _FORM_PATTERNS.items()}
    if re.search(r"(?<![a-z0-9])[a-z]{2}\s?\d{8}(?!\d)", folded):
        scores["gcn_2024_qr"] += 1.5
    best = max(scores, key=lambda f: scores[f])
    if scores[best] <= 0:
        return None, 0.0
    runner = max(v for f, v in scores.items() if f != best)
    margin = (scores[best] - runner) / scores[best]
    return best, round(min(0.99, 0.5 + 0.5 * margin * min(1.0, scores[best] / 4.0)), 3)


# what only the pages after page 2 print: the changes table's heads and the 2009 form's footnote under it,
# supplement pages, cadastral extracts attached to the certificate (which repeat the parcel's labels)
_OTHER_MARKERS = (
    (re.compile(r"noi\s*dung\s*thay\s*doi"), 2.5),
    (re.compile(r"xac\s*nhan\s*cua\s*co\s*quan"), 1.5),
    (re.compile(r"co\s*so\s*phap\s*ly"), 1.0),
    (re.compile(r"khong\s*duoc\s*sua\s*chua"), 2.5),
    (re.compile(r"[a-z]?rang\s*bo\s*sung"), 3.0),
    (re.compile(r"trich\s*(?:luc|do)\s*(?:ban\s*do\s*)?dia\s*chinh"), 6.0),
)


# the title on a line of its own (not `Vào sổ cấp giấy chứng nhận QSDĐ`, `Trang bổ sung Giấy chứng nhận`), the
# right it grants on one of the next lines (specks and rules read as lines of their own between them)
_TITLE = re.compile(
    r"(?m)^[^a-z\n]{0,4}giay\s*chung\s*nhan[^a-z\n]{0,4}$(?:\n[^a-z\n]{0,6}$){0,3}\n[^a-z\n]{0,4}"
    r"quyen\s*su\s*dung\s*dat"
)


def page_role(t: PageText, hint: str | None) -> tuple[str, float]:
    f = t.fold
    p1 = 0.0
    p2 = 0.0
    other = 0.0
    if OWNER_SECTION.search(f):
        p1 += 3.0
    if OWNER_START.search(f):
        p1 += 1.0
    if _TITLE.search(f):
        p1 += 2.0
    elif re.search(r"giay\s*chung\s*nhan\s*\n?\s*quyen\s*su\s*dung\s*dat", f):
        p1 += 1.0
    if P2_PATTERNS[F.PARCEL_NUMBER].search(f) or P2_PATTERNS[F.MAP_SHEET_NUMBER].search(f):
        p2 += 2.0
    if P2_PATTERNS[F.AREA_M2].search(f):
        p2 += 1.0
    if P2_PATTERNS[F.LAND_USE_PURPOSE].search(f):
        p2 += 1.0
    if re.search(r"so\s*do\s*thua\s*dat", f):
        other += 2.5
    if CHANGES_HEADING.search(f):
        other += 2.5
    other += sum(w for pat, w in _OTHER_MARKERS if pat.search(f))
    if p1 >= 3.0 and p1 > other:
        # page 1 of the 2024 form also holds the parcel: owners decide the role (a changes page naming the
        # new owners is still a changes page)
        return "gcn_page1", min(0.99, 0.6 + 0.08 * (p1 + p2))
    if p2 >= 3.0 and p2 >= other:
        return "gcn_page2", min(0.99, 0.55 + 0.1 * p2 - 0.05 * other)
    if other >= 2.5:
        return "gcn_other", min(0.95, 0.5 + 0.1 * other)
    if other > 0:
        return "gcn_other", 0.4 + 0.1 * other
    if p1 >= 2.0:
        return "gcn_page1", 0.5  # the title alone: no other page prints it
    if hint in ("gcn_page1", "gcn_page2", "gcn_other"):
        return hint, 0.3
    if p2 > 0:
        return "gcn_page2", 0.3
    return "unknown", 0.0


# labels a well-read page of each role shows (owner lines count for page 1)
EXPECTED_LABELS = {"gcn_page1": 3, "gcn_page2": 7, "gcn_other": 1, "unknown": 1}


def layout_score(t: PageText, role: str) -> int:
    score = sum(1 for pat in P2_PATTERNS.values() if pat.search(t.fold))
    if role == "gcn_page1":
        starts = list(OWNER_START.finditer(t.fold))
        ids = len(OWNER_ID.findall(t.fold))
        score = (3 if OWNER_SECTION.search(t.fold) else 0) + min(len(starts), ids) + (score if score >= 5 else 0)
        return score if starts else min(score, 2)
    if role == "gcn_other":
        marks = sum(1 for pat, _ in _OTHER_MARKERS if pat.search(t.fold))
        return int(bool(CHANGES_HEADING.search(t.fold))) + int(bool(re.search(r"so\s*do\s*thua\s*dat", t.fold))) + marks
    return score
