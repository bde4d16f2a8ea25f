"""Text rows of a form found from the ink (worker/imaging/formrows.py): the 9-digit CMND front's green
guilloche and red hatch gone, its dotted leaders whitened, its labelled rows found where the form prints them."""

from __future__ import annotations

import random

import cv2
import numpy as np

from fixtures.cards import render_world_card, world_person
from models.elements import Line, TextPage, Word
from worker.extract.idcard.rows import FRONT_REGION, front_region
from worker.imaging.formrows import colourless, find_rows, leader_dots
from worker.raster import components


def _cmnd_front(seed: int = 0) -> np.ndarray:
    rng = random.Random(seed)
    img, _ = render_world_card(world_person(rng, "cmnd_9"), "cmnd_9", "front", rng)
    return cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2BGR)


def test_colour_print_is_paper_and_dark_ink_stays() -> None:
    img = np.full((60, 200, 3), 240, np.uint8)
    img[:, :100] = (110, 200, 120)  # green guilloche (BGR)
    img[20:40, 20:30] = (30, 30, 35)  # a dark stroke on the green
    img[20:40, 150:160] = (60, 60, 210)  # red print
    out = colourless(img)
    assert out[30, 60] > 230 and out[30, 155] > 200  # the green field and the red print are paper
    assert out[30, 25] < 80  # the ink is not


def test_the_labelled_rows_of_a_cmnd_front_are_found() -> None:
    form = find_rows(_cmnd_front(), FRONT_REGION)
    centres = [(r.y0 + r.y1) / 2 for r in form.rows]
    # the generator's rows (reference px of a 1011 x 638 card): number, name, birth date, origin, residence
    for y in (196, 258, 366, 422, 530):
        assert any(abs(c - y) < 0.8 * form.glyph_h for c in centres), (y, centres)
    # every row is one line of text, none two rows run together
    assert all(r.y1 - r.y0 < 2.6 * form.glyph_h for r in form.rows)


def test_leader_dots_are_whitened_and_a_dot_under_a_vowel_is_not() -> None:
    mask = np.zeros((40, 200), np.uint8)
    for x in range(10, 120, 6):  # a dotted leader
        cv2.circle(mask, (x, 30), 1, 255, -1)
    cv2.circle(mask, (170, 30), 1, 255, -1)  # a dot alone (`ạ`)
    mask[5:25, 150:153] = 255  # a glyph
    _n, labels, stats, centres = components(mask)
    dots = leader_dots(stats, centres, glyph_h=20.0)
    assert dots[labels[30, 10]] and dots[labels[30, 64]]
    assert not dots[labels[30, 170]] and not dots[labels[10, 151]]
    # a dot under a letter's foot on the leader's level (`Thụy` typed onto the dotted line) stays
    mask[10:28, 60:68] = 255
    _n, labels, stats, centres = components(mask)
    dots = leader_dots(stats, centres, glyph_h=20.0)
    assert not dots[labels[30, 64]] and dots[labels[30, 10]]
    form = find_rows(_cmnd_front(), FRONT_REGION)
    grey = form.ocr_image()
    # the name's leader runs to x=960 on y=274 (reference px): nothing of it is left
    assert grey[268:280, 900:955].min() > 200


def test_the_rows_region_follows_the_motto_on_a_card_smaller_than_its_photo() -> None:
    def motto(x: int, y: int, w: int) -> TextPage:
        words = [Word(text="CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", confidence=0.9, box=(x, y, w, 20))]
        return TextPage.of_lines([Line.of(words)])

    # a tight crop (the motto in the top 8%) keeps the crop's region
    assert front_region(motto(340, 38, 600), (638, 1012)) == FRONT_REGION
    assert front_region(TextPage(), (638, 1012)) == FRONT_REGION
    # a card photographed on a table, two thirds of the photo's width, lower down: the region moves onto it
    left, top, right, bottom = front_region(motto(500, 200, 400), (1000, 1500))
    card_w = 400 / 0.59
    assert abs(left * 1500 - (500 - 0.34 * card_w + 0.285 * card_w)) < 2
    assert top * 1000 > 200 and right < 1.0 and bottom <= 1.0
