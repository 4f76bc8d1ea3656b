"""Bounded fuzzing: real extracts of a tiny generated world, damaged at the byte level with a fixed
seed, through the loader. For every case: no crash (a file the loader cannot use is quarantined
whole, with a reason naming it), no hang (a time bound per case), and no silent loss: loaded +
quarantined equals the file's census, or the blocking reconciliation names the line where the
difference starts.
"""

from __future__ import annotations

import io
import random
import re
import threading
import time
import zipfile
from pathlib import Path

import duckdb
import pytest

from dtsen_pipeline.ingest.load import load_month, reconciliation
from dtsen_pipeline.ingest.sources import get_source
from dtsen_pipeline.lab.generate import generate

MONTH = "2025-01"
SEED = 20250115
CASES = {
    "dukcapil": 45,
    "dtks": 40,
    "pbi_jk": 35,
    "bpjs_tk": 35,
    "dinsos_ntt": 35,
    "p3ke": 25,
    "regsosek": 25,
}
SECONDS_PER_CASE = 10
NIK_LIKE = re.compile(r"\d{16}")


def _insert(data: bytes, rng: random.Random, what: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + what + data[at:]


def _at_line_start(data: bytes, rng: random.Random) -> int:
    starts = [m.end() for m in re.finditer(rb"\n", data)] or [0]
    return rng.choice(starts)


def mutate_text(data: bytes, rng: random.Random, delimiter: bytes) -> tuple[bytes, str]:
    """One byte-level damage to a delimited text file, and its name."""
    kind = rng.choice(
        [
            "truncate",
            "quote",
            "quote_at_field",
            "quote_pair",
            "delimiter",
            "nul",
            "newline",
            "cr",
            "crlf_all",
            "cr_all",
            "delete",
            "delete_newline",
            "flip",
            "latin1",
            "utf16",
            "bom",
            "duplicate_line",
            "blank_lines",
            "long_field",
            "garbage",
        ]
    )
    n = len(data)
    if kind == "truncate":
        return data[: rng.randrange(n)], kind
    if kind == "quote":
        return _insert(data, rng, b'"'), kind
    if kind == "quote_at_field":
        fields = [m.end() for m in re.finditer(re.escape(delimiter), data)] or [0]
        at = rng.choice(fields)
        return data[:at] + b'"' + data[at:], kind
    if kind == "quote_pair":
        at = rng.randrange(n)
        end = min(n, at + rng.randrange(1, 200))
        return data[:at] + b'"' + data[at:end] + b'"' + data[end:], kind
    if kind == "delimiter":
        return _insert(data, rng, delimiter), kind
    if kind == "nul":
        return _insert(data, rng, b"\x00"), kind
    if kind == "newline":
        return _insert(data, rng, b"\n"), kind
    if kind == "cr":
        return _insert(data, rng, b"\r"), kind
    if kind == "crlf_all":
        return data.replace(b"\n", b"\r\n"), kind
    if kind == "cr_all":
        return data.replace(b"\n", b"\r"), kind
    if kind == "delete":
        at = rng.randrange(n)
        return data[:at] + data[at + rng.randrange(1, 50) :], kind
    if kind == "delete_newline":
        breaks = [m.start() for m in re.finditer(rb"\n", data)]
        at = rng.choice(breaks)
        return data[:at] + data[at + 1 :], kind
    if kind == "flip":
        at = rng.randrange(n)
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :], kind
    if kind == "latin1":
        return data.decode("utf-8", "replace").replace("A", "Á").encode("latin-1", "replace"), kind
    if kind == "utf16":
        return data.decode("latin-1").encode("utf-16"), kind
    if kind == "bom":
        return b"\xef\xbb\xbf" + data, kind
    if kind == "duplicate_line":
        at = _at_line_start(data, rng)
        end = data.find(b"\n", at) + 1 or n
        return data[:end] + data[at:end] + data[end:], kind
    if kind == "blank_lines":
        at = _at_line_start(data, rng)
        return data[:at] + b"\n" * rng.randrange(1, 4) + data[at:], kind
    if kind == "long_field":
        return _insert(data, rng, b"Z" * rng.randrange(10_000, 300_000)), kind
    at = rng.randrange(n)
    return data[:at] + rng.randbytes(rng.randrange(1, 64)) + data[at:], kind


