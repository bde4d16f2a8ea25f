"""A recorded reader: what Tesseract returned, replayed, so that extraction tests run without the engine.

The model is OCRmyPDF's tests/plugins, whose fake OCR engines stand in for Tesseract where a test is about
the pipeline around it. Here the stand-in replays real readings: run a test module once with
`--record-ocr` and every call its code makes to the reader (method, parameters, the image's shape and
digest) is written with Tesseract's answer to tests/plugins/recordings/<module>.json; a normal run answers
the same calls from that file. The element tree (models/elements.py) round-trips through JSON unchanged.

Matching: a call is answered by the recording of the same method and parameters on a byte-identical image;
an image that differs only by a rounding in another platform's renderer falls back to the next unused
recording of the same method, parameters and image size. A call with no recording fails and says how to
record again: a change to what an extractor reads (a new re-read, other settings) needs a new recording,
which the diff then shows.

    def test_something(recorded_reader):
        doc = read_document(page, reader=recorded_reader)
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.elements import Line, TextPage, Word
from worker.ocr.reader import Reader, ReadOptions, TesseractReader

RECORDINGS = Path(__file__).resolve().parent / "recordings"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-ocr",
        action="store_true",
        default=False,
        help="run the real Tesseract reader and record its answers for the recorded_reader fixture",
    )


def _call(method: str, image: np.ndarray, options: ReadOptions | None) -> tuple[str, str, str]:
    """(what was asked, the image's size, the image's digest): the keys a recording is found by."""
    image = np.ascontiguousarray(image)
    params = {} if options is None else {**asdict(options), "scale": round(options.scale, 4)}
    asked = json.dumps({"method": method, **params}, sort_keys=True)
    size = f"{image.dtype}{list(image.shape)}"
    return asked, size, hashlib.sha1(image.tobytes()).hexdigest()


class RecordingReader(Reader):
    """The real reader, with every call and answer written down."""

    def __init__(self, reader: TesseractReader) -> None:
        self.reader = reader
        self.lang = reader.lang
        self.calls: list[dict[str, Any]] = []

    def _keep(self, call: tuple[str, str, str], answer: Any) -> None:
        asked, size, digest = call
        self.calls.append({"asked": asked, "size": size, "digest": digest, "answer": answer})

    def read_page(self, image: np.ndarray, options: ReadOptions) -> TextPage:
        page = self.reader.read_page(image, options)
        self._keep(_call("read", image, options), page.model_dump(mode="json"))
        return page

    def read_characters(self, image: np.ndarray, options: ReadOptions) -> Line:
        line = self.reader.read_characters(image, options)
        self._keep(_call("read_line", image, options), line.model_dump(mode="json"))
        return line

    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        answer = self.reader.orientation(image)
        self._keep(_call("orientation", image, None), list(answer) if answer is not None else None)
        return answer

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"recorded_with": "TesseractReader", "lang": self.lang, "calls": self.calls}
        path.write_text(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


class MissingRecording(LookupError):
    pass


class ReplayReader(Reader):
    """Answers each call from a recording (see the module docstring for how calls are matched)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        body = json.loads(path.read_text(encoding="utf-8"))
        self.lang = body["lang"]
        self._exact: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
        self._by_size: dict[tuple[str, str], list[list[Any]]] = defaultdict(list)
        self.inexact = 0  # calls answered by size alone: the image differed from the recorded one
        for call in body["calls"]:
            entry = [call["answer"], False]  # the answer, and whether a call has used it
            self._exact[(call["asked"], call["size"], call["digest"])].append(entry)
            self._by_size[(call["asked"], call["size"])].append(entry)

    def _answer(self, method: str, image: np.ndarray, options: ReadOptions | None) -> Any:
        asked, size, digest = _call(method, image, options)
        exact = self._exact.get((asked, size, digest))
        if exact:
            # the same image read the same way more than once gives the same answer every time
            entry = next((e for e in exact if not e[1]), exact[0])
        else:
            entry = next((e for e in self._by_size.get((asked, size), []) if not e[1]), None)
            self.inexact += 1
            if entry is None:
                raise MissingRecording(
                    f"{self.path.name} has no recorded {asked} on a {size} image: the code reads something "
                    "new; record again with `pytest --record-ocr` on this test module"
                )
        entry[1] = True
        return entry[0]

    def read_page(self, image: np.ndarray, options: ReadOptions) -> TextPage:
        return TextPage.model_validate(self._answer("read", image, options))

    def read_characters(self, image: np.ndarray, options: ReadOptions) -> Line:
        return Line.model_validate(self._answer("read_line", image, options))

    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        answer = self._answer("orientation", image, None)
        return (int(answer[0]), float(answer[1])) if answer is not None else None


@pytest.fixture(scope="module")
def recorded_reader(request: pytest.FixtureRequest) -> Iterator[RecordingReader | ReplayReader]:
    """The reader a test module's extraction runs on: replayed from tests/plugins/recordings/<module>.json,
    or with `--record-ocr` the real Tesseract reader, recorded to that file at the end of the module."""
    path = RECORDINGS / f"{Path(str(request.node.path)).stem}.json"
    if request.config.getoption("--record-ocr"):
        recorder = RecordingReader(TesseractReader("vie"))
        yield recorder
        recorder.save(path)
    else:
        if not path.is_file():
            pytest.fail(f"no OCR recording {path.name}: run this module once with `pytest --record-ocr`")
        yield ReplayReader(path)


class ScriptedReader(Reader):
    """A fake engine: each line read answers with the next scripted text, as Tesseract would return it, at
    0.99; pages read as empty."""

    lang = "vie"

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)

    def read_characters(self, image: np.ndarray, options: ReadOptions) -> Line:
        text = self.answers.pop(0) if self.answers else ""
        return Line.of([Word(text=t, confidence=0.99) for t in text.split()], confidence=0.99)

    def read_page(self, image: np.ndarray, options: ReadOptions) -> TextPage:
        return TextPage.of_lines([])

    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        return None
