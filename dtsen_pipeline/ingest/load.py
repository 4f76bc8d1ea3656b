"""Load one month of one source: every file read, every row loaded or quarantined with its reason.

Tables (schema ``raw``):
- ``<source>__<entity>``: canonical identity columns as text, ``attributes`` (the extract's other
  columns as JSON) and lineage: source, extract_month, source_file, source_row, file_sha256,
  ingested_at;
- ``quarantine``: rows (or whole files) that could not be loaded: file, row, column, reason;
- ``ingest_log``: one row per file: rows read, loaded, quarantined, status and reason.

Loading a month replaces that month's rows for the source, in one transaction: re-ingesting the
same file is idempotent and a corrected file replaces its predecessor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from dtsen_pipeline.checksums import file_sha256
from dtsen_pipeline.ingest.readers import ExtractError, quote_ident, quote_literal, read_extract
from dtsen_pipeline.sources import CANONICAL_COLUMNS, SourceSpec

_SCHEMA = """
create schema if not exists raw;
create table if not exists raw.quarantine (
    source varchar, extract_month varchar, source_file varchar, file_sha256 varchar, source_row bigint,
    column_name varchar, reason varchar, raw_value varchar, quarantined_at timestamp with time zone);
create table if not exists raw.ingest_log (
    source varchar, extract_month varchar, source_file varchar, file_sha256 varchar, status varchar,
    reason varchar, rows_read bigint, rows_loaded bigint, rows_quarantined bigint,
    ingested_at timestamp with time zone);
