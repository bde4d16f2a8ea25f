"""Which document is this, and which card generation? Keyword evidence from the OCR text (folded so OCR tone
errors don't matter, matched fuzzily so a garbled letter doesn't either) plus the machine-readable zones.

Generations (the ids the generator's truth uses): cmnd_9, cmnd_12, cccd_barcode_2016, cccd_chip_2021,
cancuoc_2024. Titles separate most of them; the rest is told apart by what only one of them prints (the
bilingual labels of the chip card, `Số định danh cá nhân` of the 2024 card, `Nguyên quán` of the 9-digit
CMND) and by what it carries (QR on the chip front and the 2024 back, MRZ on the chip back, a Code 128
barcode on the 2016 back).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from worker.vntext import name_key

GENERATIONS = ("cmnd_9", "cmnd_12", "cccd_barcode_2016", "cccd_chip_2021", "cancuoc_2024")

# (doc_type, generation or None, keyword in name_key form, weight). A keyword names one side of a card,
# and, where only one generation prints it, that generation.
_RULES: tuple[tuple[str, str | None, str, float], ...] = (
    # fronts
    ("cccd_front", "cccd_chip_2021", "CITIZEN IDENTITY CARD", 3.0),
    ("cccd_front", None, "CAN CUOC CONG DAN", 4.0),
    # the 2024 card's title alone (`CĂN CƯỚC`): the same words begin the older title, so it names a front
    # only; which card is the title without `CÔNG DÂN` (see _generation)
    ("cccd_front", None, "CAN CUOC", 2.0),
    ("cccd_front", "cancuoc_2024", "IDENTITY CARD", 1.0),
    ("cccd_front", "cancuoc_2024", "SO DINH DANH CA NHAN", 3.0),
    ("cccd_front", "cancuoc_2024", "CHU DEM VA TEN KHAI SINH", 2.0),
    ("cccd_front", None, "HO VA TEN", 1.0),
    ("cccd_front", None, "FULL NAME", 1.0),
    ("cccd_front", None, "QUOC TICH", 1.0),
    ("cccd_front", None, "NOI THUONG TRU", 1.0),
    ("cccd_front", None, "CO GIA TRI DEN", 1.0),
    ("cmnd_front", "cmnd_9", "GIAY CHUNG MINH NHAN DAN", 3.5),
    ("cmnd_front", None, "CHUNG MINH NHAN DAN", 4.0),
    ("cmnd_front", "cmnd_9", "NGUYEN QUAN", 1.5),
    ("cmnd_front", "cmnd_9", "DKHK", 1.5),
    ("cmnd_front", "cmnd_9", "HO TEN", 0.5),
    ("cmnd_front", "cmnd_9", "SINH NGAY", 1.0),
    ("cmnd_front", "cmnd_12", "DAN TOC", 1.0),
    # backs
    ("cccd_back", "cccd_chip_2021", "PERSONAL IDENTIFICATION", 2.0),
    ("cccd_back", "cccd_chip_2021", "DATE MONTH YEAR", 2.0),
    ("cccd_back", None, "DAC DIEM NHAN DANG", 2.0),
    ("cccd_back", None, "NGON TRO", 1.0),
    # the 12-digit CMND's back prints both too (same layout as the 2016 CCCD's, no barcode): they name a
    # back, not which card's; the issuer and the machine-readable codes tell those apart
    ("cmnd_back", "cmnd_12", "DAC DIEM NHAN DANG", 2.0),
    ("cmnd_back", None, "NGON TRO", 1.0),
    ("cccd_back", None, "CUC CANH SAT", 1.0),
    ("cccd_back", "cancuoc_2024", "NOI CU TRU", 2.5),
    ("cccd_back", "cancuoc_2024", "NOI DANG KY KHAI SINH", 3.0),
    ("cccd_back", "cancuoc_2024", "DATE OF ISSUE", 2.0),
    ("cccd_back", "cancuoc_2024", "MINISTRY OF PUBLIC SECURITY", 2.0),
    ("cccd_back", "cancuoc_2024", "PLACE OF BIRTH", 2.0),
    ("cccd_back", "cancuoc_2024", "NAM HET HAN", 2.0),
    ("cccd_back", "cancuoc_2024", "BO CONG AN", 1.5),
    ("cmnd_back", "cmnd_9", "DAU VET RIENG", 3.0),
    ("cmnd_back", "cmnd_9", "TON GIAO", 2.0),
    ("cmnd_back", None, "GIAM DOC", 4.0),
    ("cmnd_back", "cmnd_12", "CONG AN TINH", 2.0),
    ("cccd_back", None, "CUC TRUONG", 1.5),
    # certificates
    ("gcn_page1", None, "NGUOI SU DUNG DAT", 2.5),
    ("gcn_page1", None, "GIAY CHUNG NHAN", 1.5),
    ("gcn_page1", None, "QUYEN SU DUNG DAT", 1.0),
    ("gcn_page1", None, "THONG TIN THUA DAT", 1.5),
    ("gcn_page2", None, "THUA DAT SO", 2.5),
    ("gcn_page2", None, "TO BAN DO", 2.0),
    ("gcn_page2", None, "DIEN TICH", 1.5),
    ("gcn_page2", None, "MUC DICH SU DUNG", 1.5),
    ("gcn_page2", None, "SO VAO SO", 1.5),
    # the 2009-2024 form's page 2 heading `II. Thửa đất, nhà ở và tài sản ...` opening its line (a `^` rule):
    # page 3's `III. Sơ đồ thửa đất, nhà ở ...` holds the same words later in its line, a blurred page often
    # nothing else readable
    ("gcn_page2", None, "^THUA DAT NHA O", 2.5),
    ("gcn_other", None, "SO DO THUA DAT", 2.5),
    ("gcn_other", None, "NHUNG THAY DOI", 2.5),
    # the changes page's table heads and footnote, supplement pages and attached cadastral extracts: a
    # changes page is signed `KT. GIÁM ĐỐC` like a CMND back, and these outweigh that
    ("gcn_other", None, "NOI DUNG THAY DOI", 2.5),
    ("gcn_other", None, "CO SO PHAP LY", 2.0),
    ("gcn_other", None, "XAC NHAN CUA CO QUAN", 2.0),
    ("gcn_other", None, "KHONG DUOC SUA CHUA", 2.0),
    ("gcn_other", None, "DANG KY DAT DAI", 1.5),
    ("gcn_other", None, "TRANG BO SUNG", 3.0),
    ("gcn_other", None, "TRICH LUC BAN DO", 4.0),
    ("gcn_other", None, "TRICH DO DIA CHINH", 4.0),
)

# keywords that differ from another only by a whole word (GIẤY CHỨNG MINH vs CHỨNG MINH): fuzzy matching
# would give the longer one credit for the shorter one's text
_EXACT_ONLY = frozenset({"GIAY CHUNG MINH NHAN DAN", "BO CONG AN"})

CARD_TYPES = ("cccd_front", "cccd_back", "cmnd_front", "cmnd_back")


@dataclass
class Classification:
    doc_type: str
    confidence: float
    generation: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    # how strongly the evidence names the generation (0 when there is none): see _generation_confidence
    generation_confidence: float = 0.0


def _hit(key: str, keyword: str, collapsed: str = "") -> float:
    """1.0 for an exact hit, a partial credit for a close one (OCR garbles a letter), else 0. `collapsed` is
    the key without spaces: OCR often runs the words of a bold line together (`GIÁMĐỐC`, `ANTỈNH`)."""
    if f" {keyword} " in key:
        return 1.0
    if collapsed and " " in keyword and len(keyword) >= 8 and keyword.replace(" ", "") in collapsed:
        return 1.0
    if len(keyword) < 8 or keyword in _EXACT_ONLY:  # short keywords match by chance when fuzzy
        return 0.0
    score = fuzz.partial_ratio(keyword, key, score_cutoff=85)
    return (score - 80) / 20 if score else 0.0


@dataclass(frozen=True)
class TextEvidence:
    """What one text says about the document type: each keyword rule's hit strength (0..1), and the folded
    text the generation rules look at. Matched once per text; evidence from several texts of one page (the
    layout pass, a region read again) combines without matching again."""

    key: str
    hits: tuple[float, ...]

    def combined(self, other: TextEvidence) -> TextEvidence:
        """Both texts' evidence: each rule as strongly as either text hits it."""
        return TextEvidence(
            f" {self.key.strip()} {other.key.strip()} ",
            tuple(max(a, b) for a, b in zip(self.hits, other.hits, strict=True)),
        )


