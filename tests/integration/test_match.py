"""Matching: Vietnamese-aware comparators, blocking recall on generated submissions, the Fellegi-Sunter
model (EM, calibration), proposals on SQLite and PostgreSQL, superseded parcels and owners of several
parcels, and one submission read end to end by the real pipeline."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.match_samples import make_samples
from models.document import Document, FieldValue
from models.registry import REGISTRY_CSV_COLUMNS
from models.settings import Settings, get_settings
from worker.match import Matcher, Model
from worker.match.comparators import (
    compare_area,
    compare_birth_year,
    compare_code,
    compare_commune,
    compare_id,
    compare_name,
    compare_parcel_ref,
    compare_residence,
    compare_street,
)
from worker.match.features import scan_submission
from worker.match.model import Calibration, expected_calibration_error, fit_isotonic, fit_platt
from worker.match.simulate import Simulator
from worker.match.train import load_truth, train
from worker.store.migrate import open_database
from worker.store.registry import import_csv
from worker.vntext import street_part

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "sample_set"
SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


# --- comparators ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scanned, record, level",
    [
        ("NGUYỄN VĂN HÒA", "Nguyễn Văn Hoà", "exact"),  # case and tone placement are spelling, not difference
        ("NGUYÊN VĂN HÒA", "NGUYỄN VĂN HÒA", "tones_differ"),  # OCR lost a tone on a circumflex capital
        ("HỎNG THỊ LAN", "HỒNG THỊ LAN", "no_diacritics"),  # tone and vowel shape confused
        ("NGUYỄN VĂN HÒA", "Nguyen Van Hoa", "no_diacritics"),  # registry typed without diacritics
        ("ĐẶNG THỊ HƯƠNG", "DANG THI HUONG", "no_diacritics"),  # đ/d, ư/u, ơ/o
        ("TRẦN THANH PHONG", "TRẦN THANH PHOG", "ocr_close"),  # a typo in the registry
        ("LÊ VĂN TÙNG", "LÊ ĐỨC TÙNG", "middle_differs"),
        ("LÊ VĂN TÙNG", "PHẠM VĂN TÙNG", "given_only"),
        ("LÊ VĂN TÙNG", "PHẠM THỊ LAN", "differs"),
        ("LÊ VĂN TÙNG", None, None),
    ],
)
def test_name_levels(scanned: str, record: str | None, level: str | None) -> None:
    assert compare_name(scanned, record) == level


def test_identity_number_levels() -> None:
    assert compare_id(("046090012345",), "046090012345") == "exact"
    # the old CMND from the card's QR against an old registry number
    assert compare_id(("046090012345", "191234567"), "191234567") == "exact"
    assert compare_id(("046090012345",), "191234567") == "not_comparable"
    assert compare_id(("046090012845",), "046090012345") == "ocr_close"
    assert compare_id(("046090054321",), "046090012345") == "differs"
    assert compare_id((), "046090012345") is None


def test_code_and_number_levels() -> None:
    assert compare_code("CS123456", "CS123456") == "exact"
    assert compare_code("C5123456", "CS123456") == "ocr_close"  # S read as 5
    assert compare_code("CS128456", "CS123456") == "ocr_close"
    assert compare_code("CH654321", "CS123456") == "differs"
    assert compare_parcel_ref(12, 345, 12, 345) == "exact"
    assert compare_parcel_ref(12, 346, 12, 345) == "one_differs"
    assert compare_parcel_ref(13, 346, 12, 345) == "differs"
    assert compare_birth_year(1965, 1966) == "off_by_one"
    assert compare_area(125.4, 125.4) == "exact"
    assert compare_area(125.0, 125.4) == "close"
    assert compare_area(1254.0, 125.4) == "differs"


def test_addresses_compare_through_abbreviations_and_the_2025_mergers() -> None:
    scanned = street_part("15 Lê Lợi, phường Vĩnh Ninh, thành phố Huế, tỉnh Thừa Thiên Huế")
    record = street_part("15 Đ. Lê Lợi, P. Vĩnh Ninh, TP. Huế")
    assert compare_street(scanned, record) == "exact"
    assert compare_street("15/3 le loi", "15 le loi") == "similar"
    # the ward printed on the scan against the registry's legacy commune code
    assert compare_commune("VINH NINH", "19789", "VINH NINH") == "exact"
    assert compare_commune("PHU HOI", "19792", None, exact_codes=frozenset({"19792"})) == "exact"
    # a post-2025 unit name covers each ward merged into it, more weakly
    merged = frozenset({"19789", "19792", "19795"})
    assert compare_commune("THUAN HOA", "19795", "PHU NHUAN", merged_codes=merged) == "merged_unit"
    assert compare_commune("KIM LONG", "19795", "PHU NHUAN", merged_codes=frozenset({"19774", "19819"})) == "differs"
    assert compare_residence("15 le loi", "VINH NINH", "15 le loi", "VINH NINH") == "same_place"
    assert compare_residence("20 le loi", "VINH NINH", "15 le loi", "VINH NINH") == "same_ward"


# --- calibration --------------------------------------------------------------------------------------------


def test_isotonic_and_platt_calibrate_a_miscalibrated_score() -> None:
    rng = np.random.default_rng(3)
    true_p = rng.uniform(0.01, 0.99, 20000)
    outcome = rng.random(20000) < true_p
    # an overconfident score: pushes every probability towards 0 or 1
    raw = 1 / (1 + np.exp(-3 * np.log(true_p / (1 - true_p))))
    assert expected_calibration_error(raw, outcome) > 0.08
    iso = fit_isotonic(raw[:10000], outcome[:10000])
    platt = fit_platt(raw[:10000], outcome[:10000])
    held_raw, held_outcome = raw[10000:], outcome[10000:]
    assert expected_calibration_error([iso(r) for r in held_raw], held_outcome) < 0.02
    assert expected_calibration_error([platt(r) for r in held_raw], held_outcome) < 0.02
    # monotone, never exactly 0 or 1 from finite evidence, and serialisable
    xs = np.linspace(0.001, 0.999, 50)
    ys = [iso(x) for x in xs]
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(ys))
    assert min(ys) > 0 and max(ys) < 1
    assert Calibration.from_dict(json.loads(json.dumps(iso.to_dict())))(0.7) == pytest.approx(iso(0.7))


# --- matching -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry of 4000 parcels and 300 submissions (about 10% with their parcel left out)."""
    out = tmp_path_factory.mktemp("match") / "set"
    make_samples(out, 300, 77, parcels=4000, superseded=0.05)
    return out


