"""The realistic ("world") generator: card designs, capture profiles, surfaces, handwriting, certificate
pages. Its truth must be as right as the classic generator's, and what it records about a capture (corners,
size, orientation, EXIF) must describe the image it made, or the world benchmarks lie."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp
from PIL import Image, ImageOps

from fixtures.capture import CARD_PROFILES, PAGE_PROFILES, capture, encode_jpeg
from fixtures.cards import render_world_card, world_person
from fixtures.certs import facing_page, make_world_cert, render_world_gcn_page, world_pages
from fixtures.degrade import degrade
from fixtures.gcn_pages import page_size, parcel_truth
from fixtures.handwriting import hand_mask
from fixtures.idcards import card_size, qr_payload, render_card
from fixtures.mrz import validate_td1
from fixtures.people import CARD_GENERATIONS
from fixtures.samples import generate, load_truth
from fixtures.textures import LETTERED, SURFACES, surface


def _decode(img: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(np.asarray(img.convert("RGB")))]


def _unwarp(img: Image.Image, corners: list[list[float]], size: tuple[int, int]) -> np.ndarray:
    """The document cut out of a capture with its recorded corners, in grey."""
    a = cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2GRAY)
    w, h = size
    dst = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    return cv2.warpPerspective(a, cv2.getPerspectiveTransform(np.float32(corners), dst), (w, h))


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two grey images of one size, band-passed: the blur forgives photo
    noise and resampling, subtracting the coarse blur forgives uneven light and shadows."""
    def band(x: np.ndarray) -> np.ndarray:
        f = x.astype(np.float32)
        return (cv2.GaussianBlur(f, (0, 0), 2) - cv2.GaussianBlur(f, (0, 0), 20)).ravel()

    fa, fb = band(a), band(b)
    fa, fb = fa - fa.mean(), fb - fb.mean()
    return float(fa @ fb / (np.linalg.norm(fa) * np.linalg.norm(fb) + 1e-6))


def _card(seed: int, generation: str) -> Image.Image:
    """The front of a world card of `generation` for a person drawn from `seed`."""
    p = world_person(random.Random(seed), generation)
    return render_world_card(p, generation, "front", random.Random(seed))[0]


# --- card designs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("generation", CARD_GENERATIONS)
def test_world_cards_render_both_sides_with_the_classic_truth(generation: str) -> None:
    for side in ("front", "back"):
        p = world_person(random.Random(40), generation)
        img, t = render_world_card(p, generation, side, random.Random(3))
        _, classic = render_card(p, generation, side, random.Random(3))
        assert img.size == card_size(300)
        assert t["design"] == "world" and isinstance(t["features"], list)
        assert t["doc_type"] == classic["doc_type"] and t["card_generation"] == generation
        # the same person's card: the fields a reader is scored on are the classic render's
        assert t["fields"] == classic["fields"]
        again, t2 = render_world_card(p, generation, side, random.Random(3))
        assert t2 == t and np.array_equal(np.asarray(again), np.asarray(img)), "a pure function of the seed"


def test_world_chip_front_qr_and_back_mrz() -> None:
    p = world_person(random.Random(5), "cccd_chip_2021")
    img, t = render_world_card(p, "cccd_chip_2021", "front", random.Random(1))
    assert _decode(img) == [qr_payload(p)] == [t["barcodes"][0]["text"]]
    _, back = render_world_card(p, "cccd_chip_2021", "back", random.Random(1))
    assert all(validate_td1(back["fields"]["mrz"]).values())
    p2 = world_person(random.Random(6), "cancuoc_2024")
    img2, t2 = render_world_card(p2, "cancuoc_2024", "back", random.Random(2), with_mrz=True)
    assert _decode(img2) == [t2["barcodes"][0]["text"]] and "mrz" in t2["fields"]
    assert t2["extra"]["place_of_birth"] == p2.place_of_birth


