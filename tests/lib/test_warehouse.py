"""The one connection helper: waits out another process's write lock, and says so when it cannot."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from dtsen_pipeline.lib import warehouse

HOLD = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _hold_lock(db, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_writer_waits_for_another_process_to_release_the_lock(tmp_path):
    db = tmp_path / "w.duckdb"
    holder = _hold_lock(db, 2.0)
    start = time.monotonic()
    with warehouse.connect(db, wait=60) as con:
        assert con.execute("select 42").fetchall() == [(42,)]
    assert time.monotonic() - start >= 1.0  # it waited, then got in
    holder.wait(timeout=30)


def test_a_lock_held_too_long_fails_with_what_to_do(tmp_path):
    db = tmp_path / "w.duckdb"
    holder = _hold_lock(db, 10.0)
    try:
        with pytest.raises(warehouse.WarehouseLockedError) as err, warehouse.connect(db, wait=1):
            pass
        message = str(err.value)
        assert str(db) in message and "another process" in message and "Runs" in message
    finally:
        holder.kill()
        holder.wait()


def _limit(con) -> str:
    return con.execute("select current_setting('memory_limit')").fetchall()[0][0]


@pytest.mark.parametrize("cap, shown", [("3GB", "2.7 GiB"), ("512MB", "488.2 MiB")])
def test_every_duckdb_the_platform_opens_is_capped(tmp_path, monkeypatch, cap, shown):
    """The warehouse, Splink's scratch, an analyst's sandbox and dbt's DuckDB all take the one cap
    (DuckDB's default would be 80% of the machine's RAM)."""
    monkeypatch.setenv(warehouse.MEMORY_LIMIT_ENV, cap)
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db) as con:
        assert _limit(con) == shown
    with warehouse.connect(db, sandboxed=True) as con:
        assert _limit(con) == shown
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    scratch = warehouse.scratch()
    assert _limit(scratch) == shown
    scratch.close()
    # dbt's: the profile reads the same variable (the dbt step sets it from memory_limit()).
    from dtsen_pipeline.defs.dbt.project import dbt_resource
    from dtsen_pipeline.lib import paths

    dbt = subprocess.run(
        [
            dbt_resource().dbt_executable,
            "show",
            "--inline",
            "select current_setting('memory_limit') as m",
            "--quiet",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "target"),
        ],
        cwd=paths.DBT_PROJECT_DIR,
        env={**os.environ, "DTSEN_WAREHOUSE_PATH": str(db)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dbt.returncode == 0, dbt.stdout + dbt.stderr
    assert f"| {shown} |" in dbt.stdout


def test_the_cap_defaults_to_8gb(monkeypatch):
    monkeypatch.delenv(warehouse.MEMORY_LIMIT_ENV, raising=False)
    assert warehouse.memory_limit() == "8GB"
