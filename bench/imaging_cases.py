"""The imaging benchmark's cases: synthetic card and certificate-page renders with known transforms (skew,
orientation, a card photographed on a table, a photocopied sheet of a card's two faces), what
`python -m bench imaging` (bench/imaging.py) scores and the imaging tests run on.

The renderer is deliberately self-contained (PIL text on synthetic card and certificate layouts) so the
benchmark and the imaging tests need nothing but fonts; it draws no real person's data.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from fixtures.degrade import expanded_rotation
from fixtures.fonts import font

CARD_W, CARD_H = 1012, 638  # ID-1 at 300 dpi
PAGE_W, PAGE_H = 1654, 2339  # A4 at 200 dpi

_SYLLABLES = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Văn",
    "Thị",
    "Đức",
    "Hữu",
    "Minh",
    "Ngọc",
    "Quang",
    "Thanh",
    "Xuân",
    "Đình",
    "Công",
    "Hồng",
    "Kim",
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Hải",
    "Hùng",
    "Lan",
    "Linh",
    "Mai",
    "Nam",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Trang",
    "Tuấn",
    "phường",
    "xã",
    "thành",
    "phố",
    "tỉnh",
    "thửa",
    "đất",
    "số",
    "tờ",
    "bản",
    "đồ",
    "diện",
    "tích",
    "mục",
    "đích",
    "sử",
    "dụng",
    "lâu",
    "dài",
    "nguồn",
    "gốc",
    "công",
    "nhận",
    "quyền",
    "giấy",
    "chứng",
    "nhận",
    "người",
    "địa",
    "chỉ",
    "thường",
    "trú",
    "ngày",
    "tháng",
    "năm",
    "cấp",
    "hình",
    "thức",
    "riêng",
    "chung",
    "nhà",
    "ở",
    "tài",
    "sản",
    "khác",
    "gắn",
    "liền",
    "với",
    "được",
    "Nhà",
    "nước",
    "giao",
    "có",
    "thu",
    "tiền",
    "Vĩnh",
    "Ninh",
    "Phú",
    "Hội",
    "Thuận",
    "Hóa",
    "Kim",
    "Long",
    "Hương",
    "Thủy",
]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_SYLLABLES) for _ in range(n))


# ------------------------------------------------------------------------------------------- renders


def render_card(seed: int, *, back: bool = False) -> np.ndarray:
    """A synthetic chip-CCCD-like card face, BGR, CARD_W x CARD_H, with guilloche, photo, emblem and text."""
    rng = random.Random(seed)
    yy, xx = np.mgrid[0:CARD_H, 0:CARD_W].astype(np.float32)
    base = np.array([rng.randint(225, 245), rng.randint(230, 248), rng.randint(235, 252)], np.float32)
    # guilloche: fine interfering sinusoids in a light tint, the background OCR must ignore
    f1, f2 = rng.uniform(0.05, 0.09), rng.uniform(0.03, 0.07)
    pattern = np.sin(xx * f1 + 6 * np.sin(yy * 0.013)) * np.sin(yy * f2 + 4 * np.cos(xx * 0.009))
    tint = np.array([rng.uniform(10, 30), rng.uniform(0, 20), rng.uniform(-10, 10)], np.float32)
    img = base[None, None, :] - (pattern[..., None] > 0.85) * tint[None, None, :] - 6 * pattern[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    pil = Image.fromarray(img[:, :, ::-1].copy())
    d = ImageDraw.Draw(pil)
    bold, sans = font("sans_bold", 26), font("sans", 22)
    if not back:
        _card_front(d, rng, bold, sans)
    else:
        _card_back(d, rng, bold, sans)
    out = np.asarray(pil)[:, :, ::-1].copy()
    return _round_corners(out, radius=36)


def _card_front(d: ImageDraw.ImageDraw, rng: random.Random, bold: Any, sans: Any) -> None:
    """The front's emblem, photo, headings and labelled fields."""
    d.ellipse((40, 30, 150, 140), fill=(200, 30, 30), outline=(220, 180, 40), width=4)  # emblem
    d.polygon(
        [(95, 50), (105, 80), (135, 80), (110, 98), (120, 128), (95, 110), (70, 128), (80, 98), (55, 80), (85, 80)],
        fill=(240, 200, 40),
    )
    d.rectangle((40, 190, 250, 460), fill=(rng.randint(120, 170),) * 3)  # photo
    d.ellipse((90, 230, 200, 360), fill=(rng.randint(60, 100),) * 3)
    d.text((300, 30), "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", font=bold, fill=(20, 20, 20))
    d.text((380, 68), "Độc lập - Tự do - Hạnh phúc", font=sans, fill=(20, 20, 20))
    d.text((330, 110), "CĂN CƯỚC CÔNG DÂN", font=font("sans_bold", 36), fill=(180, 20, 20))
    y = 170
    rows = [
        ("Số / No.:", f"046{rng.randint(0, 999999999):09d}"),
        ("Họ và tên / Full name:", ""),
        ("", _words(rng, 3).upper()),
        (
            "Ngày sinh / Date of birth:",
            f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1950, 2005)}",
        ),
        ("Giới tính / Sex:", rng.choice(["Nam", "Nữ"]) + "    Quốc tịch / Nationality: Việt Nam"),
        ("Quê quán / Place of origin:", ""),
        ("", _words(rng, 5)),
        ("Nơi thường trú / Place of residence:", ""),
        ("", _words(rng, 6)),
    ]
    for label, value in rows:
        if label:
            d.text((290, y), label, font=sans, fill=(30, 30, 30))
            if value:
                d.text((290 + d.textlength(label, font=sans) + 12, y - 2), value, font=bold, fill=(10, 10, 10))
        else:
            d.text((300, y), value, font=bold, fill=(10, 10, 10))
        y += 48
    d.text((40, 500), "Có giá trị đến:", font=font("sans", 18), fill=(30, 30, 30))
    d.text(
        (40, 525),
        f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2030, 2060)}",
        font=font("sans", 18),
        fill=(30, 30, 30),
    )


