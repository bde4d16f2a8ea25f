"""Helpers the ID-card reader tests share: a generated card front as the reader sees it, and the real set
scorer's idea of the same place."""

from __future__ import annotations

import random
import re

import cv2
import numpy as np

from fixtures.idcards import render_card
from fixtures.people import Person


def front_grey(p: Person) -> np.ndarray:
    """The person's card front, rendered clean (seed 7) and greyscale."""
    img, _ = render_card(p, p.card_generation, "front", random.Random(7))
    return cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2GRAY)


def same_place(got: object, want: str) -> bool:
    """As the real set's scorer compares places: punctuation and case never decide."""

    def norm(s: str) -> str:
        return " ".join(re.sub(r"[^\w\s]", " ", s).split()).casefold()

    return isinstance(got, str) and norm(got) == norm(want)
