"""The workflow around the review page in a real browser (Debian's Chromium, headless, Playwright), on
synthetic documents from the generator in fixtures/ read by the real pipeline and matched by the real matcher:

- a clerk's upload goes through a bucket (moto S3, under INTAKE_KEY_PREFIX) and its notification (SQS) to a
  real worker process, into the review queue; a reviewer accepts it; the admin's export has its rows;
- a submission nothing matched reaches the exceptions list and is attached to a parcel found by search;
- an auto-accepted submission is in the export, and is marked sent;
- an admin reopens a decided item;
- at 1280x720 the decision area is in view without scrolling; from 360 px wide the pages fit and work.

Screenshots of the item page and the exceptions list at 1280x720 are written to docs/ (synthetic data only)."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from review_env import read_samples, serving
from sqlalchemy import select

from models.document import ErrorEntry
from models.settings import Settings
from worker import aws
from worker.match import Matcher
from worker.ocr import Reader
from worker.pipeline import match_documents
from worker.review import create_app
from worker.review.auth import create_user
from worker.review.decisions import decide
from worker.review.seed import seed_submission
from worker.store.db import session_scope
from worker.store.registry import import_csv
from worker.store.results import utcnow
from worker.store.review import DecisionRow, ReviewQueueRow, UserRow
from worker.store.submissions import save_errors
from worker.vntext import strip_diacritics

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
ARTIFACTS = REPO / "test-artifacts" / "review"
PASSWORD = "mật khẩu thử nghiệm"
DESK = {"width": 1280, "height": 720}
PHONE = {"width": 360, "height": 740}
USERS = (("lan", "reviewer"), ("minh", "reviewer"), ("hoa", "clerk"), ("quan", "admin"))


def login(browser: Any, url: str, name: str, viewport: dict[str, int] = DESK) -> Any:
    page = browser.new_context(viewport=viewport, accept_downloads=True).new_page()
    page.on("dialog", lambda d: d.accept())
    page.goto(url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_load_state()
    return page


def shot(page: Any, name: str, *, docs: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    if docs:
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / f"{name}.png"))


def truth(samples: Path) -> dict[str, dict[str, Any]]:
    lines = (samples / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    return {t["submission_id"]: t for t in map(json.loads, lines)}


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`intake samples` output: clean synthetic scans, a registry export and the ground truth."""
    from fixtures.samples import generate

    out = tmp_path_factory.mktemp("samples")
    generate(out, 6, seed=21, decoy_parcels=200, degrade=False)
    return out


def export_rows(page: Any, selector: str) -> list[dict[str, str]]:
    with page.expect_download() as info:
        page.click(selector)
    return list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))


# --- upload → S3 → SQS → worker → review → accept → export ---------------------------------------------


def test_upload_through_bucket_queue_and_worker_to_review_and_export(
    browser: Any, samples: Path, moto_server: str, unique_name: Any, worker_process: Any, tmp_path: Path
) -> None:
    sqs, s3 = aws.client("sqs"), aws.client("s3")
    queue_url = sqs.create_queue(QueueName=unique_name("scans"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bucket = unique_name("scans")
    s3.create_bucket(Bucket=bucket)
    # the shipped setup: only keys under incoming/ notify the queue
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
                }
            ]
        },
    )
    database = f"sqlite:///{tmp_path / 'intake.db'}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=database,
        bucket=bucket,
        key_prefix="incoming/",
        session_secret="w" * 48,
        audit_sample_rate=1.0,  # every auto-accept is also shown to a reviewer
    )
    app = create_app(settings)
    import_csv(samples / "parcels.csv", app.state.engine)
    with session_scope(app.state.engine) as s:
        for name, role in USERS:
            create_user(s, name, role, PASSWORD)
    worker = worker_process(
        "--wait",
        "1",
        env={
            "INTAKE_DATA_DIR": str(tmp_path / "data"),
            "INTAKE_DATABASE_URL": database,
            "INTAKE_BUCKET": bucket,
            "INTAKE_QUEUE_URL": queue_url,
            "INTAKE_KEY_PREFIX": "incoming/",
        },
    )
    sub = truth(samples)["S0006"]
    files = sorted(str(p) for p in (samples / "submissions" / "S0006").iterdir())
    with serving(app) as url:
        clerk = login(browser, url, "hoa")
        clerk.fill("#case-number", "HS2025-000321")
        clerk.fill("#applicant", "Người nộp thử nghiệm")
        clerk.set_input_files("#files", files)
        clerk.click("#upload-submit")
        clerk.wait_for_url(re.compile(r"/jobs\?highlight="))
        sid = clerk.url.split("=")[-1]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert sorted(keys) == sorted(f"incoming/{sid}/{Path(f).name}" for f in files)
        deadline = time.monotonic() + 240
        while clerk.locator("tr.hl").get_attribute("data-state") in ("waiting", "processing"):
            assert worker.poll() is None, Path(worker.log_path).read_text()
            assert time.monotonic() < deadline, Path(worker.log_path).read_text()[-3000:]
            time.sleep(0.5)
            clerk.reload()
        row = clerk.locator("tr.hl")
        assert row.get_attribute("data-state") == "in_review", row.inner_text()
        assert row.locator("li[data-file-state=processed]").count() == len(files)
        shot(clerk, "20-jobs-after-worker")
        clerk.context.close()

        reviewer = login(browser, url, "lan")
        reviewer.keyboard.press("j")
        reviewer.wait_for_url(re.compile(rf"/items/{sid}"))
        assert reviewer.locator(".cand-tab.on").get_attribute("data-parcel") == sub["parcel_id"]
        reviewer.keyboard.press("a")
        reviewer.wait_for_url(re.compile(r"/queue"))
        reviewer.context.close()

        admin = login(browser, url, "quan")
        admin.goto(url + "/export")
        rows = [r for r in export_rows(admin, "#export-csv") if r["submission_id"] == sid]
        assert rows and {r["parcel_id"] for r in rows} == {sub["parcel_id"]}
        assert {r["case_number"] for r in rows} == {"HS2025-000321"} and all(r["commune_code"] for r in rows)
        assert {r["source"] for r in rows} == {"reviewer"} and {r["decided_by"] for r in rows} == {"lan"}
        admin.context.close()


