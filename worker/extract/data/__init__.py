"""Word lists the readers snap OCR to, as data files beside this module, each naming its source in `#`
comment lines at its top.

Each file is `<name>.txt`: one entry a line, or for a table tab-separated columns (a code, a weight). Blank
lines and `#` lines are skipped. These are public names (administrative units, streets, issuing bodies, land-use categories,
common name syllables with their frequencies), never records of a person.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent


def _rows(name: str) -> list[str]:
    text = (_HERE / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@cache
def word_list(name: str) -> tuple[str, ...]:
    """The entries of `<name>.txt`, in file order."""
    return tuple(line.strip() for line in _rows(f"{name}.txt"))


@cache
def table(name: str) -> tuple[tuple[str, ...], ...]:
    """The rows of `<name>.txt`, each split at tabs, in file order."""
    return tuple(tuple(cell.strip() for cell in line.split("\t")) for line in _rows(f"{name}.txt"))
