"""The parcel section (page 2; page 1 of the 2024 form): number, map sheet, address, area, use form,
purpose and land-use code, term and origin."""

from __future__ import annotations

import re
from decimal import Decimal

from models import fields as F
from models.elements import TextPage
from worker.extract.gcn.address import address_spelled_known, canonical_address, check_house_number, reread_street
from worker.extract.gcn.evidence import Evidence
from worker.extract.gcn.images import PageImages, ocr_band
from worker.extract.gcn.numbers import fmt_area, parse_area, read_area, read_int_field
from worker.extract.gcn.patterns import DATE_LINE, P2_EXACT, P2_PATTERNS, REGISTRY
from worker.extract.gcn.phrases import canonical_entry, land_use_names, snap_purpose
from worker.extract.gcn.table import find_table, read_table_numbers, values_past_header
from worker.extract.gcn.text import PageText, Slice, label_values, text_value


def _purpose_parts(text: str) -> list[tuple[str | None, str, Decimal | None]]:
    """`Đất ở tại đô thị (ODT): 93,0 m²; Đất trồng cây lâu năm: 50 m²` → [(code, name, area), ...]."""
    parts: list[tuple[str | None, str, Decimal | None]] = []
    for chunk in re.split(r";", text):
        chunk = chunk.strip(" .,\n")
        if not re.search(r"[^\W\d_]{3,}", chunk):
            continue  # specks and a misread marker after the last `;` (`| | 6e)`), no land type
        code_m = re.search(r"\(([A-Z0-9]{3})\)", chunk.upper())
        area_m = re.search(r":\s*([0-9][0-9.,\s]*)\s*m", chunk)
        name = re.sub(r"\([^)]*\)", "", chunk.split(":")[0]).strip(" ,")
        area = parse_area(area_m.group(1) + " m")[0] if area_m else None
        code = code_m.group(1) if code_m else None
        parts.append((code, name, area))
    return parts


def _read_purpose(
    t: PageText, sl: Slice, form: str | None, total: float | None, warnings: list[str]
) -> tuple[Evidence, Evidence]:
    text = text_value(sl)
    mean, low = t.stats(sl.start, sl.end)
    box = t.box(sl.start, sl.end)
    parts = _purpose_parts(text)
    codes: list[str] = []
    rendered: list[str] = []
    snapped_all = True
    printed_codes = False
    for code, name, area in parts:
        snap_code, legal, snapped = snap_purpose(name)
        if code and code in land_use_names():
            printed_codes = True
            if snapped and snap_code != code:
                warnings.append(f"land_use_code_mismatch: printed ({code}) vs purpose text {legal!r}")
                snapped = False
        else:
            code = snap_code if snapped else None
        if not snapped:
            snapped_all = False
            legal = name
        if code:
            codes.append(code)
        piece = legal
        if printed_codes and code:
            piece += f" ({code})"
        if area is not None:
            piece += f": {fmt_area(area)} m²"
        rendered.append(piece)
    purpose = "; ".join(rendered) if rendered else text
    purpose_ev = Evidence(F.LAND_USE_PURPOSE, purpose, box, ["ocr"], mean, low, valid=snapped_all and bool(parts))
    code_ev = Evidence(
        F.LAND_USE_CODE,
        "+".join(codes) or None,
        box,
        ["ocr"],
        mean,
        low,
        valid=bool(codes) and len(codes) == len(parts),
    )
    if printed_codes:
        code_ev.agree += 1
    areas = [a for _, _, a in parts if a is not None]
    if form == "gcn_2024_qr" and len(areas) < len(parts):
        # the 2024 form prints each purpose with its area: one read without it lost print, and the sum of
        # the areas against the total, the check that would vouch for the purposes, cannot be made
        purpose_ev.doubtful = True
    if areas and total is not None:
        s = float(sum(areas))
        if abs(s - total) > 0.05 + 1e-9:
            if form == "gcn_2024_qr" or len(areas) > 1:
                warnings.append(
                    f"purpose_area_sum_mismatch: purposes sum to {fmt_area(s)} m², total {fmt_area(total)} m²"
                )
            purpose_ev.check = -1
        else:
            purpose_ev.check = 1
    return purpose_ev, code_ev


def _label_exact(t: PageText, name: str, sl: Slice) -> bool:
    """Whether the label before a value is spelled as printed (a table's cell has no label before it)."""
    exact = P2_EXACT[name]
    return bool(exact.search(t.fold, max(0, sl.start - 24), sl.start)) or not P2_PATTERNS[name].search(
        t.fold, max(0, sl.start - 24), sl.start
    )


