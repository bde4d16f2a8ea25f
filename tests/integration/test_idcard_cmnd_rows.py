"""The 9-digit CMND front on its green guilloche form with dotted leaders (real photos: the layout pass
dropped the number, name and birth-date rows, 31% of the fields right): read from the text rows found in
the ink (worker/imaging/formrows.py, worker/extract/idcard/rows.py). Synthetic world renders, read with what
real Tesseract returned for them (tests/plugins/recordings/test_idcard_cmnd_rows.json, `--record-ocr`)."""

from __future__ import annotations

import random

import pytest
from plugins.pages import rendered_page

from fixtures.cards import render_world_card, world_person
from worker.extract import read_document
from worker.ocr import Reader
from worker.vntext import clean

HIGH = 0.9


@pytest.fixture(scope="module")
def reader(recorded_reader: Reader) -> Reader:
    return recorded_reader


# renders whose name and birth-date rows the layout pass alone lost (before the rows were read from the ink)
@pytest.mark.parametrize("seed", [1, 3])
def test_the_cmnd_front_rows_lost_by_the_layout_pass_are_read_and_never_confidently_wrong(
    seed: int, reader: Reader
) -> None:
    rng = random.Random(seed)
    img, truth = render_world_card(world_person(rng, "cmnd_9"), "cmnd_9", "front", rng)
    doc = read_document(rendered_page(img), reader=reader)
    assert doc.doc_type == "cmnd_front"
    want = truth["fields"]
    for key in ("id_number", "full_name", "date_of_birth"):
        assert doc.value(key) == want[key], key
    for key, value in want.items():
        got = doc.fields.get(key)
        if got is not None and clean(str(got.value)) != clean(str(value)):
            assert got.confidence < HIGH, key