def _card_back(d: ImageDraw.ImageDraw, rng: random.Random, bold: Any, sans: Any) -> None:
    """The back's identification text, seal, fingerprint boxes and MRZ."""
    d.text((40, 40), "Đặc điểm nhân dạng / Personal identification:", font=sans, fill=(30, 30, 30))
    d.text((40, 80), _words(rng, 6), font=sans, fill=(20, 20, 20))
    d.text(
        (40, 130),
        "Ngày, tháng, năm / Date, month, year: " + f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2021",
        font=sans,
        fill=(30, 30, 30),
    )
    d.text((40, 175), "CỤC TRƯỞNG CỤC CẢNH SÁT", font=bold, fill=(20, 20, 20))
    d.text((40, 210), "QUẢN LÝ HÀNH CHÍNH VỀ TRẬT TỰ XÃ HỘI", font=bold, fill=(20, 20, 20))
    d.ellipse((120, 240, 280, 400), outline=(200, 40, 40), width=6)
    for i, label in enumerate(("Ngón trỏ trái", "Ngón trỏ phải")):
        x0 = 620 + i * 190
        d.rectangle((x0, 60, x0 + 160, 260), outline=(80, 80, 80), width=2)
        d.text((x0, 270), label, font=font("sans", 18), fill=(30, 30, 30))
    mono = font("mono", 34)
    mrz = [
        "IDVNM" + "".join(str(rng.randint(0, 9)) for _ in range(22)) + "<<" + str(rng.randint(0, 9)),
        "".join(str(rng.randint(0, 9)) for _ in range(7))
        + "M"
        + "".join(str(rng.randint(0, 9)) for _ in range(7))
        + "VNM<<<<<<<<<<<"
        + str(rng.randint(0, 9)),
        "NGUYEN<<VAN<AN<<<<<<<<<<<<<<<<",
    ]
    for i, line in enumerate(mrz):
        d.text((60, 440 + i * 55), line, font=mono, fill=(15, 15, 15))


def _round_corners(img: np.ndarray, radius: int) -> np.ndarray:
    """Paint the rounded-corner areas black-transparent marker (0,0,0) is avoided: keep as alpha later."""
    h, w = img.shape[:2]
    mask = np.full((h, w), 255, np.uint8)
    for cx, cy in (
        (radius, radius),
        (w - radius - 1, radius),
        (radius, h - radius - 1),
        (w - radius - 1, h - radius - 1),
    ):
        x0, y0 = (0 if cx == radius else cx), (0 if cy == radius else cy)
        mask[y0 : y0 + radius + 1, x0 : x0 + radius + 1] = 0
        cv2.circle(mask, (cx, cy), radius, 255, -1)
    rgba = np.dstack([img, mask])
    return rgba


