"""Tesseract OCR, returning words with confidences and boxes grouped into lines.

Two backends. `tesserocr` (the C++ API in-process, models loaded once per process and reused) when it is
installed: a line costs ~20 ms there against ~240 ms through pytesseract, which spawns a process and
reloads the model on every call. pytesseract is the fallback, so the package still works without it.

Tesseract is run single-threaded (OMP_THREAD_LIMIT=1): with 2 cores, one process per core beats
Tesseract's own OpenMP threading (see domain.md), and it keeps worker processes independent."""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.errors import ErrorCode
from models.pages import OcrLine, OcrResult, OcrWord
from worker.errors import IntakeError

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

try:  # pragma: no branch - which backend is an install-time fact
    import tesserocr
except ImportError:  # pragma: no cover
    tesserocr = None


def _silence_leptonica() -> None:
    """Leptonica prints harmless complaints ("Error in boxClipToRectangle") straight to stderr, where they
    drown the worker's own log and look like failures to the operator; our checks look at the results instead."""
    if tesserocr is None:
        return
    libs = Path(tesserocr.__file__).resolve().parent.parent / "tesserocr.libs"
    for lib in sorted(libs.glob("libleptonica*.so*")) or sorted(libs.glob("liblept*.so*")):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(str(lib)).setMsgSeverity(6)  # L_SEVERITY_NONE; the wheel's own copy, already loaded


_silence_leptonica()

_TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)


def tessdata_dir() -> str | None:
    """Where the traineddata files are (TESSDATA_PREFIX wins; then the distributions' usual places)."""
    env = os.environ.get("TESSDATA_PREFIX")
    if env and Path(env).is_dir():
        return env
    for d in _TESSDATA_DIRS:
        if Path(d, "eng.traineddata").is_file():
            return d
    return None


def backend() -> str:
    return "tesserocr" if tesserocr is not None and tessdata_dir() else "pytesseract"


# one API object per (thread, lang): they are not thread-safe and loading a model costs ~150 ms; the page
# segmentation mode is switched per call
_local = threading.local()


def _api(lang: str, psm: int) -> Any:  # tesserocr.PyTessBaseAPI
    cache: dict[str, Any] | None = getattr(_local, "apis", None)
    if cache is None:
        cache = _local.apis = {}
    api = cache.get(lang)
    if api is None:
        try:
            api = tesserocr.PyTessBaseAPI(path=f"{tessdata_dir()}/", lang=lang, psm=psm)
        except RuntimeError as exc:
            raise IntakeError(ErrorCode.OCR_ENGINE_FAILED, f"tesseract could not load {lang!r}: {exc}") from exc
        # Tesseract reads every line under 0.7 mean confidence a second time, inverted, in case it is light
        # text on a dark ground. These documents print none, so that read only costs (~1.7% of the
        # pipeline's CPU in field re-reads, ~4% of the layout pass); the speckle it used to keep out of a
        # photocopy's "changes" table is now rejected by confidence there
        api.SetVariable("tessedit_do_invert", "0")
        cache[lang] = api
    api.SetPageSegMode(psm)
    return api


