"""The synthetic document generator (fixtures/): its ground truth must be right, or every benchmark lies."""

from __future__ import annotations

import csv
import json
import random
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from fixtures.degrade import degrade, photocopy_sheet
from fixtures.gcn import CERTIFICATE_FORMS, make_parcel
from fixtures.gcn_pages import PAGES, render_gcn_page
from fixtures.idcards import card_size, qr_payload, render_card
from fixtures.legacy import decode_tcvn3, decode_vni, encode_tcvn3, encode_vni
from fixtures.mrz import check_digit, person_mrz, td1, validate_td1
from fixtures.people import CARD_GENERATIONS, cccd_expiry, decode_id_number, make_person
from fixtures.registry import abbreviate_address, allocate_parcel_ids, make_typo, write_registry
from fixtures.samples import generate, load_truth
from fixtures.vnnum import area_to_words, decimal_to_words, format_area, int_to_words
from models.document import DOC_TYPES
from models.registry import REGISTRY_CSV_COLUMNS
from worker.extract.numwords import parse_number_words  # words -> number is the extractor's, not the generator's

SAMPLE_SET = Path(__file__).resolve().parents[2] / "fixtures" / "sample_set"


# --- people / identity numbers ------------------------------------------------------------------------------


def test_personal_number_encodes_province_century_sex_and_birth_year() -> None:
    rng = random.Random(7)
    provinces = set()
    for _ in range(300):
        p = make_person(rng)
        d = decode_id_number(p.id_number)
        assert len(p.id_number) == 12 and p.id_number.isdigit()
        assert d["sex"] == p.sex
        assert d["birth_year"] == p.date_of_birth.year
        assert d["province_code"] == p.province_code
        provinces.add(p.province_code)
        if p.old_id_number:
            assert len(p.old_id_number) == 9 and p.old_id_number.isdigit()
        assert p.full_name == p.full_name.upper()
        assert p.issue_date >= p.date_of_birth.replace(year=p.date_of_birth.year + 14) or p.date_of_birth.month == 2
    assert "046" in provinces and len(provinces) > 2


def test_people_are_deterministic_per_seed() -> None:
    assert make_person(random.Random(3)) == make_person(random.Random(3))
    assert make_person(random.Random(3)) != make_person(random.Random(4))


def test_expiry_rule() -> None:
    dob = date(1990, 3, 15)
    assert cccd_expiry(dob, date(2010, 1, 1)) == date(2015, 3, 15)  # valid to 25
    assert cccd_expiry(dob, date(2014, 1, 1)) == date(2030, 3, 15)  # within 2 years of 25 -> 40
    assert cccd_expiry(dob, date(2021, 6, 1)) == date(2030, 3, 15)
    assert cccd_expiry(dob, date(2029, 1, 1)) == date(2050, 3, 15)  # within 2 years of 40 -> 60
    assert cccd_expiry(date(1960, 1, 1), date(2021, 1, 1)) is None  # issued at 61: no expiry
    assert cccd_expiry(date(1964, 1, 1), date(2022, 6, 1)) is None  # 58 on: no expiry


# --- MRZ --------------------------------------------------------------------------------------------------


DOMAIN_EXAMPLE = ["IDVNM0900123450046090012345<<8", "9003152M3003150VNM<<<<<<<<<<<0", "NGUYEN<<VAN<AN<<<<<<<<<<<<<<<<"]


def test_mrz_domain_example_check_digits() -> None:
    assert all(validate_td1(DOMAIN_EXAMPLE).values())
    assert td1("046090012345", date(1990, 3, 15), "male", date(2030, 3, 15), "Nguyễn", "Văn", "An") == DOMAIN_EXAMPLE
    assert check_digit("<<<<<<") == "0"