@pytest.fixture(scope="module")
def generated_engine(generated: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    engine = open_database(f"sqlite:///{tmp_path_factory.mktemp('db') / 'registry.db'}")
    import_csv(generated / "parcels.csv", engine)
    return engine


def test_blocking_recall_on_generated_submissions(generated: Path, generated_engine) -> None:  # type: ignore[no-untyped-def]
    matcher = Matcher(generated_engine, SETTINGS)
    truth = [t for t in load_truth(generated / "truth.jsonl") if t["parcel_id"]]
    for noise, floor in ((0.0, 1.0), (1.0, 0.99)):
        sim = Simulator(5, noise)
        found = 0
        with generated_engine.connect() as conn:
            for t in truth:
                candidates, rules = matcher.candidates(scan_submission(sim.documents(t)), conn)
                found += t["parcel_id"] in candidates
                assert all(rules[pid] for pid in candidates)
        assert found / len(truth) >= floor, (noise, found, len(truth))


def test_proposals_on_generated_submissions(generated: Path, generated_engine) -> None:  # type: ignore[no-untyped-def]
    matcher = Matcher(generated_engine, SETTINGS)
    sim = Simulator(9, 1.0)
    truth = load_truth(generated / "truth.jsonl")
    right = present = absent_low = absent = auto = auto_right = 0
    for t in truth:
        proposals = matcher.propose(sim.documents(t))
        assert len(proposals) <= SETTINGS.max_proposals
        assert [p.confidence for p in proposals] == sorted((p.confidence for p in proposals), reverse=True)
        best = proposals[0] if proposals else None
        if best is not None:
            assert best.model_version == matcher.model_version
            expected_band = (
                "auto_accept" if best.confidence >= 0.95 else "review" if best.confidence >= 0.5 else "unlikely"
            )
            if t.get("superseded") and best.parcel_id == t["parcel_id"] and expected_band == "auto_accept":
                expected_band = "review"  # a split parcel always goes to a person
            assert best.band == expected_band
            assert best.evidence and all(e.agreement for e in best.evidence)
        if t["parcel_id"]:
            present += 1
            right += best is not None and best.parcel_id == t["parcel_id"]
        else:
            absent += 1
            absent_low += best is None or best.confidence < 0.5
        if best is not None and best.band == "auto_accept":
            auto += 1
            auto_right += best.parcel_id == t["parcel_id"]
    assert right / present >= 0.97
    assert absent_low / absent >= 0.9
    assert auto_right == auto
    assert auto / len(truth) >= 0.6


def test_superseded_parcels_go_to_review_with_their_successors_named(generated: Path, generated_engine) -> None:  # type: ignore[no-untyped-def]
    matcher = Matcher(generated_engine, SETTINGS)
    split = [t for t in load_truth(generated / "truth.jsonl") if t.get("superseded")]
    assert split
    sim = Simulator(1, 0.0)
    for t in split:
        best = matcher.propose(sim.documents(t))[0]
        assert best.parcel_id == t["parcel_id"]
        assert best.band == "review"
        assert any("split" in note and "TD" in note for note in best.notes)


def _card(id_number: str, name: str, dob: str, residence: str | None = None) -> Document:
    fields = {
        "id_number": FieldValue(value=id_number, confidence=0.99),
        "full_name": FieldValue(value=name, confidence=0.99),
        "date_of_birth": FieldValue(value=dob, confidence=0.99),
    }
    if residence:
        fields["place_of_residence"] = FieldValue(value=residence, confidence=0.9)
    return Document(source="card.jpg", sha256="0" * 64, doc_type="cccd_front", fields=fields)


def _registry(sqlite_url: str, path: Path, rows: list[str]) -> Any:
    """A registry of the given export rows (the CSV contract), imported into a fresh database."""
    path.write_text(",".join(REGISTRY_CSV_COLUMNS) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    engine = open_database(sqlite_url)
    import_csv(path, engine)
    return engine


def test_an_id_card_alone_cannot_pick_between_two_parcels_of_its_owner(sqlite_url: str, tmp_path: Path) -> None:
    engine = _registry(
        sqlite_url,
        tmp_path / "two.csv",
        [
            'P1,19789,10,101,"5 Lê Lợi, Phường Vĩnh Ninh, TP. Huế",100,ODT,CS 100001,CS00001,Hoàng Văn Ước,1970,046070123456,',
            'P2,19792,22,202,"9 Bà Triệu, Phường Phú Hội, TP. Huế",200,ODT,CS 100002,CS00002,HOÀNG VĂN ƯỚC,1970,046070123456,',
            'P3,19792,22,203,"11 Bà Triệu, Phường Phú Hội, TP. Huế",200,ODT,CS 100003,CS00003,Trần Thị Lan,1975,046175000001,',
        ],
    )
    matcher = Matcher(engine, SETTINGS)
    proposals = matcher.propose([_card("046070123456", "HOÀNG VĂN ƯỚC", "1970-03-02")])
    assert {p.parcel_id for p in proposals[:2]} == {"P1", "P2"}
    assert all(p.band != "auto_accept" for p in proposals)
    assert abs(proposals[0].confidence - proposals[1].confidence) < 0.2
    assert any("other candidate parcel" in note for note in proposals[0].notes)
    # the card's residence is the parcel the owner lives on: that tips it
    lives = matcher.propose(
        [_card("046070123456", "HOÀNG VĂN ƯỚC", "1970-03-02", "9 Bà Triệu, Phường Phú Hội, TP. Huế")]
    )
    assert lives[0].parcel_id == "P2"
    assert lives[0].confidence > lives[1].confidence


def test_proposed_updates_and_evidence_contract(sqlite_url: str, tmp_path: Path) -> None:
    engine = _registry(
        sqlite_url,
        tmp_path / "one.csv",
        ['P9,19789,10,101,"5 Lê Lợi, Phường Vĩnh Ninh, TP. Huế",100,ODT,,CS00009,Nguyen Thi Hong,1969,191234567,'],
    )
    card = _card("046170123456", "NGUYỄN THỊ HỒNG", "1970-01-05")
    card.fields["old_id_number"] = FieldValue(value="191234567", confidence=0.99)
    page1 = Document(
        source="gcn.jpg",
        sha256="1" * 64,
        doc_type="gcn_page1",
        fields={"certificate_serial": FieldValue(value="CS 555111", confidence=0.97)},
    )
    best = Matcher(engine, SETTINGS).propose([card, page1])[0]
    assert best.parcel_id == "P9" and best.owner_id == "P9:1"
    updates = {u.field: (u.record_value, u.scanned_value) for u in best.proposed_updates}
    assert updates["owner_id_number"] == ("191234567", "046170123456")
    assert updates["owner_name"] == ("Nguyen Thi Hong", "NGUYỄN THỊ HỒNG")
    assert updates["owner_birth_year"] == (1969, 1970)
    assert updates["certificate_serial"] == (None, "CS 555111")
    evidence = {e.field: e for e in best.evidence}
    assert evidence["owner_id_number"].agreement == "exact" and evidence["owner_id_number"].weight > 5
    assert evidence["owner_name"].agreement == "no_diacritics"
    assert evidence["certificate_serial"].agreement == "missing" and evidence["certificate_serial"].weight == 0


@pytest.mark.postgres
def test_postgresql_and_sqlite_propose_the_same(generated: Path, generated_engine, postgres_url: str) -> None:  # type: ignore[no-untyped-def]
    pg = open_database(postgres_url)
    import_csv(generated / "parcels.csv", pg)
    sim = Simulator(4, 1.0)
    a, b = Matcher(generated_engine, SETTINGS), Matcher(pg, SETTINGS)
    for t in load_truth(generated / "truth.jsonl")[:40]:
        docs = sim.documents(t)
        left, right = a.propose(docs), b.propose(docs)
        assert [(p.parcel_id, p.owner_id, p.band) for p in left] == [(p.parcel_id, p.owner_id, p.band) for p in right]
        assert [p.confidence for p in left] == pytest.approx([p.confidence for p in right])


def test_training_writes_a_loadable_model_with_held_out_calibration(generated: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.json"
    stats = train(generated, out, seed=3)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["version"] == stats["version"] and data["version"].startswith("fs-")
    assert stats["em_submissions"] + stats["calibration_submissions"] == stats["submissions"]
    assert data["calibration"]["method"] == stats["calibration"]["method"] in ("isotonic", "platt")
    model = Model.load(out)
    # agreement on a certificate serial is strong evidence, disagreement evidence against
    assert model.weight("certificate_serial", "exact") > 10 > 0 > model.weight("certificate_serial", "differs")
    assert model.weight("name", "exact", tf=1e-5) > model.weight("name", "exact", tf=1e-2)
    # 150 held-out submissions only: coarse, but the chosen map is judged on submissions it was not fitted on
    assert set(stats["calibration"]["held_out_ece_top1"]) == {"isotonic", "platt"}
    assert stats["calibration"]["ece_fitted_top1"] < 0.1
    assert data["calibration"]["y"] == sorted(data["calibration"]["y"])


def test_sample_set_read_by_the_real_pipeline(sqlite_url: str) -> None:
    """One committed sample submission through load → OCR → extract → match, with real Tesseract."""
    from worker.pipeline import collect_submissions, process_submission, read_inputs

    engine = open_database(sqlite_url)
    import_csv(SAMPLE / "parcels.csv", engine)
    truth = {t["submission_id"]: t for t in load_truth(SAMPLE / "truth.jsonl")}
    submission = collect_submissions([SAMPLE / "submissions" / "S0008"])[0]
    matcher = Matcher(engine, SETTINGS)
    result = process_submission(
        submission.submission_id, read_inputs(submission), settings=SETTINGS, propose=matcher.propose
    )
    assert result.proposals, [d.fields for d in result.documents]
    assert result.proposals[0].parcel_id == truth["S0008"]["parcel_id"]
    assert result.proposals[0].owner_id == f"{truth['S0008']['parcel_id']}:{truth['S0008']['owner_index']}"


def test_committed_model_is_the_one_matching_uses() -> None:
    model = Model.load()
    assert model.version.startswith("fs-")
    assert model.calibration.method in ("isotonic", "platt")
    assert model.training.get("submissions", 0) >= 1000


def _decide_sample_submissions(engine: Any) -> int:
    """Store the sample set's submissions with a review decision each, as review staff would have left them."""
    from worker.store.db import session_scope
    from worker.store.results import SubmissionRow
    from worker.store.review import DecisionRow, UserRow
    from worker.store.submissions import save_documents

    matcher = Matcher(engine, SETTINGS)
    sim = Simulator(2, 0.0)
    decided = 0
    with session_scope(engine) as session:
        user = UserRow(name="reviewer", role="reviewer", password_hash="x")
        session.add(user)
        session.flush()
        for t in load_truth(SAMPLE / "truth.jsonl"):
            docs = sim.documents(t)
            proposals = matcher.propose(docs)
            if not proposals or not t["parcel_id"]:
                continue
            session.add(SubmissionRow(id=t["submission_id"]))
            session.flush()
            save_documents(session, t["submission_id"], docs)
            right = next((i for i, p in enumerate(proposals, start=1) if p.parcel_id == t["parcel_id"]), None)
            snapshot = {
                "candidates": [
                    {"rank": i, "parcel_id": p.parcel_id, "owner_id": p.owner_id, "confidence": p.confidence}
                    for i, p in enumerate(proposals, start=1)
                ]
            }
            session.add(
                DecisionRow(
                    submission_id=t["submission_id"],
                    action="accept" if right else "none",
                    rank=right,
                    parcel_id=t["parcel_id"],
                    snapshot=snapshot,
                    user_id=user.id,
                )
            )
            decided += 1
    return decided


def test_review_decisions_refine_the_model(sqlite_url: str, tmp_path: Path) -> None:
    """Accepted and rejected candidates from the review app flow back into m and u."""
    import shutil

    from worker.match.commands import reviewed_submissions
    from worker.match.model import MODEL_PATH
    from worker.match.train import refine_from_reviews

    engine = open_database(sqlite_url)
    import_csv(SAMPLE / "parcels.csv", engine)
    decided = _decide_sample_submissions(engine)
    assert decided >= 8
    model_path = tmp_path / "model.json"
    shutil.copy(MODEL_PATH, model_path)
    before = Model.load(model_path)
    result = refine_from_reviews(engine, reviewed_submissions(engine), model_path, settings=SETTINGS)
    after = Model.load(model_path)
    assert result["matches"] == decided
    assert result["non_matches"] >= 1
    assert after.version == result["version"] != before.version
    assert after.training["refined_with_reviews"]["matches"] == decided


def test_model_refine_command_writes_the_model_the_matcher_then_loads(sqlite_url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from worker.cli import cli

    engine = open_database(sqlite_url)
    import_csv(SAMPLE / "parcels.csv", engine)
    decided = _decide_sample_submissions(engine)
    env = {"INTAKE_DATABASE_URL": sqlite_url, "INTAKE_DATA_DIR": str(tmp_path / "data")}
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["model", "refine"], env=env)
        assert result.exit_code == 0, result.output
        refined = tmp_path / "data" / "match_model.json"
        assert f"{decided} accepted" in result.output and str(refined) in result.output
        version = Model.load(refined).version
        assert Matcher(engine, Settings(data_dir=tmp_path / "data")).model_version == version
        assert Matcher(engine, Settings(data_dir=tmp_path / "elsewhere")).model_version != version  # shipped model
        shown = CliRunner().invoke(cli, ["model", "show"], env=env)
        assert version in shown.output and "refined_with_reviews" in shown.output
    finally:
        get_settings.cache_clear()


def test_an_id_card_alone_finds_the_parcel_its_holder_lives_on(sqlite_url: str, tmp_path: Path) -> None:
    """The registry row has the old CMND and a typo in the name; the card (12-digit number, birth year off by
    one in the registry) would find nothing by number or name: its residence does."""
    from worker.keys import address_key

    assert address_key("28 Kiệt 309 Võ Thị Sáu, Phường Vỹ Dạ, TP. Huế") == "28 kiet 309 vo thi sau"
    assert address_key("28 K. 309 Võ Thị Sáu, P. Vỹ Dạ") == "28 kiet 309 vo thi sau"
    assert address_key("Số 12 Đường Lê Lợi, Vĩnh Ninh") == address_key("12 Lê Lợi, Phường Vĩnh Ninh")
    assert address_key("Thôn Hạ Lang, Xã Phú Dương") is None  # a village names many households
    engine = _registry(
        sqlite_url,
        tmp_path / "home.csv",
        [
            'P1,19777,3,45,"76/20 Lê Quý Đôn, Phường Phú Nhuận, TP. Huế",120,ODT,CS 200001,,NGUYỄN TÔN NỮ THỊ ÁN,1989,191667714,"76/20 Lê Quý Đôn, Phường Phú Nhuận, TP. Huế"',
            'P2,19777,3,46,"78 Lê Quý Đôn, Phường Phú Nhuận, TP. Huế",120,ODT,CS 200002,,Trần Văn Bình,1960,191000001,',
        ],
    )
    card = _card(
        "046188235901",
        "NGUYỄN TÔN NỮ THỊ ÁNH",
        "1988-08-14",
        "76/20 Lê Quý Đôn, Phường Phú Nhuận, TP. Huế, Thừa Thiên Huế",
    )
    matcher = Matcher(engine, SETTINGS)
    with engine.connect() as conn:
        found, rules = matcher.candidates(scan_submission([card]), conn)
    assert "P1" in found and "residence" in rules["P1"]
    best = matcher.propose([card])[0]
    assert best.parcel_id == "P1"
    assert {e.field: e.agreement for e in best.evidence}["owner_residence"] == "same_place"


def _namesakes(sqlite_url: str, tmp_path: Path) -> Matcher:
    engine = _registry(
        sqlite_url,
        tmp_path / "namesakes.csv",
        [
            'P1,19789,10,101,"5 Lê Lợi, Phường Vĩnh Ninh, TP. Huế",100,ODT,CS 300001,,Phạm Thị Ngọc,1977,046177166781,',
            'P2,19792,22,202,"9 Bà Triệu, Phường Phú Hội, TP. Huế",200,ODT,CS 300002,,Phạm Thị Ngọc,1977,046177826081,',
            'P3,19792,22,203,"11 Bà Triệu, Phường Phú Hội, TP. Huế",200,ODT,CS 300003,,Vũ Thị Huyền,1954,,',
        ],
    )
    return Matcher(engine, SETTINGS)


def test_namesakes_the_scans_cannot_tell_apart_share_the_confidence(sqlite_url: str, tmp_path: Path) -> None:
    """An old CMND (9 digits, in neither registry row) with a name and birth year two registry owners share:
    neither parcel may come out as a confident first choice."""
    matcher = _namesakes(sqlite_url, tmp_path)
    proposals = matcher.propose([_card("194235110", "PHẠM THỊ NGỌC", "1977-05-01")])
    assert {p.parcel_id for p in proposals[:2]} == {"P1", "P2"}
    first, second = proposals[:2]
    assert first.confidence == second.confidence <= 0.5
    assert first.band != "auto_accept"
    assert any("cannot tell them apart" in note and second.parcel_id in note for note in first.notes)
    # one of them confirmed by the 12-digit number: no tie any more
    clear = matcher.propose([_card("046177826081", "PHẠM THỊ NGỌC", "1977-05-01")])
    assert clear[0].parcel_id == "P2"
    assert not any("cannot tell them apart" in note for note in clear[0].notes)


def test_a_card_back_alone_names_its_holder_through_the_mrz(sqlite_url: str, tmp_path: Path) -> None:
    """The front page lost: the back's number is not in the registry (the row has none), but the zone's third
    line names the holder, which with the birth date finds the parcel."""
    from worker.match.features import mrz_holder_name

    assert mrz_holder_name(["IDVNM...", "540718...", "VU<<THI<HUYEN<<<<<<<<<<<<<<<<<"]) == "VU THI HUYEN"
    assert mrz_holder_name("l1\nl2\nNGUY3N<<VAN<AN<<<<") is None  # a digit no letter is read as: not a name
    assert mrz_holder_name("l1\nl2\nNGUYEN<<VAN<5ANG<<<") == "NGUYEN VAN SANG"
    matcher = _namesakes(sqlite_url, tmp_path)
    lines = ["IDVNM1540251196046154025119<<8", "5407184F<<<<<<<VNM<<<<<<<<<<<2", "VU<<THI<HUYEN<<<<<<<<<<<<<<<<<"]
    back = Document(
        source="card_back.jpg",
        sha256="1" * 64,
        doc_type="cccd_back",
        fields={
            "id_number": FieldValue(value="046154025119", confidence=0.99),
            "date_of_birth": FieldValue(value="1954-07-18", confidence=0.99),
            "mrz": FieldValue(value=lines, confidence=0.97),
        },
    )
    sub = scan_submission([back])
    assert sub.primary is not None and sub.primary.name_key == "VU THI HUYEN"
    best = matcher.propose([back])[0]
    assert best.parcel_id == "P3"
    # the zone's name has no diacritics: it must not be offered as a correction of the registry's name
    assert not [u for u in best.proposed_updates if u.field == "owner_name"]


def test_model_refine_without_decisions_writes_nothing(sqlite_url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from worker.cli import cli

    open_database(sqlite_url)
    env = {"INTAKE_DATABASE_URL": sqlite_url, "INTAKE_DATA_DIR": str(tmp_path / "data")}
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["model", "refine"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "no review decisions yet" in result.output
    assert not (tmp_path / "data" / "match_model.json").exists()
