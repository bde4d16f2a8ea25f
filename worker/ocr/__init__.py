"""Read stage: the reader seam over Tesseract, plus the machine-readable zones (MRZ, QR) that need no guessing.

Public API:
    Reader                                      what extractors and imaging read text through:
        .read(image, psm=, lang=, whitelist=, scale=) -> TextPage      blocks, lines, words with confidences, boxes
        .read_line(image, psm=, lang=, whitelist=, scale=, choices=) -> Line   per-character detail
        .orientation(image) -> (degrees, score) | None                 orientation detection
    TesseractReader(lang)                       the production reader (tesserocr in-process, pytesseract fallback);
                                                an engine implements read_page/read_characters(image, ReadOptions)
    read_mrz(image, reader) -> MrzResult | None  TD1 zone, every ICAO check digit verified, confusions repaired
    parse_td1(lines) -> MrzResult               the same from three text lines
    decode_codes(image) -> list[DecodedCode]    QR codes and barcodes (zxing-cpp, OpenCV fallback)
    read_cccd_qr(image) -> (CccdQr, DecodedCode) | None, parse_cccd_qr(text) -> CccdQr | None
"""

from worker.ocr.codes import CccdQr, DecodedCode, decode_codes, parse_cccd_qr, read_cccd_qr
from worker.ocr.mrz import MrzResult, check_digit, parse_td1, read_mrz
from worker.ocr.reader import Reader, ReadOptions, TesseractReader
from worker.ocr.tesseract import backend

__all__ = [
    "CccdQr",
    "DecodedCode",
    "MrzResult",
    "ReadOptions",
    "Reader",
    "TesseractReader",
    "backend",
    "check_digit",
    "decode_codes",
    "parse_cccd_qr",
    "parse_td1",
    "read_cccd_qr",
    "read_mrz",
]
