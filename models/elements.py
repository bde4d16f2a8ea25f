"""What a reader returns: one typed tree, symbol → word → line → block → page, shared by every extractor.

The OCR engine's output in the coordinates of the image it was given (upscaling undone). Word and line
confidences are 0..1; a symbol carries the recogniser's alternatives when they were asked for. Lines keep
their own text, confidence and box rather than deriving them from their words: a line read at character
level has the mean of its characters' confidences, and an extractor may regroup words into a visual line
that keeps the confidence its evidence rule needs. `Line.of(words)` builds the usual one.

The tree is frozen: extractors derive new nodes (`model_copy(update=...)`, `Line.of`) and never change what
a reader returned, so a recorded reading replays the same way every time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

Box = tuple[int, int, int, int]  # x, y, width, height in pixels

_FROZEN = ConfigDict(frozen=True)


def union(boxes: Iterable[Box]) -> Box:
    """The smallest box holding every box; (0, 0, 0, 0) for none."""
    x0 = y0 = x1 = y1 = None
    for x, y, w, h in boxes:
        x0 = x if x0 is None else min(x0, x)
        y0 = y if y0 is None else min(y0, y)
        x1 = x + w if x1 is None else max(x1, x + w)
        y1 = y + h if y1 is None else max(y1, y + h)
    if x0 is None or y0 is None or x1 is None or y1 is None:
        return (0, 0, 0, 0)
    return (x0, y0, x1 - x0, y1 - y0)


def scale_box(box: Box, f: float) -> Box:
    return (round(box[0] * f), round(box[1] * f), round(box[2] * f), round(box[3] * f))


class Symbol(BaseModel):
    """One recognised character."""

    model_config = _FROZEN

    text: str
    confidence: float  # 0..1
    # the recogniser's alternatives for this position, best first (text, 0..1); includes `text`
    choices: list[tuple[str, float]] = Field(default_factory=list)


class Word(BaseModel):
    model_config = _FROZEN

    text: str
    confidence: float  # 0..1
    box: Box = (0, 0, 0, 0)
    symbols: list[Symbol] = Field(default_factory=list)  # filled only by a character-level read


class Line(BaseModel):
    model_config = _FROZEN

    text: str
    confidence: float
    box: Box = (0, 0, 0, 0)
    words: list[Word] = Field(default_factory=list)

    @classmethod
    def of(cls, words: Sequence[Word], *, confidence: float | None = None) -> Line:
        """The line of these words: their text joined by spaces, their mean confidence, their union box."""
        return cls.model_construct(
            text=" ".join(w.text for w in words),
            confidence=(sum(w.confidence for w in words) / len(words) if words else 0.0)
            if confidence is None
            else confidence,
            box=union(w.box for w in words),
            words=list(words),
        )

    @property
    def symbols(self) -> list[Symbol]:
        return [s for w in self.words for s in w.symbols]


EMPTY_LINE = Line(text="", confidence=0.0)


class Block(BaseModel):
    """A run of lines the engine's page segmentation kept together (a column, a table cell, a paragraph)."""

    model_config = _FROZEN

    lines: list[Line] = Field(default_factory=list)

    @property
    def box(self) -> Box:
        return union(line.box for line in self.lines)


class TextPage(BaseModel):
    """Everything read from one image (a page, a band, a field's region)."""

    model_config = _FROZEN

    blocks: list[Block] = Field(default_factory=list)

    @classmethod
    def of_lines(cls, lines: Sequence[Line]) -> TextPage:
        """Lines an extractor put together (or a reader without page segmentation) as one block."""
        return cls.model_construct(blocks=[Block.model_construct(lines=list(lines))] if lines else [])

    @property
    def lines(self) -> list[Line]:
        return [line for block in self.blocks for line in block.lines]

    @property
    def words(self) -> list[Word]:
        return [w for block in self.blocks for line in block.lines for w in line.words]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)
