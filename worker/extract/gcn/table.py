"""The parcel table of the older forms: a header row printing the labels side by side (`Thửa đất số | Tờ bản
đồ số | Diện tích (m²) | Mục đích sử dụng | ...`) and each value in the cell under its label, in the row
below. A label's value is found by column (where the word sits under the header), not by reading on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from models import fields as F
from worker.extract.gcn.evidence import Evidence
from worker.extract.gcn.images import PageImages
from worker.extract.gcn.numbers import DIGITS, plausible_number, read_int_field, to_int
from worker.extract.gcn.patterns import P2_PATTERNS
from worker.extract.gcn.text import PageText, Slice, label_values

# the columns read here: the two numbers and the area (the words of the other columns are read by label)
_NUMBERS = (F.PARCEL_NUMBER, F.MAP_SHEET_NUMBER)
# a table header cell's unit, the only text between two labels of a header row: `(m²)`, `(m2)`, `(m)`
_UNIT = re.compile(r"\s*\(?\s*m\s*[2²?zZ]?\s*\)?\s*")


@dataclass
class Column:
    name: str
    lo: float  # the column's span on the page: halfway to the neighbouring labels' centres
    hi: float
    box: tuple[int, int, int, int]  # the header label's own box


@dataclass
class TableRow:
    """The header line's columns and the first row below it that carries a number under one of them."""

    header: int  # line index
    columns: dict[str, Column]
    row: int | None  # line index of the values, None when the layout pass lost the whole row


def find_table(t: PageText, start: int = 0) -> TableRow | None:
    """The header row: one visual line with the parcel-number, map-sheet and at least one more label, and
    nothing but a unit between them (a line `Thửa đất số: 232, tờ bản đồ số: 8` is no header)."""
    for li in range(t.line_index(start), len(t.lines)):
        s = t.line_start(li)
        e = t.line_end(s)
        hits = sorted(
            ((m.start(), m.end(), name) for name, pat in P2_PATTERNS.items() if (m := pat.search(t.fold, s, e))),
        )
        names = {h[2] for h in hits}
        if len(hits) < 3 or not set(_NUMBERS) <= names:
            continue
        between = [t.fold[a[1] : b[0]] for a, b in pairwise(hits)]
        if any(re.search(r"\d", _UNIT.sub("", gap, count=1)) for gap in between):
            continue
        boxes = [(name, t.box(a, b)) for a, b, name in hits]
        centres = [(name, box[0] + box[2] / 2, box) for name, box in boxes if box is not None]
        columns: dict[str, Column] = {}
        for k, (name, cx, box) in enumerate(centres):
            lo = (centres[k - 1][1] + cx) / 2 if k else cx - box[2]
            hi = (centres[k + 1][1] + cx) / 2 if k + 1 < len(centres) else cx + box[2]
            columns[name] = Column(name, lo, hi, box)
        return TableRow(li, columns, _value_row(t, li, columns))
    return None


def _value_row(t: PageText, header: int, columns: dict[str, Column]) -> int | None:
    """The first of the next three lines with a word starting with a digit under a number's or the area's
    column; a line printing a label (`Tổng diện tích: ...`) is past the table."""
    for li in range(header + 1, min(header + 4, len(t.lines))):
        s = t.line_start(li)
        e = t.line_end(s)
        if any(pat.search(t.fold, s, e) for pat in P2_PATTERNS.values()):
            return None
        for w in t.lines[li].words:
            cx = w.box[0] + w.box[2] / 2
            col = _column_at(columns, cx)
            if col in (*_NUMBERS, F.AREA_M2) and re.match(r"[0-9]", w.text):
                return li
    return None


def _column_at(columns: dict[str, Column], x: float) -> str | None:
    return next((c.name for c in columns.values() if c.lo <= x < c.hi), None)


def cell_slice(t: PageText, table: TableRow, name: str) -> Slice | None:
    """The value row's words under the column of `name`, as a slice of the page's text."""
    col = table.columns.get(name)
    if col is None or table.row is None:
        return None
    s = t.line_start(table.row)
    e = t.line_end(s)
    line_words = t.char_word[s:e]
    spans: list[tuple[int, int]] = []
    for wi in sorted({i for i in line_words if i >= 0}):
        w = t.words[wi]
        if col.lo <= w.box[0] + w.box[2] / 2 < col.hi:
            first = s + line_words.index(wi)
            spans.append((first, first + len(w.text)))
    if not spans:
        return None
    a, b = spans[0][0], spans[-1][1]
    return Slice(a, b, t.raw[a:b], t.fold[a:b])


def values_past_header(t: PageText, table: TableRow, vals: dict[str, Slice]) -> dict[str, Slice]:
    """The labels' values with the header row's own labels taken where the page prints them again below the
    table (`Tổng diện tích: 108,3 m²`, `Mục đích sử dụng: ...`), else the cell under them; the numbers are
    left to their cells. A header label's `value` is the next label or its unit."""
    first = t.line_start(table.header)
    last = table.row if table.row is not None else table.header
    end = t.line_end(t.line_start(last))
    after = label_values(t, P2_PATTERNS, end)
    out = dict(vals)
    for name, sl in vals.items():
        if not first <= sl.start <= end or name not in table.columns:
            continue
        del out[name]
        if name in _NUMBERS:
            continue
        again = after.get(name)
        # else the cell under the label (`Lâu dài` under `Thời hạn sử dụng`); the area only as a number right
        # after the label: `Diện tích xây dựng: 80 m²` is a house's
        if again is None or (name == F.AREA_M2 and not re.match(r"[0-9]", again.raw)):
            again = cell_slice(t, table, name)
        if again is not None:
            out[name] = again
    return out


def read_table_numbers(t: PageText, pg: PageImages, table: TableRow, fields: dict[str, Evidence]) -> None:
    """The parcel and sheet numbers from their cells: the layout pass's word re-read as any labelled number,
    or, when the pass lost the cell's text (photocopy speckle), the cell's region read on its own twice."""
    for name in _NUMBERS:
        if name in fields:
            continue
        sl = cell_slice(t, table, name)
        ev = read_int_field(t, pg, name, sl) if sl is not None else None
        if ev is None:
            ev = _read_cell(t, pg, table, name)
        if ev is not None:
            fields[name] = ev


def _read_cell(t: PageText, pg: PageImages, table: TableRow, name: str) -> Evidence | None:
    col = table.columns.get(name)
    if col is None:
        return None
    head = t.lines[table.header].box
    if table.row is not None:
        row = t.lines[table.row].box
        y, h = row[1], row[3]
    else:
        # the row sits right under the header, one printed line high with the cell's margins
        y, h = head[1] + head[3] + head[3] // 2, 2 * head[3]
    # the label's own width, inside the cell's rules (a rule read as `1` must not join the number)
    box = (col.box[0], y, col.box[2], h)
    text, conf, _ = pg.read(box, whitelist=DIGITS)
    value, _ = to_int(text.replace(" ", ""))
    if value is None:
        return None
    ev = Evidence(name, value, box, ["cell"], conf, conf, valid=plausible_number(name, value))
    text2, _, _ = pg.second_opinion(box, DIGITS)
    again, _ = to_int(text2.replace(" ", ""))
    if again == value:
        ev.agree, ev.sources = 1, ["cell", "reread"]
    elif again is not None:
        # two models disagree on the cell and nothing else reads it: held for review
        ev.disagree, ev.doubtful = 1, True
    else:
        # the second model read nothing there: a cell found by its column alone (a row of the table
        # guessed, `2022` of a date taken for the parcel `333`) has no second reading behind it
        ev.doubtful = True
    return ev