def text_evidence(text: str) -> TextEvidence:
    """Keyword evidence of one text (folded so OCR tone errors do not matter, matched fuzzily; a `^` rule
    only at the start of a line, after its section numeral)."""
    key = _folded(text)
    collapsed = key.replace(" ", "")
    starts = [_NUMERAL.sub("", _folded(line)).strip() for line in text.splitlines()]
    return TextEvidence(
        key,
        tuple(
            _line_start_hit(starts, keyword[1:]) if keyword.startswith("^") else _hit(key, keyword, collapsed)
            for _, _, keyword, _ in _RULES
        ),
    )


# a section's roman numeral as OCR reads it at a line's start (`II.`, `Il`, `11`, `I(`, `H.`)
_NUMERAL = re.compile(r"^ (?:[IVXLH1]{1,4} )?")


def _folded(text: str) -> str:
    key = re.sub(r"[^A-Z0-9 ]", " ", name_key(text))
    return " " + re.sub(r"\s+", " ", key) + " "


def _line_start_hit(starts: list[str], keyword: str) -> float:
    """1.0 when a line opens with the keyword (a letter or two garbled), else 0."""
    best = max((fuzz.ratio(keyword, s[: len(keyword)]) for s in starts if s), default=0.0)
    return 1.0 if best >= 85 else 0.0


