"""The realistic ("world") generator: card designs, capture profiles, surfaces, handwriting, certificate
pages. Its truth must be as right as the classic generator's, and what it records about a capture (corners,
size, orientation, EXIF) must describe the image it made, or the world benchmarks lie."""

from __future__ import annotations

import io
import random

import cv2
import numpy as np
import pytest
import zxingcpp
from PIL import Image, ImageOps

from fixtures.capture import CARD_PROFILES, PAGE_PROFILES, capture, encode_jpeg
from fixtures.cards import render_world_card, world_person
from fixtures.handwriting import hand_mask
from fixtures.idcards import card_size, qr_payload, render_card
from fixtures.mrz import validate_td1
from fixtures.people import CARD_GENERATIONS
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
    """Normalised cross-correlation of two grey images of one size, after a blur (photo noise)."""
    fa = cv2.GaussianBlur(a.astype(np.float32), (0, 0), 3).ravel()
    fb = cv2.GaussianBlur(b.astype(np.float32), (0, 0), 3).ravel()
    fa, fb = fa - fa.mean(), fb - fb.mean()
    return float(fa @ fb / (np.linalg.norm(fa) * np.linalg.norm(fb) + 1e-6))


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
    p = world_person(random.Random(1), "cccd_chip_2021")
    img, _ = render_world_card(p, "cccd_chip_2021", "front", random.Random(1))
    out, params = capture(img, random.Random(12), profile, kind="card")
    assert params["profile"] == profile and params["size"] == list(out.size)
    c = np.array(params["corners"])
    w, h = out.size
    assert c.shape == (4, 2)
    assert (c[:, 0] >= -2).all() and (c[:, 0] <= w + 2).all() and (c[:, 1] >= -2).all() and (c[:, 1] <= h + 2).all()
    # cut out with the recorded corners (the document's own TL, TR, BR, BL), the capture shows the render
    cut = _unwarp(out, params["corners"], (img.width // 2, img.height // 2))
    ref = cv2.resize(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2GRAY), (img.width // 2, img.height // 2))
    assert _similarity(cut, ref) > 0.7, profile


def test_card_capture_sizes_and_orientation() -> None:
    p = world_person(random.Random(2), "cancuoc_2024")
    img, _ = render_world_card(p, "cancuoc_2024", "front", random.Random(2))
    crop, cp = capture(img, random.Random(3), "crop")
    assert 380 <= crop.width <= 420 and 230 <= crop.height <= 290
    stretched, sp = capture(img, random.Random(3), "stretched")
    assert stretched.size == (640, 640) and sp["stretch"][0] != sp["stretch"][1]
    for seed in range(6):
        phone, pp = capture(img, random.Random(seed), "phone")
        assert 0.1 <= pp["area_fraction"] <= 0.55 and pp["surface"] in SURFACES
        side, sdp = capture(img, random.Random(seed), "sideways")
        assert sdp["orientation_deg"] in (90, 270)
        c = np.array(sdp["corners"])
        assert np.linalg.norm(c[3] - c[0]) > np.linalg.norm(c[1] - c[0]) * 0.4  # the card's height runs along x
    assert crop.width < img.width and cp["dpi"] < 150


def test_exif_capture_is_upright_once_the_tag_is_applied() -> None:
    p = world_person(random.Random(4), "cccd_chip_2021")
    img, _ = render_world_card(p, "cccd_chip_2021", "front", random.Random(4))
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
        turned = {6: lambda x, y: (out.height - y, x), 8: lambda x, y: (y, out.width - x),
                  3: lambda x, y: (out.width - x, out.height - y)}[tag]
        tl, tr = (turned(*c[0]), turned(*c[1]))
        assert tr[0] > tl[0] and abs(tr[1] - tl[1]) < (tr[0] - tl[0]) * 0.4
        assert upright.size == ((out.height, out.width) if tag in (6, 8) else out.size)
    plain, pp = capture(img, random.Random(1), "phone")
    assert Image.open(io.BytesIO(encode_jpeg(plain, pp))).getexif().get(0x0112) is None


def test_worn_capture_records_its_wear_and_is_deterministic() -> None:
    p = world_person(random.Random(7), "cmnd_9")
    img, _ = render_world_card(p, "cmnd_9", "front", random.Random(7))
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
    p = world_person(random.Random(1), "cccd_chip_2021")
    img, _ = render_world_card(p, "cccd_chip_2021", "front", random.Random(1))
    from fixtures.degrade import degrade

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