def test_generated_mrz_valid() -> None:
    rng = random.Random(11)
    for _ in range(200):
        p = make_person(rng)
        lines = person_mrz(p)
        assert [len(x) for x in lines] == [30, 30, 30]
        assert all(validate_td1(lines).values()), lines
        assert lines[0][15:27] == p.id_number
        assert lines[1][7] == ("M" if p.sex == "male" else "F")
        assert all(c.isascii() and (c.isupper() or c.isdigit() or c == "<") for c in "".join(lines))


def test_mrz_name_drops_diacritics_and_maps_d_stroke() -> None:
    lines = td1("046090012345", date(1990, 3, 15), "female", None, "Đặng", "Thị Ngọc", "Ễ")
    assert lines[2].startswith("DANG<<THI<NGOC<E<")
    assert lines[1][8:15] == "<<<<<<0"


# --- barcodes -------------------------------------------------------------------------------------------


def _decode(img) -> list[str]:
    import zxingcpp

    return [r.text for r in zxingcpp.read_barcodes(np.asarray(img.convert("RGB")))]


def test_chip_card_qr_decodes_to_truth() -> None:
    p = make_person(random.Random(5), generation="cccd_chip_2021")
    img, truth = render_card(p, "cccd_chip_2021", "front", random.Random(1))
    assert img.size == card_size(300)
    texts = _decode(img)
    assert texts == [qr_payload(p)] == [truth["barcodes"][0]["text"]]
    parts = texts[0].split("|")
    assert len(parts) == 7
    f = truth["fields"]
    assert parts[0] == f["id_number"] and parts[2] == f["full_name"]
    assert parts[1] == (f.get("old_id_number") or "")
    assert parts[3] == date.fromisoformat(f["date_of_birth"]).strftime("%d%m%Y")
    assert parts[4] == ("Nam" if f["sex"] == "male" else "Nữ")
    assert parts[5] == f["place_of_residence"]
    assert parts[6] == date.fromisoformat(f["issue_date"]).strftime("%d%m%Y")


def test_cancuoc_qr_and_barcode_card_code128_decode() -> None:
    p = make_person(random.Random(8), generation="cancuoc_2024")
    img, truth = render_card(p, None, "back", random.Random(2), with_mrz=True)
    assert _decode(img) == [truth["barcodes"][0]["text"]]
    assert all(validate_td1(truth["fields"]["mrz"]).values())
    p2 = make_person(random.Random(9), generation="cccd_barcode_2016")
    img2, truth2 = render_card(p2, None, "back", random.Random(2))
    assert _decode(img2) == [p2.id_number] == [truth2["barcodes"][0]["text"]]


@pytest.mark.parametrize("generation", CARD_GENERATIONS)
def test_every_generation_renders_both_sides(generation: str) -> None:
    p = make_person(random.Random(21), born_between=(1960, 1990), generation=generation)
    for side in ("front", "back"):
        img, t = render_card(p, generation, side, random.Random(3), dpi=200)
        assert img.size == card_size(200)
        assert t["card_generation"] == generation == t["fields"]["card_generation"]
        assert t["doc_type"] == ("cmnd_" if generation.startswith("cmnd") else "cccd_") + side
    front = render_card(p, generation, "front", random.Random(3))[1]["fields"]
    expected_number = p.old_id_number if generation == "cmnd_9" else p.id_number
    assert front["id_number"] == expected_number
    assert front["full_name"] == p.full_name
    assert front["date_of_birth"] == p.date_of_birth.isoformat()


def test_issuer_depends_on_barcode_card_issue_date() -> None:
    rng = random.Random(4)
    issuers = set()
    for _ in range(40):
        p = make_person(rng, born_between=(1960, 1990), generation="cccd_barcode_2016")
        t = render_card(p, None, "back", rng)[1]
        before = p.issue_date < date(2018, 10, 1)
        assert ("ĐKQL" in t["fields"]["issuer"]) == before
        issuers.add(before)
    assert issuers == {True, False}


