"""One reader per format. Each leaves two temp tables on the connection:

- ``_extract``: every column of the file as text, plus ``_row`` (the row an engineer finds in the
  file: the line where the CSV record starts, the Excel row, the Parquet record number);
- ``_rejects``: rows the parser could not read (``_row``, ``column_name``, ``reason``, ``raw_value``).

DuckDB's native readers do the work for CSV and Parquet; XLSX (which DuckDB cannot read offline)
goes through calamine, column by column. A file that cannot be read at all raises ExtractError.
CSV lines come from the temp table ``_records`` (ordinal, DuckDB's line, the record's start line)
that the loader builds from the file's census (ingest/census.py) before reading: DuckDB numbers
its rejects by its own line count, which ignores line breaks inside quoted fields. Blank lines and
blank spreadsheet rows are not records.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from pathlib import Path

import duckdb
import pyarrow as pa

from dtsen_pipeline.ingest.sources import SourceSpec
from dtsen_pipeline.lib.printable import printable
from dtsen_pipeline.lib.warehouse import quote_ident, quote_literal

MAX_LINE_BYTES = 8 * 1024 * 1024
HEADER_BYTES = 1 << 20  # a header line is read from the file's first megabyte


class ExtractError(Exception):
    """A file that cannot be loaded at all; the message names the file and the reason."""


def read_extract(con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path) -> None:
    if path.stat().st_size == 0:
        raise ExtractError(f"{printable(path)}: the file is empty (0 bytes)")
    {"csv": _read_csv, "xlsx": _read_xlsx, "parquet": _read_parquet}[spec.format](con, spec, path)


def _no_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "create or replace temp table _rejects (_row bigint, column_name varchar, reason varchar, "
        "raw_value varchar)"
    )


def _csv_header(spec: SourceSpec, path: Path) -> list[str]:
    opts = spec.csv
    try:
        # Decode the first line only: a bad byte further down is a row's problem, not the file's.
        # The line may end in LF, CRLF or CR (a file saved on an old Mac has no LF at all).
        with path.open("rb") as fh:
            head = fh.read(HEADER_BYTES)
        if opts.encoding == "utf-16":
            head = codecs.getincrementaldecoder("utf-16")().decode(head).encode("utf-8")
        line = re.split(rb"\r\n|\r|\n", head, maxsplit=1)[0].decode(
            "utf-8" if opts.encoding == "utf-16" else opts.encoding
        )
    except UnicodeDecodeError as exc:
        raise ExtractError(
            f"{printable(path)}: the header is not {opts.encoding} text ({exc.reason} at byte "
            f"{exc.start}); check csv.encoding in config/sources/{spec.name}.yaml"
        ) from None
    header = [
        h.strip().strip('"') for h in line.lstrip("\ufeff").rstrip("\r\n").split(opts.delimiter)
    ]
    # Messages name positions, never cell contents: a file without its header row would put a
    # NIK and a name into the log.
    if len(header) < 2 or not all(header):
        raise ExtractError(
            f"{printable(path)}: no '{opts.delimiter}'-separated header in the first line "
            f"({len(header)} fields, {sum(not h for h in header)} empty); is it the right file "
            "and delimiter?"
        )
    if len(set(header)) != len(header):
        repeated = [i + 1 for i, h in enumerate(header) if header.index(h) != i]
        raise ExtractError(
            f"{printable(path)}: the header repeats a column name (fields {repeated})"
        )
    return header


def _read_csv(con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path) -> None:
    opts = spec.csv
    header = _csv_header(spec, path)
    columns = "{" + ", ".join(f"{quote_literal(h)}: 'VARCHAR'" for h in header) + "}"
    con.execute("drop table if exists _csv_rejects; drop table if exists _csv_scans")
    scan = (
        f"read_csv({quote_literal(str(path))}, delim={quote_literal(opts.delimiter)}, header=true, "
        f"encoding={quote_literal(opts.encoding)}, columns={columns}, auto_detect=false, quote='\"', "
        f"escape='\"', parallel=false, max_line_size={MAX_LINE_BYTES}, store_rejects=true, "
        f"rejects_table='_csv_rejects', rejects_scan='_csv_scans')"
    )
    try:
        con.execute(
            f"create or replace temp table _parsed as select row_number() over () as _ord, * from {scan}"
        )
    except duckdb.Error as exc:
        raise ExtractError(
            f"{printable(path)}: cannot be read as {opts.encoding} CSV: {printable(str(exc).splitlines()[0])}"
        ) from None
    # Each rejected record is one row of the file: a data row lost to the parser, kept here, on
    # the line where its record starts.
    con.execute("""
        create or replace temp table _rejects as
        select coalesce(r.line, g.line) as _row, g.column_name, g.reason, g.raw_value
        from (select line, any_value(column_name) as column_name,
                     string_agg(distinct error_type || ': ' || error_message, '; ') as reason,
                     any_value(csv_line) as raw_value
              from _csv_rejects group by line) g
        left join _records r on r.logical = g.line""")
    # Loaded rows take the records the rejects did not, in order. A row the census did not see
    # keeps a NULL line: it is loaded, and reconciliation reports the difference.
    con.execute("""
        create or replace temp table _extract as
        with free as (select line, row_number() over (order by _ord) as _ord from _records
                      where logical not in (select line from _csv_rejects))
        select free.line as _row, _parsed.* exclude (_ord)
        from _parsed left join free using (_ord) order by _parsed._ord""")


def _cell_text(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Excel stores every number as a float: a NIK typed as a number comes back as 3.2e15.
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _read_xlsx(con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path) -> None:
    from python_calamine import CalamineWorkbook

    opts = spec.xlsx
    try:
        book = CalamineWorkbook.from_path(str(path))
        if opts.sheet is not None and opts.sheet not in book.sheet_names:
            raise ExtractError(
                f"{printable(path)}: no sheet '{opts.sheet}' (sheets: {book.sheet_names})"
            )
        sheet = book.get_sheet_by_name(opts.sheet) if opts.sheet else book.get_sheet_by_index(0)
        rows = sheet.to_python(skip_empty_area=False)
    except ExtractError:
        raise
    except Exception as exc:  # calamine raises its own types for corrupt or non-XLSX files
        raise ExtractError(
            f"{printable(path)}: cannot be read as XLSX: {printable(str(exc))}"
        ) from None
    if len(rows) < opts.header_row:
        raise ExtractError(
            f"{printable(path)}: has {len(rows)} rows, the header should be on row {opts.header_row}"
        )
    header = [_cell_text(h) or "" for h in rows[opts.header_row - 1]]
    while header and not header[-1]:
        header.pop()
    if not header or len(set(header)) != len(header) or not all(header):
        raise ExtractError(
            f"{printable(path)}: row {opts.header_row} is not a header of distinct names "
            f"({len(header)} cells, {sum(not h for h in header)} empty, "
            f"{len(header) - len(set(header))} repeated); check xlsx.header_row"
        )
    # Blank rows are not records (the census skips them too); a row with a value only beyond the
    # header's width is one, without a record id.
    numbered = [
        (n, r)
        for n, r in enumerate(rows[opts.header_row :], start=opts.header_row + 1)
        if any(v not in (None, "") for v in r)
    ]
    body = [r for _, r in numbered]
    width = len(header)
    columns = list(zip(*[(r + [None] * width)[:width] for r in body])) if body else [()] * width
    table = pa.table(
        {
            "_row": pa.array([n for n, _ in numbered], pa.int64()),
            **{
                h: pa.array([_cell_text(v) for v in col], pa.string())
                for h, col in zip(header, columns)
            },
        }
    )
    con.register("_xlsx_arrow", table)
    con.execute("create or replace temp table _extract as select * from _xlsx_arrow")
    con.unregister("_xlsx_arrow")
    _no_rejects(con)


def _header_cells(rows: list, header_row: int) -> list[str]:
    header = [
        _cell_text(h) or "" for h in (rows[header_row - 1] if len(rows) >= header_row else [])
    ]
    while header and not header[-1]:
        header.pop()
    return header


def sheet_names(path: Path) -> list[str]:
    """The workbook's sheets, in order; ExtractError if it cannot be opened."""
    from python_calamine import CalamineWorkbook

    try:
        return list(CalamineWorkbook.from_path(str(path)).sheet_names)
    except Exception as exc:  # calamine raises its own types for corrupt or non-XLSX files
        raise ExtractError(
            f"{printable(path)}: cannot be read as XLSX: {printable(str(exc))}"
        ) from None


