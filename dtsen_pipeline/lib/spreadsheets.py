"""Cells of the CSV and XLSX files people open in a spreadsheet (clerks' samples, operators' work
lists): a cell a spreadsheet would run as a formula (CSV injection) is written with a leading
quote, and refused where such a file is read back."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs it."""
    return "'" + text if text.startswith(FORMULA_START) else text