def test_world_features_name_what_is_on_the_card() -> None:
    seen: set[str] = set()
    rng = random.Random(9)
    for k in range(40):
        gen = CARD_GENERATIONS[k % len(CARD_GENERATIONS)]
        p = world_person(rng, gen, long_name=0.5)
        _, t = render_world_card(p, gen, "front", rng)
        seen.update(t["features"])
        if "no_expiry" in t["features"]:
            assert t["fields"]["date_of_expiry"] is None
        if gen == "cccd_barcode_2016":
            assert "red_number" in t["features"]
    assert {"two_line_name", "two_line_residence", "two_line_origin", "red_number", "no_expiry"} <= seen


# --- capture profiles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", CARD_PROFILES)
def test_card_capture_corners_find_the_card(profile: str) -> None:
    img = _card(1, "cccd_chip_2021")
    out, params = capture(img, random.Random(12), profile, kind="card")
    assert params["profile"] == profile and params["size"] == list(out.size)
    c = np.array(params["corners"])
    w, h = out.size
    assert c.shape == (4, 2)
    assert (c[:, 0] >= -2).all() and (c[:, 0] <= w + 2).all() and (c[:, 1] >= -2).all() and (c[:, 1] <= h + 2).all()
    # cut out with the recorded corners (the document's own TL, TR, BR, BL), the capture shows the render
    cut = _unwarp(out, params["corners"], (img.width // 2, img.height // 2))
    ref = cv2.resize(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2GRAY), (img.width // 2, img.height // 2))
    assert _similarity(cut, ref) > 0.85, profile


def test_card_capture_sizes_and_orientation() -> None:
    img = _card(2, "cancuoc_2024")
    crop, cp = capture(img, random.Random(3), "crop")
    assert 380 <= crop.width <= 420 and 230 <= crop.height <= 290
    stretched, sp = capture(img, random.Random(3), "stretched")
    assert stretched.size == (640, 640) and sp["stretch"][0] != sp["stretch"][1]
    for seed in range(6):
        _, pp = capture(img, random.Random(seed), "phone")
        assert 0.1 <= pp["area_fraction"] <= 0.55 and pp["surface"] in SURFACES
        _, sdp = capture(img, random.Random(seed), "sideways")
        assert sdp["orientation_deg"] in (90, 270)
        c = np.array(sdp["corners"])
        assert np.linalg.norm(c[3] - c[0]) > np.linalg.norm(c[1] - c[0]) * 0.4  # the card's height runs along x
    assert crop.width < img.width and cp["dpi"] < 150


def _as_displayed(x: float, y: float, tag: int, size: tuple[int, int]) -> tuple[float, float]:
    """Where a stored pixel lands once a viewer applies the EXIF Orientation tag (6: turn 90° clockwise,
    8: 90° counter-clockwise, 3: 180°)."""
    w, h = size
    return {6: (h - y, x), 8: (y, w - x), 3: (w - x, h - y)}[tag]


def test_exif_capture_is_upright_once_the_tag_is_applied() -> None:
    img = _card(4, "cccd_chip_2021")
    for seed in range(8):
        out, params = capture(img, random.Random(seed), "exif")
        tag = params["exif_orientation"]
        assert tag in (3, 6, 8) and params["orientation_deg"] == {6: 90, 3: 180, 8: 270}[tag]
        data = encode_jpeg(out, params)
        loaded = Image.open(io.BytesIO(data))
        assert loaded.getexif().get(0x0112) == tag
        upright = ImageOps.exif_transpose(loaded)
        c = np.array(params["corners"])
        # after the viewer applies the tag, the card's top edge runs left to right again
        tl, tr = (_as_displayed(*c[0], tag, out.size), _as_displayed(*c[1], tag, out.size))
        assert tr[0] > tl[0] and abs(tr[1] - tl[1]) < (tr[0] - tl[0]) * 0.4
        assert upright.size == ((out.height, out.width) if tag in (6, 8) else out.size)
    plain, pp = capture(img, random.Random(1), "phone")
    assert Image.open(io.BytesIO(encode_jpeg(plain, pp))).getexif().get(0x0112) is None


def test_worn_capture_records_its_wear_and_is_deterministic() -> None:
    img = _card(7, "cmnd_9")
    a, pa = capture(img, random.Random(8), "worn")
    b, pb = capture(img, random.Random(8), "worn")
    assert pa == pb and np.array_equal(np.asarray(a), np.asarray(b))
    kinds = set()
    for seed in range(10):
        _, params = capture(img, random.Random(seed), "worn")
        kinds.update(params["wear"])
        kinds.update(k for k in ("laminated", "scanned") if params.get(k))
    assert {"fade", "stains", "laminated", "scanned"} <= kinds


def test_classic_profiles_pass_through_unchanged() -> None:
    img = _card(1, "cccd_chip_2021")
    a, pa = capture(img, random.Random(5), "scan")
    b, pb = degrade(img, random.Random(5), "scan")
    assert pa == pb and np.array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError):
        capture(img, random.Random(5), "booklet", kind="card")
    assert set(PAGE_PROFILES) == {"colour_scan", "phone", "booklet"}


# --- surfaces and handwriting -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SURFACES)
def test_surfaces(kind: str) -> None:
    a, got = surface(random.Random(3), 320, 240, kind)
    assert got == kind and a.shape == (240, 320, 3) and a.dtype == np.uint8
    b, _ = surface(random.Random(3), 320, 240, kind)
    assert np.array_equal(a, b)
    assert a.std() > 2, "a surface has texture"
    if kind in LETTERED:
        grey = a.mean(axis=2)
        assert (grey < 120).mean() > 0.002, "letters next to the document"


def test_handwriting_is_ink_and_varies() -> None:
    m1 = hand_mask("CS 01234", 30, random.Random(1))
    m2 = hand_mask("CS 01234", 30, random.Random(2))
    assert m1.dtype == np.float32 and 0 < m1.max() <= 1
    assert 20 < m1.shape[0] < 120 and m1.shape[1] > 3 * m1.shape[0]
    assert m1.shape != m2.shape or not np.array_equal(m1, m2), "every hand is a little different"


# --- certificates -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["gcn_pre2009", "gcn_2009", "gcn_2024_qr"])
def test_world_certificate_pages_render_with_truth(form: str) -> None:
    for seed in range(3):
        cert = make_world_cert(random.Random(seed), form=form)
        p = cert.parcel
        for page in world_pages(cert):
            img, t = render_world_gcn_page(cert, page, random.Random(seed), dpi=100)
            assert img.size == page_size(100)
            assert t["design"] == "world" and t["layout"] == cert.layout and t["certificate_form"] == form
            assert set(t["handwritten"]) <= set(t["fields"]), "handwriting is marked on the page that has it"
            if page == 1:
                assert t["doc_type"] == "gcn_page1" and len(t["owners"]) == len(p.owners)
                assert t["fields"]["certificate_serial"] == p.certificate_serial
            elif page == 2 and cert.layout != "2024":
                assert t["doc_type"] == "gcn_page2" and t["fields"] == parcel_truth(p)
            else:
                assert t["doc_type"] == "gcn_other"
        again = render_world_gcn_page(cert, 1, random.Random(seed), dpi=100)
        assert np.array_equal(np.asarray(again[0]), np.asarray(render_world_gcn_page(cert, 1, random.Random(seed),
                                                                                   dpi=100)[0]))


def test_world_certificates_cover_the_phenomena() -> None:
    layouts, feats, hand = set(), set(), set()
    for seed in range(60):
        cert = make_world_cert(random.Random(seed), form=("gcn_pre2009", "gcn_2009", "gcn_2024_qr")[seed % 3])
        layouts.add(cert.layout)
        hand.update(cert.handwritten_fields)
        if cert.layout == "1993":
            letter, digits = cert.parcel.certificate_serial.split(" ")
            assert len(letter) == 1 and len(digits) == 6 and digits.isdigit()
        if cert.layout == "2024":
            assert len(cert.parcel.certificate_serial.split(" ")[1]) == 8
            assert not cert.handwritten_fields
        for ch in cert.changes:
            assert ch.when > cert.parcel.issue_date
        for page in (1, 2):
            _, t = render_world_gcn_page(cert, page, random.Random(seed), dpi=60)
            feats.update(t["features"])
    assert layouts == {"1993", "2003", "2009", "2024"}
    assert hand == {"registry_number", "issue_date"}
    assert {"household", "several_owners", "certified_copy", "title_case_names", "notes_quote_numbers",
            "handwritten_registry_number", "handwritten_issue_date", "red_serial"} <= feats


def test_world_2024_qr_decodes_and_changes_are_recorded() -> None:
    cert = make_world_cert(random.Random(4), form="gcn_2024_qr")
    img, t = render_world_gcn_page(cert, 1, random.Random(1), dpi=200)
    assert _decode(img) == [t["barcodes"][0]["text"]]
    for seed in range(30):
        cert = make_world_cert(random.Random(seed), form="gcn_2009")
        if cert.changes:
            _, t3 = render_world_gcn_page(cert, 3, random.Random(1), dpi=60)
            assert t3["extra"]["changes"] == [ch.text for ch in cert.changes]
            assert "changes_by_hand" in t3["features"] or "changes_typed" in t3["features"]
            break
    else:
        pytest.fail("no certificate with changes in 30 draws")


@pytest.mark.parametrize("profile", PAGE_PROFILES)
def test_page_capture_corners_find_the_page(profile: str) -> None:
    cert = make_world_cert(random.Random(2), form="gcn_2009")
    img, _ = render_world_gcn_page(cert, 2, random.Random(2), dpi=100)
    facing, _ = render_world_gcn_page(cert, facing_page(cert, 2) or 1, random.Random(3), dpi=100)
    out, params = capture(img, random.Random(5), profile, kind="page", dpi=100, facing=facing)
    size = (img.width // 2, img.height // 2)
    cut = _unwarp(out, params["corners"], size)
    ref = cv2.resize(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2GRAY), size)
    # the bent inner edge of an open booklet is only approximated by four corners
    assert _similarity(cut, ref) > (0.5 if profile == "booklet" else 0.8), profile
    if profile == "booklet":
        assert params["booklet"] in ("left", "right") and 0.3 < params["area_fraction"] < 0.9
    if profile == "colour_scan":
        assert 120 <= params["dpi"] <= 160


# --- world sample sets --------------------------------------------------------------------------------------


def test_world_sample_set_is_consistent_and_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    info = generate(a, 6, 5, profile="world", decoy_parcels=50)
    generate(b, 6, 5, profile="world", decoy_parcels=50)
    assert info["profile"] == "world"
    assert (a / "truth.jsonl").read_bytes() == (b / "truth.jsonl").read_bytes()
    assert (a / "parcels.csv").read_bytes() == (b / "parcels.csv").read_bytes()
    truth = load_truth(a / "truth.jsonl")
    with open(a / "parcels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_pid: dict[str, list[dict]] = {}
    for r in rows:
        by_pid.setdefault(r["parcel_id"], []).append(r)
    designs = set()
    for t in truth:
        for d in t["documents"]:
            path = a / d["file"]
            assert path.is_file()
            designs.add(d.get("design"))
            tag = d["degradation"].get("exif_orientation")
            if tag and path.suffix == ".jpg":
                assert Image.open(path).getexif().get(0x0112) == tag
            if d["doc_type"] == "gcn_page1" and t["in_registry"]:
                # the registry was written from the world certificate: owners (heirs too) and serial agree
                reg = by_pid[t["parcel_id"]]
                assert len(reg) == len(d["owners"])
                serials = {r["certificate_serial"].replace(" ", "") for r in reg if r["certificate_serial"]}
                assert serials <= {d["fields"]["certificate_serial"].replace(" ", "")}
    assert designs <= {"world", None} and "world" in designs


def test_classic_sample_set_has_no_world_keys(tmp_path: Path) -> None:
    generate(tmp_path, 2, 3, decoy_parcels=50)
    for t in load_truth(tmp_path / "truth.jsonl"):
        for d in t["documents"]:
            assert not {"design", "features", "layout", "handwritten"} & set(d)
    with pytest.raises(ValueError):
        generate(tmp_path / "x", 1, 3, profile="photoreal")
