"""The Tesseract binding: the only module that talks to the engine (through worker/ocr/reader.py's
TesseractReader, the extractors' and the imaging stage's one way to it).

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
from pathlib import Path
from typing import Any

import numpy as np
import pytesseract

from models.elements import Block, Line, Symbol, TextPage, Word, union
from models.errors import ErrorCode
from worker.errors import IntakeError

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

try:  # pragma: no branch - which backend is an install-time fact (tesserocr has no wheel everywhere)
    import tesserocr
    from tesserocr import RIL, iterate_level
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
        # text on a dark ground: these documents print none, so that read would only cost time
        api.SetVariable("tessedit_do_invert", "0")
        cache[lang] = api
    api.SetPageSegMode(psm)
    return api


# the resolution tesserocr's PIL path reported (Pillow writes BMPs at 96 dpi): our text sizes were tuned on it
_SOURCE_DPI = 96


def _set_image(api: Any, img: np.ndarray) -> None:
    """Hand a greyscale uint8 array to Tesseract as raw bytes (through PIL, tesserocr encodes and decodes
    an image file on every call: ~6 ms more on a page)."""
    img = np.ascontiguousarray(img)
    api.SetImageBytes(img.tobytes(), img.shape[1], img.shape[0], 1, img.shape[1])
    api.SetSourceResolution(_SOURCE_DPI)


def _configure(api: Any, *, whitelist: str | None, choices: bool) -> None:
    if whitelist:
        api.SetVariable("tessedit_char_whitelist", whitelist)
    if choices:
        api.SetVariable("lstm_choice_mode", "2")


def _reset(api: Any, *, whitelist: str | None, choices: bool) -> None:
    # the API objects are shared per thread: leave no variable behind for the next caller, and no copy of
    # the image with its recognition results (tens of MB on an 8 MP page) held until the next call or file
    api.Clear()
    if whitelist:
        api.SetVariable("tessedit_char_whitelist", "")
    if choices:
        api.SetVariable("lstm_choice_mode", "0")


def _confidence(value: float) -> float:
    return max(0.0, min(1.0, value / 100.0))


def _text_at(r: Any, level: int) -> str:
    """The iterator's text at `level`; tesserocr raises "No text returned" where Tesseract kept a box but no
    text (a speck on a faint card), which is an empty word, not a failed page."""
    try:
        return r.GetUTF8Text(level) or ""
    except RuntimeError:
        return ""


def _box(bbox: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = bbox
    return (x0, y0, x1 - x0, y1 - y0)


def read_page(img: np.ndarray, *, lang: str, psm: int, whitelist: str | None, timeout_s: float) -> TextPage:
    """Words with confidences and boxes, grouped into lines and blocks as Tesseract segmented the image
    (a greyscale uint8 image)."""
    if backend() != "tesserocr":
        return _page_pytesseract(img, lang=lang, psm=psm, whitelist=whitelist, timeout_s=timeout_s)
    api = _api(lang, psm)
    _configure(api, whitelist=whitelist, choices=False)
    try:
        _set_image(api, img)
        if not api.Recognize(timeout=int(timeout_s * 1000)):
            raise IntakeError(ErrorCode.TIMEOUT, f"tesseract timed out after {timeout_s}s")
        it = api.GetIterator()
        # an empty result iterates as one empty word with no box, skipped below (asking GetUTF8Text first
        # cost ~3 ms a page: it builds the whole page's text)
        if it is None:
            return TextPage()
        blocks: list[Block] = []
        lines: list[Line] = []
        words: list[Word] = []
        for r in iterate_level(it, RIL.WORD):
            text = _text_at(r, RIL.WORD).strip()
            if r.IsAtBeginningOf(RIL.TEXTLINE) and words:
                lines.append(Line.of(words))
                words = []
            if r.IsAtBeginningOf(RIL.BLOCK) and lines:
                blocks.append(Block.model_construct(lines=lines))
                lines = []
            if not text:
                continue
            bbox = r.BoundingBox(RIL.WORD)
            if bbox is None:
                continue
            words.append(
                Word.model_construct(
                    text=text, confidence=_confidence(r.Confidence(RIL.WORD)), box=_box(bbox), symbols=[]
                )
            )
        if words:
            lines.append(Line.of(words))
        if lines:
            blocks.append(Block.model_construct(lines=lines))
        return TextPage.model_construct(blocks=blocks)
    finally:
        _reset(api, whitelist=whitelist, choices=False)


def read_symbols(
    img: np.ndarray, *, lang: str, psm: int, whitelist: str | None, choices: bool, timeout_s: float
) -> Line:
    """One line (or a small block with psm 6) character by character: each word's symbols with their
    confidences and, with `choices`, the recogniser's alternatives. The line's confidence is the mean of
    its characters'. Needs the tesserocr backend for character detail; with pytesseract each character
    carries its word's confidence."""
    if backend() != "tesserocr":
        return _symbols_pytesseract(img, lang=lang, psm=psm, whitelist=whitelist, timeout_s=timeout_s)
    api = _api(lang, psm)
    _configure(api, whitelist=whitelist, choices=choices)
    try:
        _set_image(api, img)
        if not api.Recognize(timeout=int(timeout_s * 1000)):
            raise IntakeError(ErrorCode.TIMEOUT, f"tesseract gave up on a line after {timeout_s}s")
        it = api.GetIterator()
        if it is None:  # an empty result iterates as one empty symbol, skipped below
            return Line.model_construct(text="", confidence=0.0, box=(0, 0, 0, 0), words=[])
        words: list[Word] = []
        current: list[Symbol] = []
        box = (0, 0, 0, 0)
        for r in iterate_level(it, RIL.SYMBOL):
            ch = _text_at(r, RIL.SYMBOL)
            if not ch:
                continue
            if r.IsAtBeginningOf(RIL.WORD):
                if current:
                    words.append(_symbol_word(current, box))
                    current = []
                bbox = r.BoundingBox(RIL.WORD)
                box = _box(bbox) if bbox is not None else (0, 0, 0, 0)
            conf = _confidence(r.Confidence(RIL.SYMBOL))
            alts: list[tuple[str, float]] = [(ch, conf)]
            if choices:
                for c in r.GetChoiceIterator():
                    t = c.GetUTF8Text()
                    if t and t != ch and t not in (a for a, _ in alts):
                        alts.append((t, _confidence(c.Confidence())))
            current.append(Symbol.model_construct(text=ch, confidence=conf, choices=alts))
        if current:
            words.append(_symbol_word(current, box))
    finally:
        _reset(api, whitelist=whitelist, choices=choices)
    syms = [s.confidence for w in words for s in w.symbols]
    return Line.model_construct(
        text=" ".join(w.text for w in words),
        confidence=float(np.mean(syms)) if syms else 0.0,
        box=union(w.box for w in words),
        words=words,
    )