def classify(
    text: str,
    *,
    has_qr: bool = False,
    has_mrz: bool = False,
    has_barcode: bool = False,
    is_card: bool | None = None,
) -> Classification:
    """Doc type with a confidence 0..1 and, for identity cards, the generation."""
    return decide(text_evidence(text), has_qr=has_qr, has_mrz=has_mrz, has_barcode=has_barcode, is_card=is_card)


def decide(
    evidence: TextEvidence,
    *,
    has_qr: bool = False,
    has_mrz: bool = False,
    has_barcode: bool = False,
    is_card: bool | None = None,
) -> Classification:
    """The type the text evidence and the machine-readable zones found on the page point to."""
    scores: dict[str, float] = {}
    gen_scores: dict[str, float] = {}
    for (doc_type, gen, _, weight), h in zip(_RULES, evidence.hits, strict=True):
        if h:
            scores[doc_type] = scores.get(doc_type, 0.0) + weight * h
            if gen:
                gen_scores[gen] = gen_scores.get(gen, 0.0) + weight * h
    _add_code_evidence(scores, gen_scores, has_qr=has_qr, has_mrz=has_mrz, has_barcode=has_barcode, is_card=is_card)
    if is_card is False:
        # the imaging stage found no card outline: weak evidence (a card scanned with a wide margin is
        # not cut out either), so it only tips a close call towards certificates
        for t in CARD_TYPES:
            if t in scores:
                scores[t] -= 1.0
    scores = {t: sc for t, sc in scores.items() if sc > 0}
    if not scores:
        return Classification("unknown", 0.0, None, {})
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    best, best_score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    # a logistic on evidence and margin: 3 points of margin is a near-certain call
    confidence = 1 / (1 + math.exp(-(1.6 * (best_score - runner_up) + 0.3 * best_score - 1.5)))
    generation, gen_confidence = _generation(
        best, evidence.key, gen_scores, has_qr=has_qr, has_mrz=has_mrz, has_barcode=has_barcode
    )
    return Classification(
        best, round(max(0.05, min(0.99, confidence)), 3), generation, scores, round(gen_confidence, 3)
    )


