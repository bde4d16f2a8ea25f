"""Visual lines: the reader's lines regrouped into the lines a person sees on the page.

Page segmentation splits one printed line into several when a gap or a column boundary runs through it (a
label and its value, `Ngày 16 t` and `háng 12 năm 2015`, a certificate's two-column rows). Every reader
needs them joined back, the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from models.elements import Line, Word, union

# lines whose vertical centres are closer than this share of the taller one's height are on one line
_SAME_LINE = 0.45
# how many lines back (in top-to-bottom order) a line may join: a row of a table can be read as several
# columns, each its own run of lines
_LOOKBACK = 4
# words may overlap by this much (px) where a line joins its neighbour
_TOUCH_PX = 2


class _Run:
    """A visual line being built: its words left to right and the lowest confidence of the lines in it."""

    def __init__(self, line: Line) -> None:
        self.words: list[Word] = list(line.words)
        self.confidence = line.confidence
        self.box = line.box
        self.merged = False
        self.line = line

    def take(self, line: Line) -> None:
        self.words = sorted([*self.words, *line.words], key=lambda w: w.box[0])
        self.confidence = min(self.confidence, line.confidence)
        self.box = union(w.box for w in self.words)
        self.merged = True

    def result(self) -> Line:
        return Line.of(self.words, confidence=self.confidence) if self.merged else self.line


def visual_lines(lines: Sequence[Line]) -> list[Line]:
    """Lines side by side on one baseline, joined (words left to right; the joined line's confidence is the
    lowest of its parts'), top to bottom. Two lines join only when one lies wholly left of the other: lines
    that overlap are two rows. A line without words (text only) stays as it is."""
    runs: list[_Run] = []
    for line in sorted(lines, key=lambda ln: ln.box[1] + ln.box[3] / 2):
        x, y, w, h = line.box
        cy = y + h / 2
        target = None
        if line.words:
            for cand in reversed(runs[-_LOOKBACK:]):
                if not cand.words:
                    continue
                cx, cy0, cw, ch = cand.box
                side_by_side = x >= cx + cw - _TOUCH_PX or x + w <= cx + _TOUCH_PX
                if abs((cy0 + ch / 2) - cy) < _SAME_LINE * max(h, ch) and side_by_side:
                    target = cand
                    break
        if target is None:
            runs.append(_Run(line))
        else:
            target.take(line)
    return sorted((run.result() for run in runs), key=lambda ln: ln.box[1])