"""


def raw_table_ddl(spec: SourceSpec) -> str:
    """Create the source's raw table, and add any canonical column a warehouse built by an earlier
    version lacks (loads insert by name, so old rows read NULL there)."""
    columns = ", ".join(f"{c} varchar" for c in CANONICAL_COLUMNS)
    added = "".join(f"alter table raw.{spec.raw_table} add column if not exists {c} varchar;\n"
                    for c in CANONICAL_COLUMNS)
    return (f"create table if not exists raw.{spec.raw_table} (source varchar, extract_month varchar, "
            f"source_file varchar, source_row bigint, file_sha256 varchar, ingested_at timestamp with time zone, "
            f"{columns}, attributes varchar);\n{added}")


@dataclass
class FileResult:
    file: str
    sha256: str
    status: str          # loaded | quarantined
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    reason: str = ""


def _mapping_sql(spec: SourceSpec, present: list[str]) -> str:
    exprs = []
    for canonical in CANONICAL_COLUMNS:
        m = spec.columns.get(canonical)
        if m is None:
            exprs.append(f"cast(null as varchar) as {canonical}")
        elif m.extract is not None:
            exprs.append(f"nullif(trim(regexp_extract({quote_ident(m.columns[0])}, {quote_literal(m.extract)}, 1)), '')"
                         f" as {canonical}")
        elif len(m.columns) == 1:
            exprs.append(f"nullif(trim({quote_ident(m.columns[0])}), '') as {canonical}")
        else:
            exprs.append("nullif(concat_ws('.', " + ", ".join(quote_ident(c) for c in m.columns) + f"), '') as {canonical}")
    others = [c for c in present if c not in spec.extract_columns and c != "_row"]
    attrs = ("json_object(" + ", ".join(f"{quote_literal(c)}, {quote_ident(c)}" for c in others) + ")"
             if others else "cast(null as json)")
    return ", ".join(exprs) + f", cast({attrs} as varchar) as attributes"


def stage_file(con: duckdb.DuckDBPyConnection, spec: SourceSpec, month: str, path: Path, n: int) -> FileResult:
    """Read one file into temp tables ``_load_<n>`` (rows to load) and ``_quar_<n>`` (rows to
    quarantine), outside any transaction: a file DuckDB cannot read must not abort the month."""
    sha = file_sha256(path)
    quar = f"_quar_{n}"
    con.execute(f"create or replace temp table {quar} (_row bigint, column_name varchar, reason varchar, "
                "raw_value varchar)")
    try:
        read_extract(con, spec, path)
        present = [r[0] for r in con.execute("describe _extract").fetchall()]
        missing = sorted(spec.extract_columns - set(present))
        if missing:
            # The registry's names are safe to show; the file's are not (a header-less file's
            # "columns" are its first record).
            raise ExtractError(f"{path.name}: required columns {missing} are missing from its header "
                               f"({len(present) - 1} columns); see config/sources/{spec.name}.yaml")
    except ExtractError as exc:
        con.execute(f"insert into {quar} values (null, null, ?, null)", [str(exc)])
        con.execute(f"create or replace temp table _load_{n} as select * from raw.{spec.raw_table} limit 0")
        return FileResult(path.name, sha, "quarantined", 0, 0, 0, str(exc))

    con.execute(f"create or replace temp table _canonical as select _row, {_mapping_sql(spec, present)} from _extract")
    # Hard rules: a row needs its record id, and the id must be unique within the file.
    con.execute(f"""
        insert into {quar}
        select * from _rejects
        union all
        select _row, 'source_record_id',
               case when source_record_id is null then 'record id is missing'
                    else 'record id repeats an earlier row of this file' end,
               source_record_id
        from (select _row, source_record_id,
                     row_number() over (partition by source_record_id order by _row) as seen
              from _canonical)
        where source_record_id is null or seen > 1""")
    lineage = (f"{quote_literal(spec.name)} as source, {quote_literal(month)} as extract_month, "
               f"{quote_literal(path.name)} as source_file, _row as source_row, {quote_literal(sha)} as file_sha256, "
               "now() as ingested_at")
    con.execute(f"create or replace temp table _load_{n} as select {lineage}, * exclude (_row) from _canonical "
                f"where _row not in (select _row from {quar} where _row is not null)")
    loaded = con.execute(f"select count(*) from _load_{n}").fetchone()[0]
    quarantined = con.execute(f"select count(distinct _row) from {quar}").fetchone()[0]
    read = con.execute("select count(*) from _extract").fetchone()[0] + \
        con.execute("select count(*) from _rejects").fetchone()[0]
    return FileResult(path.name, sha, "loaded", read, loaded, quarantined)


def load_month(con: duckdb.DuckDBPyConnection, spec: SourceSpec, month: str, files: list[Path]) -> list[FileResult]:
    """Replace the source's month with what its files hold: files are read first, then the
    month's rows, quarantine and log are swapped in one transaction."""
    con.execute(_SCHEMA)
    con.execute(raw_table_ddl(spec))
    results = [stage_file(con, spec, month, f, n) for n, f in enumerate(files)]
    con.execute("begin")
    try:
        con.execute(f"delete from raw.{spec.raw_table} where extract_month = ?", [month])
        for log_table in ("raw.quarantine", "raw.ingest_log"):
            con.execute(f"delete from {log_table} where source = ? and extract_month = ?", [spec.name, month])
        for n, r in enumerate(results):
            con.execute(f"insert into raw.{spec.raw_table} by name select * from _load_{n}")
            con.execute(f"insert into raw.quarantine select ?, ?, ?, ?, _row, column_name, reason, raw_value, now() "
                        f"from _quar_{n}", [spec.name, month, r.file, r.sha256])
            con.execute("insert into raw.ingest_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                        [spec.name, month, r.file, r.sha256, r.status, r.reason, r.rows_read, r.rows_loaded,
                         r.rows_quarantined])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    for n in range(len(results)):
        con.execute(f"drop table if exists _load_{n}; drop table if exists _quar_{n}")
    return results


def reconciliation(con: duckdb.DuckDBPyConnection, spec: SourceSpec, month: str) -> list[tuple]:
    """Per file, recounted from the tables: (file, read, loaded, quarantined, balanced)."""
    return con.execute(f"""
        select l.source_file, l.rows_read,
               (select count(*) from raw.{spec.raw_table} r
                 where r.extract_month = l.extract_month and r.source_file = l.source_file) as loaded,
               (select count(distinct q.source_row) from raw.quarantine q
                 where q.source = l.source and q.extract_month = l.extract_month
                   and q.source_file = l.source_file and q.source_row is not null) as quarantined
        from raw.ingest_log l where l.source = ? and l.extract_month = ? order by 1""", [spec.name, month]).fetchall()