# --- numbers in words --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (21, "hai mươi mốt"),
        (105, "một trăm linh năm"),
        (15, "mười lăm"),
        (11, "mười một"),
        (25, "hai mươi lăm"),
        (110, "một trăm mười"),
        (1005, "một nghìn không trăm linh năm"),
        (2024, "hai nghìn không trăm hai mươi bốn"),
        (41, "bốn mươi mốt"),
        (10, "mười"),
        (0, "không"),
    ],
)
def test_int_to_words(n: int, words: str) -> None:
    assert int_to_words(n) == words
    assert float(parse_number_words(words)) == n


def test_area_words() -> None:
    assert area_to_words(125.4) == "Một trăm hai mươi lăm phẩy bốn mét vuông"
    assert area_to_words(93.0) == "Chín mươi ba mét vuông"
    assert decimal_to_words("60.05") == "sáu mươi phẩy không năm"
    assert format_area(1234.5) == "1.234,5" and format_area(125.4) == "125,4"
    rng = random.Random(2)
    for _ in range(300):
        a = round(rng.uniform(10, 50000), 1)
        assert float(parse_number_words(area_to_words(a))) == pytest.approx(a)


# --- certificates --------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", CERTIFICATE_FORMS)
def test_gcn_pages_render_with_truth(form: str) -> None:
    parcel = make_parcel(random.Random(31), "TD0000042", form=form)
    for page in range(1, PAGES[form] + 1):
        img, t = render_gcn_page(parcel, None, page, random.Random(1), dpi=100)
        assert img.size == (827, 1169)
        assert t["certificate_form"] == form
    p1 = render_gcn_page(parcel, None, 1, random.Random(1), dpi=100)[1]
    assert p1["doc_type"] == "gcn_page1"
    assert p1["fields"]["certificate_serial"] == parcel.certificate_serial
    assert [o["full_name"] for o in p1["owners"]] == [o.full_name for o in parcel.owners]
    if form == "gcn_2024_qr":
        assert len(parcel.certificate_code or "") == 12
        prefix, digits = parcel.certificate_serial.split(" ")
        assert len(prefix) == 2 and len(digits) == 8
        assert p1["fields"]["area_m2"] == parcel.area_m2
    else:
        p2 = render_gcn_page(parcel, None, 2, random.Random(1), dpi=100)[1]
        assert p2["doc_type"] == "gcn_page2"
        assert p2["fields"]["parcel_number"] == parcel.parcel_number
        assert p2["fields"]["area_in_words"] == area_to_words(parcel.area_m2)
        assert float(parse_number_words(p2["fields"]["area_in_words"])) == pytest.approx(parcel.area_m2)


def test_gcn_2024_qr_decodes() -> None:
    parcel = make_parcel(random.Random(3), "TD0000001", form="gcn_2024_qr")
    img, t = render_gcn_page(parcel, None, 1, random.Random(1))
    assert _decode(img) == [t["barcodes"][0]["text"]]


def test_owners_are_adults_with_an_id_on_the_certificate() -> None:
    rng = random.Random(12)
    for _ in range(100):
        parcel = make_parcel(rng, "TD0000001")
        t = render_gcn_page(parcel, None, 1, rng, dpi=50)[1]
        for o, person in zip(t["owners"], parcel.owners, strict=True):
            assert parcel.issue_date.year - person.birth_year >= 18
            assert o["id_number"] and o["id_number"].isdigit() and len(o["id_number"]) in (9, 12)


# --- legacy encodings and registry dirt -----------------------------------------------------------------------


def test_legacy_encodings() -> None:
    assert encode_tcvn3("à") == "µ" and encode_tcvn3("đ") == "®"
    assert encode_vni("chào") == "chaøo"
    assert encode_tcvn3("Nguyễn Văn An") == "NguyÔn V¨n An"
    assert encode_tcvn3("Việt Nam") == "ViÖt Nam"
    for s in ("Nguyễn Thị Hồng Nhung", "Trần Đình Quang", "Lữ Thị Ỷ", "Phạm Hữu Thuận", "chào Đà Nẵng"):
        assert decode_vni(encode_vni(s)) == s
        if not any(ch.isupper() and ch in "ỶỄỒẬỮỚỢÀÁẢÃẠ" for ch in s):
            assert decode_tcvn3(encode_tcvn3(s)) == s  # a toned capital comes back lower-case, by design
        assert decode_tcvn3(encode_tcvn3(s.upper())).upper() == s.upper()