def render_page(seed: int, *, with_table: bool = True, with_seal: bool = True) -> np.ndarray:
    """A synthetic certificate-like page, BGR, PAGE_W x PAGE_H, with a red title, text, a table and a seal."""
    rng = random.Random(seed)
    paper = rng.randint(235, 252)
    pil = Image.new("RGB", (PAGE_W, PAGE_H), (paper, paper, max(paper - rng.randint(0, 12), 200)))
    d = ImageDraw.Draw(pil)
    serif, bold = font("serif", 34), font("serif_bold", 36)
    d.text((PAGE_W // 2, 140), "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", font=bold, fill=(20, 20, 20), anchor="mm")
    d.text((PAGE_W // 2, 195), "Độc lập - Tự do - Hạnh phúc", font=serif, fill=(20, 20, 20), anchor="mm")
    d.text((PAGE_W // 2, 300), "GIẤY CHỨNG NHẬN", font=font("serif_bold", 64), fill=(200, 30, 30), anchor="mm")
    d.text(
        (PAGE_W // 2, 380),
        "QUYỀN SỬ DỤNG ĐẤT, QUYỀN SỞ HỮU NHÀ Ở",
        font=font("serif_bold", 40),
        fill=(200, 30, 30),
        anchor="mm",
    )
    y = 480
    for i in range(rng.randint(14, 22)):
        indent = 160 if i % 5 == 0 else 130
        text = (f"{chr(97 + i % 7)}) " if i % 5 == 0 else "") + _words(rng, rng.randint(6, 11))
        d.text((indent, y), text, font=serif if i % 4 else bold, fill=(15, 15, 15))
        y += 58
    if with_table and y < PAGE_H - 600:
        x0, x1, rows = 130, PAGE_W - 130, 5
        for r in range(rows + 1):
            d.line((x0, y + r * 60, x1, y + r * 60), fill=(30, 30, 30), width=3)
        for x in (x0, x0 + 300, x0 + 800, x1):
            d.line((x, y, x, y + rows * 60), fill=(30, 30, 30), width=3)
        for r in range(rows):
            d.text((x0 + 20, y + r * 60 + 12), f"{rng.randint(1, 999)}", font=serif, fill=(15, 15, 15))
            d.text((x0 + 320, y + r * 60 + 12), _words(rng, 3), font=serif, fill=(15, 15, 15))
        y += rows * 60 + 60
    d.text(
        (PAGE_W - 700, y + 20),
        f"Huế, ngày {rng.randint(1, 28)} tháng {rng.randint(1, 12)} năm {rng.randint(2010, 2024)}",
        font=serif,
        fill=(15, 15, 15),
    )
    d.text((PAGE_W - 620, y + 80), "TM. ỦY BAN NHÂN DÂN", font=bold, fill=(15, 15, 15))
    if with_seal:
        cx, cy, r = PAGE_W - 460, min(y + 240, PAGE_H - 340), 140
        d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(205, 40, 45), width=10)
        d.ellipse((cx - r + 30, cy - r + 30, cx + r - 30, cy + r - 30), outline=(205, 40, 45), width=4)
        d.text((cx, cy), "★", font=font("sans", 80), fill=(205, 40, 45), anchor="mm")
    d.text(
        (PAGE_W - 500, PAGE_H - 150),
        f"{rng.choice(['CS', 'BU', 'CH'])} {rng.randint(0, 999999):06d}",
        font=font("serif_bold", 42),
        fill=(200, 30, 30),
    )
    return np.asarray(pil)[:, :, ::-1].copy()


# ---------------------------------------------------------------------------------------- transforms


def rotate_keep(img: np.ndarray, angle_deg: float, fill: tuple[int, int, int] = (245, 245, 245)) -> np.ndarray:
    """Rotate counter-clockwise by angle_deg (as PIL does) on an expanded canvas, content fully kept."""
    h, w = img.shape[:2]
    m, (nw, nh) = expanded_rotation(w, h, angle_deg)
    return cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn counter-clockwise by 0/90/180/270 degrees (what a scanner does to a sideways page)."""
    k = (orientation // 90) % 4
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


def _composite(canvas: np.ndarray, rgba: np.ndarray, quad: np.ndarray) -> np.ndarray:
    h, w = rgba.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    warped = cv2.warpPerspective(
        rgba, m, (canvas.shape[1], canvas.shape[0]), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0)
    )
    alpha = warped[:, :, 3:4].astype(np.float32) / 255.0
    return (canvas.astype(np.float32) * (1 - alpha) + warped[:, :, :3].astype(np.float32) * alpha).astype(np.uint8)


def _table_texture(rng: random.Random, h: int, w: int) -> np.ndarray:
    base = np.array([rng.randint(40, 140), rng.randint(40, 120), rng.randint(30, 110)], np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grain = 12 * np.sin(xx * rng.uniform(0.01, 0.05) + 3 * np.sin(yy * rng.uniform(0.002, 0.01)))
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 6, (h, w))
    img = base[None, None, :] + (grain + noise)[..., None]
    # a soft lighting gradient like a desk lamp
    img *= (0.8 + 0.35 * (xx / w))[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass
class Sample:
    kind: str  # "card" | "page" | "photo" | "sheet"
    image: np.ndarray
    skew_deg: float  # counter-clockwise, as applied
    orientation: int  # 0/90/180/270 counter-clockwise, as applied
    corners: list[np.ndarray] = field(default_factory=list)  # per card: TL,TR,BR,BL of the upright card
    doc_kind: str = "page"


def make_sample(kind: str, seed: int) -> Sample:
    """One benchmark/test image with a known transform."""
    rng = random.Random(seed * 7919 + sum(map(ord, kind)))
    if kind == "page":
        skew = rng.uniform(-20, 20)
        ori = rng.choice([0, 0, 90, 180, 270])
        img = render_page(seed)
        img = rotate_keep(img, skew, fill=(rng.randint(230, 255),) * 3)
        img = orient(img, ori)
        return Sample("page", _degrade(img, rng), skew, ori, doc_kind="page")
    if kind == "card":
        # a tight card scan: the card fills the image, so only text can tell the skew
        skew = rng.uniform(-20, 20)
        ori = rng.choice([0, 0, 90, 180, 270])
        rgba = render_card(seed, back=rng.random() < 0.3)
        card = rgba[:, :, :3].copy()
        card[rgba[:, :, 3] == 0] = 250
        pad = 30
        card = cv2.copyMakeBorder(card, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(250, 250, 250))
        img = orient(rotate_keep(card, skew, fill=(250, 250, 250)), ori)
        return Sample("card", _degrade(img, rng), skew, ori, doc_kind="card")
    if kind == "photo":
        return _photo(seed, rng)
    if kind == "sheet":
        return _sheet(seed, rng)
    raise ValueError(kind)


def _card_quad(cx: float, cy: float, width: float, angle_deg: float, persp: float, rng: random.Random) -> np.ndarray:
    h = width * 53.98 / 85.6
    pts = np.float32([[-width / 2, -h / 2], [width / 2, -h / 2], [width / 2, h / 2], [-width / 2, h / 2]])
    pts += np.float32([[rng.uniform(-persp, persp), rng.uniform(-persp, persp)] for _ in range(4)]) * width
    a = math.radians(angle_deg)
    rot = np.float32([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])  # CCW on screen (y down)
    return pts @ rot.T + np.float32([cx, cy])


def _photo(seed: int, rng: random.Random) -> Sample:
    """A phone photo of one card lying on a table: perspective, lighting, texture."""
    W, H = rng.choice([(1600, 1200), (1200, 1600), (2000, 1500)])
    canvas = _table_texture(rng, H, W)
    angle = rng.uniform(-180, 180)
    width = rng.uniform(0.45, 0.7) * min(W, H) * 1.3
    width = min(width, 0.75 * min(W, H) * 85.6 / 53.98)
    quad = _card_quad(
        W / 2 + rng.uniform(-0.08, 0.08) * W, H / 2 + rng.uniform(-0.08, 0.08) * H, width, angle, 0.03, rng
    )
    rgba = render_card(seed, back=rng.random() < 0.3)
    img = _composite(canvas, rgba, quad)
    # with perspective the card's rotation is that of its top edge, the definition the stage reports
    top = quad[1] - quad[0]
    alpha = math.degrees(math.atan2(-top[1], top[0]))
    ori = round(alpha / 90.0) % 4 * 90
    skew = alpha - round(alpha / 90.0) * 90
    return Sample("photo", _degrade(img, rng, light=True), skew, ori, [quad], doc_kind="card")


def _sheet(seed: int, rng: random.Random) -> Sample:
    """An A4 photocopy holding the front and the back of a card, one above the other, slightly crooked."""
    W, H = 1654, 2339
    canvas = np.full((H, W, 3), rng.randint(238, 252), np.uint8)
    quads, skews, width = [], [], rng.uniform(0.42, 0.55) * W
    for i, back in enumerate((False, True)):
        cy = H * (0.27 + 0.42 * i) + rng.uniform(-60, 60)
        quad = _card_quad(W / 2 + rng.uniform(-150, 150), cy, width, rng.uniform(-6, 6), 0.0, rng)
        rgba = render_card(seed + i, back=back)
        canvas = _composite(canvas, rgba, quad)
        top = quad[1] - quad[0]
        skews.append(math.degrees(math.atan2(-top[1], top[0])))
        # the photocopier shows the card's edge as a dark rim
        cv2.polylines(canvas, [quad.astype(np.int32)], True, (90, 90, 90), 2, cv2.LINE_AA)
        quads.append(quad)
    grey = cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY)
    img = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    return Sample("sheet", _degrade(img, rng), skews[0], 0, quads, doc_kind="card")


def _degrade(img: np.ndarray, rng: random.Random, *, light: bool = False) -> np.ndarray:
    out = img.astype(np.float32)
    if rng.random() < 0.4:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.3))
    gain, bias = rng.uniform(0.85, 1.1), rng.uniform(-20, 10)
    out = out * gain + bias
    if light or rng.random() < 0.3:
        h, w = out.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        out *= (0.85 + 0.25 * np.cos((xx / w - rng.random()) * 2) * np.cos((yy / h - rng.random()) * 2))[..., None]
    out += np.random.default_rng(rng.randint(0, 2**31)).normal(0, rng.uniform(1, 6), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(70, 95)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else out
