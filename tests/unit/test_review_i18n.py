"""The interface in one language at a time: every code the other stages produce (field names, comparison
levels, warnings, the matcher's notes and update reasons, error codes) has a translation in both languages,
found by reading the stages' own source, so a new code without one fails here; the item page shows no raw
code; differences ignore case and abbreviations and are shown on the values as printed; every evidence row
outlines the fields it compares."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from review_env import Env
from sqlalchemy import select

from models.document import Document, FieldValue
from models.errors import ErrorCode
from models.proposal import Evidence, Proposal, ProposedUpdate
from worker.match.comparators import LEVELS
from worker.review import i18n, labels
from worker.review.diff import char_diff, values_equal
from worker.review.seed import seed_submission
from worker.store.db import session_scope
from worker.store.results import DocumentRow

pytestmark = pytest.mark.usefixtures("cheap_argon2")

WORKER = Path(__file__).resolve().parents[2] / "worker"
# what a label looks like when no translation was found (`mã “…”`)
UNKNOWN = {lang: i18n.translate(lang, "unknown_code", code="").split("“")[0] + "“" for lang in i18n.LANGUAGES}
UNTRANSLATED = i18n.translate("vi", "untranslated", text="").strip()


def known(key: str) -> bool:
    return key in i18n.MESSAGES[i18n.DEFAULT]


def _render(node: ast.AST) -> str | None:
    """A string literal or f-string with every placeholder filled with a plausible value."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
            else:
                source = ast.unparse(v.value)  # type: ignore[attr-defined]
                if source == "prefix":
                    parts.append("owner")
                elif "repaired" in source:
                    parts.append("tcvn3")
                else:
                    parts.append("full_name" if "name" in source else "2")
        return "".join(parts)
    return None


def warning_samples() -> set[str]:
    """Every warning the imaging and extract stages can write, as text, read from their source."""
    found: set[str] = set()
    for path in [*(WORKER / "extract").rglob("*.py"), *(WORKER / "imaging").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append":
                target = ast.unparse(node.func.value)
                if target.endswith("warnings") and node.args and (text := _render(node.args[0])):
                    found.add(text)
            issue = isinstance(node, ast.Call) and ast.unparse(node.func).endswith("Issue") and node.args
            if issue and (text := _render(node.args[0])):  # type: ignore[union-attr]
                found.add(f"{text}: detail")
            if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "msg" and (text := _render(node.value)):
                found.add(text)
    quality = (WORKER / "imaging" / "quality.py").read_text(encoding="utf-8")
    found |= {f"quality:{d}" for d in re.findall(r'(?:defects\.append|\.flag)\("([a-z_]+)"', quality)}
    found.add("full_name_mismatch: qr says 'A', ocr says 'B'")  # validate.disagreement
    return {w for w in found if re.match(r"[a-z]", w)}


def test_every_warning_the_stages_write_is_translated() -> None:
    samples = warning_samples()
    assert len(samples) > 40 and "quality:glare" in samples and any(w.startswith("split:") for w in samples)
    for lang in i18n.LANGUAGES:
        t = i18n.translator(lang)
        missing = [w for w in samples if UNKNOWN[lang] in labels.warning_view(t, w, known).label]
        assert not missing, (lang, missing)
    view = labels.warning_view(
        i18n.translator("vi"), "full_name_front_back_mismatch: front says 'A', back says 'B'", known
    )
    assert view.label == "Mặt trước và mặt sau khác nhau: Họ và tên" and view.values == ("A", "B") and view.conflict


def _matcher_function(name: str) -> ast.FunctionDef:
    tree = ast.parse((WORKER / "match" / "matcher.py").read_text(encoding="utf-8"))
    return next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)


def test_every_evidence_field_and_comparison_level_is_translated() -> None:
    fields = {
        text
        for node in ast.walk(_matcher_function("_evidence"))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "add" and (text := _render(node.args[0]))
    }
    fields |= {"co_owner_1_name", "co_owner_2_birth_year", "co_owner_1_id_number"}
    assert {"map_sheet/parcel_number", "owner_residence", "commune"} <= fields
    levels = {level for per_field in LEVELS.values() for level in per_field} | {"missing", "exact_no_diacritics"}
    for lang in i18n.LANGUAGES:
        t = i18n.translator(lang)
        for name in fields:
            assert UNKNOWN[lang] not in labels.field_label(t, name), (lang, name)
        for level in levels:
            assert UNKNOWN[lang] not in labels.agreement_label(t, level), (lang, level)
    assert labels.field_label(i18n.translator("vi"), "map_sheet/parcel_number") == "Tờ bản đồ / thửa đất số"
    assert labels.field_label(i18n.translator("vi"), "co_owner_1_name") == "Đồng sở hữu 2: Họ và tên"


