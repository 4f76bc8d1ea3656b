"""The one connection helper: waits out another process's write lock, and says so when it cannot."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from dtsen_pipeline import warehouse

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