def _doubt_half_read_line(fields: dict[str, Evidence]) -> None:
    """Parcel and sheet share one printed line (`Thửa đất số: 301, tờ bản đồ số: 15`): a read of it that
    gave one and lost the other lost print, and what it gave is no certainty (a motion-blurred photo's
    `301` read as `1` at 0.92, its sheet number lost)."""
    parcel, sheet = fields.get(F.PARCEL_NUMBER), fields.get(F.MAP_SHEET_NUMBER)
    if (parcel is None) != (sheet is None):
        for ev in (parcel, sheet):
            if ev is not None:
                ev.doubtful = True


def read_parcel(
    t: PageText, pg: PageImages, form: str | None, fields: dict[str, Evidence], warnings: list[str], start: int = 0
) -> None:
    vals = label_values(t, P2_PATTERNS, start)
    table = find_table(t, start)
    if table is not None:
        vals = values_past_header(t, table, vals)
    for name in (F.PARCEL_NUMBER, F.MAP_SHEET_NUMBER):
        if name in vals:
            ev = read_int_field(t, pg, name, vals[name])
            if ev is not None:
                ev.doubtful = ev.doubtful or not _label_exact(t, name, vals[name])
                fields[name] = ev
    if table is not None:
        read_table_numbers(t, pg, table, fields)
    else:
        _doubt_half_read_line(fields)
    if F.PARCEL_ADDRESS in vals:
        sl = vals[F.PARCEL_ADDRESS]
        mean, low = t.stats(sl.start, sl.end)
        text = text_value(sl)
        if text:
            value = canonical_address(text)
            ev = Evidence(
                F.PARCEL_ADDRESS, value, t.box(sl.start, sl.end), ["ocr"], mean, low, valid=address_spelled_known(value)
            )
            check_house_number(ev, t, pg, sl.start, sl.end)
            reread_street(ev, t, pg, sl.start, sl.end)
            fields[F.PARCEL_ADDRESS] = ev
    if F.AREA_M2 in vals:
        area_sl = vals[F.AREA_M2]
        words_sl = vals.get(F.AREA_IN_WORDS)
        # the words sit inside the area's slice on the 2009 form: `96,3 m², (bằng chữ: ...)`
        area_ev, words_ev = read_area(t, pg, area_sl, words_sl, warnings)
        if area_ev is not None:
            area_ev.doubtful = area_ev.doubtful or not _label_exact(t, F.AREA_M2, area_sl)
            fields[F.AREA_M2] = area_ev
        if words_ev is not None and words_ev.value:
            fields[F.AREA_IN_WORDS] = words_ev
    for name in (F.LAND_USE_FORM, F.LAND_USE_TERM, F.LAND_USE_ORIGIN):
        if name in vals:
            sl = vals[name]
            text = text_value(sl)
            if text:
                mean, low = t.stats(sl.start, sl.end)
                value, legal = canonical_entry(name, text)
                fields[name] = Evidence(name, value, t.box(sl.start, sl.end), ["ocr"], mean, low, valid=legal)
    if F.LAND_USE_PURPOSE in vals:
        total = fields[F.AREA_M2].value if F.AREA_M2 in fields else None
        p_ev, c_ev = _read_purpose(t, vals[F.LAND_USE_PURPOSE], form, total, warnings)
        fields[F.LAND_USE_PURPOSE] = p_ev
        if c_ev.value:
            fields[F.LAND_USE_CODE] = c_ev


def rescue_parcel_section(t: PageText, pg: PageImages, ocr: TextPage) -> PageText:
    """Page segmentation sometimes drops whole lines of the parcel section (low-resolution scans): when a
    label is missing, read the section again as one uniform block (psm 6) and keep the better reading."""
    found = [name for name, pat in P2_PATTERNS.items() if pat.search(t.fold)]
    if len(found) == len(P2_PATTERNS):
        return t
    starts = [m.start() for pat in P2_PATTERNS.values() if (m := pat.search(t.fold))]
    if not starts:
        return t
    first = t.lines[t.line_index(min(starts))].box
    stop = DATE_LINE.search(t.fold) or REGISTRY.search(t.fold)
    y0 = max(0, first[1] - first[3])
    y1 = t.lines[t.line_index(stop.start())].box[1] - 4 if stop else int(pg.grey.shape[0] * 0.6)
    if y1 - y0 < 3 * max(first[3], 10):
        return t
    new_lines = ocr_band(pg, y0, y1)
    kept = [ln for ln in ocr.lines if not (y0 <= ln.box[1] + ln.box[3] / 2 <= y1)]
    merged = TextPage.of_lines(kept + new_lines)
    candidate = PageText.of(merged)
    found_again = [name for name, pat in P2_PATTERNS.items() if pat.search(candidate.fold)]
    return candidate if len(found_again) > len(found) else t
