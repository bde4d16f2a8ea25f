"""The signing block: the issue date line, the issuing body under it (read without the seal), and the
registry number (`Số vào sổ cấp GCN`) at the bottom of the page."""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from models import fields as F
from models.elements import Box, TextPage
from worker.extract.data import word_list
from worker.extract.gcn.evidence import Evidence
from worker.extract.gcn.images import PageImages, ocr_band
from worker.extract.gcn.numbers import ALPHA_FIX, DIGIT_FIX
from worker.extract.gcn.patterns import DATE_LINE, DATE_LOOSE, REGISTRY
from worker.extract.gcn.text import PageText, fold_char
from worker.vntext import clean, name_key


@cache
def authorities() -> tuple[str, ...]:
    """Issuing bodies for Huế (worker/extract/data/certificate_authorities.txt); OCR of the block under the
    seal is snapped to the nearest one."""
    return word_list("certificate_authorities")


def _date_of(groups: tuple[str | Any, ...]) -> date | None:
    try:
        d, mo, y = (int(str(g).translate(DIGIT_FIX)) for g in groups)
        # certificates exist from the late 1980s; a year outside that is a misread, not a date
        return date(y, mo, d) if 1980 <= y <= date.today().year + 1 else None
    except ValueError:
        return None


def _snap_authority(text: str, issue: date | None, place: str = "") -> tuple[str, float]:
    """The issuing body nearest to the OCR'd block. The seal often hides a line: among near-ties the
    place in the date line decides (`Thừa Thiên Huế, ngày ...` for the province's bodies, `Huế, ngày ...`
    for the city's), and for the Sở the date does (Huế became a centrally-run city on 1/1/2025)."""
    key = name_key(re.sub(r"^\s*T\.?\s*M\s*[.,]?\s*", "", text, flags=re.I))
    if len(key) < 6:
        return "", 0.0
    # coverage: how much of each body's name the reading holds (a line the seal hid costs that line's
    # words); garbage the seal added costs nothing
    words = key.split()

    def coverage(name: str) -> float:
        parts = name_key(name).split()
        hit = sum(1 for p in parts if any(fuzz.ratio(p, w) >= 80 for w in words))
        return 100.0 * hit / len(parts)

    scored = sorted(((coverage(a), a) for a in authorities()), key=lambda x: -x[0])
    best_score, best = scored[0]
    ties = [a for sc, a in scored if sc >= best_score - 3]
    place_key = name_key(place)
    if len(ties) > 1 and place_key:
        province = "THUA THIEN" in place_key
        pref = [a for a in ties if ("TINH THUA THIEN" in name_key(a)) == province]
        if pref:
            best = pref[0]
    if "SO TAI NGUYEN" in name_key(best) and issue is not None and "TINH" not in key and "THANH PHO" not in key:
        best = authorities()[11] if issue >= date(2025, 1, 1) else authorities()[10]
    if best_score >= 75:
        return best, best_score / 100.0
    return clean(text).upper(), 0.3


_SIGNER_TITLE = re.compile(r"(?m)^\s*(?:kt|tl|tuq|q)\s*[.,]\s*(?:chu\s*tich|giam\s*doc|pho)")


_AUTHORITY_LINE = re.compile(r"(?m)^\s*(?:tm\s*[.,]\s*)?(?:uy\s*ban\s*nhan\s*dan|so\s*tai\s*nguyen|so\s*nong\s*nghiep)")


def read_signature_block(t: PageText, pg: PageImages, fields: dict[str, Evidence], warnings: list[str]) -> None:
    """The issue date, the issuing authority under it and the registry number at the page's foot."""
    issue, date_box, place = _read_issue_date(t, pg, fields)
    if date_box is not None:
        _read_authority(t, pg, fields, issue, date_box, place)
    _read_registry_number(t, pg, fields)


