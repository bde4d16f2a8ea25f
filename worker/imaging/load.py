"""Decode the bytes of one scan into raster pages.

Every refusal is an IntakeError with a stable ErrorCode: the worker acknowledges permanent errors instead
of retrying them, so a bad upload must never surface as a generic exception or an out-of-memory kill.
Sizes are checked from headers before any pixel is decoded.
"""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import warnings
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from pdf2image import convert_from_bytes, pdfinfo_from_bytes
from pdf2image.exceptions import PDFInfoNotInstalledError, PDFPageCountError, PDFPopplerTimeoutError, PDFSyntaxError
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.generic import ContentStream

from models.errors import ErrorCode
from models.pages import LoadedPage
from models.settings import Settings, get_settings
from worker.errors import IntakeError

# Only these decoders may run on uploaded bytes. Pillow would otherwise also open EPS (which shells out to
# Ghostscript), ICO, PSD and dozens of rarely audited formats.
RASTER_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "BMP", "GIF")  # JPEG also opens MPO
# Formats whose extra frames are further pages. An MPO (phone JPEG) holds a preview or depth frame and an
# animated GIF/WebP holds animation frames: neither are pages.
_MULTIPAGE_FORMATS = frozenset({"TIFF"})
# Below this rendering resolution a PDF page is no longer worth reading; refuse instead of shrinking.
_MIN_PDF_DPI = 72
_PDF_TIMEOUT_S = 120

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated JPEG is an error, not a grey lower half


def load_pages(
    data: bytes, source: str, *, settings: Settings | None = None, sha256: str | None = None
) -> list[LoadedPage]:
    """Decode a JPEG/PNG/TIFF/WebP/BMP/GIF image or a PDF into pages (BGR uint8, EXIF orientation applied).
    `sha256` is the file's digest when the caller has it already (the file is then not hashed again).

    Raises IntakeError with EMPTY_FILE, FILE_TOO_LARGE, UNSUPPORTED_FORMAT, CORRUPT_IMAGE, CORRUPT_PDF,
    ENCRYPTED_PDF, IMAGE_TOO_LARGE or TOO_MANY_PAGES.
    """
    settings = settings or get_settings()
    if not data:
        raise IntakeError(ErrorCode.EMPTY_FILE, f"{source}: the file is empty (0 bytes); upload it again")
    if len(data) > settings.max_file_bytes:
        raise IntakeError(
            ErrorCode.FILE_TOO_LARGE,
            f"{source}: {len(data)} bytes is over the {settings.max_file_bytes}-byte limit (INTAKE_MAX_FILE_BYTES)",
        )
    sha = sha256 or hashlib.sha256(data).hexdigest()
    # Some producers put junk before the header; the PDF spec allows it within the first 1024 bytes.
    if b"%PDF-" in data[:1024]:
        return _load_pdf(data, source, sha, settings)
    return _load_raster(data, source, sha, settings)


# --------------------------------------------------------------------------------------------- PDF


