"""The one DuckDB connection helper.

DuckDB allows one writer process or many readers, never both: the working warehouse is opened by
pipeline steps one at a time, and analysts read the published release instead (see publish/).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dtsen_pipeline import paths


@contextmanager
def connect(path: Path | str | None = None, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (or another DuckDB file) and always close it, so dbt can write next."""
    db = Path(path) if path is not None else paths.warehouse_db()
    if not read_only:
        db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()[0][0])


def scratch() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for heavy intermediate work (Splink), so scratch tables never land in
    the warehouse file and the warehouse lock is held only while reading inputs and writing results.

    Its memory is capped (``DTSEN_DUCKDB_MEMORY_LIMIT``, default 8GB): beyond it DuckDB spills to
    a temp folder beside the warehouse instead of taking the machine's RAM."""
    spill = paths.warehouse_dir() / "spill"
    spill.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(":memory:", config={
        "memory_limit": os.environ.get("DTSEN_DUCKDB_MEMORY_LIMIT", "8GB"),
        "temp_directory": str(spill),
    })