def _symbols_pytesseract(img: np.ndarray, *, lang: str, psm: int, whitelist: str | None, timeout_s: float) -> Line:
    page = _page_pytesseract(img, lang=lang, psm=psm, whitelist=whitelist, timeout_s=timeout_s)
    words = [
        w.model_copy(
            update={
                "symbols": [Symbol(text=ch, confidence=w.confidence, choices=[(ch, w.confidence)]) for ch in w.text]
            }
        )
        for w in page.words
    ]
    return Line.model_construct(
        text=" ".join(line.text for line in page.lines),
        confidence=float(np.mean([w.confidence for w in words])) if words else 0.0,
        box=union(w.box for w in words),
        words=words,
    )


def _symbol_word(symbols: list[Symbol], box: tuple[int, int, int, int]) -> Word:
    conf = sum(s.confidence for s in symbols) / len(symbols)
    return Word.model_construct(text="".join(s.text for s in symbols), confidence=conf, box=box, symbols=symbols)


def _page_pytesseract(img: np.ndarray, *, lang: str, psm: int, whitelist: str | None, timeout_s: float) -> TextPage:
    extra = f" -c tessedit_char_whitelist={whitelist}" if whitelist else ""
    try:
        data = pytesseract.image_to_data(
            img,
            lang=lang,
            config=f"--psm {psm} -c tessedit_do_invert=0{extra}",
            output_type=pytesseract.Output.DICT,
            timeout=timeout_s,
        )
    except RuntimeError as exc:  # pytesseract raises RuntimeError on timeout
        raise IntakeError(ErrorCode.TIMEOUT, f"tesseract timed out after {timeout_s}s") from exc
    except pytesseract.TesseractError as exc:
        raise IntakeError(ErrorCode.OCR_ENGINE_FAILED, f"tesseract failed: {exc}") from exc
    return _group_tsv(data)