def _load_pdf(data: bytes, source: str, sha: str, settings: Settings) -> list[LoadedPage]:
    embedded = _embedded_image_pages(data, source, sha, settings)
    if embedded is not None:
        return embedded
    try:
        info = pdfinfo_from_bytes(data, timeout=_PDF_TIMEOUT_S)
    except (PDFPageCountError, PDFSyntaxError) as exc:
        raise _pdf_error(source, str(exc)) from exc
    except PDFPopplerTimeoutError as exc:
        raise IntakeError(ErrorCode.TIMEOUT, f"{source}: reading the PDF took over {_PDF_TIMEOUT_S}s") from exc
    except PDFInfoNotInstalledError as exc:  # pragma: no cover - install problem
        raise IntakeError(ErrorCode.INTERNAL, "poppler-utils is not installed") from exc
    if str(info.get("Encrypted", "no")).startswith("yes") and _needs_password(data):
        raise IntakeError(ErrorCode.ENCRYPTED_PDF, f"{source}: the PDF is password-protected")
    pages = int(info.get("Pages", 0) or 0)
    if pages < 1:
        raise IntakeError(ErrorCode.CORRUPT_PDF, f"{source}: the PDF has no pages")
    if pages > settings.max_pages:
        raise IntakeError(ErrorCode.TOO_MANY_PAGES, f"{source}: {pages} pages, limit {settings.max_pages}")
    sizes = _pdf_page_sizes(data, pages)
    out: list[LoadedPage] = []
    for number in range(1, pages + 1):
        width_pt, height_pt = sizes.get(number, (612.0, 792.0))
        dpi = _pdf_dpi(width_pt, height_pt, settings)
        if dpi < _MIN_PDF_DPI:
            raise IntakeError(
                ErrorCode.IMAGE_TOO_LARGE,
                f"{source}: page {number} is {width_pt / 72 * 25.4:.0f}x{height_pt / 72 * 25.4:.0f} mm; "
                f"it cannot be rendered at {_MIN_PDF_DPI} dpi within {settings.max_image_pixels} pixels",
            )
        try:
            # One page per call keeps peak memory to one rendered page whatever the page count.
            images = convert_from_bytes(
                data, dpi=dpi, first_page=number, last_page=number, timeout=_PDF_TIMEOUT_S, hide_annotations=False
            )
        except (PDFPageCountError, PDFSyntaxError) as exc:
            raise _pdf_error(source, str(exc)) from exc
        except PDFPopplerTimeoutError as exc:
            raise IntakeError(
                ErrorCode.TIMEOUT, f"{source}: rendering page {number} took over {_PDF_TIMEOUT_S}s"
            ) from exc
        if not images:
            raise IntakeError(ErrorCode.CORRUPT_PDF, f"{source}: page {number} could not be rendered")
        out.append(LoadedPage(source=source, page=number, sha256=sha, image=_pil_to_bgr(images[0]), dpi=float(dpi)))
    return out