@dataclass
class Symbol:
    text: str
    confidence: float  # 0..1
    # the recogniser's alternatives for this position, best first (text, 0..1); includes `text`
    choices: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class LineReading:
    """One line read with per-character detail: what the lexicon correction and confidences need."""

    text: str
    confidence: float
    words: list[list[Symbol]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def symbols(self) -> list[Symbol]:
        return [s for w in self.words for s in w]


def prepare(image: np.ndarray, *, scale: float = 1.0) -> np.ndarray:
    """Greyscale, optionally upscaled (cubic): small text reads better at ~30 px cap height."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if scale != 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return image


def ocr_image(
    image: np.ndarray,
    *,
    lang: str = "vie",
    psm: int = 6,
    config: str = "",
    timeout_s: float = 60.0,
    whitelist: str | None = None,
    scale: float = 1.0,
) -> OcrResult:
    """OCR a greyscale or BGR image. Returns text plus per-line/per-word confidence (0..1) and boxes.

    Boxes are in the coordinates of the image passed in (upscaling is undone)."""
    started = time.perf_counter()
    img = prepare(image, scale=scale)
    if backend() == "tesserocr" and not config:
        lines = _ocr_tesserocr(img, lang=lang, psm=psm, timeout_s=timeout_s, whitelist=whitelist)
        engine = "tesserocr"
    else:
        extra = f"-c tessedit_char_whitelist={whitelist}" if whitelist else ""
        lines = _ocr_pytesseract(img, lang=lang, psm=psm, config=f"{config} {extra}".strip(), timeout_s=timeout_s)
        engine = "tesseract"
    if scale != 1.0:
        lines = [_rescale_line(line, 1.0 / scale) for line in lines]
    return OcrResult(
        text="\n".join(line.text for line in lines),
        lines=lines,
        engine=engine,
        seconds=time.perf_counter() - started,
    )


def ocr_lines_text(
    image: np.ndarray, *, lang: str = "vie", psm: int = 6, whitelist: str | None = None, scale: float = 1.0
) -> list[str]:
    return [line.text for line in ocr_image(image, lang=lang, psm=psm, whitelist=whitelist, scale=scale).lines]


def read_line(
    image: np.ndarray,
    *,
    lang: str = "vie",
    psm: int = 7,
    whitelist: str | None = None,
    scale: float = 1.0,
    choices: bool = False,
    timeout_s: float = 20.0,
) -> LineReading:
    """Read one text line (or a small block with psm 6) with character confidences and alternatives.

    Needs the tesserocr backend for character detail; with pytesseract the words carry word confidence."""
    started = time.perf_counter()
    img = prepare(image, scale=scale)
    if backend() != "tesserocr":
        res = ocr_image(img, lang=lang, psm=psm, whitelist=whitelist, timeout_s=timeout_s)
        per_word = [[Symbol(ch, w.confidence, [(ch, w.confidence)]) for ch in w.text] for w in res.words]
        conf = float(np.mean([w.confidence for w in res.words])) if res.words else 0.0
        return LineReading(" ".join(line.text for line in res.lines), conf, per_word, time.perf_counter() - started)
    from tesserocr import RIL, iterate_level

    api = _api(lang, psm)
    _configure(api, whitelist=whitelist, choices=choices)
    try:
        _set_image(api, img)
        if not api.Recognize(timeout=int(timeout_s * 1000)):
            raise IntakeError(ErrorCode.TIMEOUT, f"tesseract gave up on a line after {timeout_s}s")
        words: list[list[Symbol]] = []
        it = api.GetIterator()
        current: list[Symbol] = []
        if it is None:  # an empty result iterates as one empty symbol, skipped below
            return LineReading("", 0.0, [], time.perf_counter() - started)
        for r in iterate_level(it, RIL.SYMBOL):
            ch = _text_at(r, RIL.SYMBOL)
            if not ch:
                continue
            if r.IsAtBeginningOf(RIL.WORD) and current:
                words.append(current)
                current = []
            conf = max(0.0, min(1.0, r.Confidence(RIL.SYMBOL) / 100.0))
            alts: list[tuple[str, float]] = [(ch, conf)]
            if choices:
                for c in r.GetChoiceIterator():
                    t = c.GetUTF8Text()
                    if t and t != ch and t not in (a for a, _ in alts):
                        alts.append((t, max(0.0, min(1.0, c.Confidence() / 100.0))))
            current.append(Symbol(ch, conf, alts))
        if current:
            words.append(current)
    finally:
        _reset(api, whitelist=whitelist, choices=choices)
    syms = [s for w in words for s in w]
    text = " ".join("".join(s.text for s in w) for w in words)
    conf = float(np.mean([s.confidence for s in syms])) if syms else 0.0
    return LineReading(text, conf, words, time.perf_counter() - started)


# the resolution tesserocr's PIL path reported (Pillow writes BMPs at 96 dpi): our text sizes were tuned on it
_SOURCE_DPI = 96


def _set_image(api: Any, img: np.ndarray) -> None:
    """Hand a greyscale uint8 array to Tesseract as raw bytes (through PIL, tesserocr encodes and decodes
    an image file on every call: ~6 ms more on a page)."""
    img = np.ascontiguousarray(img)
    api.SetImageBytes(img.tobytes(), img.shape[1], img.shape[0], 1, img.shape[1])
    api.SetSourceResolution(_SOURCE_DPI)


def _configure(api, *, whitelist: str | None, choices: bool) -> None:
    if whitelist:
        api.SetVariable("tessedit_char_whitelist", whitelist)
    if choices:
        api.SetVariable("lstm_choice_mode", "2")


def _reset(api, *, whitelist: str | None, choices: bool) -> None:
    # the API objects are shared per thread: leave no variable behind for the next caller
    if whitelist:
        api.SetVariable("tessedit_char_whitelist", "")
    if choices:
        api.SetVariable("lstm_choice_mode", "0")


def _ocr_tesserocr(img: np.ndarray, *, lang: str, psm: int, timeout_s: float, whitelist: str | None) -> list[OcrLine]:
    from tesserocr import RIL, iterate_level

    api = _api(lang, psm)
    _configure(api, whitelist=whitelist, choices=False)
    try:
        _set_image(api, img)
        if not api.Recognize(timeout=int(timeout_s * 1000)):
            raise IntakeError(ErrorCode.TIMEOUT, f"tesseract timed out after {timeout_s}s")
        lines: list[OcrLine] = []
        it = api.GetIterator()
        words: list[OcrWord] = []
        # an empty result iterates as one empty word with no box, skipped below (asking GetUTF8Text first
        # cost ~3 ms a page: it builds the whole page's text)
        if it is None:
            return []
        for r in iterate_level(it, RIL.WORD):
            text = _text_at(r, RIL.WORD).strip()
            if r.IsAtBeginningOf(RIL.TEXTLINE) and words:
                lines.append(_make_line(words))
                words = []
            if not text:
                continue
            bbox = r.BoundingBox(RIL.WORD)
            if bbox is None:
                continue
            x0, y0, x1, y1 = bbox
            words.append(
                OcrWord(
                    text=text,
                    confidence=max(0.0, min(1.0, r.Confidence(RIL.WORD) / 100.0)),
                    box=(x0, y0, x1 - x0, y1 - y0),
                    line=len(lines),
                )
            )
        if words:
            lines.append(_make_line(words))
        return lines
    finally:
        _reset(api, whitelist=whitelist, choices=False)


def _text_at(r: Any, level: int) -> str:
    """The iterator's text at `level`; tesserocr raises "No text returned" where Tesseract kept a box but no
    text (a speck on a faint card), which is an empty word, not a failed page."""
    try:
        return r.GetUTF8Text(level) or ""
    except RuntimeError:
        return ""


def _make_line(words: list[OcrWord]) -> OcrLine:
    x0 = min(w.box[0] for w in words)
    y0 = min(w.box[1] for w in words)
    x1 = max(w.box[0] + w.box[2] for w in words)
    y1 = max(w.box[1] + w.box[3] for w in words)
    return OcrLine(
        text=" ".join(w.text for w in words),
        confidence=sum(w.confidence for w in words) / len(words),
        box=(x0, y0, x1 - x0, y1 - y0),
        words=words,
    )


def _rescale_line(line: OcrLine, f: float) -> OcrLine:
    def box(b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        return (round(b[0] * f), round(b[1] * f), round(b[2] * f), round(b[3] * f))

    return line.model_copy(
        update={"box": box(line.box), "words": [w.model_copy(update={"box": box(w.box)}) for w in line.words]}
    )


def _ocr_pytesseract(img: np.ndarray, *, lang: str, psm: int, config: str, timeout_s: float) -> list[OcrLine]:
    import pytesseract

    try:
        data = pytesseract.image_to_data(
            img,
            lang=lang,
            config=f"--psm {psm} -c tessedit_do_invert=0 {config}".strip(),
            output_type=pytesseract.Output.DICT,
            timeout=timeout_s,
        )
    except RuntimeError as exc:  # pytesseract raises RuntimeError on timeout
        raise IntakeError(ErrorCode.TIMEOUT, f"tesseract timed out after {timeout_s}s") from exc
    except pytesseract.TesseractError as exc:
        raise IntakeError(ErrorCode.OCR_ENGINE_FAILED, f"tesseract failed: {exc}") from exc
    return _group_lines(data)


def _group_lines(data: dict[str, list]) -> list[OcrLine]:
    by_line: dict[tuple[int, int, int, int], list[OcrWord]] = {}
    order: list[tuple[int, int, int, int]] = []
    for i, text in enumerate(data["text"]):
        text = (text or "").strip()
        conf = float(data["conf"][i])
        if not text or conf < 0:
            continue
        key = (data["page_num"][i], data["block_num"][i], data["par_num"][i], data["line_num"][i])
        if key not in by_line:
            by_line[key] = []
            order.append(key)
        by_line[key].append(
            OcrWord(
                text=text,
                confidence=max(0.0, min(1.0, conf / 100.0)),
                box=(data["left"][i], data["top"][i], data["width"][i], data["height"][i]),
                line=len(order) - 1,
            )
        )
    return [_make_line(by_line[key]) for key in order]
