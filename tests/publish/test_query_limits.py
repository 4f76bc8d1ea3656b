"""`dtsen query`'s limits (issue 31): a statement timeout, and spill outside the release."""

from __future__ import annotations

import os
import threading
import time

import duckdb
import pytest

from dtsen_pipeline.lib import paths
from dtsen_pipeline.publish import query_limits

# Three million hashes grouped: beyond a 40 MB memory cap DuckDB must spill the hash table.
SPILLING_SQL = (
    "select count(*) as n from (select md5(i::varchar) as h, count(*) as c "
    "from range(3000000) r(i) group by h)"
)
ENDLESS_SQL = "select count(*) from range(1000000000000) a"


def _release_entries() -> set[str]:
    return {str(p.relative_to(paths.publish_dir())) for p in paths.publish_dir().rglob("*")}


def test_a_query_past_its_time_limit_stops_with_one_line(query, monkeypatch):
    started = time.monotonic()
    status, out, err = query(ENDLESS_SQL, "--timeout", "1")
    assert status == 1 and out == ""
    assert time.monotonic() - started < 60
    assert err.strip().count("\n") == 0, err
    assert "stopped after 1 s, its time limit" in err and "Traceback" not in err
    monkeypatch.setenv(query_limits.TIMEOUT_ENV, "0.5")  # the variable sets the default
    status, _, err = query(ENDLESS_SQL)
    assert status == 1 and "stopped after 0.5 s" in err
    status, _, err = query("select 1", "--timeout", "-5")
    assert status == 1 and "positive number of seconds" in err


def test_a_quick_query_is_not_touched_by_its_time_limit(query):
    status, out, err = query("select count(*) as n from dtsen_individu", "--format", "csv")
    assert status == 0, err
    assert int(out.splitlines()[1]) > 0


def test_a_spilling_query_spills_under_tmp_never_into_the_release(query, monkeypatch):
    monkeypatch.setenv("DTSEN_DUCKDB_MEMORY_LIMIT", "40MB")
    stale = query_limits.tmp_root() / "query-999999999"  # a killed query's leftovers
    stale.mkdir(parents=True)
    (stale / "duckdb_temp_storage.tmp").write_bytes(b"x" * 1000)
    before = _release_entries()
    status, out, err = query(SPILLING_SQL, "--format", "csv")
    assert status == 0, err
    assert out.splitlines()[1] == "3000000"
    assert _release_entries() == before  # nothing written beside the release's databases
    assert not list(query_limits.tmp_root().glob("query-*"))  # its own folder and the stale one


def test_the_spill_goes_to_the_query_s_own_folder(tmp_path, monkeypatch):
    """On a tiny hand-built database: while the query runs, DuckDB's temporary files are in
    <data root>/tmp/query-<pid>/ (owner-only), and nowhere beside the database file."""
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DTSEN_DUCKDB_MEMORY_LIMIT", "40MB")
    release = tmp_path / "publish" / "2025-01"
    release.mkdir(parents=True)
    db = release / "dtsen.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table t as select 1 as x")
    spill = query_limits.tmp_root() / f"query-{os.getpid()}"
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if spill.is_dir():
                seen.update(os.listdir(spill))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with query_limits.limited_connection(db, timeout=120) as con:
            assert oct(spill.stat().st_mode & 0o777) == "0o700"
            assert con.execute("select current_setting('temp_directory')").fetchall()[0][0] == str(
                spill
            )
            assert con.execute(SPILLING_SQL).fetchall()[0][0] == 3000000
            with pytest.raises(duckdb.Error, match="locked|disabled"):  # the sandbox still holds
                con.sql(f"set temp_directory = '{release}'")
            with pytest.raises(duckdb.PermissionException):
                con.sql("select * from read_text('/etc/hostname')").fetchall()
    finally:
        done.set()
        watcher.join()
    assert any(name.startswith("duckdb_temp") for name in seen), seen
    assert sorted(p.name for p in release.iterdir()) == ["dtsen.duckdb"]
    assert not spill.exists()
