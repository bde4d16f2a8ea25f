"""Normalisation on generated images with known transforms: orientation and skew round-trips, card detection
and warping, the two-cards sheet and the A3 spread splits, quality defects, clean-up."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from bench.imaging import angle_error, corner_error
from bench.imaging_cases import make_sample, orient, render_card, render_page, rotate_keep
from models.pages import LoadedPage, NormalisedPage
from models.settings import Settings
from worker.imaging import normalise, normalise_page
from worker.imaging.cardprint import print_under_specks
from worker.imaging.deskew import LineEvidence, coarse_angle, line_evidence, refine_angle
from worker.imaging.orientation import half_turn
from worker.imaging.text import glyphs, ink_mask

SETTINGS = Settings()


def _norm(image: np.ndarray, dpi: float | None = None) -> list[NormalisedPage]:
    return normalise_page(LoadedPage(source="t.jpg", page=1, sha256="0" * 64, image=image, dpi=dpi), settings=SETTINGS)


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return cv2.resize(render_page(11), None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize(("orientation", "skew"), [(0, 0.0), (90, 7.3), (180, -12.6), (270, 19.2), (0, -0.4)])
def test_page_orientation_and_skew_round_trip(page: np.ndarray, orientation: int, skew: float) -> None:
    image = orient(rotate_keep(page, skew, fill=(250, 250, 250)), orientation)
    (out,) = _norm(image)
    assert out.kind == "page"
    assert out.orientation_deg == orientation
    assert angle_error(out.skew_deg, skew) < 0.1
    assert out.orientation_confidence >= 0.9
    # the result is upright: its text lines are horizontal again, and it is portrait like the page
    h, w = out.image.shape[:2]
    assert h > w
    assert out.ocr_image.ndim == 2 and out.ocr_image.shape == (h, w)
    assert (out.quality is not None) and "no_text" not in out.quality.defects


def test_tight_card_scan_is_deskewed_from_its_text() -> None:
    rgba = render_card(5)
    card = rgba[:, :, :3].copy()
    card[rgba[:, :, 3] == 0] = 250
    image = orient(
        rotate_keep(
            cv2.copyMakeBorder(card, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=(250, 250, 250)),
            -9.0,
            fill=(250, 250, 250),
        ),
        180,
    )
    (out,) = _norm(image)
    assert out.kind == "card"
    assert out.orientation_deg == 180
    assert angle_error(out.skew_deg, -9.0) < 0.15
    assert out.image.shape[:2] == (638, 1012)


@pytest.mark.parametrize("seed", [3, 4, 8])
def test_card_photo_corners_and_warp(seed: int) -> None:
    s = make_sample("photo", seed)
    (out,) = _norm(s.image)
    assert out.kind == "card"
    assert out.image.shape[:2] == (638, 1012)
    assert out.corners is not None
    assert corner_error(out.corners, s.corners[0]) < 0.01
    assert out.orientation_deg == s.orientation
    # corners come back in the upright card's own order: TL first, matching the truth without a shift
    assert float(np.linalg.norm(np.asarray(out.corners[0]) - s.corners[0][0])) < 0.01 * float(
        np.linalg.norm(s.corners[0][0] - s.corners[0][2])
    )


def test_photocopy_sheet_with_two_cards_is_split() -> None:
    s = make_sample("sheet", 5)
    out = _norm(s.image)
    assert len(out) == 2
    assert [p.part for p in out] == [1, 2]
    assert all(p.page == 1 and p.kind == "card" for p in out)
    assert all("split:2_cards" in p.warnings for p in out)
    # parts are numbered in reading order: part 1 is the upper card
    for p, quad in zip(out, s.corners, strict=True):
        assert p.corners is not None and corner_error(p.corners, quad) < 0.01
    assert all("quality:photocopy" in p.warnings for p in out)


def _two_pages_side_by_side() -> np.ndarray:
    """Two generated certificate pages with an empty gutter between them: an open A3 sheet."""
    left, right = render_page(21), render_page(22)
    gutter = np.full((left.shape[0], 60, 3), 248, np.uint8)
    return cv2.resize(np.hstack([left, gutter, right]), None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)


def test_open_a3_sheet_is_split_into_two_pages() -> None:
    spread = _two_pages_side_by_side()
    out = _norm(rotate_keep(spread, 2.5, fill=(248, 248, 248)))
    assert len(out) == 2
    assert [p.part for p in out] == [1, 2]
    assert all(p.kind == "page" and "split:2_pages" in p.warnings for p in out)
    assert all(angle_error(p.skew_deg, 2.5) < 0.1 for p in out)
    assert all(p.image.shape[0] > p.image.shape[1] for p in out)


def test_single_landscape_page_is_not_split(page: np.ndarray) -> None:
    # a landscape table without an empty gutter stays whole
    wide = cv2.resize(page, (int(page.shape[0] * 1.4), page.shape[0]), interpolation=cv2.INTER_AREA)
    out = _norm(wide)
    assert len(out) == 1 and out[0].part is None


def test_blank_page_is_processed_and_flagged() -> None:
    rng = np.random.default_rng(1)
    blank = np.clip(rng.normal(245, 2, (1200, 850, 3)), 0, 255).astype(np.uint8)
    (out,) = _norm(blank)
    assert out.quality is not None
    assert "no_text" in out.quality.defects
    assert "orientation:no_text" in out.warnings
    assert out.quality.score < 0.5


def test_quality_flags_blur_and_darkness_but_not_a_clean_page(page: np.ndarray) -> None:
    (clean,) = _norm(page, dpi=150)
    assert clean.quality is not None
    assert not {"blurry", "too_dark", "too_bright", "noisy"} & set(clean.quality.defects)
    (blurred,) = _norm(cv2.GaussianBlur(page, (0, 0), 3.0), dpi=150)
    assert blurred.quality is not None and "blurry" in blurred.quality.defects
    assert blurred.quality.score < clean.quality.score
    dark = (page.astype(np.float32) * 0.3).astype(np.uint8)
    (darkened,) = _norm(dark, dpi=150)
    assert darkened.quality is not None and "too_dark" in darkened.quality.defects
    grey = cv2.cvtColor(cv2.cvtColor(page, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    (copied,) = _norm(grey, dpi=150)
    assert copied.quality is not None and "photocopy" in copied.quality.defects
    assert "photocopy" not in clean.quality.defects


def _shaken(image: np.ndarray, length: int, degrees: float) -> np.ndarray:
    """The camera moved `length` px at `degrees` (counter-clockwise from the x axis) during the shot."""
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1.0
    m = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), degrees, 1.0)
    k = cv2.warpAffine(k, m, (length, length))
    return cv2.filter2D(image, -1, k / k.sum())


@pytest.mark.parametrize("degrees", [0, 90])
def test_motion_blur_is_flagged_where_the_sharpest_edges_look_sharp(page: np.ndarray, degrees: float) -> None:
    # smeared along one direction, the edges across the smear stay as steep as a sharp page's: the overall
    # edge spread passed it as sharp, so its OCR image kept the sharp white point and its values their 0.9+
    (shaken,) = _norm(_shaken(page, 9, degrees), dpi=150)
    assert shaken.quality is not None
    assert "blurry" not in shaken.quality.defects and "motion_blur" in shaken.quality.defects
    assert shaken.quality.blurred and "quality:motion_blur" in shaken.warnings
    (clean,) = _norm(page, dpi=150)
    assert clean.quality is not None and not clean.quality.blurred
    assert shaken.quality.score < clean.quality.score
    # blurred all round is the blurry defect, not motion blur
    (blurred,) = _norm(cv2.GaussianBlur(page, (0, 0), 3.0), dpi=150)
    assert blurred.quality is not None and blurred.quality.defects.count("blurry") == 1
    assert "motion_blur" not in blurred.quality.defects


def test_low_resolution_is_flagged(page: np.ndarray) -> None:
    small = cv2.resize(page, None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA)
    (out,) = _norm(small)
    assert out.quality is not None and "low_resolution" in out.quality.defects
    assert "quality:low_resolution" in out.warnings


def test_red_seal_fades_in_the_ocr_image_but_red_title_stays(page: np.ndarray) -> None:
    (out,) = _norm(page, dpi=150)
    colour, ocr = out.image, out.ocr_image
    b, g, r = (colour[:, :, i].astype(int) for i in range(3))
    red = (r - np.maximum(g, b) > 60) & (r > 120)
    assert int(red.sum()) > 500
    # the seal sits in the lower half, the red title in the upper fifth
    rows = np.arange(red.shape[0])[:, None]
    seal = red & (rows > red.shape[0] * 0.45) & (rows < red.shape[0] * 0.92)  # below: the red serial number
    title = red & (rows < red.shape[0] * 0.2)
    assert seal.sum() > 100 and title.sum() > 100
    assert float(ocr[seal].mean()) > 200  # faded to paper
    assert float(ocr[title].mean()) < 150  # still dark enough to read
    # colour original is kept for the review page
    assert colour.ndim == 3


def test_generated_fixture_photocopy_sheet_if_available() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "fixtures" / "sample_set"
    sheets = sorted(root.glob("submissions/*/cccd_photocopy.jpg"))
    if not sheets:
        pytest.skip("no photocopy sheet in the committed fixture set")
    from worker.imaging import load_pages

    (loaded,) = load_pages(sheets[0].read_bytes(), sheets[0].name, settings=SETTINGS)
    out = normalise_page(loaded, settings=SETTINGS)
    assert [p.part for p in out] == [1, 2]
    assert all(p.kind == "card" and p.orientation_deg == 0 for p in out)


def test_normalise_is_deterministic(page: np.ndarray) -> None:
    image = rotate_keep(page, random.Random(3).uniform(-5, 5), fill=(250, 250, 250))
    a, b = _norm(image), _norm(image)
    assert a[0].skew_deg == b[0].skew_deg and np.array_equal(a[0].ocr_image, b[0].ocr_image)


def test_generated_fixture_page_photo_is_perspective_corrected_if_available(
    sample_set_documents: tuple[Path, list[dict[str, Any]]],
) -> None:
    """A certificate page photographed on a table: the sheet's edges give its corners and top-edge angle."""
    from worker.imaging import load_pages

    root, documents = sample_set_documents
    photos = [
        d
        for d in documents
        if d["file"].endswith(".jpg") and d["doc_type"].startswith("gcn") and d["degradation"]["profile"] == "photo"
    ]
    if not photos:
        pytest.skip("no photographed certificate page in the fixture set")
    doc = photos[0]
    (loaded,) = load_pages((root / doc["file"]).read_bytes(), doc["file"], settings=SETTINGS)
    (out,) = normalise_page(loaded, settings=SETTINGS)
    assert out.kind == "page" and "perspective:corrected" in out.warnings
    assert out.orientation_deg == doc["orientation_deg"]
    assert angle_error(out.skew_deg, doc["skew_deg"]) < 0.1
    assert out.corners is not None
    assert corner_error(out.corners, np.asarray(doc["degradation"]["corners"], np.float64)) < 0.01


