"""Reading the CSV files reviewers send back: the pairs they decided (``review/<month>/decisions.csv``)
and the clerical sample they labelled (``review/<month>/sample.csv``).

Both readers check every row and report every problem at once, by file, row and reason, never by a
cell's contents (these files hold NIKs and names): a reviewer fixes the file in one pass, and a NIK
pasted into the wrong cell never reaches a log. This module holds what the two share: the problem
list and its message, the decoding (UTF-8, with or without a byte-order mark), the header, the
rows numbered as a spreadsheet shows them, and what starts a formula. Each reader keeps its own
column checks: ``decisions.read_decisions`` and ``accuracy.read_labels``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from dtsen_pipeline.lib import spreadsheets

# Separators a spreadsheet in another locale writes, named in the header's message.
_OTHER_SEPARATORS = (("';'", ";"), ("tab", "\t"), ("'|'", "|"))
# A cell a spreadsheet would run as a formula (CSV injection): refused in the decisions read back
# (decisions.read_decisions), written with a leading quote in the sample sent out (accuracy).
FORMULA_START = spreadsheets.FORMULA_START


class Problems:
    """What is wrong with one reviewer file, by reason, each with the rows it was found on."""

    def __init__(self, path: Path, consequence: str):
        self.path = path
        self.consequence = consequence  # "no decision was applied", "no estimate was made"
        self._rows: dict[str, list[str]] = {}  # reason -> rows (insertion-ordered)

    def add(self, reason: str, row: int | None = None) -> None:
        """Record ``reason`` on ``row`` (None: the file as a whole)."""
        self._rows.setdefault(reason, []).append("" if row is None else str(row))

    def __bool__(self) -> bool:
        return bool(self._rows)

    def error(self) -> ValueError:
        """One message naming the file, the count and every reason with its rows."""
        listed = "; ".join(
            reason
            if rows == [""]
            else f"{reason}: row{'s' if len(rows) > 1 else ''} {', '.join(rows)}"
            for reason, rows in self._rows.items()
        )
        count = sum(len(rows) for rows in self._rows.values())
        return ValueError(
            f"{self.path}: {count} problem{'s' if count > 1 else ''}, {self.consequence}; fix the "
            f"file and run again. {listed}"
        )


def read_rows(
    path: Path, needed: Sequence[str], problems: Problems
) -> tuple[list[str], dict[str, int], list[tuple[int, list[str]]]]:
    """The header (lower case, trimmed), the position of each ``needed`` column, and the non-blank
    rows as (row number, cells). Rows are numbered as a spreadsheet shows them (the header is row 1;
    a blank row counts), which is the line in a text editor unless a quoted cell spans lines.

    A file that cannot be decoded or whose header lacks a needed column (or names one twice) raises
    ``problems.error()`` at once; a row that breaks the CSV syntax is recorded and ends the read."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add(f"not UTF-8 text (byte {exc.start})", 1)
        raise problems.error() from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        problems.add(f"cannot be read as CSV ({exc})", 1)
        raise problems.error() from None
    missing = [c for c in needed if c not in header]
    if missing or len(set(header)) != len(header):
        first = text.splitlines()[0] if text else ""
        hint = next(
            (
                f" (it looks {name}-separated)"
                for name, sep in _OTHER_SEPARATORS
                if sep in first and "," not in first
            ),
            f" (missing: {', '.join(missing)})" if missing else " (a column is named twice)",
        )
        problems.add(
            f"the header must name the columns {', '.join(needed)} once each, separated by commas{hint}",
            1,
        )
        raise problems.error()
    at = {c: header.index(c) for c in needed}
    rows, line = [], 1
    while True:
        line += 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add(f"cannot be read as CSV ({exc})", line)
            break
        if any(cell.strip() for cell in row):  # blank rows are skipped
            rows.append((line, row))
    return header, at, rows