def _embedded_image_pages(data: bytes, source: str, sha: str, settings: Settings) -> list[LoadedPage] | None:
    """The pages of a scanner- or phone-made PDF whose every page is exactly one full-page JPEG, decoded
    from the embedded JPEG at its own resolution; None for any other PDF (rendered by poppler instead).

    Such a page rendered by poppler at 300 dpi is the same JPEG resampled (usually up from 150-200 dpi),
    at the cost of three subprocesses and a 2-4x larger image for every later stage."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return None  # poppler's path tells owner-only restrictions from a password
        n_pages = len(reader.pages)
        if not 1 <= n_pages <= settings.max_pages:
            return None
        jpegs: list[tuple[bytes, int, float, int]] = []
        for page in reader.pages:
            found = _single_page_jpeg(page, ContentStream(page.get_contents(), reader))
            if found is None:
                return None
            jpegs.append(found)
    except Exception:  # anything pypdf cannot follow is poppler's to judge (and to name the error)
        return None
    out: list[LoadedPage] = []
    for number, (jpeg, width_px, width_in, rotate) in enumerate(jpegs, start=1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies below
                img = Image.open(io.BytesIO(jpeg), formats=("JPEG",))
                if img.mode not in ("RGB", "L") or img.size[0] != width_px:
                    return None
                _check_size(img, source, settings)
                # no EXIF turn: a PDF viewer shows the JPEG's pixels as stored
                image = _decoded_by_opencv(jpeg, img, exif=False)
                image = _pil_to_bgr(img) if image is None else image
        except Image.DecompressionBombError as exc:
            raise IntakeError(ErrorCode.IMAGE_TOO_LARGE, f"{source}: page {number} holds a decompression bomb") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise IntakeError(ErrorCode.CORRUPT_PDF, f"{source}: page {number} holds a damaged image ({exc})") from exc
        if rotate:
            image = np.ascontiguousarray(np.rot90(image, k=-(rotate // 90)))  # /Rotate turns clockwise
        out.append(LoadedPage(source=source, page=number, sha256=sha, image=image, dpi=round(width_px / width_in, 1)))
    return out


def _single_page_jpeg(page: Any, content: Any) -> tuple[bytes, int, float, int] | None:
    """(JPEG bytes, pixel width, page width in inches, /Rotate) when the page draws exactly one RGB or grey
    JPEG over its whole media box and nothing else (no annotations, no text, no vector art)."""
    rotate = int(page.get("/Rotate", 0) or 0) % 360
    if rotate % 90 or "/Annots" in page:
        return None
    box = [float(v) for v in page.mediabox]
    crop = [float(v) for v in page.cropbox]
    if any(abs(a - b) > 0.5 for a, b in zip(box, crop, strict=True)):
        return None
    ops = [op for _operands, op in content.operations]
    if sorted(ops) != sorted([b"q", b"cm", b"Do", b"Q"]) or ops.index(b"cm") > ops.index(b"Do"):
        return None
    matrix = next(operands for operands, op in content.operations if op == b"cm")
    name = next(operands for operands, op in content.operations if op == b"Do")[0]
    a, b, c, d, e, f = (float(v) for v in matrix)
    x0, y0, x1, y1 = box
    tol = 0.01 * max(x1 - x0, y1 - y0)
    if abs(b) > 1e-6 or abs(c) > 1e-6 or abs(a - (x1 - x0)) > tol or abs(d - (y1 - y0)) > tol:
        return None
    if abs(e - x0) > tol or abs(f - y0) > tol:
        return None
    xobj = page["/Resources"]["/XObject"][name].get_object()
    filters = xobj.get("/Filter")
    filters = [filters] if not isinstance(filters, list) else list(filters)
    if xobj.get("/Subtype") != "/Image" or filters != ["/DCTDecode"]:
        return None
    if xobj.get("/ColorSpace") not in ("/DeviceRGB", "/DeviceGray") or int(xobj.get("/BitsPerComponent", 8)) != 8:
        return None
    if any(k in xobj for k in ("/SMask", "/Mask", "/Decode", "/ImageMask")):
        return None
    # the media box is the unturned page, so its width is the image's width whatever /Rotate says
    return xobj.get_data(), int(xobj["/Width"]), (x1 - x0) / 72.0, rotate


def _pdf_error(source: str, text: str) -> IntakeError:
    low = text.lower()
    if "password" in low or "encrypt" in low:
        return IntakeError(ErrorCode.ENCRYPTED_PDF, f"{source}: the PDF is password-protected")
    detail = text.strip().splitlines()[-1][:200] if text.strip() else "unreadable"
    return IntakeError(ErrorCode.CORRUPT_PDF, f"{source}: the PDF cannot be read ({detail})")


def _needs_password(data: bytes) -> bool:
    """True when the PDF cannot be opened without a password.

    An owner-password-only PDF (printing or copying restricted) opens with the empty user password and
    renders fine: that is not "password-protected" for us.
    """
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if not reader.is_encrypted:
            return False
        return not reader.decrypt("")
    except Exception:
        # pypdf lacks the crypto backend for some ciphers; poppler already opened the file, so it can render
        return False


_PAGE_SIZE = re.compile(r"Page\s+(\d+)\s+size:\s+([\d.]+)\s+x\s+([\d.]+)")
_PAGE_ROT = re.compile(r"Page\s+(\d+)\s+rot:\s+(\d+)")


def _pdf_page_sizes(data: bytes, pages: int) -> dict[int, tuple[float, float]]:
    """Page sizes in points (rotation applied), from pdfinfo over all pages."""
    try:
        proc = subprocess.run(
            ["pdfinfo", "-f", "1", "-l", str(pages), "-"],
            input=data,
            capture_output=True,
            timeout=_PDF_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    text = proc.stdout.decode("utf-8", "replace")
    sizes = {int(m[1]): (float(m[2]), float(m[3])) for m in _PAGE_SIZE.finditer(text)}
    for m in _PAGE_ROT.finditer(text):
        n, rot = int(m[1]), int(m[2])
        if n in sizes and rot % 180 == 90:
            sizes[n] = (sizes[n][1], sizes[n][0])
    return sizes


def _pdf_dpi(width_pt: float, height_pt: float, settings: Settings) -> int:
    dpi = float(settings.pdf_dpi)
    pixels = (width_pt / 72 * dpi) * (height_pt / 72 * dpi)
    if pixels > settings.max_image_pixels:
        # A poster-sized page is rendered coarser rather than refused, down to _MIN_PDF_DPI.
        dpi *= (settings.max_image_pixels / pixels) ** 0.5
    return int(dpi)


# ------------------------------------------------------------------------------------------ raster


def _load_raster(data: bytes, source: str, sha: str, settings: Settings) -> list[LoadedPage]:
    try:
        with warnings.catch_warnings():
            # Pillow warns between MAX_IMAGE_PIXELS and twice that; we apply our own limit below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=RASTER_FORMATS)
            fmt = img.format or ""
            n_frames = getattr(img, "n_frames", 1) if fmt in _MULTIPAGE_FORMATS else 1
            if n_frames > settings.max_pages:
                raise IntakeError(ErrorCode.TOO_MANY_PAGES, f"{source}: {n_frames} pages, limit {settings.max_pages}")
            pages: list[LoadedPage] = []
            for index in range(n_frames):
                if index:
                    img.seek(index)
                _check_size(img, source, settings)
                dpi = _dpi_of(img)
                image = _decoded_by_opencv(data, img) if n_frames == 1 else None
                if image is None:
                    image = _pil_to_bgr(ImageOps.exif_transpose(img) or img)
                pages.append(LoadedPage(source=source, page=index + 1, sha256=sha, image=image, dpi=dpi))
            return pages
    except Image.DecompressionBombError as exc:
        raise IntakeError(ErrorCode.IMAGE_TOO_LARGE, f"{source}: refused as a decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise IntakeError(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"{source}: not a supported image or PDF (JPEG, PNG, TIFF, WebP, BMP, GIF and PDF are accepted)",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError) as exc:
        # Pillow's decoders raise a zoo of exception types on damaged files; all mean the same to a user.
        raise IntakeError(ErrorCode.CORRUPT_IMAGE, f"{source}: the image is damaged or truncated ({exc})") from exc
    except MemoryError as exc:
        raise IntakeError(ErrorCode.IMAGE_TOO_LARGE, f"{source}: the image does not fit in memory") from exc


def _check_size(img: Image.Image, source: str, settings: Settings) -> None:
    width, height = img.size
    if width < 1 or height < 1:
        raise IntakeError(ErrorCode.CORRUPT_IMAGE, f"{source}: the image has no pixels ({width}x{height})")
    if width * height > settings.max_image_pixels:
        raise IntakeError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"{source}: {width}x{height} pixels is over the limit ({settings.max_image_pixels}, INTAKE_MAX_IMAGE_PIXELS)",
        )


def _dpi_of(img: Image.Image) -> float | None:
    dpi = img.info.get("dpi")
    try:
        value = float(dpi[0]) if dpi else None
    except (TypeError, ValueError, IndexError):
        return None
    # 1 and 72 dpi are what cameras and screenshot tools write when they know nothing; ignore them
    if value is None or value < 50 or value > 2400 or abs(value - 72) < 0.5:
        return None
    return value


# EXIF orientation → the turn that shows the picture upright (as Pillow's exif_transpose applies it)
_EXIF_TURNS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def _decoded_by_opencv(data: bytes, img: Image.Image, *, exif: bool = True) -> np.ndarray | None:
    """A plain RGB or grey JPEG or PNG decoded straight to BGR by OpenCV (the same libjpeg-turbo and zlib,
    pixel for pixel the same as Pillow's on the sample set, in ~40% of the time: Pillow's path copies the
    picture twice on its way to numpy), its EXIF orientation applied; None for anything else."""
    if img.format not in ("JPEG", "PNG") or img.mode not in ("RGB", "L") or "transparency" in img.info:
        return None
    turn = _EXIF_TURNS.get(int(img.getexif().get(0x0112, 1) or 1)) if exif else None
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if decoded is None or decoded.shape[:2] != (img.size[1], img.size[0]):
        return None  # damaged: Pillow's decoder names the error
    return np.ascontiguousarray(turn(decoded)) if turn else decoded


def _pil_to_bgr(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float scans: stretch to 8 bits by the actual range instead of clipping at 255
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = ((arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)).astype(np.uint8)
        return cv2.cvtColor(scaled, cv2.COLOR_GRAY2BGR)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Transparent pixels are paper, not black
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        img = canvas
    rgb = np.asarray(img.convert("RGB"))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