def test_tone_placement_variants() -> None:
    from fixtures.people import new_tone_style, old_tone_style

    assert old_tone_style("Nguyễn Thị Thủy") == "Nguyễn Thị Thuỷ"
    assert old_tone_style("TRẦN VĂN HÒA") == "TRẦN VĂN HOÀ"
    assert old_tone_style("Lê Quý") == "Lê Quý"  # qu + y keeps its mark
    assert new_tone_style("Hoà Thuỷ") == "Hòa Thủy"


def test_abbreviations_and_typos() -> None:
    assert (
        abbreviate_address("15 Lê Lợi, Phường Vĩnh Ninh, Thành phố Huế, Tỉnh Thừa Thiên Huế")
        == "15 Đ. Lê Lợi, P. Vĩnh Ninh, TP. Huế, T. Thừa Thiên Huế"
    )
    assert (
        abbreviate_address("Thôn Lại Thế, Thị trấn Thuận An, Huyện Phú Vang")
        == "Thôn Lại Thế, TT. Thuận An, H. Phú Vang"
    )
    rng = random.Random(1)
    for name in ("Nguyễn Văn An", "Trần Thị Hương", "Lê Ý"):
        assert make_typo(name, rng) != name


def test_registry_header_dirt_and_keys(tmp_path: Path) -> None:
    rng = random.Random(5)
    ids = allocate_parcel_ids(rng, 3000, 6)
    parcels = [make_parcel(rng, pid, form="gcn_2009") for pid in ids]
    force = {
        ids[0]: ["tcvn3", "old_cmnd"],
        ids[1]: ["vni", "missing_id"],
        ids[2]: ["no_diacritics"],
        ids[3]: ["typo", "birth_year_off"],
        ids[4]: ["missing_serial", "new_commune_code", "abbrev_address"],
    }
    # make sure the old_cmnd owner has an old number
    path, side = tmp_path / "parcels.csv", tmp_path / "dirt.csv"
    info = write_registry(path, 3000, 9, parcels=parcels, force_dirt=force, dirt_path=side)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    assert tuple(header) == REGISTRY_CSV_COLUMNS
    assert len(rows) == info["rows"]
    pids = [r[0] for r in rows]
    assert pids == sorted(pids), "rows come out in parcel_id order"
    assert len(set(pids)) == 3000
    by_pid = {}
    for r in rows:
        by_pid.setdefault(r[0], []).append(dict(zip(header, r, strict=True)))
    ex = info["explicit"]
    p0 = parcels[0]
    first_row = next(t for t in ex[ids[0]] if t["person_index"] == 0)
    name0 = first_row["values"]["owner_name"]
    assert "tcvn3" in first_row["dirt"]
    assert name0 in (encode_tcvn3(p0.owners[0].name_title), encode_tcvn3(p0.owners[0].full_name))
    if p0.owners[0].old_id_number:
        assert first_row["values"]["owner_id_number"] == p0.owners[0].old_id_number
    r1 = next(t for t in ex[ids[1]] if t["person_index"] == 0)
    assert r1["values"]["owner_id_number"] is None and "vni" in r1["dirt"]
    r2 = next(t for t in ex[ids[2]] if t["person_index"] == 0)
    assert r2["values"]["owner_name"].isascii()
    r3 = next(t for t in ex[ids[3]] if t["person_index"] == 0)
    assert abs(r3["values"]["owner_birth_year"] - parcels[3].owners[0].birth_year) == 1
    r4 = ex[ids[4]][0]
    assert r4["values"]["certificate_serial"] is None
    assert r4["values"]["commune_code"] == parcels[4].commune.new_code
    # co-owners share the parcel id; written rows match the recorded values
    for pid, truths in ex.items():
        assert len(by_pid[pid]) == len(truths)
        for t, row in zip(truths, by_pid[pid], strict=True):
            assert row["owner_name"] == t["values"]["owner_name"]
            assert t["owner_index"] == by_pid[pid].index(row) + 1
    # background dirt is recorded in the side file and is really there
    with open(side, newline="", encoding="utf-8") as f:
        side_rows = list(csv.DictReader(f))
    kinds = {k for r in side_rows for k in r["dirt"].split("+")}
    assert {"old_cmnd", "missing_id", "no_diacritics", "tcvn3", "vni", "birth_year_off"} <= kinds
    for r in side_rows[:200]:
        row = rows[int(r["row"]) - 1]
        assert row[0] == r["parcel_id"]
        if "missing_id" in r["dirt"]:
            assert row[11] == ""
        if "old_cmnd" in r["dirt"]:
            assert len(row[11]) == 9
    # with legacy codes only, (commune, sheet, parcel number) identifies a parcel, explicit ones included
    path2 = tmp_path / "legacy.csv"
    write_registry(path2, 3000, 9, parcels=parcels, dirt={"new_commune_code": 0.0})
    with open(path2, newline="", encoding="utf-8") as f:
        rows2 = list(csv.DictReader(f))
    keys: dict[tuple[str, str, str], set[str]] = {}
    for r in rows2:
        keys.setdefault((r["commune_code"], r["map_sheet_number"], r["parcel_number"]), set()).add(r["parcel_id"])
    assert len(keys) == 3000 and all(len(v) == 1 for v in keys.values())


