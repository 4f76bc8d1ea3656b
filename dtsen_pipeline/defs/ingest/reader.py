"""Read one landing file into DuckDB as canonical text columns plus lineage.

DuckDB's native readers do the work (no row-by-row Python). Every column is read as text: typing
and validation happen in dbt staging, where each check leaves a flag instead of dropping a row.
"""


from pathlib import Path

import duckdb

from dtsen_pipeline.checksums import file_sha256
from dtsen_pipeline.sources import CANONICAL_COLUMNS, SourceSpec


class ExtractError(Exception):
    """A landing file that cannot be loaded; the message names the file and the reason."""


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _scan_sql(spec: SourceSpec, path: Path) -> str:
    file = "'" + str(path).replace("'", "''") + "'"
    if spec.format == "csv":
        opts = spec.csv
        return (f"read_csv({file}, delim='{opts.delimiter}', header={str(opts.header).lower()}, "
                f"encoding='{opts.encoding}', all_varchar=true, auto_detect=false, "
                f"columns={_csv_columns(spec, path)})")
    if spec.format == "parquet":
        return f"read_parquet({file})"
    raise ExtractError(f"{path.name}: format {spec.format!r} is not supported yet")


def _csv_columns(spec: SourceSpec, path: Path) -> str:
    """Header names as the file has them, all typed VARCHAR (so no value is lost to sniffing)."""
    with path.open("r", encoding=spec.csv.encoding, newline="") as fh:
        header = fh.readline().lstrip("\ufeff").rstrip("\r\n").split(spec.csv.delimiter)
    return "{" + ", ".join(f"'{h.strip()}': 'VARCHAR'" for h in header) + "}"


def select_canonical(con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path, month: str) -> str:
    """SQL selecting one file as canonical columns + lineage; raises ExtractError naming what is wrong."""
    scan = _scan_sql(spec, path)
    try:
        present = {row[0] for row in con.execute(f"describe select * from {scan}").fetchall()}
    except duckdb.Error as exc:
        raise ExtractError(f"{path.name}: cannot be read as {spec.format}: {exc}") from None
    needed = {c for v in spec.columns.values() for c in ([v] if isinstance(v, str) else v)}
    missing = sorted(needed - present)
    if missing:
        raise ExtractError(f"{path.name}: required columns {missing} are missing "
                           f"(mapping in config/sources/{spec.name}.yaml)")
    exprs = []
    for canonical in CANONICAL_COLUMNS:
        src = spec.columns.get(canonical)
        if src is None:
            exprs.append(f"cast(null as varchar) as {canonical}")
        elif isinstance(src, str):
            exprs.append(f"{_quote(src)} as {canonical}")
        else:
            exprs.append("concat_ws('.', " + ", ".join(_quote(c) for c in src) + f") as {canonical}")
    return (
        f"select '{spec.name}' as source, '{month}' as extract_month, "
        + ", ".join(exprs)
        + f", '{path.name}' as source_file, row_number() over () as source_row, "
        f"'{file_sha256(path)}' as file_sha256, now() as ingested_at from {scan}"
    )
