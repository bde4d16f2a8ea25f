"""The review app in a real browser: Debian's Chromium, headless, driven by Playwright at 1366x768.

Log in, take the next item, see the scan and the differences, accept with the keyboard, undo, reject
another, see the audit entries, export; two browser contexts competing for one item get different items;
a clerk drags a scan onto the upload page. Screenshots go to test-artifacts/review/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from review_env import serving
from sqlalchemy import select

from models.document import Document, FieldValue
from models.proposal import Evidence, Proposal, ProposedUpdate
from models.settings import Settings
from worker.review import create_app
from worker.review.auth import create_user
from worker.review.seed import read_registry_csv, seed_submission, toy_proposals
from worker.store.db import session_scope
from worker.store.results import utcnow
from worker.store.review import AuditRow, DecisionRow

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "review"
PASSWORD = "mật khẩu thử nghiệm"
VIEWPORT = {"width": 1366, "height": 768}


def _seed(settings: Settings, engine: Any, samples: Path) -> str:
    """One submission read by the real pipeline from generated scans, plus synthetic ones behind it."""
    import cv2

    from fixtures.samples import generate
    from worker.pipeline import read_file

    generate(samples, 8, seed=5, decoy_parcels=5, degrade=False)
    truth = [json.loads(line) for line in (samples / "truth.jsonl").read_text(encoding="utf-8").splitlines()]

    def has(t: dict[str, Any], name: str) -> bool:
        return (samples / "submissions" / t["submission_id"] / name).exists()

    with_card = [t for t in truth if t["in_registry"] and has(t, "cccd_front.jpg")]
    # a card and a certificate page, when the generator dealt one: two documents to switch between
    sub = next((t for t in with_card if has(t, "gcn_p1.jpg")), with_card[0])
    folder = samples / "submissions" / sub["submission_id"]
    derived = settings.data_dir / "derived"
    derived.mkdir(parents=True, exist_ok=True)
    documents: list[Document] = []
    keys: dict[int, str] = {}
    for name in ("cccd_front.jpg", "gcn_p1.jpg"):
        if not (folder / name).exists():
            continue
        result = read_file((folder / name).read_bytes(), name, settings=settings, keep_pages=True)
        for doc, page in zip(result.documents, result.pages, strict=True):
            ok, jpg = cv2.imencode(".jpg", page.image)
            assert ok
            keys[len(documents)] = f"derived/real-{len(documents)}.jpg"
            (settings.data_dir / keys[len(documents)]).write_bytes(jpg.tobytes())
            documents.append(doc)
    registry = read_registry_csv(samples / "parcels.csv")
    by_parcel: dict[str, list[dict[str, Any]]] = {}
    for row in registry:
        by_parcel.setdefault(row["parcel_id"], []).append(row)
    owners = by_parcel[sub["parcel_id"]]
    true_row = dict(owners[min(sub["owner_index"] or 1, len(owners)) - 1])
    # a dirty registry: the name was typed without diacritics, and an old 9-digit CMND is on file
    from worker.vntext import strip_diacritics

    true_row["owner_name"] = strip_diacritics(true_row["owner_name"] or "").title()
    true_row["owner_id_number"] = "191234567"
    decoys = [rows[0] for pid, rows in by_parcel.items() if pid != true_row["parcel_id"]][:2]
    proposals = toy_proposals(documents, [true_row, *decoys], prior_weight=-2.0)
    # keep the real item in the review band whatever the toy scores say: it is the one the test decides
    proposals[0] = proposals[0].model_copy(update={"confidence": 0.88, "band": "review"})
    now = utcnow()
    with session_scope(engine) as s:
        seed_submission(
            s,
            "HS-0001",
            documents,
            proposals,
            image_keys=keys,
            commune_code="19789",
            created_at=now - timedelta(days=2),
        )
        for i, (name, number) in enumerate(
            [
                ("TRẦN THỊ BÌNH", "046190054321"),
                ("LÊ VĂN CƯỜNG", "046085011111"),
                ("PHẠM THỊ DUNG", "046192022222"),
                ("HOÀNG VĂN EM", "046088033333"),
                ("VÕ THỊ GIANG", "046195044444"),
            ],
            start=2,
        ):
            doc = Document(
                source=f"HS-000{i}/cccd.jpg",
                sha256=f"{i:064d}",
                doc_type="cccd_front",
                doc_type_confidence=0.95,
                fields={
                    "id_number": FieldValue(value=number, confidence=0.97),
                    "full_name": FieldValue(value=name, confidence=0.9),
                },
            )
            cand = Proposal(
                parcel_id=f"TD90000{i}",
                confidence=0.6 + i / 100,
                band="review",
                owner_id=f"TD90000{i}-1",
                owner_name=strip_diacritics(name).title(),
                model_version="toy-0",
                evidence=[
                    Evidence(
                        field="owner_name",
                        scanned=name,
                        record=strip_diacritics(name).title(),
                        agreement="exact_no_diacritics",
                        weight=4.0,
                    ),
                    Evidence(field="owner_id_number", scanned=number, record=None, agreement="missing", weight=0.0),
                ],
                proposed_updates=[
                    ProposedUpdate(field="owner_id_number", record_value=None, scanned_value=number, owner_index=1)
                ],
            )
            seed_submission(
                s, f"HS-000{i}", [doc], [cand], commune_code="19774", created_at=now - timedelta(hours=10 - i)
            )
        for name, role in (("lan", "reviewer"), ("minh", "reviewer"), ("hoa", "clerk"), ("quan", "admin")):
            create_user(s, name, role, PASSWORD)
    return "HS-0001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:

    root = tmp_path_factory.mktemp("review-browser")
    settings = Settings(
        data_dir=root / "data",
        database_url=f"sqlite:///{root / 'intake.db'}",
        session_secret="b" * 48,
        audit_sample_rate=0.0,
    )
    app = create_app(settings)
    first = _seed(settings, app.state.engine, root / "samples")
    with serving(app) as url:
        yield {"url": url, "engine": app.state.engine, "settings": settings, "first": first}
    app.state.engine.dispose()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def login(browser: Any, server: dict[str, Any], name: str) -> Any:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())  # the "are you sure" on risky accepts: the reviewer says yes
    page.goto(server["url"] + "/")
    assert "/login" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_load_state()
    return page


def item_id(page: Any) -> str:
    m = re.search(r"/items/([^/?#]+)", page.url)
    assert m, page.url
    return m.group(1)


def standing(server: dict[str, Any], submission_id: str) -> list[tuple[str, int | None, bool]]:
    with session_scope(server["engine"]) as s:
        rows = s.scalars(select(DecisionRow).where(DecisionRow.submission_id == submission_id).order_by(DecisionRow.id))
        return [(r.action, r.rank, r.undone_at is not None) for r in rows]


def test_reviewer_day(browser: Any, server: dict[str, Any]) -> None:
    page = login(browser, server, "lan")
    assert page.url.endswith("/queue")
    assert page.locator("table.queue-table tbody tr").count() == 6
    shot(page, "01-queue")

    # take the next item with the keyboard: the oldest, the one read from real scans
    page.keyboard.press("j")
    page.wait_for_url(re.compile(r"/items/"))
    assert item_id(page) == server["first"]
    img = page.locator(".doc.on .stage img")
    img.wait_for()
    page.wait_for_function("document.querySelector('.doc.on .stage img').naturalWidth > 0")
    shot(page, "02-item")
    assert page.locator(".doc.on svg.boxes rect[data-field=full_name]").count() == 1
    # the name differs from the registry only in diacritics/case, the ID number in every digit
    assert (
        page.locator(
            ".cand.on tr[data-field=owner_name] .d-changed, .cand.on tr[data-field=owner_name] .d-diacritic"
        ).count()
        > 0
    )
    assert page.locator(".cand.on tr[data-field=owner_id_number] .d-changed").count() > 0
    # clicking a comparison row outlines where the value was read
    page.click(".cand.on tr[data-field=owner_name] td.fname")
    shot(page, "02-item-focus")
    page.keyboard.press("+")
    assert page.inner_text("#zoom-level") == "125%"
    page.keyboard.press("0")
    page.keyboard.press("2")
    assert page.locator(".cand-tab.on").get_attribute("data-rank") == "2"
    assert page.input_value("#decide-rank") == "2"
    page.keyboard.press("1")
    assert page.input_value("#decide-rank") == "1"

    # accept with A: the next item opens, with the undo offer
    page.keyboard.press("a")
    page.wait_for_url(re.compile(r"/items/HS-0002"))
    assert page.locator("#undo-form").is_visible()
    assert standing(server, server["first"]) == [("accept", 1, False)]
    shot(page, "03-after-accept")

    # undo with U: back on the first item, decision undone, still mine
    page.keyboard.press("u")
    page.wait_for_url(re.compile(rf"/items/{server['first']}"))
    assert standing(server, server["first"]) == [("accept", 1, True)]
    assert page.locator("#decide-form").is_visible()

    # skip it (J) and reject the next one's only candidate (R): none is right, on to the next item
    page.keyboard.press("j")
    page.wait_for_url(re.compile(r"/items/HS-0002"))
    page.keyboard.press("r")
    page.wait_for_url(re.compile(r"/items/HS-0003"))
    assert standing(server, "HS-0002") == [("reject", 1, False), ("none", None, False)]

    # the history on the item page, and the audit log
    page.goto(server["url"] + f"/items/{server['first']}")
    history = page.inner_text("details.history")
    assert "Hoàn tác" in history and "Chấp nhận" in history and "lan" in history
    page.goto(server["url"] + "/audit")
    audit = page.inner_text("table.audit-table")
    for word in ("Chấp nhận", "Hoàn tác", "Từ chối"):
        assert word in audit
    shot(page, "04-audit")

    # decide the first item for good (its lease was given back when skipped), then export as admin
    page.goto(server["url"] + f"/items/{server['first']}")
    page.keyboard.press("a")
    page.wait_for_url(re.compile(r"/items/(?!" + server["first"] + ")"))
    assert standing(server, server["first"])[-1] == ("accept", 1, False)
    # a decided item reads as such, without decision buttons; the interface also speaks English
    page.goto(server["url"] + f"/lang/en?next=/items/{server['first']}")
    assert page.locator("#decide-form").count() == 0
    assert "Accepted by lan" in page.inner_text(".lease-state")
    page.click("details.extracted summary")
    page.keyboard.press("+")
    page.keyboard.press("+")
    shot(page, "09-decided-en-zoomed")
    page.goto(server["url"] + "/lang/vi?next=/queue")
    page.context.close()

    admin = login(browser, server, "quan")
    admin.goto(server["url"] + "/export")
    shot(admin, "05-export")
    with admin.expect_download() as download_info:
        admin.click("#export-csv")
    content = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    lines = content.splitlines()
    assert lines[0].startswith("change_id,submission_id,case_number,commune_code,parcel_id")
    exported = [line for line in lines[1:] if f",{server['first']}," in line]
    assert exported and any(",owner_id_number,191234567," in line for line in exported)
    admin.context.close()


def test_two_reviewers_competing_get_different_items(browser: Any, server: dict[str, Any]) -> None:
    a, b = login(browser, server, "lan"), login(browser, server, "minh")
    # both press "take next" at the same moment
    a.evaluate("document.getElementById('next-form').requestSubmit()")
    b.evaluate("document.getElementById('next-form').requestSubmit()")
    a.wait_for_url(re.compile(r"/items/"))
    b.wait_for_url(re.compile(r"/items/"))
    assert item_id(a) != item_id(b)
    # each sees the other's lease in the queue
    b.goto(server["url"] + "/queue?status=in_review")
    assert "lan" in b.inner_text("table.queue-table") and "minh" in b.inner_text("table.queue-table")
    shot(b, "06-in-review")
    # and cannot decide the other's item: the page offers no decision buttons
    b.goto(server["url"] + f"/items/{item_id(a)}")
    assert b.locator("#decide-form").count() == 0
    assert "lan" in b.inner_text(".lease-state")
    a.context.close()
    b.context.close()


def test_clerk_drags_a_scan_onto_the_upload_page(browser: Any, server: dict[str, Any], simple_scan: Any) -> None:
    page = login(browser, server, "hoa")
    assert page.url.endswith("/upload")  # clerks land on the upload page
    data = list(simple_scan("drag-and-drop"))
    page.evaluate(
        """(bytes) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], "sổ đỏ.png", {type: "image/png"}));
            const zone = document.getElementById("dropzone");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""",
        data,
    )
    assert page.inner_text("#file-list").startswith("sổ đỏ.png")
    page.fill("#case-number", "hs2025-000777")
    page.fill("#applicant", "Trần Thị Mai")
    shot(page, "07-upload")
    page.click("#upload-submit")
    page.wait_for_url(re.compile(r"/jobs\?highlight="))
    sid = page.url.split("=")[-1]
    shot(page, "08-jobs")
    row = page.locator("tr.hl")
    assert row.get_attribute("data-submission") == sid
    assert row.inner_text().startswith("HS2025-000777") and "Trần Thị Mai" in row.inner_text()
    stored = server["settings"].resolved_inbox_dir / sid / "sổ đỏ.png"
    assert stored.read_bytes() == bytes(data)
    with session_scope(server["engine"]) as s:
        assert s.scalar(select(AuditRow.user_name).where(AuditRow.action == "upload")) == "hoa"
    page.context.close()