# --- degradations --------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["clean", "scan", "skewed", "rotated", "lowres", "faint", "jpeg", "photocopy"])
def test_degrade_records_corners(profile: str) -> None:
    p = make_person(random.Random(1), generation="cccd_chip_2021")
    img, _ = render_card(p, None, "front", random.Random(1))
    out, params = degrade(img, random.Random(6), profile)
    assert params["profile"] == profile
    c = np.array(params["corners"])
    assert c.shape == (4, 2)
    w, h = out.size
    assert (c[:, 0] >= -1).all() and (c[:, 0] <= w + 1).all() and (c[:, 1] >= -1).all() and (c[:, 1] <= h + 1).all()
    scale = params.get("scale", 1.0)
    top = np.linalg.norm(c[1] - c[0])
    left = np.linalg.norm(c[3] - c[0])
    assert top == pytest.approx(img.width * scale, rel=0.02)
    assert left == pytest.approx(img.height * scale, rel=0.02)
    # the recorded skew is the angle of the card's top edge (positive = counter-clockwise)
    angle = np.degrees(np.arctan2(-(c[1][1] - c[0][1]), c[1][0] - c[0][0]))
    total = params["orientation_deg"] + params["skew_deg"]
    assert ((angle - total + 180) % 360) - 180 == pytest.approx(0, abs=0.2)


def test_photo_and_photocopy_sheet() -> None:
    p = make_person(random.Random(1), generation="cccd_chip_2021")
    front, _ = render_card(p, None, "front", random.Random(1))
    back, _ = render_card(p, None, "back", random.Random(1))
    _out, params = degrade(front, random.Random(2), "photo")
    c = np.array(params["corners"])
    assert c.shape == (4, 2) and params["jpeg_quality"] > 0
    _sheet, sp = photocopy_sheet(front, back, random.Random(3))
    assert [x["part"] for x in sp["parts"]] == [1, 2]
    assert {x["side"] for x in sp["parts"]} == {"front", "back"}
    ys = [min(pt[1] for pt in x["corners"]) for x in sp["parts"]]
    assert ys[0] < ys[1], "parts are numbered top to bottom"


