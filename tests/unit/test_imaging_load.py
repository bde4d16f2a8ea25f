"""Loader: every supported format loads, every bad input maps to its stable error code without crashing."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfWriter

from models.errors import ErrorCode
from models.settings import Settings
from worker.errors import IntakeError
from worker.imaging import load_pages

SETTINGS = Settings()


def _jpeg(size: tuple[int, int] = (400, 300), **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 180, 160)).save(buf, "JPEG", **kw)
    return buf.getvalue()


def _pdf(*sizes: tuple[float, float], password: str | None = None, owner: str | None = None) -> bytes:
    w = PdfWriter()
    for width, height in sizes:
        w.add_blank_page(width, height)
    if password is not None or owner is not None:
        w.encrypt(password or "", owner or password, algorithm="RC4-128")
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _code(data: bytes, name: str, settings: Settings = SETTINGS) -> ErrorCode:
    with pytest.raises(IntakeError) as info:
        load_pages(data, name, settings=settings)
    assert name in info.value.message
    return info.value.code


def test_zero_bytes() -> None:
    assert _code(b"", "empty.jpg") == ErrorCode.EMPTY_FILE


def test_truncated_jpeg() -> None:
    data = _jpeg((800, 600))
    assert _code(data[: len(data) // 2], "cut.jpg") == ErrorCode.CORRUPT_IMAGE


def test_decompression_bomb_png_is_refused_before_decoding() -> None:
    buf = io.BytesIO()
    Image.new("1", (30000, 30000)).save(buf, "PNG")  # ~100 kB on disk, 900 megapixels decoded
    assert _code(buf.getvalue(), "bomb.png") == ErrorCode.IMAGE_TOO_LARGE


def test_pixel_limit_is_configurable() -> None:
    small_limit = Settings(max_image_pixels=100_000)
    assert _code(_jpeg((400, 300)), "big.jpg", small_limit) == ErrorCode.IMAGE_TOO_LARGE


def test_text_file_named_jpg() -> None:
    assert _code(b"this is not an image\n" * 20, "notes.jpg") == ErrorCode.UNSUPPORTED_FORMAT


def test_eps_is_not_decoded() -> None:
    # Pillow would hand EPS to Ghostscript; the allow-list must refuse it
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    assert _code(eps, "x.eps") == ErrorCode.UNSUPPORTED_FORMAT


def test_file_byte_limit() -> None:
    assert _code(_jpeg(), "a.jpg", Settings(max_file_bytes=100)) == ErrorCode.FILE_TOO_LARGE


def test_encrypted_pdf() -> None:
    assert _code(_pdf((595, 842), password="secret"), "locked.pdf") == ErrorCode.ENCRYPTED_PDF


def test_owner_password_only_pdf_still_loads() -> None:
    pages = load_pages(_pdf((595, 842), owner="owner"), "restricted.pdf", settings=SETTINGS)
    assert len(pages) == 1


def test_corrupt_pdf() -> None:
    assert _code(_pdf((595, 842))[:150], "broken.pdf") == ErrorCode.CORRUPT_PDF


def test_poster_sized_pdf_page_is_refused() -> None:
    assert _code(_pdf((595 * 40, 842 * 40)), "poster.pdf") == ErrorCode.IMAGE_TOO_LARGE


def test_too_many_pages() -> None:
    assert _code(_pdf(*[(200, 200)] * 4), "many.pdf", Settings(max_pages=3)) == ErrorCode.TOO_MANY_PAGES


def test_pdf_pages_render_at_configured_dpi_with_their_own_sizes() -> None:
    pages = load_pages(_pdf((595.276, 841.89), (841.89, 595.276)), "two.pdf", settings=Settings(pdf_dpi=100))
    assert [p.page for p in pages] == [1, 2]
    h, w = pages[0].image.shape[:2]
    assert abs(h - 1169) <= 1 and abs(w - 827) <= 1  # A4 portrait at 100 dpi
    assert pages[1].image.shape[:2] == (w, h)
    assert all(p.dpi == 100.0 for p in pages)


def _scanned_pdf(rotate: int = 0) -> bytes:
    """A scanner-made PDF: each page one full-page JPEG at 150 dpi (a dark mark at its top left)."""
    pages = []
    for colour in ((250, 250, 245), (230, 240, 250)):
        img = Image.new("RGB", (300, 420), colour)
        img.paste((0, 0, 0), (0, 0, 40, 40))
        pages.append(img)
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=150.0, quality=95)
    if not rotate:
        return buf.getvalue()
    from pypdf import PdfReader

    w = PdfWriter()
    for page in PdfReader(io.BytesIO(buf.getvalue())).pages:
        w.add_page(page).rotate(rotate)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_scanned_pdf_pages_are_their_embedded_jpegs_at_native_resolution() -> None:
    pages = load_pages(_scanned_pdf(), "scan.pdf", settings=Settings(pdf_dpi=300))
    assert [p.page for p in pages] == [1, 2]
    assert all(p.image.shape == (420, 300, 3) and p.dpi == 150.0 for p in pages)  # not resampled to 300 dpi
    assert pages[0].image[:30, :30].mean() < 40 and pages[0].image[-30:, -30:].mean() > 200
    assert tuple(int(v) for v in pages[1].image[200, 200]) != tuple(int(v) for v in pages[0].image[200, 200])


def test_scanned_pdf_page_rotation_matches_poppler() -> None:
    from pdf2image import convert_from_bytes

    data = _scanned_pdf(rotate=90)
    page = load_pages(data, "turned.pdf", settings=SETTINGS)[0]
    assert page.image.shape[:2] == (300, 420) and page.dpi == 150.0
    rendered = np.asarray(convert_from_bytes(data, dpi=150, first_page=1, last_page=1)[0].convert("L"))
    assert rendered.shape == page.image.shape[:2]
    # the mark is where poppler draws it (top right after a clockwise quarter turn)
    assert page.image[:30, -30:].mean() < 40 and rendered[:30, -30:].mean() < 40


def test_scanned_pdf_page_over_the_pixel_limit_is_refused() -> None:
    assert _code(_scanned_pdf(), "big.pdf", Settings(max_image_pixels=100_000)) == ErrorCode.IMAGE_TOO_LARGE


def test_pdf_page_that_is_not_one_image_is_rendered() -> None:
    data = _pdf((595.276, 841.89))  # vector page (no image at all): rendered by poppler at the configured dpi
    assert load_pages(data, "vector.pdf", settings=Settings(pdf_dpi=100))[0].dpi == 100.0


def test_multipage_tiff_and_webp() -> None:
    frames = [Image.new("RGB", (300, 200), c) for c in ("red", "green", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    pages = load_pages(buf.getvalue(), "three.tif", settings=SETTINGS)
    assert [p.page for p in pages] == [1, 2, 3]
    assert tuple(pages[2].image[0, 0]) == (255, 0, 0)  # BGR: blue
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), "white").save(buf, "WEBP")
    assert load_pages(buf.getvalue(), "a.webp", settings=SETTINGS)[0].image.shape == (240, 320, 3)


def test_exif_orientation_and_dpi_are_honoured() -> None:
    img = Image.new("RGB", (300, 200), "white")
    img.paste((0, 0, 0), (0, 0, 30, 30))  # a black mark at the top left
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, dpi=(300, 300))
    page = load_pages(buf.getvalue(), "phone.jpg", settings=SETTINGS)[0]
    assert page.image.shape[:2] == (300, 200)
    assert page.image[10, 190].mean() < 60  # the mark is now at the top right
    assert page.dpi == 300.0


def test_sixteen_bit_and_transparent_images() -> None:
    arr = (np.arange(200 * 300, dtype=np.uint16).reshape(200, 300) * 10).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    page = load_pages(buf.getvalue(), "deep.png", settings=SETTINGS)[0]
    assert page.image.dtype == np.uint8 and page.image.max() == 255 and page.image.min() == 0
    buf = io.BytesIO()
    Image.new("RGBA", (50, 40), (0, 0, 0, 0)).save(buf, "PNG")
    assert load_pages(buf.getvalue(), "clear.png", settings=SETTINGS)[0].image.min() == 255


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_as_pillow_applies_it(fmt: str, orientation: int) -> None:
    # plain JPEGs and PNGs are decoded by OpenCV and turned by our own table; Pillow's exif_transpose is
    # the reference for all eight EXIF values
    from PIL import ImageOps

    rng = np.random.default_rng(orientation)
    pixels = (rng.random((60, 90, 3)) * 255).astype(np.uint8)
    pixels[:10, :20] = 0  # a dark corner makes every turn and flip tell apart
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, fmt, exif=exif.tobytes(), quality=95)
    data = buf.getvalue()
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))[:, :, ::-1]
    (page,) = load_pages(data, f"x.{fmt.lower()}")
    assert page.image.shape == expected.shape
    assert np.array_equal(page.image, expected)
