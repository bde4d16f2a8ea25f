"""The VBDLIS XML exchange read as rows of the CSV contract."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from models.errors import ErrorCode
from models.registry import REGISTRY_CSV_COLUMNS
from worker.errors import IntakeError
from worker.keys import id_digits
from worker.store.registry.report import ImportReport
from worker.store.registry.rows import RawChunk
from worker.store.registry.tables import OPTIONAL_COLUMNS

# --- the VBDLIS XML exchange ------------------------------------------------------------------------------
#
# <DC_ThuaDat> elements (anywhere, any namespace) become rows of the CSV contract, one per <DC_CaNhan> owner
# (one row without an owner when there is none), and go through the same normalisation, repair and loading as
# a CSV export. Field names follow VBDLIS (domain reference §3); a value may be a child element or an
# attribute. Parcel: thuaDatId/maThuaDat (the parcel_id), maXa/xaId (legacy commune code), soHieuToBanDo,
# soThuTuThua, dienTich, mucDichSuDung, trangThai, thuaDatMoi/thuaDatGoc (successors/origin, `;`-separated),
# <DC_DiaChi> (diaChiChiTiet, or soNha + tenDuong + tenXa + tenHuyen + tenTinh), certificate soPhatHanh and
# soVaoSo (directly or inside a <GiayChungNhan>). Owner <DC_CaNhan>: hoTen, namSinh or ngaySinh, maSoDinhDanh,
# <DC_GiayToTuyThan> (loaiGiayToTuyThan, soGiayTo: the 12-digit number is kept before an old 9-digit CMND),
# <DC_DiaChi>.

XML_HEADER: tuple[str, ...] = (*REGISTRY_CSV_COLUMNS, *OPTIONAL_COLUMNS)


def is_xml(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(512)
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _xml_fields(elem: Any, skip: tuple[str, ...]) -> dict[str, str]:
    """Attributes and text of the direct children (not inside the elements named in `skip`), by local name."""
    out = {_local(k): v.strip() for k, v in elem.attrib.items() if v and v.strip()}
    for child in elem:
        name = _local(child.tag)
        if name in skip:
            continue
        if len(child) and name == "GiayChungNhan":
            out.update({k: v for k, v in _xml_fields(child, ()).items() if k not in out})
            continue
        if child.text and child.text.strip() and name not in out:
            out[name] = child.text.strip()
    return out


def _xml_address(elem: Any) -> str:
    for child in elem:
        if _local(child.tag) == "DC_DiaChi":
            f = _xml_fields(child, ())
            if f.get("diaChiChiTiet") or f.get("diaChi"):
                return f.get("diaChiChiTiet") or f["diaChi"]
            parts = [f.get(k, "") for k in ("soNha", "tenDuong", "tenXa", "tenHuyen", "tenTinh")]
            return ", ".join(p for p in [" ".join(parts[:2]).strip(), *parts[2:]] if p)
    return ""


def _xml_owner(person: Any) -> tuple[str, str, str, str]:
    f = _xml_fields(person, ("DC_GiayToTuyThan", "DC_DiaChi"))
    numbers = [f.get("maSoDinhDanh", "")]
    for child in person:
        if _local(child.tag) == "DC_GiayToTuyThan":
            numbers.append(_xml_fields(child, ()).get("soGiayTo", ""))
    digits = [n for n in (id_digits(x) for x in numbers) if n]
    # the registry row holds one number: the 12-digit personal number before an old 9-digit CMND
    id_number = next((n for n in digits if len(n) == 12), digits[0] if digits else "")
    year = f.get("namSinh", "")
    if not year and (dob := f.get("ngaySinh", "")):
        found = re.search(r"(1[89]\d\d|20\d\d)", dob)
        year = found.group(1) if found else dob
    return f.get("hoTen", ""), year, id_number, _xml_address(person)


def _xml_rows(parcel: Any) -> list[list[str]]:
    f = _xml_fields(parcel, ("DC_CaNhan", "DC_DiaChi"))
    address = _xml_address(parcel)
    base = [
        f.get("thuaDatId") or f.get("maThuaDat") or f.get("id", ""),
        f.get("maXa") or f.get("xaId", ""),
        f.get("soHieuToBanDo", ""),
        f.get("soThuTuThua", ""),
        address,
        f.get("dienTich", ""),
        f.get("mucDichSuDung", ""),
        f.get("soPhatHanh", ""),
        f.get("soVaoSo", ""),
    ]
    extra = [f.get("trangThai", ""), f.get("thuaDatMoi", ""), f.get("thuaDatGoc", "")]
    owners = [_xml_owner(child) for child in parcel if _local(child.tag) == "DC_CaNhan"]
    if not owners:
        return [[*base, "", "", "", "", *extra]]
    return [[*base, name, year, id_number, owner_address, *extra] for name, year, id_number, owner_address in owners]


def xml_chunks(path: Path, report: ImportReport, batch_size: int) -> Iterator[RawChunk]:
    """Stream the file with iterparse: each <DC_ThuaDat> is turned into rows and freed, so memory stays flat
    for a whole province. A file that is not well-formed stops the import with the position of the error."""
    rows: list[tuple[int, list[str]]] = []
    record = 0
    parents: list[Any] = []
    try:
        for event, elem in ET.iterparse(path, events=("start", "end")):
            if event == "start":
                parents.append(elem)
                continue
            parents.pop()
            if _local(elem.tag) != "DC_ThuaDat":
                continue
            record += 1
            rows.extend((record, row) for row in _xml_rows(elem))
            elem.clear()
            if parents:  # drop the finished parcel from its parent too
                parents[-1].remove(elem)
            if len(rows) >= batch_size:
                yield 0, rows
                rows = []
    except ET.ParseError as exc:
        raise IntakeError(ErrorCode.UNSUPPORTED_FORMAT, f"{path.name}: not well-formed XML ({exc})") from None
    if record == 0:
        raise IntakeError(
            ErrorCode.UNSUPPORTED_FORMAT, f"{path.name}: no DC_ThuaDat elements (not a VBDLIS XML exchange file)"
        )
    if rows:
        yield 0, rows