def sheet_headers(spec: SourceSpec, path: Path, sheets: list[str]) -> dict[str, list[str]]:
    """The cells of each sheet's header row (``xlsx.header_row``), trailing blanks dropped; the
    workbook is opened once."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    return {
        sheet: _header_cells(
            book.get_sheet_by_name(sheet).to_python(
                skip_empty_area=False, nrows=spec.xlsx.header_row
            ),
            spec.xlsx.header_row,
        )
        for sheet in sheets
    }


def _read_parquet(con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path) -> None:
    scan = f"read_parquet({quote_literal(str(path))}, file_row_number=true)"
    try:
        con.execute(f"create or replace temp table _parquet as select * from {scan}")
        if spec.parquet.unnest:
            nested = quote_ident(spec.parquet.unnest)
            con.execute(f"""
                create or replace temp table _parquet as
                select * exclude ({nested}), unnest({nested}, recursive := true)
                from _parquet order by file_row_number""")
        described = con.execute("describe _parquet").fetchall()
    except duckdb.Error as exc:
        raise ExtractError(
            f"{printable(path)}: cannot be read as Parquet: {printable(str(exc).splitlines()[0])}"
        ) from None
    cols = [c[0] for c in described if c[0] != "file_row_number"]
    con.execute(
        "create or replace temp table _extract as select row_number() over (order by file_row_number) as _row, "
        + ", ".join(f"cast({quote_ident(c)} as varchar) as {quote_ident(c)}" for c in cols)
        + " from _parquet"
    )
    _no_rejects(con)
