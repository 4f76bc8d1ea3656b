"""The hostile-input catalogue: bad files, rows and values in CSV, XLSX and Parquet, and what the
loader does with each. Every record the file holds is loaded or quarantined (reconciliation against
the file's census balances), or reconciliation reports the difference with a line; no reason
quotes a cell. Loader level (load_month + reconciliation on an in-memory DuckDB), so it is fast;
tests/ingest/hostile/test_end_to_end.py takes two cases through the Dagster raw asset.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from dtsen_pipeline.ingest.inventory import describe, inventory
from dtsen_pipeline.ingest.load import load_month
from dtsen_pipeline.ingest.sources import get_source, load_sources
from dtsen_pipeline.lib.printable import printable
from tests.ingest.hostile import test_landing
from tests.ingest.hostile.files import (
    DUKCAPIL_HEADER,
    P3KE_HEADER,
    assert_no_cell_content,
    csv_file,
    csv_row,
    csv_rows,
    flat_regsosek,
    flat_table,
    ingest,
    member,
    name,
    nik,
    p3ke_row,
    parquet_file,
    regsosek_table,
    xlsx_file,
)
from tests.ingest.hostile.test_landing import workbook

landing = test_landing.landing  # the fixture: a temporary data root's landing folder


@dataclass
class Case:
    name: str
    source: str  # a registered source, or "regsosek_flat"
    build: Callable[
        [Path], list[Path]
    ]  # writes the file(s) into a folder, returns the landing entries
    status: tuple[str, ...]  # per file
    loaded: int
    quarantined: int  # every file's quarantined rows (a whole file: its census count)
    reason: str = ""  # in some reason (file or row), case-insensitive
    lines: tuple[int, ...] | None = None  # the quarantined rows' lines, sorted
    loaded_lines: tuple[int, ...] | None = None
    balanced: bool = True
    unaccounted_line: int | None = None
    note: str = ""  # why this is the right outcome


def one(build):
    return lambda d: [build(d)]


def raw(data: bytes, name: str = "dukcapil_penduduk_2025-01.csv"):
    def make(d: Path) -> Path:
        (d / name).write_bytes(data)
        return d / name

    return make


def rows_with(changes: dict[int, bytes], n: int = 10) -> list[bytes]:
    """Rows 1..n (row i on line i + 1), some replaced."""
    return [changes.get(i, csv_row(i)) for i in range(1, n + 1)]


def mixed_newlines(d: Path) -> Path:
    path = csv_file(d, csv_rows(), newline=b"\r\n")
    path.write_bytes(path.read_bytes() + csv_row(11) + b"\n")
    return path


def truncated_mid_row(d: Path) -> Path:
    path = csv_file(d, csv_rows())
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"DEPOK")])
    return path


def long_field(d: Path) -> Path:
    return csv_file(d, rows_with({4: csv_row(4, address="JL. " + "PANJANG " * 250_000)}))


def xlsx_formula(d: Path) -> Path:
    rows = [p3ke_row(i) for i in range(1, 6)]
    rows[2][3] = '=CONCATENATE("A","B")'  # row 4, column D (Nama): no cached value
    return xlsx_file(d, rows)


def xlsx_blank_rows(d: Path) -> Path:
    rows = [p3ke_row(1), [], [None] * 12, p3ke_row(2), p3ke_row(3)]
    return xlsx_file(d, rows)


def xlsx_beyond_header(d: Path) -> Path:
    return xlsx_file(d, [p3ke_row(1), [None] * 13 + ["catatan"], p3ke_row(2)])


def not_a_workbook(d: Path) -> Path:
    path = d / "P3KE_202501.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "not a workbook")
    return path


def truncated(build, keep: float):
    def make(d: Path) -> Path:
        path = build(d)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
        return path

    return make


def nested_twice(d: Path) -> Path:
    inner = pa.array([[[member(1), member(2)]], [[member(3)], [member(4), member(5)]]])
    return parquet_file(d, regsosek_table(sizes=(1, 1), members=inner))


def empty_and_null_families(d: Path) -> Path:
    return parquet_file(d, regsosek_table(sizes=(2, 0, None, 3)))


def wrong_types(d: Path) -> Path:
    t = flat_table()
    t = t.set_column(
        t.schema.get_field_index("nik"),
        "nik",
        pa.array([int(v) for v in t.column("nik").to_pylist()]),
    )
    t = t.set_column(
        t.schema.get_field_index("tanggal_lahir"),
        "tanggal_lahir",
        pa.array([19901205] * t.num_rows, pa.int64()),
    )
    return parquet_file(d, t)


def bpjs_stray_quote(d: Path) -> Path:
    """A quote before the name on line 3, closed by a quoted programme list on line 7."""
    rows = [b"KPJ|NIK|NAMA_TK|TGL_LAHIR|JNS_KELAMIN|SEGMEN|PROGRAM|KODE_KAB|TGL_KEPESERTAAN"]
    for i in range(1, 9):
        quote = '"' if i == 2 else ""
        programme = '"JKK|JHT"' if i == 6 else "JKK"
        rows.append(
            f"2{i:010d}|{nik(i)}|{quote}{name(i)}|19900101|P|PU|{programme}|3276|20250101".encode()
        )
    path = d / "bpjs_tk_peserta_202501.csv"
    path.write_bytes(b"\n".join(rows) + b"\n")
    return path


def symlink_to(target: Callable[[Path], Path]):
    def make(d: Path) -> Path:
        link = d / "dukcapil_penduduk_2025-01.csv"
        os.symlink(target(d), link)
        return link

    return make


def last_month(d: Path) -> Path:
    (d / "2024-12").mkdir()
    return csv_file(d / "2024-12", csv_rows(), name_="dukcapil_penduduk_2024-12.csv")


def twice(d: Path) -> list[Path]:
    first = csv_file(d, csv_rows(), name_="dukcapil_penduduk_2025-01.csv")
    second = d / "dukcapil_penduduk_2025-01_kirim_ulang.csv"
    shutil.copy(first, second)
    return [first, second]


def a_folder(d: Path) -> list[Path]:
    folder = d / "dukcapil_penduduk_2025-01.csv"
    folder.mkdir()
    return [folder]


def ids_across_files(d: Path) -> list[Path]:
    """Two files of the month, rows 1-10 and 6-15: ids 6-10 in both."""
    first = csv_file(d, csv_rows(), name_="dukcapil_penduduk_2025-01_a.csv")
    second = csv_file(
        d, [csv_row(i) for i in range(6, 16)], name_="dukcapil_penduduk_2025-01_b.csv"
    )
    return [first, second]


def sheets(extra: dict[str, list[list]]):
    """A P3KE workbook: rows 1-3 on its sheet, and ``extra`` sheets."""

    def make(d: Path) -> list[Path]:
        return [
            workbook(d, {"Data P3KE": [P3KE_HEADER, *(p3ke_row(i) for i in (1, 2, 3))], **extra})
        ]

    return make


H = DUKCAPIL_HEADER
CASES = [
    # ---- CSV: the file
    Case(
        "empty file",
        "dukcapil",
        one(lambda d: csv_file(d, [], header=b"", end=b"")),
        ("quarantined",),
        0,
        0,
        "empty (0 bytes)",
    ),
    Case(
        "header only",
        "dukcapil",
        one(lambda d: csv_file(d, [])),
        ("loaded",),
        0,
        0,
        note="loads nothing; for a full snapshot snapshot_complete blocks (test_end_to_end)",
    ),
    Case(
        "UTF-8 byte-order mark",
        "dukcapil",
        one(lambda d: csv_file(d, csv_rows(), header=b"\xef\xbb\xbf" + H)),
        ("loaded",),
        10,
        0,
    ),
    Case(
        "whole file in the wrong encoding (UTF-16)",
        "dukcapil",
        one(raw(b"\n".join([H, *csv_rows()]).decode().encode("utf-16"))),
        ("quarantined",),
        0,
        10,
        "header is not utf-8",
    ),
    Case(
        "rows in latin-1 inside a UTF-8 file (mixed encodings)",
        "dukcapil",
        one(
            lambda d: csv_file(
                d,
                rows_with(
                    {
                        3: csv_row(3).replace(b"DEPOK", "JOSÉ".encode("latin-1")),
                        7: csv_row(7).replace(b"DEPOK", b"D\xe9POK"),
                    }
                ),
            )
        ),
        ("loaded",),
        8,
        2,
        "invalid encoding",
        lines=(4, 8),
    ),
    Case(
        "unterminated quote (the issue's \"Budi)",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({5: csv_row(5, name_text='"Budi')}))),
        ("quarantined",),
        0,
        10,
        "line 6: a quoted field opens here and is never closed",
        note="DuckDB alone returns rows 1-4 and no reject: the census sees the quote still open at the end",
    ),
    Case(
        "unterminated quote on the last row",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({10: csv_row(10, address='"JL. X')}))),
        ("quarantined",),
        0,
        10,
        "line 11",
    ),
    Case(
        "quote opened after a closed quote swallows the rest",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({2: csv_row(2, name_text='"A"B', address='"JL')}))),
        ("quarantined",),
        0,
        10,
        "line 3: a quoted field opens",
        note="DuckDB alone loads 1 row, no reject",
    ),
    Case(
        "a stray quote closed by a later quoted field swallows the records between",
        "dukcapil",
        one(
            lambda d: csv_file(
                d,
                rows_with(
                    {
                        3: csv_row(3, name_text='"' + "NAMA ORANG 003"),
                        7: csv_row(7, address='"JL. A, 5"'),
                    }
                ),
            )
        ),
        ("loaded",),
        5,
        5,
        "lines 4-8: a quoted field opens on line 4 and closes on line 8, and 4 of the lines after "
        "its first hold a whole record's 9 delimiters",
        lines=(4, 5, 6, 7, 8),
        loaded_lines=(2, 3, 9, 10, 11),
        note="DuckDB and the quote-aware scan agree on 6 records (4 lost); the quote-naive look at "
        "the lines between records finds whole records inside one",
    ),
    Case(
        "a stray quote closed on the next line (two records made one)",
        "dukcapil",
        one(
            lambda d: csv_file(
                d,
                rows_with({5: csv_row(5, address='"JL'), 6: csv_row(6, address='"JL. A, 5"')}),
            )
        ),
        ("loaded",),
        8,
        2,
        "a stray quote made one record",
        lines=(6, 7),
    ),
    Case(
        "swallowed records that parse as one valid row",
        "dukcapil",
        one(
            lambda d: csv_file(
                d,
                rows_with(
                    {2: csv_row(2, name_text='"NAMA ORANG 002'), 5: csv_row(5, name_text='NAMA 5"')}
                ),
            )
        ),
        ("loaded",),
        6,
        4,
        "lines 3-6",
        lines=(3, 4, 5, 6),
        note="DuckDB loads lines 3-6 as one row whose name holds three records: not loaded",
    ),
    Case(
        "a pipe-delimited file with a stray quote",
        "bpjs_tk",
        one(bpjs_stray_quote),
        ("loaded",),
        3,
        5,
        "a stray quote",
        lines=(3, 4, 5, 6, 7),
    ),
    Case(
        "stray quote inside an unquoted field",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({3: csv_row(3, name_text='SITI "UCI" AMINAH')}))),
        ("loaded",),
        10,
        0,
        note="a quote opens a field only at its start: the value keeps it",
    ),
    Case(
        "text after a closing quote",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({3: csv_row(3, name_text='"SITI"X')}))),
        ("loaded",),
        9,
        1,
        "unquoted value",
        lines=(4,),
    ),
    Case(
        "quoted field with doubled quotes",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({3: csv_row(3, address='"JL. ""MAWAR"", NO. 5"')}))),
        ("loaded",),
        10,
        0,
    ),
    Case(
        "quoted newlines: rows keep the line they start on",
        "dukcapil",
        one(
            lambda d: csv_file(
                d,
                rows_with(
                    {
                        3: csv_row(3, address='"JL. X\nRT 1\nRW 2"'),
                        5: csv_row(5, nik_text="")[:-1] + b",EXTRA",
                    }
                ),
            )
        ),
        ("loaded",),
        9,
        1,
        "too many columns",
        lines=(8,),
        loaded_lines=(2, 3, 4, 7, 9, 10, 11, 12, 13),
    ),
    Case(
        "CRLF line endings",
        "dukcapil",
        one(lambda d: csv_file(d, csv_rows(), newline=b"\r\n")),
        ("loaded",),
        10,
        0,
        loaded_lines=tuple(range(2, 12)),
    ),
    Case(
        "CR line endings",
        "dukcapil",
        one(lambda d: csv_file(d, csv_rows(), newline=b"\r")),
        ("loaded",),
        10,
        0,
    ),
    Case(
        "CRLF and LF mixed",
        "dukcapil",
        one(mixed_newlines),
        ("quarantined",),
        0,
        11,
        "cannot be read",
    ),
    Case(
        "quoted CRLF in a CRLF file",
        "dukcapil",
        one(
            lambda d: csv_file(d, rows_with({2: csv_row(2, address='"JL.\r\nX"')}), newline=b"\r\n")
        ),
        ("loaded",),
        10,
        0,
        loaded_lines=(2, 3, 5, 6, 7, 8, 9, 10, 11, 12),
    ),
    Case(
        "a row with an extra field",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({4: csv_row(4).replace(b",DEPOK", b",DEPOK,X")}))),
        ("loaded",),
        9,
        1,
        "too many columns",
        lines=(5,),
    ),
    Case(
        "a row ending in a delimiter",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({4: csv_row(4) + b","}))),
        ("loaded",),
        10,
        0,
        note="DuckDB reads a trailing empty field as no field: nothing is lost",
    ),
    Case(
        "a row missing a delimiter",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({6: csv_row(6).replace(b",DEPOK", b"")}))),
        ("loaded",),
        9,
        1,
        "missing columns",
        lines=(7,),
    ),
    Case(
        "wrong delimiter",
        "dukcapil",
        one(
            lambda d: csv_file(
                d, [r.replace(b",", b";") for r in csv_rows()], header=H.replace(b",", b";")
            )
        ),
        ("quarantined",),
        0,
        10,
        "no ','-separated header",
    ),
    Case(
        "duplicate header",
        "dukcapil",
        one(lambda d: csv_file(d, csv_rows(), header=H.replace(b"NO_KK", b"NIK"))),
        ("quarantined",),
        0,
        10,
        "repeats a column name (fields [3])",
    ),
    Case(
        "missing required column",
        "dukcapil",
        one(lambda d: csv_file(d, csv_rows(), header=H.replace(b"NAMA_LGKP", b"NAMA"))),
        ("quarantined",),
        0,
        10,
        "required columns ['NAMA_LGKP'] are missing",
    ),
    Case(
        "header-less file",
        "dukcapil",
        one(lambda d: csv_file(d, csv_rows(9), header=csv_row(0))),
        ("quarantined",),
        0,
        9,
        "missing from its header",
        note="the first record is taken as the header",
    ),
    Case(
        "NUL bytes in a value",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({2: csv_row(2, name_text="SI\x00TI")}))),
        ("loaded",),
        9,
        1,
        "nul byte",
        lines=(3,),
    ),
    Case("a 2 MB line", "dukcapil", one(long_field), ("loaded",), 10, 0),
    Case(
        "a line longer than the parser's limit (9 MB)",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({4: csv_row(4, address="X" * 9_000_000)}))),
        ("loaded",),
        9,
        1,
        "maximum line size",
        lines=(5,),
    ),
    Case(
        "duplicate record id",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({7: csv_row(7, record_id="DK2")}))),
        ("loaded",),
        9,
        1,
        "record id repeats",
        lines=(8,),
    ),
    Case(
        "missing record id",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({7: csv_row(7, record_id="")}))),
        ("loaded",),
        9,
        1,
        "record id is missing",
        lines=(8,),
    ),
    Case(
        "truncated mid-row",
        "dukcapil",
        one(truncated_mid_row),
        ("loaded",),
        9,
        1,
        "missing columns",
        lines=(11,),
    ),
    Case(
        "no newline at the end",
        "dukcapil",
        one(lambda d: csv_file(d, csv_rows(), end=b"")),
        ("loaded",),
        10,
        0,
    ),
    Case(
        "blank lines in the middle and at the end",
        "dukcapil",
        one(
            lambda d: csv_file(
                d,
                rows_with({3: csv_row(3) + b"\n\n", 9: csv_row(9).replace(b",DEPOK", b"")}),
                end=b"\n\n\n",
            )
        ),
        ("loaded",),
        9,
        1,
        "missing columns",
        lines=(12,),
        loaded_lines=(2, 3, 4, 7, 8, 9, 10, 11, 13),
    ),
    Case(
        "a line of spaces",
        "dukcapil",
        one(lambda d: csv_file(d, rows_with({5: b"   "}, n=10))),
        ("loaded",),
        9,
        1,
        "missing columns",
        lines=(6,),
    ),
    Case(
        "binary garbage",
        "dukcapil",
        one(raw(bytes(range(256)) * 40)),
        ("quarantined",),
        0,
        80,
        "no ','-separated header",
        note="its 80 'records' are what lies between bytes 10 and 13",
    ),
    Case(
        "impossible NIK and a date that is not a date",
        "dukcapil",
        one(
            lambda d: csv_file(
                d,
                rows_with(
                    {
                        2: csv_row(2, nik_text="0000000000000000"),
                        3: csv_row(3).replace(b"1990-12-05", b"31-31-ABCD"),
                    }
                ),
            )
        ),
        ("loaded",),
        10,
        0,
        note="values load as text; staging flags them in intermediate.int_identity_issues",
    ),
    # ---- XLSX
    Case(
        "a zip that is not a workbook",
        "p3ke",
        one(not_a_workbook),
        ("quarantined",),
        0,
        0,
        "cannot be read as xlsx",
    ),
    Case(
        "a truncated workbook",
        "p3ke",
        one(truncated(lambda d: xlsx_file(d, [p3ke_row(i) for i in range(1, 4)]), 0.6)),
        ("quarantined",),
        0,
        0,
        "cannot be read as xlsx",
    ),
    Case(
        "formula without a cached value",
        "p3ke",
        one(xlsx_formula),
        ("loaded",),
        4,
        1,
        "cell D4 holds a formula without a cached value",
        lines=(4,),
        note="calamine reads it as empty; the sheet's XML says what it is",
    ),
    Case(
        "wrong sheet name",
        "p3ke",
        one(lambda d: xlsx_file(d, [p3ke_row(1)], sheet="Sheet1")),
        ("quarantined",),
        0,
        0,
        "no sheet 'Data P3KE'",
    ),
    Case(
        "blank (merged) header cell",
        "p3ke",
        one(
            lambda d: xlsx_file(
                d, [p3ke_row(1), p3ke_row(2)], header=P3KE_HEADER[:4] + [None] + P3KE_HEADER[5:]
            )
        ),
        ("quarantined",),
        0,
        2,
        "is not a header of distinct names",
    ),
    Case(
        "blank rows between rows",
        "p3ke",
        one(xlsx_blank_rows),
        ("loaded",),
        3,
        0,
        loaded_lines=(2, 5, 6),
    ),
    Case(
        "a value beyond the header's width",
        "p3ke",
        one(xlsx_beyond_header),
        ("loaded",),
        2,
        1,
        "record id is missing",
        lines=(3,),
    ),
    Case(
        "duplicate id in a workbook",
        "p3ke",
        one(lambda d: xlsx_file(d, [p3ke_row(1), p3ke_row(2), p3ke_row(1)])),
        ("loaded",),
        2,
        1,
        "repeats",
        lines=(4,),
    ),
    # ---- Parquet
    Case(
        "nested members load one row each",
        "regsosek",
        one(lambda d: parquet_file(d, regsosek_table())),
        ("loaded",),
        10,
        0,
        loaded_lines=tuple(range(1, 11)),
    ),
    Case(
        "truncated Parquet",
        "regsosek",
        one(truncated(lambda d: parquet_file(d, regsosek_table()), 0.7)),
        ("quarantined",),
        0,
        0,
        "cannot be read as parquet",
    ),
    Case(
        "Parquet with wrong types",
        "regsosek_flat",
        one(wrong_types),
        ("loaded",),
        10,
        0,
        note="every value is read as text",
    ),
    Case(
        "Parquet missing a column",
        "regsosek_flat",
        one(lambda d: parquet_file(d, flat_table().drop(["nama"]))),
        ("quarantined",),
        0,
        10,
        "required columns ['nama'] are missing",
    ),
    Case(
        "Parquet member list nested twice",
        "regsosek",
        one(nested_twice),
        ("loaded",),
        5,
        0,
        balanced=False,
        unaccounted_line=4,
        note="the census counts 3 members (the outer lists), the recursive unnest makes 5 rows: "
        "blocked, naming the first row beyond the census",
    ),
    Case(
        "families with no members or a null list",
        "regsosek",
        one(empty_and_null_families),
        ("loaded",),
        5,
        0,
        note="a family form without members holds no person record",
    ),
    Case(
        "Parquet member without an id",
        "regsosek",
        one(
            lambda d: parquet_file(
                d,
                regsosek_table(
                    sizes=(2,), members=pa.array([[member(1), {**member(2), "id_art": None}]])
                ),
            )
        ),
        ("loaded",),
        1,
        1,
        "record id is missing",
        lines=(2,),
    ),
    # ---- the landing folder
    Case(
        "a symlink to last month's file",
        "dukcapil",
        one(symlink_to(last_month)),
        ("quarantined",),
        0,
        0,
        "is a symbolic link",
    ),
    Case(
        "a symlink to /etc/passwd",
        "dukcapil",
        one(symlink_to(lambda d: Path("/etc/passwd"))),
        ("quarantined",),
        0,
        0,
        "it was not opened",
    ),
    Case(
        "the same file twice under two names",
        "dukcapil",
        twice,
        ("loaded", "quarantined"),
        10,
        10,
        "same content as dukcapil_penduduk_2025-01.csv",
    ),
    # ---- issue 31, second round
    Case(
        "record ids shared across two files of the month",
        "dukcapil",
        ids_across_files,
        ("loaded", "loaded"),
        15,
        5,
        "record id repeats row",
        lines=(2, 3, 4, 5, 6),
        note="the later file's repeats are quarantined naming both files; its new rows load "
        "(both files loaded every row before, caught later by a dbt test naming no file)",
    ),
    Case(
        "rows on another worksheet with the source's header",
        "p3ke",
        sheets({"Data P3KE (2)": [P3KE_HEADER, *(p3ke_row(i) for i in range(4, 9))]}),
        ("loaded", "loaded"),
        8,
        0,
        note="the other sheet is read as its own entry (its 5 rows were ignored before)",
    ),
    Case(
        "rows on another worksheet under another header",
        "p3ke",
        sheets({"Catatan": [["catatan"], ["baris 1"], ["baris 2"]]}),
        ("loaded",),
        3,
        0,
        "sheet 'Catatan' holds 3 rows that are not read",
        note="reported with its rows, counted from the sheet's XML (silently ignored before)",
    ),
    Case(
        "ANSI escapes and a newline in a file name",
        "dukcapil",
        one(raw(b"", "dukcapil_penduduk_\x1b[2J\x1b[31mOK\n2025-01.csv")),
        ("quarantined",),
        0,
        0,
        "dukcapil_penduduk_\\x1b[2J\\x1b[31mOK\\n2025-01.csv: the file is empty",
        note="the name is escaped in every reason (it reached the terminal raw before)",
    ),
    Case(
        "a folder named like a file",
        "dukcapil",
        a_folder,
        ("quarantined",),
        0,
        0,
        "is not a regular file",
    ),
]


def spec_of(case: Case):
    return flat_regsosek() if case.source == "regsosek_flat" else get_source(case.source)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case: Case, tmp_path):
    out = ingest(spec_of(case), case.build(tmp_path))
    assert tuple(r.status for r in out.results) == case.status, [r.reason for r in out.results]
    assert sum(r.rows_loaded for r in out.results) == case.loaded
    assert sum(r.rows_quarantined for r in out.results) == case.quarantined
    if case.reason:
        assert any(case.reason.lower() in r.lower() for r in out.reasons), out.reasons
    if case.lines is not None:
        assert tuple(sorted(q[1] for q in out.quarantine if q[1] is not None)) == case.lines
    if case.loaded_lines is not None:
        assert tuple(out.loaded_rows) == case.loaded_lines
    # Nothing lost silently: every record the census counted is loaded or quarantined, or the
    # blocking reconciliation says which line is unaccounted for.
    assert [r.balanced for r in out.recon] == [case.balanced] * len(out.results), [
        r.note for r in out.recon
    ]
    for r, file in zip(out.recon, out.results):
        if case.balanced and file.rows_counted is not None:
            assert r.counted == r.loaded + r.quarantined
        if not case.balanced:
            assert r.line == case.unaccounted_line and f"line {case.unaccounted_line}" in r.note
    for file in out.results:
        if file.status == "quarantined":
            assert file.reason.startswith(printable(Path(file.file).name))
            assert file.rows_read == file.rows_quarantined == (file.rows_counted or 0)
    assert_no_cell_content(out)
    for text in out.reasons:  # a delivered name never reaches a terminal raw
        assert not any(ch in text for ch in "\x1b\x07\n"), text


# ---- the landing month: every entry read or named with its reason (ingest/inventory.py).
# (name, folder under landing/, builds the entry in landing/<folder>/2025-01, status, in the line)
LANDING = [
    (
        "an upper-case .CSV extra delivery",
        "dukcapil",
        lambda m: csv_file(m, csv_rows(3), name_="dukcapil_penduduk_2025-01_susulan.CSV"),
        "read",
        "",
    ),
    (
        "a part in a subfolder",
        "dukcapil",
        lambda m: csv_file(
            (m / "bagian2").mkdir() or m / "bagian2", csv_rows(2), name_="dukcapil_penduduk_b.csv"
        ),
        "not read",
        "in a subfolder (bagian2/)",
    ),
    (
        "a file of a source whose config was removed",
        "p3ke_lama",
        lambda m: xlsx_file(m, [p3ke_row(1)]),
        "not read",
        "is no registered source (no config/sources/p3ke_lama.yaml)",
    ),
    (
        "a file still being written (a transfer name)",
        "dukcapil",
        lambda m: csv_file(m, csv_rows(2), name_="dukcapil_penduduk_2025-01.csv.part"),
        "in transfer",
        "",
    ),
    (
        "ANSI escapes and a newline in a landing name",
        "dukcapil",
        lambda m: csv_file(m, csv_rows(1), name_="evil\x1b[31m\nrm -rf.txt"),
        "not read",
        "evil\\x1b[31m\\nrm -rf.txt: not read",
    ),
]


@pytest.mark.parametrize(
    "folder, build, status, said", [c[1:] for c in LANDING], ids=[c[0] for c in LANDING]
)
def test_hostile_landing_entry(landing, folder, build, status, said):
    month = landing / folder / "2025-01"
    month.mkdir(parents=True, exist_ok=True)
    built = build(month)
    entries = {e.path: e for e in inventory("2025-01", load_sources())}
    entry = entries[str(built.relative_to(landing))]
    assert entry.status == status, describe(entry)
    line = describe(entry)
    assert said in line, line
    assert not any(ch in line for ch in "\x1b\n"), line


def test_the_catalogue_is_broad():
    formats = {spec_of(c).format for c in CASES}
    assert len(CASES) >= 30 and formats == {"csv", "xlsx", "parquet"}
    assert len(LANDING) >= 5


def test_links_are_not_opened_and_not_hashed(tmp_path):
    out = ingest(
        get_source("dukcapil"),
        symlink_to(lambda d: Path("/etc/passwd"))(tmp_path)
        and [tmp_path / "dukcapil_penduduk_2025-01.csv"],
    )
    [r] = out.results
    assert (r.sha256, r.rows_counted) == (None, None)


def test_swallowed_lines_are_kept_whole_in_the_quarantine(tmp_path):
    """Each line a stray quote swallowed is one quarantine row holding the whole line (DuckDB's
    reject keeps one record cut at 10,000 characters), however long."""
    long_address = "JL. " + "PANJANG " * 4000  # 32,004 characters
    rows = rows_with(
        {
            3: csv_row(3, name_text='"' + name(3)),
            5: csv_row(5, address=long_address),
            7: csv_row(7, address='"A, 5"'),
        }
    )
    path = csv_file(tmp_path, rows)
    lines = path.read_text().split("\n")
    with duckdb.connect() as con:
        load_month(con, get_source("dukcapil"), "2025-01", [path])
        kept = con.execute(
            "select source_row, raw_value from raw.quarantine order by source_row"
        ).fetchall()
    assert [r for r, _ in kept] == [4, 5, 6, 7, 8]
    assert [v for _, v in kept] == lines[3:8]
    assert len(kept[2][1]) > 32_000
