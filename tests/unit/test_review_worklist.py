"""The exceptions worklist and search: submissions that no queue held (no match, only unlikely candidates, an
unknown page, a failed file, documents that disagree, every candidate rejected) reach a list; a reviewer
searches the registry by number, name with or without diacritics, serial, sheet/parcel and address, attaches
the right parcel, asks for a new record or for new scans; band counts and the backlog show on the queue page
and in /metrics. The registry is the committed synthetic sample set's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from review_env import Env, card, proposal
from sqlalchemy import select

from models.document import Document, ErrorEntry
from worker.review import i18n
from worker.review.search import parse
from worker.review.seed import seed_submission
from worker.store.db import session_scope
from worker.store.registry import import_csv
from worker.store.results import SubmissionRow
from worker.store.review import DecisionRow
from worker.store.submissions import record_object, save_errors

pytestmark = pytest.mark.usefixtures("cheap_argon2")

REGISTRY = Path(__file__).resolve().parents[2] / "fixtures" / "sample_set" / "parcels.csv"


def page_card(name: str, number: str, sha: str, *, warnings: list[str] | None = None) -> Document:
    doc = card(f"{sha}/cccd.jpg", name, number, sha=sha)
    return doc.model_copy(update={"warnings": warnings or []})


def unknown_page(sha: str) -> Document:
    return Document(source=f"{sha}/scan.jpg", sha256=(sha * 64)[:64], doc_type="unknown", doc_type_confidence=0.3)


def seed_exceptions(env: Env) -> None:
    """One submission per reason, plus two that need nobody: a review-band item and a clean auto-accept."""
    with session_scope(env.engine) as s:
        # the committed registry's TD0000013: LÊ QUANG THẮNG, 046051213084, sheet 72 parcel 1, DH 462723
        seed_submission(s, "X-NOMATCH", [page_card("LÊ QUANG THẮNG", "046051213084", "1")], [])
        seed_submission(s, "X-UNLIKELY", [page_card("A B", "046000000011", "2")], [proposal("TD0002", 0.2, "unlikely")])
        seed_submission(
            s,
            "X-UNKNOWN",
            [page_card("C D", "046000000012", "3"), unknown_page("4")],
            [proposal("TD0003", 0.99, "auto_accept")],
        )
        seed_submission(
            s,
            "X-CONFLICT",
            [
                page_card(
                    "E F",
                    "046000000013",
                    "5",
                    warnings=["id_number_mismatch_between_cards: ['046000000013', '046000000014']"],
                )
            ],
            [proposal("TD0004", 0.99, "auto_accept")],
        )
        failed = seed_submission(s, "X-FAILED", [], [])
        failed.status = "failed"
        save_errors(s, "X-FAILED", [ErrorEntry(source="X-FAILED/mặt trước.pdf", code="encrypted_pdf", message="x")])


def api_items(c: Any, **params: Any) -> dict[str, list[str]]:
    body = c.get("/api/exceptions", params=params).json()
    return {it["submission_id"]: it["reasons"] for it in body["items"]}


def test_every_kind_of_unmatched_submission_reaches_the_worklist(env: Env) -> None:
    seed_exceptions(env)
    c = env.client("rev")
    items = api_items(c)
    assert items == {
        "X-NOMATCH": ["no_match"],
        "X-UNLIKELY": ["unlikely_only"],
        "X-UNKNOWN": ["unknown_page"],
        "X-CONFLICT": ["conflict"],
        "X-FAILED": ["failed_file"],
    }  # the review-band items are in the review queue, the clean auto-accept needs nobody
    assert set(api_items(c, reason="failed_file")) == {"X-FAILED"}
    counts = c.get("/api/exceptions").json()["counts"]
    assert counts["open"] == 5 and counts["no_match"] == 1 and counts["unknown_page"] == 1
    # the queue page shows the backlog and every band, the count of "no candidate" included
    page = c.get("/queue").text
    assert re.search(r'id="exceptions-chip">[^<]*<b>5</b>', page)
    queue = c.get("/api/queue").json()
    assert queue["bands"] == {"auto_accept": 3, "review": 3, "unlikely": 1, "none": 1}
    assert queue["exceptions"]["open"] == 5
    listing = c.get("/exceptions")
    assert listing.status_code == 200 and "X-NOMATCH" in listing.text
    assert i18n.MESSAGES["vi"]["exc_failed_file"] in listing.text and "failed_file" not in re.sub(
        r"<[^>]+>", "", listing.text
    )
    # and so does /metrics, for the operators' dashboards (counts only: no login needed)
    metrics = env.client().get("/metrics").text
    assert 'intake_review_submissions{band="none"} 1.0' in metrics
    assert "intake_exceptions_open 5.0" in metrics
    assert 'intake_exceptions{reason="conflict"} 1.0' in metrics
    assert 'intake_review_queue_items{state="waiting"} 3.0' in metrics


def test_a_later_file_that_settles_it_takes_it_off_the_list(env: Env) -> None:
    seed_exceptions(env)
    c = env.client("rev")
    assert "X-UNLIKELY" in api_items(c)
    with session_scope(env.engine) as s:  # re-matched after a new page: now a confident match
        from worker.store.submissions import replace_proposals

        replace_proposals(s, "X-UNLIKELY", [proposal("TD0002", 0.99, "auto_accept")])
    assert "X-UNLIKELY" not in api_items(c)


def test_rejecting_every_candidate_sends_the_item_to_the_worklist(env: Env) -> None:
    c = env.client("rev")
    item = c.get("/api/items/S-REV-1").json()
    assert [cand["rank"] for cand in item["candidates"]] == [1, 2]
    r = c.post("/api/items/S-REV-1/decisions", json={"action": "reject", "rank": 1})
    assert r.status_code == 200 and r.json()["action"] == "reject"
    item = c.get("/api/items/S-REV-1").json()
    assert item["review_status"] == "pending" and [x["rejected"] for x in item["candidates"]] == [True, False]
    assert "S-REV-1" not in api_items(c)  # still in the review queue, with its second candidate
    assert c.post("/api/items/S-REV-1/decisions", json={"action": "reject", "rank": 2}).status_code == 200
    assert api_items(c)["S-REV-1"] == ["none_of_candidates"]
    with session_scope(env.engine) as s:
        actions = [d.action for d in s.scalars(select(DecisionRow).where(DecisionRow.submission_id == "S-REV-1"))]
    assert actions == ["reject", "reject", "none"]


@pytest.fixture
def registry(env: Env) -> Env:
    report = import_csv(REGISTRY, env.engine)
    assert report.rows_read > 900 and report.parcels_inserted > 600
    return env


@pytest.mark.parametrize(
    "typed,kind,key",
    [
        ("046051213084", "id", "046051213084"),
        ("190 930 268", "id", "190930268"),
        ("72/1", "ref", "72/1"),
        ("tờ 72 thửa 1", "ref", "72/1"),
        ("DH 462723", "serial", "DH462723"),
        ("dh462723", "serial", "DH462723"),
        ("HS2025-000123", "case", "HS2025-000123"),
        ("149 Đ. An Dương Vương", "address", "149 duong an duong vuong"),
        ("Lê Quang Thắng", "name", "LE QUANG THANG"),
        ("le quang thang", "name", "LE QUANG THANG"),
    ],
)
def test_what_was_typed_says_what_to_search(typed: str, kind: str, key: str) -> None:
    q = parse(typed)
    assert q is not None and (q.kind, q.key) == (kind, key)


@pytest.mark.parametrize(
    "typed",
    [
        "046051213084",
        "Lê Quang Thắng",
        "LE QUANG THANG",
        "le quang",
        "DH 462723",
        "72/1",
        "149 Đ. An Dương Vương",
        "TD0000013",
    ],
)
def test_registry_search_finds_the_parcel_by_every_key(registry: Env, typed: str) -> None:
    c = registry.client("rev")
    kind = "parcel" if typed.startswith("TD") else "auto"
    found = c.get("/api/search", params={"q": typed, "kind": kind}).json()
    assert "TD0000013" in [p["record"]["parcel_id"] for p in found["parcels"]], found["kind"]


def test_registry_search_by_address_without_a_house_number(registry: Env) -> None:
    c = registry.client("rev")
    found = c.get("/api/search", params={"q": "An Dương Vương, P. Phú Bài", "kind": "address"}).json()
    assert "TD0000013" in [p["record"]["parcel_id"] for p in found["parcels"]]


def test_unmatched_submission_attached_to_the_parcel_found_by_search(registry: Env) -> None:
    seed_exceptions(registry)
    c = registry.client("rev")
    lease = c.post("/api/exceptions/next").json()
    assert lease["submission_id"] == "X-NOMATCH"  # the oldest open exception
    found = c.get("/api/search", params={"q": "046051213084"}).json()
    # the document browser finds the submission by the same number
    assert [s["submission_id"] for s in found["submissions"]] == ["X-NOMATCH"]
    assert found["submissions"][0]["documents"][0]["doc_type"] == "cccd_front"
    parcel = found["parcels"][0]["record"]
    assert parcel["parcel_id"] == "TD0000013" and parcel["commune_code"] == "19960"
    r = c.post("/api/items/X-NOMATCH/candidates", json={"parcel_id": "TD0000013", "query": "046051213084"})
    assert r.status_code == 200 and r.json() == {"rank": 1}
    cand = c.get("/api/items/X-NOMATCH").json()["candidates"][0]
    # scored and explained by the matcher like any other candidate
    assert cand["parcel_id"] == "TD0000013" and cand["model_version"] and cand["band"] in ("auto_accept", "review")
    ev = {e["field"]: e for e in cand["evidence"]}
    assert ev["owner_id_number"]["agreement"] == "exact" and ev["owner_id_number"]["weight"] > 0
    assert any("registry search" in n for n in cand["notes"])
    assert c.post("/api/items/X-NOMATCH/decisions", json={"action": "accept", "rank": 1}).status_code == 200
    assert "X-NOMATCH" not in api_items(c)
    rows = registry.client("boss").post("/api/export", params={"format": "json"}).json()
    mine = [x for x in rows if x["submission_id"] == "X-NOMATCH"]
    assert mine and all(x["parcel_id"] == "TD0000013" and x["commune_code"] == "19960" for x in mine)
    with session_scope(registry.engine) as s:
        assert s.get(SubmissionRow, "X-NOMATCH").commune_code == "19960"  # type: ignore[union-attr]


def test_none_of_these_then_attached_from_the_worklist(registry: Env) -> None:
    c = registry.client("rev")
    assert c.post("/api/items/S-REV-2/decisions", json={"action": "none"}).status_code == 200
    assert api_items(c)["S-REV-2"] == ["none_of_candidates"]
    # another reviewer settles it: the parcel is in the registry after all
    other = registry.client("rev2")
    assert other.post("/api/exceptions/next").json()["submission_id"] == "S-REV-2"
    rank = other.post("/api/items/S-REV-2/candidates", json={"parcel_id": "TD0000004"}).json()["rank"]
    assert rank == 2
    assert other.post("/api/items/S-REV-2/decisions", json={"action": "accept", "rank": 2}).status_code == 200
    item = other.get("/api/items/S-REV-2").json()
    assert item["decision"]["action"] == "accept" and item["decision"]["parcel_id"] == "TD0000004"
    assert "S-REV-2" not in api_items(other)
    # undoing the attach brings back the reviewer's "none of these", and the item to the worklist
    assert other.post("/api/undo").status_code == 200
    assert other.get("/api/items/S-REV-2").json()["decision"]["action"] == "none"
    assert "S-REV-2" in api_items(other)


def test_new_record_requested_with_the_fields_to_create(env: Env) -> None:
    seed_exceptions(env)
    c = env.client("rev")
    bad = c.post("/api/items/X-NOMATCH/decisions", json={"action": "new_record", "new_record": {"owner_name": "X"}})
    assert bad.status_code == 422 and bad.json()["error"] == "new_record_incomplete"
    wrong = c.post(
        "/api/items/X-NOMATCH/decisions",
        json={"action": "new_record", "new_record": {"commune_code": "Huế", "owner_name": "X", "parcel_address": "Y"}},
    )
    assert wrong.json() == {"error": "bad_new_record_field", "field": "commune_code"}
    fields = {
        "commune_code": "19960",
        "map_sheet_number": "72",
        "parcel_number": "9",
        "parcel_address": "12 Kiệt 5 Nguyễn Tất Thành, P. Phú Bài",
        "area_m2": "80,5",
        "owner_name": "LÊ QUANG THẮNG",
        "owner_id_number": "046051213084",
    }
    r = c.post("/api/items/X-NOMATCH/decisions", json={"action": "new_record", "new_record": fields})
    assert r.status_code == 200 and r.json()["new_value"]["area_m2"] == 80.5
    assert "X-NOMATCH" not in api_items(c)
    rows = env.client("boss").post("/api/export", params={"format": "json"}).json()
    created = {x["field"]: x for x in rows if x["submission_id"] == "X-NOMATCH"}
    assert {x["change"] for x in created.values()} == {"create"}
    assert created["map_sheet_number"]["new_value"] == 72 and created["owner_name"]["commune_code"] == "19960"
    assert created["owner_name"]["owner_name"] == "Lê Quang Thắng"  # the registry's letter case


def test_new_scans_asked_for_and_the_clerk_sees_why(env: Env, simple_scan: Any) -> None:
    clerk = env.client("clerk")
    sid = clerk.post(
        "/api/uploads",
        files=[("files", ("gcn.png", simple_scan("rescan"), "image/png"))],
        data={"case_number": "hs2025-000042", "applicant": "Nguyễn Văn Bảy"},
    ).json()["submission_id"]
    with session_scope(env.engine) as s:  # the worker read nothing useful
        seed_submission(s, sid, [unknown_page("9")], [], origin="upload")
        record_object(s, submission_id=sid, bucket="", key=f"{sid}/gcn.png", version="v", status="processed")
    c = env.client("rev")
    assert api_items(c)[sid] == ["no_match", "unknown_page"]
    assert c.post(f"/api/items/{sid}/decisions", json={"action": "rescan"}).json()["error"] == "note_required"
    r = c.post(f"/api/items/{sid}/decisions", json={"action": "rescan", "note": "Ảnh GCN bị mờ, chụp lại trang 1"})
    assert r.status_code == 200
    status = next(u for u in clerk.get("/api/uploads").json() if u["submission_id"] == sid)
    assert status["case_number"] == "HS2025-000042" and status["applicant"] == "Nguyễn Văn Bảy"
    assert status["state"] == "rescan" and status["note"] == "Ảnh GCN bị mờ, chụp lại trang 1"
    page = clerk.get("/jobs").text
    assert "HS2025-000042" in page and i18n.MESSAGES["vi"]["clerk_rescan"] in page


def test_document_browser_search_by_case_number_name_and_serial(env: Env) -> None:
    seed_exceptions(env)
    c = env.client("rev")
    for typed in ("LE QUANG THANG", "lê quang", "X-NOM"):
        found = c.get("/api/search", params={"q": typed}).json()
        assert "X-NOMATCH" in [s["submission_id"] for s in found["submissions"]], typed
    page = c.get("/search", params={"q": "046051213084"})
    assert page.status_code == 200 and "X-NOMATCH" in page.text
    assert c.get("/api/search", params={"q": "046999999999"}).json()["submissions"] == []


def test_exceptions_take_next_skips_items_held_by_others(env: Env) -> None:
    seed_exceptions(env)
    a, b = env.client("rev"), env.client("rev2")
    first = a.post("/api/exceptions/next").json()["submission_id"]
    second = b.post("/api/exceptions/next").json()["submission_id"]
    assert first and second and first != second


def test_new_record_form_on_the_exceptions_item_page(env: Env) -> None:
    seed_exceptions(env)
    c = env.client("rev")
    token = c.headers.pop("X-CSRF-Token")
    page = c.get("/items/X-NOMATCH", params={"src": "exceptions"}).text
    # the form is filled in from the scans: the holder's name and number
    assert 'id="new-record-form"' in page and 'value="LÊ QUANG THẮNG"' in page and 'value="046051213084"' in page
    assert 'id="new-record-form"' not in c.get("/items/S-REV-1").text  # a review-queue item: "none" leads there
    form = {
        "csrf_token": token,
        "action": "new_record",
        "src": "exceptions",
        "nr_commune_code": "19960",
        "nr_parcel_address": "12 Kiệt 5 Nguyễn Tất Thành, P. Phú Bài",
        "nr_owner_name": "LÊ QUANG THẮNG",
    }
    r = c.post("/items/X-NOMATCH/decide", data=form)
    assert r.status_code == 303 and r.headers["location"].startswith("/items/X-")  # on to the next exception
    item = env.client("rev").get("/api/items/X-NOMATCH").json()
    assert item["decision"]["action"] == "new_record"
    assert item["decision"]["new_record"]["parcel_address"] == "12 Kiệt 5 Nguyễn Tất Thành, P. Phú Bài"
