"""What one registry import did: rows read, skipped (with reasons), inserted, updated, repaired."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ImportReport:
    source: str
    rows_read: int = 0
    rows_skipped: int = 0
    skipped_reasons: Counter[str] = field(default_factory=Counter)
    skipped_examples: list[tuple[int, str]] = field(default_factory=list)  # (CSV line, reason), first 20
    parcels_inserted: int = 0
    parcels_updated: int = 0
    parcels_unchanged: int = 0
    owners_inserted: int = 0
    owners_updated: int = 0
    owners_unchanged: int = 0
    owners_removed: int = 0
    encodings_repaired: Counter[str] = field(default_factory=Counter)  # encoding -> values repaired
    rows_repaired: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    file_encoding: str = "utf-8"
    bulk_load: bool = False  # True when the tables were empty and loaded directly
    seconds: float = 0.0
    import_id: int | None = None
    position: str = "line"  # what skipped_examples count: CSV lines, or DC_ThuaDat records of an XML file

    def skip(self, line: int, reason: str) -> None:
        self.rows_skipped += 1
        self.skipped_reasons[reason] += 1
        if len(self.skipped_examples) < 20:
            self.skipped_examples.append((line, reason))

    def summary(self) -> str:
        parts = [
            f"{self.rows_read} rows read in {self.seconds:.1f} s",
            f"parcels: {self.parcels_inserted} new, {self.parcels_updated} updated, {self.parcels_unchanged} unchanged",
            f"owners: {self.owners_inserted} new, {self.owners_updated} updated, {self.owners_unchanged} unchanged"
            + (f", {self.owners_removed} removed" if self.owners_removed else ""),
            f"skipped: {self.rows_skipped}"
            + (
                " (" + ", ".join(f"{r}: {n}" for r, n in self.skipped_reasons.most_common()) + ")"
                if self.rows_skipped
                else ""
            ),
        ]
        if self.skipped_examples:
            parts.append(
                "first skipped: "
                + "; ".join(f"{self.position} {line}: {reason}" for line, reason in self.skipped_examples[:5])
            )
        if self.encodings_repaired:
            parts.append(
                f"legacy encodings repaired in {self.rows_repaired} rows ("
                + ", ".join(f"{k}: {n} values" for k, n in self.encodings_repaired.most_common())
                + ")"
            )
        if self.warnings:
            parts.append("warnings: " + ", ".join(f"{w}: {n}" for w, n in self.warnings.most_common()))
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_skipped": self.rows_skipped,
            "skipped_reasons": dict(self.skipped_reasons),
            "skipped_examples": self.skipped_examples,
            "parcels_inserted": self.parcels_inserted,
            "parcels_updated": self.parcels_updated,
            "parcels_unchanged": self.parcels_unchanged,
            "owners_inserted": self.owners_inserted,
            "owners_updated": self.owners_updated,
            "owners_unchanged": self.owners_unchanged,
            "owners_removed": self.owners_removed,
            "encodings_repaired": dict(self.encodings_repaired),
            "rows_repaired": self.rows_repaired,
            "warnings": dict(self.warnings),
            "file_encoding": self.file_encoding,
            "position": self.position,
            "bulk_load": self.bulk_load,
            "seconds": round(self.seconds, 3),
        }
