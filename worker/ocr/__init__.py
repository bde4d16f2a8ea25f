"""Read stage: Tesseract OCR, plus the machine-readable zones (MRZ, QR) that need no guessing.

Public API:
    ocr_image(image, lang=, psm=, whitelist=, scale=) -> OcrResult   lines and words with confidences, boxes
    read_line(image, lang=, psm=, whitelist=, scale=, choices=) -> LineReading   per-character detail
    read_mrz(image) -> MrzResult | None        TD1 zone, every ICAO check digit verified, confusions repaired
    parse_td1(lines) -> MrzResult              the same from three text lines
    decode_codes(image) -> list[DecodedCode]   QR codes and barcodes (zxing-cpp, OpenCV fallback)
    read_cccd_qr(image) -> (CccdQr, DecodedCode) | None, parse_cccd_qr(text) -> CccdQr | None
"""

from worker.ocr.codes import CccdQr, DecodedCode, decode_codes, parse_cccd_qr, read_cccd_qr
from worker.ocr.mrz import MrzResult, check_digit, parse_td1, read_mrz
from worker.ocr.tesseract import LineReading, Symbol, backend, ocr_image, read_line

__all__ = [
    "CccdQr",
    "DecodedCode",
    "LineReading",
    "MrzResult",
    "Symbol",
    "backend",
    "check_digit",
    "decode_codes",
    "ocr_image",
    "parse_cccd_qr",
    "parse_td1",
    "read_cccd_qr",
    "read_line",
    "read_mrz",
]