# --- one seeded office: exceptions, auto-accept, reopen, layouts ------------------------------------------


def dirty_registry(samples: Path, out: Path, card_sub: dict[str, Any]) -> Path:
    """The registry as the campaign finds it: the card holder's row typed without diacritics, with the old
    9-digit CMND and no serial, and a namesake born the same year on another parcel."""
    rows = list(csv.DictReader((samples / "parcels.csv").open(encoding="utf-8")))
    true = next(r for r in rows if r["parcel_id"] == card_sub["parcel_id"])
    true.update(
        owner_name=strip_diacritics(true["owner_name"]).title(),
        owner_id_number="191234567",
        certificate_serial="",
        registry_number="",
    )
    other = next(r for r in rows if r["parcel_id"] != card_sub["parcel_id"])
    namesake = {**other, "parcel_id": "TD0009999", "owner_id_number": ""}
    namesake.update(owner_name=true["owner_name"], owner_birth_year=true["owner_birth_year"])
    rows.append(namesake)
    path = out / "parcels-dirty.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def office(
    samples: Path, tmp_path_factory: pytest.TempPathFactory, recorded_reader: Reader
) -> Iterator[dict[str, Any]]:
    """The office's submissions, read by the real pipeline on what Tesseract returned for them (replayed,
    tests/plugins/recordings/test_review_workflow_browser.json): these tests are about the review workflow;
    the first test of the module reads its upload with the real worker and Tesseract."""
    root = tmp_path_factory.mktemp("office")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=root / "data", database_url=f"sqlite:///{root / 'intake.db'}",
        session_secret="o" * 48, audit_sample_rate=0.0,
    )  # fmt: skip
    app = create_app(settings)
    engine = app.state.engine
    known = truth(samples)
    import_csv(dirty_registry(samples, root, known["S0001"]), engine)
    matcher = Matcher(engine, settings)
    now = utcnow()

    def read(sid: str, store_as: str, files: list[str] | None = None) -> tuple[list[Any], dict[int, str]]:
        return read_samples(settings, samples, sid, files=files, store_as=store_as, reader=recorded_reader)

    with session_scope(engine) as s:
        users = {name: create_user(s, name, role, PASSWORD) for name, role in USERS}
        # an ID card alone, and two registry owners of that name and birth year: a reviewer must choose
        docs, keys = read("S0001", "HS-CARD", ["cccd_front.jpg"])
        seed_submission(s, "HS-CARD", docs, match_documents(docs, matcher.propose), image_keys=keys,
                        created_at=now - timedelta(days=2))  # fmt: skip
        # read before the registry was loaded: no candidate at all
        docs, keys = read("S0002", "HS-NOMATCH")
        seed_submission(s, "HS-NOMATCH", docs, [], image_keys=keys, created_at=now - timedelta(days=1))
        failed = seed_submission(s, "HS-FAILED", [], [], created_at=now - timedelta(hours=20))
        failed.status = "failed"
        save_errors(s, "HS-FAILED", [ErrorEntry(source="HS-FAILED/gcn trang 2.pdf", code="encrypted_pdf", message="")])
        # confident matches no person needs to see, and one a reviewer decided
        for sid, name in (("S0003", "HS-AUTO"), ("S0004", "HS-DECIDED"), ("S0005", "HS-PHONE")):
            docs, keys = read(sid, name)
            seed_submission(s, name, docs, match_documents(docs, matcher.propose), image_keys=keys,
                            created_at=now - timedelta(hours=5))  # fmt: skip
        s.add(ReviewQueueRow(submission_id="HS-PHONE", reason="audit_sample", enqueued_at=now))
        s.add(ReviewQueueRow(submission_id="HS-DECIDED", reason="audit_sample", enqueued_at=now))
        s.flush()
        decide(s, users["minh"], "HS-DECIDED", "accept", timedelta(minutes=15))
    with serving(app) as url:
        yield {"url": url, "engine": engine, "truth": known, "app": app}
    engine.dispose()