def mutate_xlsx(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Byte damage to the zip, or damage to the sheet's XML inside a sound zip."""
    kind = rng.choice(["truncate", "flip", "drop_row", "duplicate_row", "formula", "blank_cell"])
    if kind == "truncate":
        return data[: rng.randrange(len(data))], kind
    if kind == "flip":
        at = rng.randrange(len(data))
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :], kind
    try:
        src = zipfile.ZipFile(io.BytesIO(data))
        sheet = src.read("xl/worksheets/sheet1.xml")
    except (zipfile.BadZipFile, KeyError, EOFError, OSError):
        return mutate_binary(data, rng)  # already broken by an earlier damage
    rows = list(re.finditer(rb"<row\b.*?</row>", sheet, re.S))
    row = rng.choice(rows[1:])
    if kind == "drop_row":
        sheet = sheet[: row.start()] + sheet[row.end() :]
    elif kind == "duplicate_row":
        sheet = sheet[: row.end()] + row.group(0) + sheet[row.end() :]
    else:
        cells = list(re.finditer(rb'<c r="[A-Z]+\d+"[^>]*>.*?</c>', row.group(0), re.S))
        cell = rng.choice(cells)
        ref = re.match(rb'<c r="([A-Z]+\d+)"', cell.group(0)).group(1)
        new = (
            (b'<c r="' + ref + b'"><f>1+1</f></c>')
            if kind == "formula"
            else (b'<c r="' + ref + b'"/>')
        )
        changed = row.group(0)[: cell.start()] + new + row.group(0)[cell.end() :]
        sheet = sheet[: row.start()] + changed + sheet[row.end() :]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(
                item.filename,
                sheet if item.filename == "xl/worksheets/sheet1.xml" else src.read(item),
            )
    return out.getvalue(), kind


def mutate_binary(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    kind = rng.choice(["truncate", "flip", "flip_footer", "delete"])
    n = len(data)
    if kind == "truncate":
        return data[: rng.randrange(n)], kind
    at = rng.randrange(n - 64, n) if kind == "flip_footer" else rng.randrange(n)
    if kind == "delete":
        return data[:at] + data[at + rng.randrange(1, 16) :], kind
    return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :], kind


@pytest.fixture(scope="module")
def extracts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz_world")
    generate(persons=300, start=MONTH, months=1, seed=5, out=root)
    return {s: next((root / "landing" / s / MONTH).glob(get_source(s).file_glob)) for s in CASES}


def _load_bounded(con, spec, path: Path):
    """load_month under a time bound: DuckDB is interrupted from a timer thread; the census is Python."""
    timer = threading.Timer(SECONDS_PER_CASE, con.interrupt)
    timer.start()
    started = time.monotonic()
    try:
        results = load_month(con, spec, MONTH, [path])
        return results, reconciliation(con, spec, MONTH), time.monotonic() - started
    finally:
        timer.cancel()


def test_damaged_extracts_lose_nothing_silently(extracts, tmp_path, record_property):
    rng = random.Random(SEED)
    totals = {
        "cases": 0,
        "rows checked": 0,
        "whole-file quarantines": 0,
        "rows quarantined": 0,
        "reconciliation failures (line named)": 0,
        "reconciliation failures (not countable)": 0,
    }
    kinds: dict[str, int] = {}
    slowest = 0.0
    started = time.monotonic()
    with duckdb.connect() as con:
        for source, count in CASES.items():
            spec = get_source(source)
            original = extracts[source].read_bytes()
            for case in range(count):
                damages = []
                data = original
                for _ in range(rng.choice([1, 1, 2, 3])):
                    if spec.format == "csv":
                        data, kind = mutate_text(data, rng, spec.csv.delimiter.encode())
                    elif spec.format == "xlsx":
                        data, kind = mutate_xlsx(data, rng)
                    else:
                        data, kind = mutate_binary(data, rng)
                    damages.append(kind)
                    kinds[kind] = kinds.get(kind, 0) + 1
                path = tmp_path / extracts[source].name
                path.write_bytes(data)
                label = f"{source} case {case} ({'+'.join(damages)})"
                results, recon, seconds = _load_bounded(con, spec, path)
                slowest = max(slowest, seconds)
                assert seconds < SECONDS_PER_CASE, label
                [result], [rec] = results, recon
                assert result.status in ("loaded", "quarantined"), label
                if result.status == "quarantined":
                    totals["whole-file quarantines"] += 1
                    assert result.reason.startswith(path.name) and result.rows_loaded == 0, label
                if rec.balanced:
                    if rec.counted is not None:
                        assert rec.counted == rec.loaded + rec.quarantined, label
                elif rec.counted is None:
                    # Read by the parser but not by the census (pyarrow refuses a page DuckDB accepts):
                    # blocked, with the reason.
                    totals["reconciliation failures (not countable)"] += 1
                    assert "could not be counted independently" in result.reason, label
                else:
                    totals["reconciliation failures (line named)"] += 1
                    assert rec.line is not None and f"line {rec.line}" in rec.note, (
                        label,
                        rec.note,
                    )
                reasons = [result.reason] + [
                    r[0]
                    for r in con.execute(
                        "select reason from raw.quarantine where source = ? and extract_month = ?",
                        [source, MONTH],
                    ).fetchall()
                ]
                assert not any(NIK_LIKE.search(r or "") for r in reasons), label
                totals["cases"] += 1
                totals["rows checked"] += rec.counted or 0
                totals["rows quarantined"] += rec.quarantined
    totals["seconds"] = round(time.monotonic() - started, 1)
    totals["slowest case (s)"] = round(slowest, 2)
    for key, value in totals.items():
        record_property(key, value)
    print(f"\nfuzz: {totals}\ndamages: {dict(sorted(kinds.items()))}")
    assert totals["cases"] == sum(CASES.values()) and totals["rows checked"] > 10_000