def _gcn_bench_pages(cert: int, page: int | None = None) -> list[NormalisedPage]:
    """A certificate page of `python -m bench gcn` (seed 23, n=200) as the bench renders it, normalised."""
    from bench.gcn import _cases, _render
    from worker import imaging

    case = next(
        c
        for c in _cases(200, 23, ("gcn_pre2009", "gcn_2009", "gcn_2024_qr"), None)
        if c["cert"] == cert and (page is None or c["page"] == page)
    )
    data, _truth, _params = _render(case)
    return [p for lp in imaging.load_pages(data, "gcn.jpg", settings=SETTINGS) for p in _norm_loaded(lp)]


def test_a_certificate_page_with_a_printed_frame_is_not_taken_for_a_card() -> None:
    """A clean pre-2009 certificate scan (the GCN benchmark's seed 23, #111) whose printed border measures
    1.45:1 square on: it must stay a page, not be warped to an ID-1 card."""
    pages = _gcn_bench_pages(111)
    assert len(pages) == 1
    h, w = pages[0].image.shape[:2]
    assert h > w > 1000  # upright A4 page, not a 1012x638 card
    assert pages[0].orientation_deg == 0


# ------------------------------------------------------------------ ID-card benchmark cases (issue 3)


def _idcard_case(n: int, seed: int, index: int) -> tuple[list[NormalisedPage], dict, dict]:
    """One case of `python -m bench idcards` exactly as the bench makes it: generated card, degradation
    profile, JPEG at quality 90, then load + normalise. Returns the pages, the degradation and the truth."""
    import io

    from bench.idcards import DEFAULT_PROFILES, _cases, render_case
    from worker.imaging import load_pages

    degraded, params, truth = render_case(_cases(n, seed, DEFAULT_PROFILES)[index])
    buf = io.BytesIO()
    degraded.convert("RGB").save(buf, format="JPEG", quality=90)
    pages = [p for lp in load_pages(buf.getvalue(), "bench.jpg", settings=SETTINGS) for p in _norm_loaded(lp)]
    return pages, params, truth