def _add_code_evidence(
    scores: dict[str, float],
    gen_scores: dict[str, float],
    *,
    has_qr: bool,
    has_mrz: bool,
    has_barcode: bool,
    is_card: bool | None,
) -> None:
    """The machine-readable zones are near-certain evidence of a side."""
    if has_mrz:
        scores["cccd_back"] = scores.get("cccd_back", 0.0) + 4.0
    if has_qr and scores.get("cccd_back", 0) > scores.get("cccd_front", 0):
        gen_scores["cancuoc_2024"] = gen_scores.get("cancuoc_2024", 0.0) + 2.0
    elif has_qr and "cccd_front" in scores:
        scores["cccd_front"] += 1.5
        gen_scores["cccd_chip_2021"] = gen_scores.get("cccd_chip_2021", 0.0) + 2.0
    elif has_qr and is_card is not False and not any(scores.get(t, 0.0) >= 2.0 for t in scores):
        # a QR and almost no readable text: the 2024 back (small grey labels that fade first) rather than
        # the chip front, whose large red title survives nearly any scan
        scores["cccd_back"] = scores.get("cccd_back", 0.0) + 2.0
        gen_scores["cancuoc_2024"] = gen_scores.get("cancuoc_2024", 0.0) + 2.0
    if has_barcode and not has_qr:
        scores["cccd_back"] = scores.get("cccd_back", 0.0) + 1.5
        gen_scores["cccd_barcode_2016"] = gen_scores.get("cccd_barcode_2016", 0.0) + 2.0
    if not (has_qr or has_mrz or has_barcode) and "cmnd_back" in scores:
        # every CCCD back carries a code (MRZ, barcode or QR), the CMND back none: with no code found and
        # no issuer read, the CMND is the better guess (a weak one: a code can fail to decode)
        scores["cmnd_back"] += 0.5


# how sure a generation named by default is: the side's generations told apart by no evidence at all (a
# CCCD front whose English title and QR were both lost is as likely the chip card as the barcode card)
GENERATION_GUESS = 0.5
# the number's length on a CMND front: 9 or 12 digits read as one run name the card (a run split by OCR or a
# digit lost can mislead, so short of certain)
GENERATION_BY_NUMBER = 0.95


def _generation_confidence(cands: dict[str, float]) -> float:
    """A logistic on the keyword evidence's margin between the best generation and the next: one exact
    three-word title alone (3 points) is just over 0.9, a fuzzy or one-word hit well under it."""
    ranked = sorted(cands.values(), reverse=True)
    margin = ranked[0] - (ranked[1] if len(ranked) > 1 else 0.0)
    return min(0.99, 1 / (1 + math.exp(-(1.2 * margin - 1.0))))


def _generation(
    doc_type: str, key: str, gen_scores: dict[str, float], *, has_qr: bool, has_mrz: bool, has_barcode: bool
) -> tuple[str | None, float]:
    """The card's generation and how strongly the evidence names it (0..1)."""
    if doc_type not in CARD_TYPES:
        return None, 0.0
    allowed = (
        ("cmnd_9", "cmnd_12")
        if doc_type.startswith("cmnd")
        else ("cccd_barcode_2016", "cccd_chip_2021", "cancuoc_2024")
    )
    cands = {g: s for g, s in gen_scores.items() if g in allowed}
    if doc_type == "cccd_front" and " CAN CUOC " in key and " CONG DAN " not in key and "CUOCCONG" not in key:
        cands["cancuoc_2024"] = cands.get("cancuoc_2024", 0.0) + 1.5
    if doc_type == "cccd_front" and not cands:
        # a Vietnamese-only CCCD front without a QR is the 2016 barcode card
        return ("cccd_chip_2021" if has_qr else "cccd_barcode_2016"), GENERATION_GUESS
    if doc_type == "cccd_back" and not cands:
        if has_mrz:
            return "cccd_chip_2021", GENERATION_GUESS
        gen = "cccd_barcode_2016" if has_barcode or "CUC CANH SAT" in key else None
        return gen, GENERATION_GUESS if gen else 0.0
    if doc_type == "cmnd_front":
        # the number's length settles it; else only the 9-digit card prints GIẤY, only the 12-digit one sex
        digits = re.sub(r"(?<=\d) (?=\d)", "", key)
        if re.search(r"(?<!\d)\d{12}(?!\d)", digits):
            return "cmnd_12", GENERATION_BY_NUMBER
        if re.search(r"(?<!\d)\d{9}(?!\d)", digits):
            return "cmnd_9", GENERATION_BY_NUMBER
        if not cands:
            return ("cmnd_12" if "GIOI TINH" in key else "cmnd_9"), GENERATION_GUESS
    if doc_type == "cmnd_back" and not cands:
        return ("cmnd_12" if "DAC DIEM NHAN DANG" in key else "cmnd_9"), GENERATION_GUESS
    if not cands:
        return None, 0.0
    return max(cands.items(), key=lambda kv: kv[1])[0], _generation_confidence(cands)