def _group_tsv(data: dict[str, list[Any]]) -> TextPage:
    """Tesseract's TSV rows (one per word) into blocks and lines by their block/paragraph/line numbers."""
    by_line: dict[tuple[int, int, int, int], list[Word]] = {}
    for i, text in enumerate(data["text"]):
        text = (text or "").strip()
        conf = float(data["conf"][i])
        if not text or conf < 0:
            continue
        key = (data["page_num"][i], data["block_num"][i], data["par_num"][i], data["line_num"][i])
        by_line.setdefault(key, []).append(
            Word(
                text=text,
                confidence=_confidence(conf),
                box=(data["left"][i], data["top"][i], data["width"][i], data["height"][i]),
            )
        )
    blocks: dict[tuple[int, int], list[Line]] = {}
    for key, words in by_line.items():
        blocks.setdefault(key[:2], []).append(Line.of(words))
    return TextPage(blocks=[Block(lines=lines) for lines in blocks.values()])


def osd(grey: np.ndarray, *, timeout_s: float = 10.0) -> tuple[int, float] | None:
    """Tesseract's orientation and script detection: (degrees to turn clockwise to make the image upright,
    OSD's own confidence, a score of a few units), or None when it has no opinion. In-process through
    tesserocr, with the same answers the command line prints: ~0.27 CPU-s a call against ~0.47 s for a
    `tesseract --psm 0` subprocess. The `osd` model is loaded for the call and let go after it (0.05 s):
    kept, it would hold 36 MB in every worker for a question asked of a few pages in a hundred."""
    if backend() != "tesserocr" or grey.ndim != 2:
        return _osd_pytesseract(grey, timeout_s=timeout_s)
    img = np.ascontiguousarray(grey)
    try:
        api = tesserocr.PyTessBaseAPI(path=f"{tessdata_dir()}/", lang="osd", psm=_PSM_OSD_ONLY)
    except RuntimeError:
        return _osd_pytesseract(grey, timeout_s=timeout_s)
    try:
        # no source resolution: like the command line on a PNG without one, Tesseract estimates it
        api.SetImageBytes(img.tobytes(), img.shape[1], img.shape[0], 1, img.shape[1])
        found = api.DetectOrientationScript()
    finally:
        api.End()
    if not found:
        return None
    # the command line prints the confidence to two decimals, and the decisions were tuned on that
    return (360 - int(found["orient_deg"])) % 360, round(float(found["orient_conf"]), 2)


_PSM_OSD_ONLY = 0


def _osd_pytesseract(grey: np.ndarray, *, timeout_s: float) -> tuple[int, float] | None:
    try:
        result = pytesseract.image_to_osd(grey, output_type=pytesseract.Output.DICT, timeout=timeout_s, config="--psm 0")
    except (pytesseract.TesseractError, RuntimeError):
        return None
    return int(result.get("rotate", 0)) % 360, float(result.get("orientation_conf", 0.0))