# --- whole sample sets -------------------------------------------------------------------------------------


def _check_sample_set(root: Path) -> list[dict]:
    truth = load_truth(root / "truth.jsonl")
    with open(root / "parcels.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == REGISTRY_CSV_COLUMNS
        rows = list(reader)
    by_pid: dict[str, list[dict]] = {}
    for r in rows:
        by_pid.setdefault(r["parcel_id"], []).append(r)
    for t in truth:
        assert t["submission_id"].startswith("S")
        assert t["documents"]
        for d in t["documents"]:
            assert (root / d["file"]).is_file(), d["file"]
            assert d["doc_type"] in set(DOC_TYPES) - {"unknown"}
            assert d["orientation_deg"] in (0, 90, 180, 270)
            assert isinstance(d["skew_deg"], float | int)
            assert d["degradation"]["profile"]
        if t["in_registry"]:
            rows_p = by_pid[t["parcel_id"]]
            assert 1 <= t["owner_index"] <= len(rows_p)
            for u in t["expected_updates"]:
                if u["owner_index"] is not None:
                    rec = rows_p[u["owner_index"] - 1][u["field"]]
                    assert rec == ("" if u["record_value"] is None else str(u["record_value"]))
        else:
            assert t["parcel_id"] is None and t["owner_index"] is None
    return truth


def test_generate_is_deterministic_and_consistent(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    calls: list[tuple[int, int]] = []
    generate(a, 3, 1234, decoy_parcels=100, progress=lambda d, n: calls.append((d, n)))
    generate(b, 3, 1234, decoy_parcels=100)
    assert calls[-1] == (3, 3)
    assert (a / "truth.jsonl").read_bytes() == (b / "truth.jsonl").read_bytes()
    assert (a / "parcels.csv").read_bytes() == (b / "parcels.csv").read_bytes()
    truth = _check_sample_set(a)
    assert len(truth) == 3
    files_a = sorted(p.relative_to(a).as_posix() for p in (a / "submissions").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in (b / "submissions").rglob("*") if p.is_file())
    assert files_a == files_b


def test_generate_clean_truth_matches_rendered_people(tmp_path: Path) -> None:
    generate(tmp_path, 4, 99, decoy_parcels=50, degrade=False, absent_fraction=0.5)
    truth = _check_sample_set(tmp_path)
    for t in truth:
        for d in t["documents"]:
            assert d["degradation"]["profile"] == "clean"
            chip_front = d["doc_type"] == "cccd_front" and d["card_generation"] == "cccd_chip_2021"
            if chip_front and d["file"].endswith(".jpg"):
                from PIL import Image

                assert _decode(Image.open(tmp_path / d["file"])) == [d["barcodes"][0]["text"]]


def test_committed_sample_set_is_valid() -> None:
    if not (SAMPLE_SET / "truth.jsonl").exists():
        pytest.skip("no committed sample set")
    truth = _check_sample_set(SAMPLE_SET)
    assert len(truth) >= 10
    manifest = json.loads((SAMPLE_SET / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["submissions"] == len(truth)


@pytest.mark.slow
def test_committed_sample_set_matches_regeneration(tmp_path: Path) -> None:
    manifest = json.loads((SAMPLE_SET / "manifest.json").read_text(encoding="utf-8"))
    generate(
        tmp_path,
        manifest["submissions"],
        manifest["seed"],
        decoy_parcels=manifest["decoy_parcels"],
        absent_fraction=manifest["absent_fraction"],
        degrade=manifest["degrade"],
        jpeg_quality=manifest["jpeg_quality"],
        card_dpi=manifest["card_dpi"],
        page_dpi=manifest["page_dpi"],
    )
    assert (tmp_path / "truth.jsonl").read_bytes() == (SAMPLE_SET / "truth.jsonl").read_bytes()
    assert (tmp_path / "parcels.csv").read_bytes() == (SAMPLE_SET / "parcels.csv").read_bytes()