def _norm_loaded(lp: LoadedPage) -> list[NormalisedPage]:
    return normalise_page(lp, settings=SETTINGS)


def test_photographed_card_running_off_a_streaky_table_photo_is_found() -> None:
    # idcards seed 37 #79: a 2024 card front on a dark streaky table, turned 90°, its corner off the image.
    # It came out as a page turned 90° with a 21° skew, marked unreadable.
    pages, params, _ = _idcard_case(400, 37, 79)
    assert params["profile"] == "photo" and params["orientation_deg"] == 90
    (out,) = pages
    assert out.kind == "card"
    assert out.orientation_deg == 90
    assert angle_error(out.skew_deg, params["skew_deg"]) < 0.1
    assert "quality:unreadable" not in out.warnings and "quality:cut_off" in out.warnings
    assert out.corners is not None
    assert corner_error(out.corners, np.asarray(params["corners"], np.float64)) < 0.01


def test_faint_card_front_is_deskewed_from_its_text_not_its_guilloche() -> None:
    # idcards seed 37 #82: a faint card front on a larger scan was deskewed ~10° the wrong way (the 1.5x
    # text fit kept a few glyphs and fitted the wavy guilloche)
    pages, params, _ = _idcard_case(400, 37, 82)
    assert params["profile"] == "faint"
    (out,) = pages
    assert out.kind == "card"
    assert out.orientation_deg == 0
    assert angle_error(out.skew_deg, params["skew_deg"]) < 0.1
    assert out.image.shape[:2] == (638, 1012)
    assert out.corners is not None
    assert corner_error(out.corners, np.asarray(params["corners"], np.float64)) < 0.01


