"""Load one month of one source: every file read, every row loaded or quarantined with its reason.

Tables (schema ``raw``):
- ``<source>__<entity>``: canonical identity columns as text, ``attributes`` (the extract's other
  columns as JSON) and lineage: source, extract_month, source_file, source_row, file_sha256,
  ingested_at;
- ``quarantine``: rows (or whole files) that could not be loaded: file, row, column, reason;
- ``ingest_log``: one row per file: rows read (by the parser), loaded, quarantined, status and
  reason, and ``rows_counted``: the file's own record count from its census (ingest/census.py), a
  pass that shares nothing with the parser, with ``first_unaccounted_line`` when they disagree.

Loading a month replaces that month's rows for the source, in one transaction: re-ingesting the
same file is idempotent and a corrected file replaces its predecessor.

Quarantined whole, without loading any of its rows (``rows_read`` and ``rows_quarantined`` are then
the file's own count): a landing entry that is a symbolic link or not a regular file (not opened),
a file with the same content as an earlier file of the source's month, a file that cannot be read,
and a CSV whose census ends inside a quoted field (a quote never closed: DuckDB would silently
read the rest of the file as one value, or drop it; the reason names the line where it opened).
Quarantined by row: rejected by the parser, no record id, a repeated record id (within its file,
or loaded by a file of the month read before it: the reason names both files and rows), a NUL
byte in a value, an XLSX formula without a cached value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import duckdb
import pyarrow as pa

from dtsen_pipeline.ingest.census import Census, Swallow, take_census, xlsx_rows
from dtsen_pipeline.ingest.inventory import NotSettled
from dtsen_pipeline.ingest.readers import ExtractError, read_extract, sheet_headers, sheet_names
from dtsen_pipeline.ingest.sources import CANONICAL_COLUMNS, SourceSpec, XlsxOptions
from dtsen_pipeline.lib.checksums import file_sha256
from dtsen_pipeline.lib.printable import printable
from dtsen_pipeline.lib.warehouse import quote_ident, quote_literal

_SCHEMA = """
create schema if not exists raw;
create table if not exists raw.quarantine (
    source varchar, extract_month varchar, source_file varchar, file_sha256 varchar, source_row bigint,
    column_name varchar, reason varchar, raw_value varchar, quarantined_at timestamp with time zone);
create table if not exists raw.ingest_log (
    source varchar, extract_month varchar, source_file varchar, file_sha256 varchar, status varchar,
    reason varchar, rows_read bigint, rows_loaded bigint, rows_quarantined bigint,
    ingested_at timestamp with time zone, rows_counted bigint, first_unaccounted_line bigint);