def _read_issue_date(t: PageText, pg: PageImages, fields: dict[str, Evidence]) -> tuple[date | None, Box | None, str]:
    """The date line (`Huế, ngày 12 tháng 5 năm 2016`): the date, the line's box and the place before it."""
    m = DATE_LINE.search(t.fold) or DATE_LOOSE.search(t.fold)
    if not m:
        return _issue_date_above_signer(t, pg, fields)
    issue = _date_of(m.groups())
    if issue is None:
        # read the line again on its own, seal dropped and upscaled
        line_box = t.lines[t.line_index(m.start())].box
        again, _, _ = pg.read(line_box, pad=0.15)
        mm = DATE_LINE.search("".join(fold_char(c) for c in again))
        issue = _date_of(mm.groups()) if mm else None
    mean, low = t.stats(m.start(), m.end())
    fields[F.ISSUE_DATE] = Evidence(
        F.ISSUE_DATE,
        issue.isoformat() if issue else None,
        t.box(m.start(), m.end()),
        ["ocr"],
        mean,
        low,
        valid=issue is not None,
        repaired=m.re is DATE_LOOSE,
    )
    li = t.line_index(m.start())
    return issue, t.lines[li].box, t.raw[t.line_start(li) : m.start()]


def _issue_date_above_signer(
    t: PageText, pg: PageImages, fields: dict[str, Evidence]
) -> tuple[date | None, Box | None, str]:
    """The italic date line lost (a seal, a bad scan) but the signing block found: the date is the line
    above the body's name, which is above `KT. CHỦ TỊCH` / `GIÁM ĐỐC`."""
    am = _AUTHORITY_LINE.search(t.fold, len(t.fold) // 3)
    km = _SIGNER_TITLE.search(t.fold, len(t.fold) // 3)
    anchor = am or km
    if anchor is None:
        return None, None, ""
    ax, ay, aw, ah = t.lines[t.line_index(anchor.start())].box
    lines_up = 1.55 if anchor is am else 3.7
    cx = ax + aw / 2
    half = max(aw, 8 * ah) * 0.75
    top = int(ay - lines_up * ah)
    block_box = (int(cx - half), top, int(2 * half), int(ay - top))
    text, conf, _ = pg.read(block_box, psm=6, pad=0.1)
    folded = "".join(fold_char(c) for c in text)
    dm = DATE_LINE.search(folded) or DATE_LOOSE.search(folded)
    if not dm:
        return None, None, ""
    issue = _date_of(dm.groups())
    fields[F.ISSUE_DATE] = Evidence(
        F.ISSUE_DATE, issue.isoformat() if issue else None, block_box, ["reread"], conf, conf,
        valid=issue is not None, repaired=dm.re is DATE_LOOSE,
    )  # fmt: skip
    return issue, (int(cx - half * 0.7), top, int(1.4 * half), int(ah)), text[max(0, dm.start() - 20) : dm.start()]


def _read_authority(
    t: PageText, pg: PageImages, fields: dict[str, Evidence], issue: date | None, date_box: Box, place: str
) -> None:
    """The body's name: the two lines under the date, centred on it, the seal on them. Read by the layout
    pass and again on the red channel, where the seal fades into the paper; both snapped to the bodies."""
    li = max(
        0, next((i for i, ln in enumerate(t.lines) if ln.box[1] > date_box[1] + date_box[3] / 2), len(t.lines)) - 1
    )
    dx, dy, dw, dh = date_box
    region = (int(dx - 0.15 * dw), int(dy + 1.1 * dh), int(1.3 * dw), int(3.0 * dh))
    block = [
        ln
        for ln in t.lines[li + 1 : li + 5]
        if ln.box[1] < region[1] + region[3] and ln.box[0] < dx + dw and ln.box[0] + ln.box[2] > dx
    ]
    block = [
        ln
        for ln in block
        if not re.match(r"^(KT|Q|TL|TUQ)\W", name_key(ln.text))
        and not re.search(r"CHU TICH|GIAM DOC", name_key(ln.text))
    ]
    cands: list[tuple[str, float]] = []
    if block:
        cands.append(
            (" ".join(ln.text for ln in block), float(np.mean([w.confidence for ln in block for w in ln.words])))
        )
    again, rconf, _ = pg.read(region, psm=6, pad=0.05)
    again = re.split(r"(?i)n[aă]m\s*\d{4}", again)[-1]
    cut = re.search(r"\b(?:kt|q|tl|tuq)\s*[.,]|chu\s*tich|giam\s*doc", "".join(fold_char(c) for c in again))
    again = again[: cut.start()] if cut else again
    if again:
        cands.append((again, rconf))
    snapped = [(*_snap_authority(c, issue, place), conf) for c, conf in cands]
    # what matches no issuing body is the seal's ring, a signature or the signer's name: never a value
    snapped = [x for x in snapped if x[0] and x[1] >= 0.75]
    if not snapped:
        return
    value, score, conf = max(snapped, key=lambda x: (x[1], x[2]))
    aev = Evidence(F.ISSUING_AUTHORITY, value, region, ["ocr"], conf, min(x[2] for x in snapped), valid=score >= 0.75)
    valid = [x for x in snapped if x[1] >= 0.75]
    if len(valid) > 1:
        if valid[0][0] == valid[1][0]:
            aev.agree += 1
            aev.sources.append("reread")
        else:
            # two readings naming two bodies (a province's department and a city's): a person decides
            aev.disagree += 1
            aev.doubtful = True
    fields[F.ISSUING_AUTHORITY] = aev


def _read_registry_number(t: PageText, pg: PageImages, fields: dict[str, Evidence]) -> None:
    reg = REGISTRY.search(t.fold)
    if reg is None:
        # `Số vào sổ cấp GCN: ...` sits alone near the bottom edge, where page segmentation often drops
        # it: read the bottom band as a block and look for the label there
        H = pg.grey.shape[0]
        t = PageText.of(TextPage.of_lines(ocr_band(pg, int(H * 0.84), int(H * 0.965))))
        reg = REGISTRY.search(t.fold)
    if reg is None:
        return
    end = t.line_end(reg.end())
    value = _clean_registry(t.raw[reg.end() : end].strip(" .;:"))
    if not value:
        return
    mean, low = t.stats(reg.end(), end)
    box = t.box(reg.end(), end)
    ev = Evidence(F.REGISTRY_NUMBER, value, box, ["ocr"], mean, low, valid=_registry_valid(value))
    if box is not None:
        again, _, _ = pg.read(box, whitelist="ABCDEFGHIJKLMNOPQRSTUVWXYZĐ0123456789./ ")
        again_v = _clean_registry(again)
        if again_v == value:
            ev.agree += 1
            ev.sources.append("reread")
        elif again_v and _registry_valid(again_v) and not ev.valid:
            ev.value, ev.valid, ev.disagree = again_v, True, 1
        elif again_v:
            ev.disagree += 1
    fields[F.REGISTRY_NUMBER] = ev


def _clean_registry(raw: str) -> str:
    s = clean(raw).upper().replace(" .", ".").replace(". ", ".")
    s = re.sub(r"QSD[DĐ1I|]", "QSDĐ", s)
    s = re.sub(r"\s*/\s*", "/", s)
    s = re.sub(r"[^A-ZĐ0-9./ ]", "", s).strip()
    # the letters prefix: digits misread for letters, and the other way round in the number part
    m = re.match(r"^([A-Z0-9]{2})(\s?)([0-9OIlSB.]{4,7})$", s)
    if m and not m.group(1).isdigit():
        s = m.group(1).translate(ALPHA_FIX) + m.group(2) + m.group(3).translate(DIGIT_FIX)
    return s


def _registry_valid(value: str) -> bool:
    return bool(
        re.fullmatch(r"[A-Z]{2}\s?\d{2}\.?\d{3,5}", value)
        or re.fullmatch(r"\d{3,6}\s?QSDĐ(?:/\d{1,5})?(?:/[A-ZĐ]+)?", value)
        or re.fullmatch(r"[A-Z]{1,3}\s?\d{3,7}", value)
    )