def test_faint_chip_card_crop_keeps_the_whole_qr_code() -> None:
    # idcards seed 23 #128: the top edge of a faint chip CCCD was placed on the top of the QR code and the
    # title 40 px inside the card; the crop cut the QR, which alone carries the old 9-digit number
    from worker.ocr.codes import decode_codes

    pages, params, truth = _idcard_case(200, 23, 128)
    assert params["profile"] == "faint" and truth["card_generation"] == "cccd_chip_2021"
    (out,) = pages
    assert out.kind == "card"
    assert out.corners is not None
    assert corner_error(out.corners, np.asarray(params["corners"], np.float64)) < 0.01
    codes = decode_codes(out.image, qr_only=True)
    assert [c.text for c in codes] == [truth["barcodes"][0]["text"]]
    assert min(y for _, y in codes[0].corners) >= 10  # the finder patterns sit inside the crop


@pytest.mark.parametrize("cert", [6, 52, 55])
def test_a_photographed_certificate_page_is_not_squeezed_into_a_card(cert: int) -> None:
    """Photographed certificate pages in perspective (the GCN benchmark's seed 23) whose outline measures
    card-like: the print inside is page-sized, so they stay pages and their serial stays readable."""
    pages = _gcn_bench_pages(cert, page=1)
    assert len(pages) == 1
    assert pages[0].kind == "page"
    assert min(pages[0].image.shape[:2]) > 1000  # not a 1012x638 card


def test_small_print_page_is_not_enlarged_past_an_a3_spread(page: np.ndarray) -> None:
    # the page's print at a third of its size: the glyph-size rule alone would enlarge it 2.5x (to ~17 Mpx);
    # the page stays within the A3-at-200-dpi budget, right way up
    small = cv2.resize(page, None, fx=0.33, fy=0.33, interpolation=cv2.INTER_AREA)
    tiny_print = cv2.copyMakeBorder(
        small, 0, page.shape[0] - small.shape[0], 0, page.shape[1] - small.shape[1], cv2.BORDER_CONSTANT,
        value=(250, 250, 250),
    )  # fmt: skip
    (out,) = _norm(tiny_print)
    h, w = out.image.shape[:2]
    assert out.kind == "page" and out.orientation_deg == 0
    assert h * w <= 8.5e6 * 1.01  # the budget, give or take rounding of each side
    assert h * w > 2 * tiny_print.shape[0] * tiny_print.shape[1]  # still enlarged for its small print


