"""The files a run keeps its state in, checked before it starts: the working warehouse (DuckDB)
and Dagster's SQLite storage. A truncated or corrupt one is named in one line, with the remedy,
instead of a traceback from deep inside DuckDB or Dagster."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb

from dtsen_pipeline.lib import paths, warehouse

# Dagster's default SQLite storage under DAGSTER_HOME (a PostgreSQL instance has none of them).
DAGSTER_SQLITE = ("history/runs.db", "history/runs/index.db", "schedules/schedules.db")


class DamagedStateError(RuntimeError):
    """A state file cannot be read: its path, what is wrong and what to do."""


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def check_warehouse(db: Path | None = None) -> None:
    """Open ``db`` (the working warehouse) read-only and read its catalog; DamagedStateError when
    DuckDB cannot. A warehouse held by another process is not checked (it is in use, so readable)."""
    db = db or paths.warehouse_db()
    if not db.exists():
        return
    try:
        with warehouse.connect(db, read_only=True, wait=0) as con:
            con.execute("select count(*) from duckdb_tables()").fetchall()
    except warehouse.WarehouseLockedError:
        return
    except duckdb.Error as exc:
        if warehouse._is_lock_error(exc):  # noqa: SLF001 (the lock test of the same package)
            return
        raise DamagedStateError(
            f"the warehouse {db} is damaged ({_first_line(exc)}); move it aside (mv it to "
            f"{db.name}.damaged) and run every month again from the first, oldest first: the "
            "warehouse is rebuilt from landing/ (the published releases are untouched)"
        ) from None


def check_dagster_storage(home: Path | None = None) -> None:
    """``PRAGMA quick_check`` on each of Dagster's SQLite files present under ``home``
    (DAGSTER_HOME); DamagedStateError naming the first damaged one."""
    home = home or paths.dagster_home()
    for name in DAGSTER_SQLITE:
        db = home / name
        if not db.exists():
            continue
        try:
            con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=30)
            try:
                result = con.execute("pragma quick_check").fetchall()
            finally:
                con.close()
            problem = None if result == [("ok",)] else str(result[0][0])[:200]
        except sqlite3.Error as exc:
            problem = _first_line(exc)
        if problem:
            folder = home / name.split("/")[0]  # history/ (runs and their index) or schedules/
            raise DamagedStateError(
                f"Dagster's storage {db} is damaged ({problem}); move {folder} aside (mv it to "
                f"{folder.name}.damaged): Dagster starts an empty run history there (the warehouse, "
                "the releases and landing/ are untouched), then run the month again"
            )


def check_all() -> None:
    """Both checks, the warehouse first."""
    check_warehouse()
    check_dagster_storage()
