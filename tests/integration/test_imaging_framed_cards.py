"""Cards that lie inside something card-like or that the first outline misses (issue 19: a card not cut out
is read whole as a page, at two to three times a card's cost): a card in a lamination pouch wider than the
card, a coarse outline whose side a table's streak has tilted.

Synthetic: world-design card renders (fixtures.cards) placed on drawn surroundings, truth corners known."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from bench.imaging import corner_error
from fixtures.cards import render_world_card, world_person
from models.pages import LoadedPage, NormalisedPage
from models.settings import Settings
from worker.imaging import load_pages, normalise_page

SETTINGS = Settings()


def _card_image(generation: str, side: str, seed: int) -> np.ndarray:
    rng = random.Random(seed)
    img, _ = render_world_card(world_person(rng, generation), generation, side, rng)
    return cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2BGR)


def _read(image: np.ndarray) -> list[NormalisedPage]:
    data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    return [p for lp in load_pages(data, "c.jpg", settings=SETTINGS) for p in _norm(lp)]


def _norm(lp: LoadedPage) -> list[NormalisedPage]:
    return normalise_page(lp, settings=SETTINGS)


def _card_in_a_pouch(generation: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The card in a light pouch film much wider than the card (its outline measures 1.83, past a card's
    1.42-1.80), on a dark table; the pouch's edge steps far more than the card's. Returns image and corners."""
    card = _card_image(generation, "front", seed)
    h, w = card.shape[:2]
    mx, mt, mb = int(0.17 * w), int(0.07 * h), int(0.09 * h)
    pw, ph = w + 2 * mx, h + mt + mb
    width, height = pw + int(0.12 * pw), ph + int(0.12 * pw)
    image = np.full((height, width, 3), 40, np.uint8)
    ox, oy = (width - pw) // 2, (height - ph) // 2
    film = 175
    image[oy : oy + ph, ox : ox + pw] = film
    image[oy + mt : oy + mt + h, ox + mx : ox + mx + w] = (card.astype(np.float32) * 0.9 + film * 0.1).astype(np.uint8)
    x0, y0 = ox + mx, oy + mt
    return image, np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]], np.float64)


@pytest.mark.parametrize(("generation", "seed"), [("cmnd_9", 1), ("cmnd_9", 2), ("cccd_chip_2021", 3)])
def test_card_in_a_pouch_wider_than_a_card_is_cut_out(generation: str, seed: int) -> None:
    # a real CMND in a lamination pouch: the pouch's outline and the card's were one group, and the pouch
    # was chosen for its stronger edge, then dropped for its shape, and the card with it: the photo was
    # read whole as a page (or the card as a photographed sheet, by the sheet's coarser refinement)
    image, corners = _card_in_a_pouch(generation, seed)
    (out,) = _read(image)
    assert out.kind == "card"
    assert "perspective:corrected" not in out.warnings
    assert out.corners is not None
    assert corner_error(out.corners, corners) < 0.01