@pytest.mark.parametrize(
    ("generation", "side", "seed"), [("cccd_barcode_2016", "back", 519568668), ("cancuoc_2024", "front", 895829541)]
)
def test_tight_card_scan_is_the_card_not_a_detail_inside_it(generation: str, side: str, seed: int) -> None:
    # a card-shaped detail of the card (its QR code, a printed box) differs from what surrounds it just as a
    # card on a table does; the scan itself is the card
    from fixtures.idcards import render_card
    from fixtures.people import make_person

    rng = random.Random(seed)
    person = make_person(rng, generation=generation)
    img, _truth = render_card(person, generation, side, rng)
    scan = cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2BGR)
    (out,) = _norm(scan)
    h, w = scan.shape[:2]
    assert out.kind == "card"
    assert corner_error(out.corners, [(0, 0), (w, 0), (w, h), (0, h)]) < 0.01


def test_a_two_column_scan_the_size_of_a_card_is_not_split_into_pages() -> None:
    # the same two-column picture as an A3 spread, but the PDF page says it is 4 inches wide (a card back
    # scanned with a margin: fingerprints on the left, text on the right): one document
    spread = _two_pages_side_by_side()
    w = spread.shape[1]
    assert len(_norm(spread, dpi=w / 16.5)) == 2  # 16.5 in wide: an open A3 certificate, two pages
    small = _norm(spread, dpi=w / 4.0)
    assert len(small) == 1 and "split:2_pages" not in small[0].warnings


@pytest.mark.parametrize("seed", [7131, 11208, 11228])
def test_a_text_block_framed_like_a_card_on_a_page_stays_a_page(seed: int) -> None:
    # bench imaging page sets (seed 7 #131, seed 11 #208 and #228): the text's left margin and a table rule
    # form a card-shaped quadrilateral whose edge cuts through lines of words; it had been warped as a card
    # and read sideways
    s = make_sample("page", seed)
    (out,) = _norm(s.image)
    assert out.kind == "page"
    assert out.orientation_deg == s.orientation
    assert angle_error(out.skew_deg, s.skew_deg) < 0.1


def _grained_card(letters: int) -> np.ndarray:
    """A warped card (1012x638) whose median component is a speck of grain, with `letters` letters of 12 px."""
    grey = np.full((638, 1012), 235, np.uint8)
    rng = np.random.default_rng(2)
    for _ in range(2500):
        x, y = int(rng.integers(5, 1005)), int(rng.integers(5, 630))
        cv2.rectangle(grey, (x, y), (x + 2, y + 4), 150, 1)
    for n in range(letters):
        row, col = divmod(n, 30)
        cv2.putText(grey, "HNA"[n % 3], (300 + col * 22, 50 + row * 48), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 40, 2)
    return grey


def test_a_bare_cmnd_with_small_print_under_grain_is_a_card_and_a_squeezed_page_is_not() -> None:
    # a CMND photographed bare prints 12-14 px, as small as the tail of a page squeezed into a card: what
    # tells them apart is that all of a card's print is that size (hundreds of letters), a page's only a tail
    card = _grained_card(280)
    _, specks = line_evidence(card, 0.0)
    assert specks.height < 8
    assert print_under_specks(card, specks)
    squeezed = _grained_card(60)
    assert not print_under_specks(squeezed, line_evidence(squeezed, 0.0)[1])


def _guilloche_card(marks: int, letter_scale: float, letters: int) -> np.ndarray:
    """A warped card (1012x638) covered in `marks` thin guilloche strokes of 8-9 px, with `letters` letters."""
    grey = np.full((638, 1012), 235, np.uint8)
    rng = np.random.default_rng(3)
    for _ in range(marks):
        x, y = int(rng.integers(5, 1000)), int(rng.integers(5, 620))
        cv2.line(grey, (x, y), (x + int(rng.integers(2, 6)), y + int(rng.integers(7, 9))), 150, 1)
    for n in range(letters):
        row, col = divmod(n, 30)
        step = 30 * letter_scale / 0.8
        cv2.putText(grey, "HNA"[n % 3], (60 + int(col * step), 40 + int(row * 1.9 * step)), cv2.FONT_HERSHEY_SIMPLEX,
                    letter_scale, 40, 2)  # fmt: skip
    return grey