def test_every_update_reason_and_note_of_the_matcher_is_translated() -> None:
    module = ast.parse((WORKER / "match" / "corrections.py").read_text(encoding="utf-8"))
    # the f-strings whole, not their pieces; not the docstrings
    skip = {id(v) for n in ast.walk(module) if isinstance(n, ast.JoinedStr) for v in n.values}
    skip |= {
        id(n.body[0].value)  # type: ignore[attr-defined]
        for n in ast.walk(module)
        if isinstance(n, ast.Module | ast.FunctionDef) and ast.get_docstring(n)
    }
    reasons = {text for node in ast.walk(module) if id(node) not in skip and (text := _render(node)) and " " in text}
    assert len(reasons) >= 9
    notes = [
        "registry parcel is split (now TD2, TD3): the certificate predates the change; decide which current parcel "
        "the update belongs to",
        "registry parcel is retired: the certificate predates the change; decide which current parcel the update "
        "belongs to",
        "parcel was created from TD1, TD2 (split or merge)",
        "this owner also holds 2 other candidate parcel(s) (TD1, TD2); only parcel fields can tell them apart",
        "scored exactly as 1 other candidate(s) (TD9): the scans cannot tell them apart, so the confidence is shared "
        "between them",
        "registry text was repaired from a legacy encoding on import (tcvn3)",
    ]
    for lang in i18n.LANGUAGES:
        t = i18n.translator(lang)
        for reason in reasons:
            assert UNTRANSLATED not in labels.reason_label(t, reason) or lang == "en", reason
        for note in notes:
            assert UNTRANSLATED not in labels.note_label(t, note) or lang == "en", note
    vi = i18n.translator("vi")
    assert labels.reason_label(vi, "old 9-digit CMND → 12-digit personal number") == "CMND 9 số cũ → số định danh 12 số"
    assert labels.note_label(vi, notes[0]).startswith("Thửa trong sổ địa chính đã tách thửa (nay là TD2, TD3)")


def test_every_error_code_and_extracted_field_is_translated(sample_set_documents: Any) -> None:
    _root, documents = sample_set_documents
    names = {n for d in documents for n in d["fields"]} | {n for d in documents for o in d["owners"] for n in o}
    assert {"id_number", "certificate_serial", "full_name"} <= names
    for lang in i18n.LANGUAGES:
        t = i18n.translator(lang)
        for code in ErrorCode:
            assert UNKNOWN[lang] not in labels.error_label(t, code.value), (lang, code)
        for name in names:
            assert UNKNOWN[lang] not in labels.field_label(t, name), (lang, name)


def rich_item(env: Env) -> int:
    """A card and a certificate page, with the codes the issue found untranslated on the page."""
    card = Document(
        source="S-I18N/cccd.jpg",
        sha256="1" * 64,
        doc_type="cccd_front",
        warnings=["quality:glare", "quality:blurry"],
        fields={
            "id_number": FieldValue(value="046090012345", confidence=0.98, box=[10, 10, 100, 20]),
            "full_name": FieldValue(value="NGUYỄN VĂN AN", confidence=0.9, box=[10, 40, 100, 20]),
            "date_of_birth": FieldValue(value="1990-03-15", confidence=0.95, box=[10, 70, 100, 20]),
            "sex": FieldValue(value="male", confidence=0.95, box=[10, 100, 50, 20]),
            "place_of_residence": FieldValue(value="12 Lê Lợi, P. Phú Hội, TP. Huế", confidence=0.8, box=[1, 1, 5, 5]),
        },
    )
    gcn = Document(
        source="S-I18N/gcn.jpg",
        sha256="2" * 64,
        doc_type="gcn_page1",
        fields={
            "map_sheet_number": FieldValue(value=12, confidence=0.9, box=[200, 10, 30, 20]),
            "parcel_number": FieldValue(value=345, confidence=0.9, box=[240, 10, 30, 20]),
        },
        owners=[{"full_name": FieldValue(value="Nguyễn Văn An", confidence=0.9, box=[300, 50, 120, 20])}],
    )
    evidence = [
        Evidence(field="map_sheet/parcel_number", scanned="12/345", record="12/345", agreement="exact", weight=7.1),
        Evidence(
            field="owner_residence",
            scanned="12 Lê Lợi, P. Phú Hội, TP. Huế",
            record="12 Lê Lợi, Phường Phú Hội, Thành phố Huế",
            agreement="same_place",
            weight=3.0,
        ),
        Evidence(field="owner_birth_year", scanned=1990, record=1989, agreement="off_by_one", weight=-1.0),
        Evidence(
            field="owner_name", scanned="NGUYỄN VĂN AN", record="Nguyen Van An", agreement="no_diacritics", weight=5
        ),
    ]
    updates = [
        ProposedUpdate(
            field="owner_birth_year",
            record_value=1989,
            scanned_value=1990,
            owner_index=1,
            reason="registry birth year off by one",
        )
    ]
    proposal = Proposal(
        parcel_id="TD0300",
        confidence=0.8,
        band="review",
        evidence=evidence,
        proposed_updates=updates,
        owner_name="Nguyen Van An",
        notes=["parcel was created from TD1, TD2 (split or merge)"],
    )
    with session_scope(env.engine) as s:
        seed_submission(s, "S-I18N", [card, gcn], [proposal], image_keys={0: "derived/x.jpg", 1: "derived/y.jpg"})
        return int(s.scalar(select(DocumentRow.id).where(DocumentRow.source == "S-I18N/cccd.jpg")) or 0)