def in_view(page: Any, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    return (
        bool(box)
        and box["y"] >= 0
        and box["y"] + box["height"] <= size["height"]
        and box["x"] + box["width"] <= size["width"]
    )


def test_decision_area_in_view_at_1280x720_reject_then_accept(browser: Any, office: dict[str, Any]) -> None:
    url = office["url"]
    page = login(browser, url, "lan")
    page.goto(url + "/items/HS-CARD")
    page.wait_for_function("document.querySelector('.doc.on .stage img').naturalWidth > 0")
    assert page.locator(".cand-tab").count() == 2
    # candidate, proposed updates (what goes to VBDLIS) and the buttons, without scrolling
    for selector in (".cand.on .cand-summary", ".cand.on table.updates", "#btn-accept", "#btn-reject", "#btn-none"):
        assert in_view(page, selector), selector
    assert page.evaluate("document.querySelector('.panel').scrollTop") == 0
    shot(page, "review-item-1280x720", docs=True)
    # the name row outlines the name on the card
    page.click(".cand.on tr[data-field=owner_name] td.fname")
    assert page.locator("svg.boxes rect.focus[data-field=full_name]").count() == 1
    # #1 is the namesake: R rejects it and moves to #2, the card holder's parcel, which A accepts
    first = page.locator(".cand-tab.on").get_attribute("data-parcel")
    assert first == "TD0009999"
    page.keyboard.press("r")
    page.wait_for_url(re.compile(r"/items/HS-CARD\?c=2"))
    assert page.locator(".cand-tab.rejected").count() == 1
    assert page.locator(".cand-tab.on").get_attribute("data-parcel") == office["truth"]["S0001"]["parcel_id"]
    page.keyboard.press("a")
    page.wait_for_url(re.compile(r"/(queue|items/(?!HS-CARD))"))
    with session_scope(office["engine"]) as s:
        rows = s.scalars(select(DecisionRow).where(DecisionRow.submission_id == "HS-CARD").order_by(DecisionRow.id))
        assert [(d.action, d.parcel_id) for d in rows] == [
            ("reject", "TD0009999"),
            ("accept", office["truth"]["S0001"]["parcel_id"]),
        ]
    page.context.close()


def test_unmatched_submission_on_the_exceptions_list_attached_by_search(browser: Any, office: dict[str, Any]) -> None:
    url = office["url"]
    page = login(browser, url, "minh")
    page.goto(url + "/queue")
    assert int(page.locator("#exceptions-chip b").inner_text()) >= 2
    assert int(page.locator("#band-counts [data-band=none] b").inner_text()) >= 1
    page.click("#exceptions-chip")
    page.wait_for_url(re.compile(r"/exceptions"))
    listed = page.locator("table.exceptions-table tbody tr[data-submission]")
    ids = [listed.nth(i).get_attribute("data-submission") for i in range(listed.count())]
    assert "HS-NOMATCH" in ids and "HS-FAILED" in ids and "HS-AUTO" not in ids
    assert "Không tìm thấy thửa" in page.inner_text("tr[data-submission=HS-NOMATCH]")
    assert "Tệp lỗi" in page.inner_text("tr[data-submission=HS-FAILED]")
    shot(page, "review-exceptions-1280x720", docs=True)
    page.click("tr[data-submission=HS-NOMATCH] a")
    page.wait_for_url(re.compile(r"/items/HS-NOMATCH"))
    page.click("form[action='/items/HS-NOMATCH/take'] button")
    page.wait_for_url(re.compile(r"/items/HS-NOMATCH"))
    # search the registry from the item, with the keyboard: the registry row has no ID number, so by the
    # holder's name, typed without diacritics
    sub = office["truth"]["S0002"]
    name = next(d["fields"]["full_name"] for d in sub["documents"] if d["doc_type"] == "cccd_front")
    page.keyboard.press("s")
    page.fill("#registry-q", strip_diacritics(name).lower())
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q="))
    hit = page.locator(f"table.search-results tr[data-parcel={sub['parcel_id']}]")
    assert hit.count() == 1
    shot(page, "30-exception-search")
    hit.locator("button.add-candidate").click()
    page.wait_for_url(re.compile(r"/items/HS-NOMATCH\?c=1"))
    assert page.locator(".cand-tab.on").get_attribute("data-parcel") == sub["parcel_id"]
    # scored by the matcher: the certificate's serial and sheet/parcel agree; the missing number is an update
    assert page.locator(".cand.on tr[data-field=certificate_serial].same").count() == 1
    assert page.locator(".cand.on table.updates tr[data-field=owner_id_number]").count() == 1
    page.keyboard.press("a")
    page.wait_for_url(re.compile(r"/(exceptions|items/(?!HS-NOMATCH))"))
    page.goto(url + "/exceptions")
    assert page.locator("tr[data-submission=HS-NOMATCH]").count() == 0
    page.context.close()


def test_auto_accepted_submission_is_exported_and_marked_sent(browser: Any, office: dict[str, Any]) -> None:
    url = office["url"]
    page = login(browser, url, "quan")
    page.goto(url + "/export")
    assert page.locator("tr[data-submission=HS-AUTO]").count() >= 1
    sent = [r for r in export_rows(page, "#export-send") if r["submission_id"] == "HS-AUTO"]
    assert sent and {r["source"] for r in sent} == {"auto"}
    assert {r["parcel_id"] for r in sent} == {office["truth"]["S0003"]["parcel_id"]} and all(
        r["commune_code"] for r in sent
    )
    page.goto(url + "/export")
    assert page.locator("tr[data-submission=HS-AUTO]").count() == 0  # sent: not offered again
    page.check("input[name=include_sent]")
    page.click("form.filters button[type=submit]")
    assert page.locator("tr[data-submission=HS-AUTO]").count() >= 1
    page.context.close()


def test_admin_reopens_a_decided_item(browser: Any, office: dict[str, Any]) -> None:
    url = office["url"]
    reviewer = login(browser, url, "lan")
    reviewer.goto(url + "/items/HS-DECIDED")
    assert reviewer.locator("#reopen-form").count() == 0 and reviewer.locator("#decide-form").count() == 0
    reviewer.context.close()
    admin = login(browser, url, "quan")
    admin.goto(url + "/items/HS-DECIDED")
    admin.click("details.reopen summary")
    admin.fill("#reopen-form input[name=reason]", "Người nộp báo sai thửa")
    admin.click("#btn-reopen")
    admin.wait_for_url(re.compile(r"/items/HS-DECIDED"))
    assert "Mở lại" in admin.inner_text("details.history")
    assert "Người nộp báo sai thửa" in admin.inner_text("details.history")
    assert admin.locator("#decide-form").count() == 1  # open to a decision again
    with session_scope(office["engine"]) as s:
        rows = s.scalars(select(DecisionRow).where(DecisionRow.submission_id == "HS-DECIDED"))
        assert [(d.action, d.undone_by is not None) for d in rows] == [("accept", True)]
        quan = s.scalar(select(UserRow.id).where(UserRow.name == "quan"))
        assert s.scalar(select(DecisionRow.undone_by).where(DecisionRow.submission_id == "HS-DECIDED")) == quan
    admin.context.close()


NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.mark.parametrize("viewport", [PHONE, {"width": 1024, "height": 768}], ids=["phone-360", "1024"])
def test_layout_from_phone_width(browser: Any, office: dict[str, Any], viewport: dict[str, int]) -> None:
    url = office["url"]
    clerk = login(browser, url, "hoa", viewport)
    clerk.goto(url + "/upload")
    assert clerk.evaluate(NO_SIDEWAYS_SCROLL) and clerk.locator("#upload-submit").is_visible()
    clerk.goto(url + "/jobs")
    assert clerk.evaluate(NO_SIDEWAYS_SCROLL)
    clerk.context.close()
    page = login(browser, url, "lan", viewport)
    for path in ("/queue", "/exceptions", "/search?q=HS", "/second-review", "/items/HS-PHONE"):
        page.goto(url + path)
        assert page.evaluate(NO_SIDEWAYS_SCROLL), path
    page.goto(url + "/items/HS-PHONE")
    if viewport is PHONE:
        shot(page, "40-item-phone")
        # the page scrolls as one column; the decision buttons stay at the bottom of the screen
        take = page.locator("form[action='/items/HS-PHONE/take'] button")
        if take.count():  # not already this reviewer's (taking the next item may have given it to them)
            take.click()
            page.wait_for_url(re.compile(r"/items/HS-PHONE"))
        page.mouse.wheel(0, 800)
        assert in_view(page, "#btn-accept")
        page.click("#btn-accept")
        page.wait_for_url(re.compile(r"/(queue|items/(?!HS-PHONE))"))
        with session_scope(office["engine"]) as s:
            action = s.scalar(select(DecisionRow.action).where(DecisionRow.submission_id == "HS-PHONE"))
        assert action == "accept"
    page.context.close()