def test_a_chip_card_whose_guilloche_makes_the_median_mark_small_is_still_a_card() -> None:
    # a real chip card on a table: its guilloche's marks brought the median component to 11 px, under the
    # 12 px of a squeezed page, and the card, found and cut out cleanly, was read as a 2560 px page
    card = _guilloche_card(900, 0.8, 280)
    _, marks = line_evidence(card, 0.0)
    assert 8 <= marks.height < 12
    assert print_under_specks(card, marks)
    # a blurred booklet photo of a page, squeezed: its words merge into a few dozen components of that size
    blurred = _guilloche_card(900, 0.8, 60)
    assert not print_under_specks(blurred, line_evidence(blurred, 0.0)[1])
    # a page squeezed into a card: all its print is small, many components of 10 px and more among it
    squeezed = _guilloche_card(0, 0.5, 600)
    _, small = line_evidence(squeezed, 0.0)
    assert small.height < 12
    assert not print_under_specks(squeezed, small)


@pytest.mark.parametrize(
    ("score", "level", "turn", "ask_osd"),
    [
        (-1.0, True, False, False),  # level as captured, weak cues against it: kept, the reading decides
        (-0.1, True, False, False),  # and OSD (wrong on 2 of 4 real captures) is not asked
        (-2.0, True, True, False),  # strong cues turn it
        (-1.0, False, True, False),  # a sideways capture has no preferred half
        (-0.1, False, True, True),  # weak cues on a sideways capture: OSD is asked
        (0.1, True, False, False),
    ],
)
def test_a_capture_whose_text_lies_level_is_turned_half_round_only_on_strong_cues(
    score: float, level: bool, turn: bool, ask_osd: bool
) -> None:
    got_turn, conf, got_osd = half_turn(score, level)
    assert (got_turn, got_osd) == (turn, ask_osd) and 0.5 <= conf <= 1.0


def _text_rows_across_grain(columns: int, dash: int) -> np.ndarray:
    """Nine rows of words on light paper, crossed by `columns` columns of short dark dashes: the grain of a
    wooden table that a full-frame card photo leaves around and through the card's print."""
    rng = random.Random(0)
    img = np.full((1000, 1500), 235, np.uint8)
    words = ("NGUYEN", "VAN", "Ngay", "sinh", "Date", "of", "birth", "Que", "quan", "Place", "origin", "Noi")
    for row in range(9):
        x, y = 60, 120 + row * 95
        while x < 1300:
            word = rng.choice(words)
            cv2.putText(img, word, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1.3, 40, 3)
            x += 40 + 30 * len(word)
    for c in range(columns):
        x, y = 20 + c * (1460 // columns), rng.randint(0, 30)
        while y < 1000:
            cv2.line(img, (x, y), (x + rng.randint(-2, 2), y + dash), 60, 3)
            y += dash + rng.randint(8, 20)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


@pytest.mark.parametrize(("columns", "dash"), [(30, 20), (40, 16), (60, 12)])
def test_text_rows_are_not_turned_sideways_by_grain_running_across_them(columns: int, dash: int) -> None:
    # a real full-frame card photo on a wooden table was turned 90° (and then read sideways, at 16x the
    # CPU): the grain's dashes made the columns score about as sharp as the text rows
    (out,) = _norm(_text_rows_across_grain(columns, dash))
    assert out.orientation_deg == 0
    assert abs(out.skew_deg) < 3.0


@pytest.mark.parametrize(("first", "second", "kept"), [(1.5, -8.0, 0.0), (1.5, 0.1, 1.6), (0.2, 5.0, 0.2)])
def test_a_line_fit_is_trusted_only_when_a_second_fit_confirms_it(
    monkeypatch: pytest.MonkeyPatch, first: float, second: float, kept: float
) -> None:
    # a blurred phone photo of a laminated card: its fitted "lines" said +1.5°, then -8° from there, and the
    # level card was read tilted by 5.6° (no text at all came back); the glyph rows' own angle was right
    grey = cv2.cvtColor(_text_rows_across_grain(0, 10), cv2.COLOR_BGR2GRAY)
    g0 = glyphs(ink_mask(grey))
    rows = refine_angle(g0, coarse_angle(g0)[0])  # the glyph rows' own angle, before any line fit
    real = normalise.line_evidence
    deltas = iter([first, second])

    def fit(image: np.ndarray, angle: float, *, zoom: float = 1.0) -> tuple[LineEvidence, Any]:
        evidence, g = real(image, angle, zoom=zoom)
        return dataclasses.replace(evidence, delta_deg=next(deltas, 0.0)), g

    monkeypatch.setattr(normalise, "line_evidence", fit)
    angle, _, _ = normalise._line_angle(grey, 1.0, g0)
    assert angle == pytest.approx(rows + kept, abs=0.01)