def visible(html: str) -> str:
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_item_page_speaks_one_language(env: Env) -> None:
    rich_item(env)
    c = env.client("rev")
    text = visible(c.get("/items/S-I18N").text)
    for code in ("map_sheet/parcel_number", "owner_residence", "same_place", "off_by_one", "quality:glare",
                 "registry birth year", "split or merge", "male", "1990-03-15", "no_diacritics"):  # fmt: skip
        assert code not in text, code
    for words in ("Tờ bản đồ / thửa đất số", "cùng nơi", "lệch một năm", "Bị lóa sáng", "Nam", "15/03/1990"):
        assert words in text, words
    c.get("/lang/en", params={"next": "/queue"})
    english = visible(c.get("/items/S-I18N").text)
    assert "Map sheet / parcel number" in english and "same place" in english and "Glare" in english
    assert "Tờ bản đồ" not in english


def test_every_evidence_row_outlines_what_it_compares(env: Env) -> None:
    card_id = rich_item(env)
    gcn_id = card_id + 1
    c = env.client("rev")
    ev = {e["field"]: e["boxes"] for e in c.get("/api/items/S-I18N").json()["candidates"][0]["evidence"]}
    assert ev["owner_name"] == [f"b{card_id}-0-full_name", f"b{gcn_id}-1-full_name"]
    assert ev["owner_birth_year"] == [f"b{card_id}-0-date_of_birth"]
    assert ev["map_sheet/parcel_number"] == [f"b{gcn_id}-0-map_sheet_number", f"b{gcn_id}-0-parcel_number"]
    assert ev["owner_residence"] == [f"b{card_id}-0-place_of_residence"]
    page = c.get("/items/S-I18N").text
    for ids in ev.values():
        for box in ids:
            assert f'id="{box}"' in page  # every outline an evidence row names is drawn


def test_differences_ignore_case_and_abbreviations_and_keep_the_printed_values() -> None:
    assert values_equal("P. Vĩnh Ninh, TP. Huế", "Phường Vĩnh Ninh, Thành phố Huế", "address")
    left, right, equal = char_diff(
        "12 Lê Lợi, P. Phú Hội, TP. Huế", "12 LÊ LỢI, Phường Phú Hội, Thành phố Huế", "address"
    )
    assert equal and left[0].text == "12 Lê Lợi, P. Phú Hội, TP. Huế"  # as printed, not upper-cased
    # unrelated addresses differ part by part, never letter by letter
    left, right, equal = char_diff("303 Võ Thị Sáu, P. An Đông, TP. Huế", "12 Lê Lợi, P. Phú Hội, TP. Huế", "address")
    assert not equal
    assert [(s.text, s.kind) for s in left] == [
        ("303 Võ Thị Sáu, P. An Đông", "changed"),
        (", TP. Huế", "same"),
    ]
    assert "".join(s.text for s in right) == "12 Lê Lợi, P. Phú Hội, TP. Huế"
    left, right, equal = char_diff("Nguyễn Văn An", "NGUYỄN VĂN AN")
    assert equal and left[0].text == "Nguyễn Văn An" and right[0].text == "NGUYỄN VĂN AN"
    left, _right, _ = char_diff("Nguyễn Văn An", "Nguyen Van An")
    assert [s.kind for s in left] == ["same", "diacritic", "same", "diacritic", "same"]
    assert "".join(s.text for s in left) == "Nguyễn Văn An"
