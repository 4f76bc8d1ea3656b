"""One-line errors instead of tracebacks (issue 31): `dtsen generate` with impossible arguments, a
truncated or corrupt warehouse, corrupt Dagster storage, and a run that finds the data root busy,
each through the real `dtsen` command on a tiny data root damaged on purpose."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap

import duckdb
import pytest

from dtsen_pipeline.lib import state_files
from tests.conftest import dtsen


def _env(root) -> dict:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DTSEN_") and k != "DAGSTER_HOME"
    }
    env["DTSEN_DATA_DIR"] = str(root)
    env["DTSEN_LAST_MONTH"] = "2025-12"  # nothing landed: the month is opened as a partition
    return env


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if ", Dagster home " not in line]
    assert len(errors) == 1, result.stderr  # beside the opening line naming the data root
    return errors[0]


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--persons", "-5", "argument --persons: must be at least 100, not -5"),
        ("--persons", "many", "argument --persons: 'many' is not a whole number"),
        ("--months", "0", "argument --months: must be at least 1, not 0"),
        ("--seed", "-1", "argument --seed: must be at least 0, not -1"),
        ("--reverified", "2", "argument --reverified: a share is between 0 and 1, not 2"),
    ],
)
def test_generate_refuses_impossible_arguments_in_one_line(tmp_path, flag, value, said):
    result = dtsen("generate", flag, value, env=_env(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1] == f"dtsen generate: error: {said}"
    assert not (tmp_path / "landing").exists()  # nothing written


def _warehouse(root):
    db = root / "warehouse" / "dtsen.duckdb"
    db.parent.mkdir(parents=True)
    with duckdb.connect(str(db)) as con:
        con.execute("create schema raw; create table raw.t as select range as i from range(100000)")
    return db


def test_a_truncated_warehouse_is_named_with_its_remedy(tmp_path):
    db = _warehouse(tmp_path)
    with db.open("r+b") as fh:
        fh.truncate(db.stat().st_size // 3)
    line = _one_line_error(dtsen("run", "--month", "2025-01", env=_env(tmp_path)))
    assert line.startswith(f"dtsen run 2025-01: the warehouse {db} is damaged (")
    assert "move it aside" in line and "run every month again" in line


def test_a_corrupt_warehouse_is_named_with_its_remedy(tmp_path):
    db = _warehouse(tmp_path)
    data = bytearray(db.read_bytes())
    data[0:4096] = b"\x5a" * 4096  # the header overwritten
    db.write_bytes(bytes(data))
    line = _one_line_error(dtsen("run", "--month", "2025-01", env=_env(tmp_path)))
    assert f"the warehouse {db} is damaged (" in line and "landing/" in line


def test_corrupt_dagster_storage_is_named_with_its_remedy(tmp_path):
    runs = tmp_path / "dagster_home" / "history" / "runs.db"
    runs.parent.mkdir(parents=True)
    with sqlite3.connect(runs) as con:
        con.execute("create table runs (id integer primary key, body text)")
        con.executemany("insert into runs (body) values (?)", [("x" * 500,)] * 2000)
    con.close()
    data = bytearray(runs.read_bytes())
    data[4096 * 3 : 4096 * 6] = os.urandom(4096 * 3)  # pages in the middle overwritten
    runs.write_bytes(bytes(data))
    line = _one_line_error(dtsen("run", "--month", "2025-01", env=_env(tmp_path)))
    assert line.startswith(f"dtsen run 2025-01: Dagster's storage {runs} is damaged (")
    assert f"move {runs.parent} aside" in line and "run the month again" in line
    runs.write_bytes(b"not a database at all")  # garbage, too
    with pytest.raises(state_files.DamagedStateError, match="runs.db is damaged"):
        state_files.check_dagster_storage(tmp_path / "dagster_home")


def test_sound_state_files_pass(tmp_path):
    _warehouse(tmp_path)
    state_files.check_warehouse(tmp_path / "warehouse" / "dtsen.duckdb")
    state_files.check_dagster_storage(tmp_path / "nothing here")  # none present: nothing to check


# `dtsen run` (the CLI's own main) in a process of its own, its wait for a busy slot shortened.
_RUN_WITH_SHORT_WAIT = textwrap.dedent("""
    import sys
    from dtsen_pipeline.defs.common import runlock
    runlock.SLOT_WAIT_SECONDS = 3
    from dtsen_pipeline.cli import main
    sys.exit(main(["run", "--month", "2025-01"]))
""")


@pytest.mark.timeout(300)
def test_a_busy_data_root_stops_dtsen_run_in_one_line(tmp_path):
    from tests.defs.common.test_runlock_dead_run import ALIVE_WITH_SLOT

    env = _env(tmp_path)
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    subprocess.run(
        [sys.executable, "-m", "dtsen_pipeline.lib.paths", "dagster_home"],
        env=env,
        check=True,
        capture_output=True,
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", ALIVE_WITH_SLOT], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        other = holder.stdout.readline().strip()
        assert other, "the holder did not start"
        result = subprocess.run(
            [sys.executable, "-c", _RUN_WITH_SHORT_WAIT],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"dtsen run 2025-01: Run {other} (pid {holder.pid})"), result.stderr
    assert "then run again" in last
