"""`dtsen query`'s limits: a statement timeout, and spill outside the release.

DuckDB has no statement timeout of its own: a timer thread calls the connection's ``interrupt()``
when the time is up, and the query stops with :class:`QueryTimeout` (one line for the analyst).
Beyond its memory cap DuckDB spills to disk, by default beside the database file, which is the
immutable release; here it spills to ``<data root>/tmp/query-<pid>/`` instead, a folder removed
when the query ends (and, for a query that was killed, by the next one).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dtsen_pipeline.lib import paths, warehouse

TIMEOUT_ENV = "DTSEN_QUERY_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 300.0


class QueryTimeout(RuntimeError):
    """The analyst's statement ran past its time and was stopped."""


def timeout_seconds(value: float | None = None) -> float:
    """``value`` (``--timeout``), else ``DTSEN_QUERY_TIMEOUT``, else 300 seconds; ValueError when
    it is not a positive number."""
    if value is None:
        raw = os.environ.get(TIMEOUT_ENV, "").strip()
        try:
            value = float(raw) if raw else DEFAULT_TIMEOUT_SECONDS
        except ValueError:
            raise ValueError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ValueError(f"a statement timeout must be a positive number of seconds, not {value:g}")
    return value


def tmp_root() -> Path:
    """Where analysts' queries spill: ``<data root>/tmp``, never under ``publish/``."""
    return paths.data_root() / "tmp"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_spill() -> list[Path]:
    """Remove the spill folders of queries whose process is gone (killed); returns them."""
    removed = []
    root = tmp_root()
    for folder in root.glob("query-*") if root.is_dir() else []:
        pid = folder.name.removeprefix("query-")
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextmanager
def release_connection(db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """``db`` (a release's database) opened sandboxed (lib/warehouse.py), spilling to an
    owner-only folder under :func:`tmp_root`, removed afterwards: never into the release."""
    remove_stale_spill()
    spill = tmp_root() / f"query-{os.getpid()}"
    paths.make_private(tmp_root())  # an identified query's spill holds identity
    paths.make_private(spill)
    try:
        with warehouse.connect(db, sandboxed=True, spill_to=spill) as con:
            yield con
    finally:
        shutil.rmtree(spill, ignore_errors=True)


@contextmanager
def limited_connection(db: Path, timeout: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """:func:`release_connection` for an analyst's SQL: every statement run on it within the
    block is interrupted after ``timeout`` seconds, which raises :class:`QueryTimeout`."""
    fired = threading.Event()
    with release_connection(db) as con:

        def stop() -> None:
            fired.set()
            con.interrupt()

        timer = threading.Timer(timeout, stop)
        timer.daemon = True
        timer.start()
        try:
            yield con
        except duckdb.InterruptException as exc:
            if fired.is_set():
                raise QueryTimeout(
                    f"the query was stopped after {timeout:g} s, its time limit "
                    f"(--timeout SECONDS or {TIMEOUT_ENV} sets another)"
                ) from exc
            raise
        finally:
            timer.cancel()
