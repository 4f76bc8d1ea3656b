"""The one DuckDB connection helper (and SQL quoting, the analysts' sandbox, integer results).

DuckDB allows one writer process or many readers, never both: the working warehouse is opened by
pipeline steps one at a time, and analysts read the published release instead (see publish/).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dtsen_pipeline.lib import paths

LOCK_WAIT_SECONDS = 120  # how long a step waits for another process's write lock

# Every DuckDB the platform opens (the warehouse, Splink's scratch, dbt's: dbt_project/profiles.yml,
# analysts' queries) is capped at this much memory, and spills to disk beyond it. DuckDB's own
# default is 80% of the machine's RAM: at 3M persons dbt's marts alone took 19 GB of 24.
MEMORY_LIMIT_ENV = "DTSEN_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "8GB"


def quote_ident(name: str) -> str:
    """A SQL identifier, quoted for DuckDB (a user's path or column name never breaks the SQL)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A SQL string literal, quoted for DuckDB."""
    return "'" + value.replace("'", "''") + "'"


def memory_limit() -> str:
    """The memory cap of each DuckDB connection (``DTSEN_DUCKDB_MEMORY_LIMIT``, default 8GB)."""
    return os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT


# An analyst's connection (`dtsen query`): the one database file it was opened on and nothing else.
# No file is read or written (read_csv, read_text, copy ... to, export), nothing is attached (the
# identified database, the working warehouse), no extension is installed or loaded, and the
# configuration is locked, so no statement can switch any of this back on. Set when the database is
# opened: a `set` would come too late (a query could `reset` it).
SANDBOX_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "python_enable_replacements": False,  # no Python variable of the caller is readable as a table
    "lock_configuration": True,
}
# Set after the others when the sandbox spills to a folder of its own: DuckDB refuses a
# temp_directory once external access is off, so the two come in a first statement, before any SQL.
_SANDBOX_LOCKS = ("enable_external_access", "lock_configuration")


# DuckDB sums integers into HUGEINT (128 bits), which pandas, JSON readers and most Parquet
# readers take as a float or a decimal; a result column of these types is narrowed to BIGINT when
# every value fits (bigint_results).
_HUGE_TYPES = ("HUGEINT", "UHUGEINT")
_BIGINT_RANGE = (-(2**63), 2**63 - 1)


def bigint_results(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """``rel`` with each HUGEINT or UHUGEINT column cast to BIGINT when all its values fit (an
    integer ``sum()`` comes back as an integer, not a float); a column that does not fit is left as
    it is. Counts its bounds with one more run of ``rel``, only when it has such a column."""
    huge = [c for c, t in zip(rel.columns, rel.types, strict=True) if str(t) in _HUGE_TYPES]
    if not huge:
        return rel
    bounds = rel.aggregate(
        ", ".join(f"min({quote_ident(c)}), max({quote_ident(c)})" for c in huge)
    ).fetchall()[0]
    low, high = _BIGINT_RANGE
    fits = {
        c
        for c, lo, hi in zip(huge, bounds[0::2], bounds[1::2], strict=True)
        if (lo is None or lo >= low) and (hi is None or hi <= high)
    }
    if not fits:
        return rel
    return rel.project(
        ", ".join(
            f"{quote_ident(c)}::BIGINT as {quote_ident(c)}" if c in fits else quote_ident(c)
            for c in rel.columns
        )
    )


def _is_lock_error(exc: Exception) -> bool:
    return "lock" in str(exc).lower() and (
        "conflicting" in str(exc).lower() or "could not set" in str(exc).lower()
    )


def _open(
    db: Path, read_only: bool, wait: float, config: dict | None = None
) -> duckdb.DuckDBPyConnection:
    """Open ``db``, retrying with exponential backoff while another process holds its lock (DuckDB
    takes one writer process). After ``wait`` seconds the error says which file and what to do."""
    deadline, delay = time.monotonic() + wait, 0.25
    while True:
        try:
            return duckdb.connect(
                str(db),
                read_only=read_only,
                config={"memory_limit": memory_limit(), **(config or {})},
            )
        except duckdb.IOException as exc:
            if not _is_lock_error(exc) or time.monotonic() + delay > deadline:
                if _is_lock_error(exc):
                    raise WarehouseLockedError(
                        f"{db} is locked by another process (DuckDB allows one writer) and stayed locked "
                        f"for {wait:.0f}s. Wait for the other run to finish (Dagster UI, Runs), or stop "
                        "the process that holds it; analysts read data/publish/current, never this file."
                    ) from exc
                raise
            time.sleep(delay)
            delay = min(delay * 2, 8.0)


class WarehouseLockedError(RuntimeError):
    """The warehouse stayed locked by another process past the wait."""


@contextmanager
def connect(
    path: Path | str | None = None,
    *,
    read_only: bool = False,
    wait: float = LOCK_WAIT_SECONDS,
    sandboxed: bool = False,
    spill_to: Path | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (or another DuckDB file) and always close it, so dbt can write next.

    ``sandboxed`` (read-only, SANDBOX_CONFIG) is for analysts' SQL: it reaches this file's tables only.
    ``spill_to``: the folder DuckDB spills to beyond its memory cap (its default is beside ``db``)."""
    db = Path(path) if path is not None else paths.warehouse_db()
    if sandboxed:
        read_only = True
    if not read_only:
        db.parent.mkdir(parents=True, exist_ok=True)
    config = dict(SANDBOX_CONFIG) if sandboxed else {}
    if spill_to is not None:
        config = {k: v for k, v in config.items() if k not in _SANDBOX_LOCKS}
        config["temp_directory"] = str(spill_to)
    con = _open(db, read_only, wait, config)
    try:
        if spill_to is not None and sandboxed:  # the locks, before any of the caller's SQL runs
            con.execute("set enable_external_access = false; set lock_configuration = true")
        yield con
    finally:
        con.close()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )


def scratch() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for heavy intermediate work (Splink), so scratch tables never land in
    the warehouse file and the warehouse lock is held only while reading inputs and writing results.

    Its memory is capped (``memory_limit()``): beyond it DuckDB spills to a temp folder beside the
    warehouse instead of taking the machine's RAM."""
    spill = paths.warehouse_dir() / "spill"
    spill.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(
        ":memory:",
        config={
            "memory_limit": memory_limit(),
            "temp_directory": str(spill),
        },
    )