-- Warehouses built before the census have neither column: their old rows read NULL.
alter table raw.ingest_log add column if not exists rows_counted bigint;
alter table raw.ingest_log add column if not exists first_unaccounted_line bigint;
"""


def raw_table_ddl(spec: SourceSpec) -> str:
    """Create the source's raw table, and add any canonical column a warehouse built by an earlier
    version lacks (loads insert by name, so old rows read NULL there)."""
    columns = ", ".join(f"{c} varchar" for c in CANONICAL_COLUMNS)
    added = "".join(
        f"alter table raw.{spec.raw_table} add column if not exists {c} varchar;\n"
        for c in CANONICAL_COLUMNS
    )
    return (
        f"create table if not exists raw.{spec.raw_table} (source varchar, extract_month varchar, "
        f"source_file varchar, source_row bigint, file_sha256 varchar, ingested_at timestamp with time zone, "
        f"{columns}, attributes varchar);\n{added}"
    )


@dataclass
class FileResult:
    file: str
    sha256: str | None  # None: the entry was not opened (a link, not a regular file)
    status: str  # loaded | quarantined
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    reason: str = ""
    rows_counted: int | None = None  # the census; None when the file could not be counted
    rows_not_read: int = 0  # XLSX: rows on sheets with another header, reported in the reason
    first_unaccounted_line: int | None = None


def _mapping_sql(spec: SourceSpec, present: list[str]) -> str:
    exprs = []
    for canonical in CANONICAL_COLUMNS:
        m = spec.columns.get(canonical)
        if m is None:
            exprs.append(f"cast(null as varchar) as {canonical}")
        elif m.extract is not None:
            exprs.append(
                f"nullif(trim(regexp_extract({quote_ident(m.columns[0])}, {quote_literal(m.extract)}, 1)), '')"
                f" as {canonical}"
            )
        elif len(m.columns) == 1:
            exprs.append(f"nullif(trim({quote_ident(m.columns[0])}), '') as {canonical}")
        else:
            joined = ", ".join(quote_ident(c) for c in m.columns)
            exprs.append(f"nullif(concat_ws('.', {joined}), '') as {canonical}")
    others = [c for c in present if c not in spec.extract_columns and c != "_row"]
    attrs = (
        "json_object(" + ", ".join(f"{quote_literal(c)}, {quote_ident(c)}" for c in others) + ")"
        if others
        else "cast(null as json)"
    )
    return ", ".join(exprs) + f", cast({attrs} as varchar) as attributes"


def _landing_entry_problem(path: Path) -> str | None:
    """Landing holds delivered files: a link could load last month's file as this month's, or
    read anything the pipeline can read; neither is opened."""
    if path.is_symlink():
        return "is a symbolic link"
    if path.parent.is_symlink() or path.parent.parent.is_symlink():
        return "is inside a folder that is a symbolic link"
    if not path.is_file():
        return "is not a regular file"
    return None


def _records_table(con: duckdb.DuckDBPyConnection, census: Census) -> None:
    """``_records``: each record's ordinal, DuckDB's line number and start line, from the breaks."""
    con.execute("create or replace temp table _records (_ord bigint, logical bigint, line bigint)")
    if not census.records:
        return
    breaks = pa.table(
        {
            "ord": pa.array([b.ordinal for b in census.breaks], pa.int64()),
            "logical": pa.array([b.logical for b in census.breaks], pa.int64()),
            "line": pa.array([b.line for b in census.breaks], pa.int64()),
        }
    )
    con.register("_census_breaks", breaks)
    con.execute(f"""
        insert into _records
        select r.range, b.logical + r.range - b.ord, b.line + r.range - b.ord
        from range(1, {int(census.records)} + 1) r asof join _census_breaks b on r.range >= b.ord""")
    con.unregister("_census_breaks")


def _flag_rows(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, census: Census, present: list[str], quar: str
):
    """Rows the parser read but whose values cannot be trusted: quarantined with the column."""
    columns = [c for c in present if c != "_row"]
    for formula in census.formulas:
        column = columns[formula.column] if formula.column < len(columns) else None
        reason = (
            f"cell {formula.cell} holds a formula without a cached value (the workbook was saved without "
            "calculating it); open it in Excel, recalculate and save"
        )
        con.execute(f"insert into {quar} values (?, ?, ?, null)", [formula.row, column, reason])
    if spec.format == "csv" and not census.nul_bytes:
        return  # the census counted NUL bytes: none, nothing to look for
    hit = " or ".join(f"contains({quote_ident(c)}, chr(0))" for c in columns)
    con.execute(f"""
        insert into {quar}
        select _row, column_name, 'the value holds a NUL byte (0x00), which no text column may hold', null
        from (unpivot (select * from _extract where {hit}) on columns(* exclude (_row))
              into name column_name value v)
        where contains(v, chr(0))""")


def _swallow_reason(s: Swallow) -> str:
    return (
        f"a quoted field opens on line {s.start} and closes on line {s.end}, and {s.whole} of "
        f"the lines after its first hold a whole record's {s.delimiters} delimiters: a stray "
        "quote made one record of them"
    )


def _quarantine_swallowed(con: duckdb.DuckDBPyConnection, census: Census, name: str, quar: str):
    """Each line of a record that swallowed others is quarantined on its own line, whole (not
    the parser's reject, which holds one record cut short); the lines join ``_records`` so a
    disagreement is still placed. The file's note, or ""."""
    if not census.swallowed:
        return ""
    rows = {"line": [], "reason": [], "raw": []}
    for s in census.swallowed:
        con.execute(f"delete from {quar} where _row between ? and ?", [s.start, s.end])
        why = _swallow_reason(s)
        for line, text in s.lines:
            rows["line"].append(line)
            rows["reason"].append(f"{name}: line {line}: {why}; the line is kept whole, not loaded")
            rows["raw"].append(text)
    table = pa.table(
        {
            "line": pa.array(rows["line"], pa.int64()),
            "reason": pa.array(rows["reason"], pa.string()),
            "raw": pa.array(rows["raw"], pa.string()),
        }
    )
    con.register("_swallowed_lines", table)
    con.execute(f"insert into {quar} select line, null, reason, raw from _swallowed_lines")
    con.execute(
        "insert into _records select null, null, line from _swallowed_lines "
        "where line not in (select line from _records)"
    )
    con.unregister("_swallowed_lines")
    return "; ".join(
        f"{name}: lines {s.start}-{s.end}: {_swallow_reason(s)}; its {len(s.lines)} lines are "
        "quarantined whole, none loaded; remove the stray quote and deliver the file again"
        for s in census.swallowed
    )


def _quarantine_whole(
    con: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    path: Path,
    n: int,
    reason: str,
    sha: str | None,
    counted: int | None,
) -> FileResult:
    """The file is quarantined whole: one quarantine row with the reason, nothing to load."""
    con.execute(f"insert into _quar_{n} values (null, null, ?, null)", [reason])
    con.execute(
        f"create or replace temp table _load_{n} as select * from raw.{spec.raw_table} limit 0"
    )
    rows = counted or 0
    return FileResult(path.name, sha, "quarantined", rows, 0, rows, reason, counted)


def _whole_file_reason(path: Path, sha: str, census: Census, earlier: dict[str, str]) -> str | None:
    """Why the (opened) file is not read at all: delivered twice in the month, or a quoted field
    never closed; None to read it. A file read is added to ``earlier``."""
    name = printable(path)
    if sha in earlier:
        return (
            f"{name}: same content as {printable(earlier[sha])} (sha256 {sha[:12]}...); the file was "
            "delivered twice and is loaded once"
        )
    earlier[sha] = path.name
    if census.open_quote_line is not None:
        return (
            f"{name}: line {census.open_quote_line}: a quoted field opens here and is never "
            f"closed, so the rest of the file would be read as one value; no row of this file was "
            f"loaded ({census.records} rows); close or remove the quote"
        )
    if census.swallowed and census.swallowed[0].start == 1:
        return (
            f"{name}: line 1: the header {_swallow_reason(census.swallowed[0])}; no row of this "
            f"file was loaded ({census.counted} rows); remove the stray quote"
        )
    return None


def _read_columns(con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path) -> list[str]:
    """Read the file into ``_extract`` (and ``_rejects``); its columns. ExtractError if it cannot
    be read or lacks a column the mapping needs."""
    read_extract(con, spec, path)
    present = [r[0] for r in con.execute("describe _extract").fetchall()]
    missing = sorted(spec.extract_columns - set(present))
    if missing:
        # The registry's names are safe to show; the file's are not (a header-less file's
        # "columns" are its first record).
        raise ExtractError(
            f"{printable(path)}: required columns {missing} are missing from its header "
            f"({len(present) - 1} columns); see config/sources/{spec.name}.yaml"
        )
    return present


def _stage_rows(
    con: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    month: str,
    path: Path,
    n: int,
    sha: str,
    census: Census,
    present: list[str],
) -> FileResult:
    """The read file's rows mapped onto the canonical columns: the rows to quarantine (rejected
    by the parser, flagged, without or repeating a record id) into ``_quar_<n>``, the others with
    their lineage into ``_load_<n>``; the counts, checked against the census."""
    quar = f"_quar_{n}"
    con.execute(
        f"create or replace temp table _canonical as select _row, {_mapping_sql(spec, present)} from _extract"
    )
    con.execute(f"insert into {quar} select * from _rejects")
    note = _quarantine_swallowed(con, census, printable(path), quar)
    _flag_rows(con, spec, census, present, quar)
    # Hard rules: a row needs its record id, and the id must be unique within the file.
    con.execute(f"""
        insert into {quar}
        select _row, 'source_record_id',
               case when source_record_id is null then 'record id is missing'
                    else 'record id repeats an earlier row of this file' end,
               source_record_id
        from (select _row, source_record_id,
                     row_number() over (partition by source_record_id order by _row) as seen
              from _canonical)
        where source_record_id is null or seen > 1""")
    lineage = (
        f"{quote_literal(spec.name)} as source, {quote_literal(month)} as extract_month, "
        f"{quote_literal(path.name)} as source_file, _row as source_row, {quote_literal(sha)} as file_sha256, "
        "now() as ingested_at"
    )
    con.execute(
        f"create or replace temp table _load_{n} as select {lineage}, * exclude (_row) from _canonical "
        f"where _row is null or _row not in (select _row from {quar} where _row is not null)"
    )
    loaded = con.execute(f"select count(*) from _load_{n}").fetchone()[0]
    quarantined = con.execute(f"select count(distinct _row) from {quar}").fetchone()[0]
    read = (
        con.execute("select count(*) from _extract").fetchone()[0]
        + con.execute("select count(*) from _rejects").fetchone()[0]
    )
    result = FileResult(
        path.name, sha, "loaded", read, loaded, quarantined, note, rows_counted=census.counted
    )
    if census.records is None:
        # The parser read a file the census could not (a damaged page, say): not trusted, blocked.
        result.reason = (
            f"{printable(path)}: its records could not be counted independently of the parser "
            f"({census.problem}); reconciliation blocks it"
        )
    if census.records is not None and census.counted != loaded + quarantined:
        result.first_unaccounted_line = _first_unaccounted_line(con, n)
    return result


def stage_file(
    con: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    month: str,
    path: Path,
    n: int,
    earlier: dict[str, str] | None = None,
) -> FileResult:
    """Read one file into temp tables ``_load_<n>`` (rows to load) and ``_quar_<n>`` (rows to
    quarantine), outside any transaction: a file DuckDB cannot read must not abort the month.
    ``earlier`` maps the sha256 of the month's files staged before this one to their names.

    In steps: a landing entry that is not a regular file is not opened; a file delivered twice
    or with a quote never closed is not read (``_whole_file_reason``); a file that cannot be read
    or lacks a mapped column is quarantined whole (``_read_columns``); otherwise its rows are
    staged (``_stage_rows``)."""
    earlier = {} if earlier is None else earlier
    con.execute(
        f"create or replace temp table _quar_{n} (_row bigint, column_name varchar, reason varchar, "
        "raw_value varchar)"
    )
    problem = _landing_entry_problem(path)
    if problem:
        reason = (
            f"{printable(path)}: {problem}; a landing entry must be the delivered file itself "
            "(it was not opened)"
        )
        return _quarantine_whole(con, spec, path, n, reason, None, None)
    before = path.stat()
    sha = file_sha256(path)
    census = take_census(spec, path)
    reason = _whole_file_reason(path, sha, census, earlier)
    if reason:
        result = _quarantine_whole(con, spec, path, n, reason, sha, census.counted)
    else:
        _records_table(con, census)
        try:
            present = _read_columns(con, spec, path)
        except ExtractError as exc:
            result = _quarantine_whole(con, spec, path, n, str(exc), sha, census.counted)
        else:
            result = _stage_rows(con, spec, month, path, n, sha, census, present)
    _unchanged_since(path, before)
    return result


def _unchanged_since(path: Path, before) -> None:
    """NotSettled if the file's size or modification time changed while it was read: it is still
    being written, and what was read is part of it."""
    try:
        after = path.stat()
        same = (after.st_size, after.st_mtime_ns, after.st_ino) == (
            before.st_size,
            before.st_mtime_ns,
            before.st_ino,
        )
    except FileNotFoundError:
        same = False
    if not same:
        raise NotSettled(
            f"{printable(path)}: changed while it was being read (size or modification time): "
            "it is still being written; nothing of the month was loaded; run the month again "
            "when the delivery is complete"
        )


def _first_unaccounted_line(con: duckdb.DuckDBPyConnection, n: int) -> int | None:
    """The first line where the census and the staged rows disagree: a record the census found
    that no staged row accounts for (or found twice, as a sheet repeating a row number), or a
    staged row the census does not know; a staged row without a line is after the census's last."""
    return con.execute(f"""
        with staged as (select source_row as line from _load_{n}
                        union all select distinct _row from _quar_{n} where _row is not null),
        c as (select line, count(*) as n from _records group by line),
        s as (select line, count(*) as n from staged where line is not null group by line)
        select coalesce(
            (select min(coalesce(c.line, s.line)) from c full join s on c.line = s.line
             where coalesce(c.n, 0) <> coalesce(s.n, 0)),
            (select max(line) + 1 from _records where exists (select 1 from staged where line is null)))
        """).fetchone()[0]


def _sheets(spec: SourceSpec, path: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """The workbook's other sheets that hold rows (the census's count, header or not): those
    whose header row is the source sheet's (read too), and the others with their rows."""
    names = sheet_names(path)
    main = spec.xlsx.sheet if spec.xlsx.sheet is not None else names[0]
    others = [(n, xlsx_rows(path, n)) for n in names if n != main]
    others = [(n, rows) for n, rows in others if rows]
    if not others:
        return [], []
    headers = sheet_headers(spec, path, [main, *(n for n, _ in others)])
    same = [n for n, _ in others if headers[n] == headers[main]]
    return same, [(n, rows) for n, rows in others if n not in same]


def _other_sheets(
    con: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    month: str,
    path: Path,
    first: FileResult,
    n: int,
) -> list[FileResult]:
    """A workbook's other sheets: one with the source sheet's header is staged as its own entry,
    ``<file> [<sheet>]`` (its rows numbered as Excel shows them on that sheet); one holding rows
    under another header is not read, and ``first`` says so with the sheet's rows."""
    try:
        same, others = _sheets(spec, path)
    except Exception as exc:  # the source sheet was read: a sheet that is not is reported
        first.reason = (
            f"{printable(path)}: its other sheets could not be listed ({type(exc).__name__})"
        )
        return []
    results = []
    for sheet in same:
        variant = dataclasses.replace(
            spec, xlsx=XlsxOptions(sheet=sheet, header_row=spec.xlsx.header_row)
        )
        r = stage_file(con, variant, month, path, n + len(results), {})
        r.file = f"{path.name} [{sheet}]"
        con.execute(f"update _load_{n + len(results)} set source_file = ?", [r.file])
        results.append(r)
    if others:
        first.rows_not_read = sum(rows for _, rows in others)
        first.reason = "; ".join(
            [first.reason] * bool(first.reason)
            + [
                f"{printable(path)}: sheet '{printable(sheet)}' holds {rows} rows that are not "
                f"read: its row {spec.xlsx.header_row} is not the header of the sheet read "
                f"('{printable(spec.xlsx.sheet or sheet_names(path)[0])}')"
                for sheet, rows in others
            ]
        )
    return results


def _quarantine_ids_of_earlier_files(con: duckdb.DuckDBPyConnection, results: list) -> None:
    """A record id loads once a month: a row whose id a file read earlier in the month (in the
    order the source reads them, by name) already loads is quarantined, its reason naming both
    files and rows, and its file's counts and reason say so. Staged tables ``_load_<n>`` and
    ``_quar_<n>`` are updated in place, before the month's transaction."""
    for n, later in enumerate(results):
        if later.status != "loaded":
            continue
        moved = 0
        for m, first in enumerate(results[:n]):
            if first.status != "loaded":
                continue
            prefix = "record id repeats row "
            suffix = (
                f" of {printable(first.file)}, a file of the month read before this one, where it "
                f"is loaded (this row: {printable(later.file)} row "
            )
            moved += con.execute(
                f"""insert into _quar_{n}
                select l.source_row, 'source_record_id', ? || e.source_row || ? || l.source_row || ')',
                       l.source_record_id
                from _load_{n} l join _load_{m} e using (source_record_id)""",
                [prefix, suffix],
            ).fetchone()[0]
            con.execute(
                f"delete from _load_{n} where source_record_id in "
                f"(select source_record_id from _load_{m})"
            )
        if moved:
            later.rows_loaded -= moved
            later.rows_quarantined += moved
            later.reason = "; ".join(
                [later.reason] * bool(later.reason)
                + [
                    f"{printable(later.file)}: {moved} rows carry record ids that a file of the "
                    "month read before it already loads: quarantined (each names the other row)"
                ]
            )


def load_month(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, month: str, files: list[Path]
) -> list[FileResult]:
    """Replace the source's month with what its files hold: files are read first, then the
    month's rows, quarantine and log are swapped in one transaction."""
    con.execute(_SCHEMA)
    con.execute(raw_table_ddl(spec))
    earlier: dict[str, str] = {}
    results: list[FileResult] = []
    for f in files:
        results.append(stage_file(con, spec, month, f, len(results), earlier))
        if spec.format == "xlsx" and results[-1].status == "loaded":
            results += _other_sheets(con, spec, month, f, results[-1], len(results))
    _quarantine_ids_of_earlier_files(con, results)
    con.execute("begin")
    try:
        con.execute(f"delete from raw.{spec.raw_table} where extract_month = ?", [month])
        for log_table in ("raw.quarantine", "raw.ingest_log"):
            con.execute(
                f"delete from {log_table} where source = ? and extract_month = ?",
                [spec.name, month],
            )
        for n, r in enumerate(results):
            con.execute(f"insert into raw.{spec.raw_table} by name select * from _load_{n}")
            con.execute(
                f"insert into raw.quarantine select ?, ?, ?, ?, _row, column_name, reason, raw_value, now() "
                f"from _quar_{n}",
                [spec.name, month, r.file, r.sha256],
            )
            con.execute(
                "insert into raw.ingest_log (source, extract_month, source_file, file_sha256, status, reason, "
                "rows_read, rows_loaded, rows_quarantined, ingested_at, rows_counted, first_unaccounted_line) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?, ?)",
                [
                    spec.name,
                    month,
                    r.file,
                    r.sha256,
                    r.status,
                    r.reason,
                    r.rows_read,
                    r.rows_loaded,
                    r.rows_quarantined,
                    r.rows_counted,
                    r.first_unaccounted_line,
                ],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    for n in range(len(results)):
        con.execute(f"drop table if exists _load_{n}; drop table if exists _quar_{n}")
    return results


class Reconciled(NamedTuple):
    file: str
    counted: int | None  # the file's own record count (census)
    loaded: int  # recounted from raw.<source>__<entity>
    quarantined: int  # recounted from raw.quarantine (a whole-file quarantine: every counted row)
    balanced: bool
    line: int | None  # the first unaccounted record's start line
    note: str  # for a person: the file, the counts, the line


def reconciliation(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, month: str
) -> list[Reconciled]:
    """Per file, the census against what the tables hold: every record counted is loaded or
    quarantined. A file quarantined whole accounts for all its records (none may be loaded); one
    that could not be counted balances only if quarantined whole."""
    rows = con.execute(
        f"""
        select l.source_file, l.rows_counted, l.status, l.first_unaccounted_line,
               (select count(*) from raw.{spec.raw_table} r
                 where r.extract_month = l.extract_month and r.source_file = l.source_file) as loaded,
               (select count(distinct q.source_row) from raw.quarantine q
                 where q.source = l.source and q.extract_month = l.extract_month
                   and q.source_file = l.source_file and q.source_row is not null) as quarantined
        from raw.ingest_log l where l.source = ? and l.extract_month = ? order by 1""",
        [spec.name, month],
    ).fetchall()
    out = []
    for file, counted, status, line, loaded, quarantined in rows:
        shown = printable(file)
        if status == "quarantined":
            quarantined = counted or 0
            balanced = loaded == 0
        else:
            balanced = counted is not None and counted == loaded + quarantined
        if balanced:
            note = f"{shown}: {counted} records, {loaded} loaded + {quarantined} quarantined"
        elif counted is None:
            note = (
                f"{shown}: its records could not be counted independently of the parser; {loaded} loaded, "
                f"{quarantined} quarantined"
            )
        else:
            where = f"; first unaccounted record at line {line}" if line is not None else ""
            note = (
                f"{shown}: the file holds {counted} records, but {loaded} were loaded and {quarantined} "
                f"quarantined ({loaded + quarantined - counted:+d}){where}"
            )
        out.append(Reconciled(file, counted, loaded, quarantined, balanced, line, note))
    return out


class SnapshotChange(NamedTuple):
    passed: bool
    loaded: int
    previous_month: str | None
    previous_rows: int | None
    description: str


def snapshot_change(con: duckdb.DuckDBPyConnection, spec: SourceSpec, month: str) -> SnapshotChange:
    """A full snapshot's loaded rows against its last delivery (the latest earlier month with rows
    loaded): shrinking by more than ``spec.shrink_tolerance``, or empty, fails."""
    loaded = con.execute(
        f"select count(*) from raw.{spec.raw_table} where extract_month = ?", [month]
    ).fetchone()[0]
    previous = con.execute(
        """
        select extract_month, sum(rows_loaded) from raw.ingest_log
        where source = ? and extract_month < ? group by 1 having sum(rows_loaded) > 0
        order by 1 desc limit 1""",
        [spec.name, month],
    ).fetchone()
    tolerance = f"tolerance {spec.shrink_tolerance:.0%}"
    if previous is None:
        passed = loaded > 0
        text = f"{spec.name} {month}: {loaded:,} rows loaded, no earlier delivery" + (
            "" if passed else f"; a full snapshot cannot be empty ({tolerance})"
        )
        return SnapshotChange(passed, loaded, None, None, text)
    prev_month, prev_rows = previous
    prev_rows = int(prev_rows)
    passed = loaded > 0 and loaded >= (1 - spec.shrink_tolerance) * prev_rows
    change = (loaded - prev_rows) / prev_rows
    text = (
        f"{spec.name} {month}: {loaded:,} rows loaded against {prev_rows:,} in {prev_month} "
        f"({change:+.0%}; {tolerance})"
    )
    return SnapshotChange(passed, loaded, prev_month, prev_rows, text)
