"""Two files of one month sharing record ids (issue 31): the ids load once, from the file read
first, and the later file's repeats are quarantined at load with a reason naming both files and
rows (before, both loaded and only dbt's uniqueness test failed, naming no file)."""

from __future__ import annotations

import duckdb
import pytest

from dtsen_pipeline.ingest.load import load_month, reconciliation
from dtsen_pipeline.ingest.sources import get_source
from tests.ingest.test_load import MONTH, ROW, _dukcapil


def _file(folder, name: str, ids: list[str]):
    """A Dukcapil extract named ``name`` whose records carry the ids ``ids``."""
    return _dukcapil(folder, [[i, *ROW[1:]] for i in ids], name=name)


@pytest.fixture()
def con():
    with duckdb.connect() as c:
        yield c


def test_a_record_id_in_two_files_of_the_month_loads_once_and_names_both(tmp_path, con):
    first = _file(tmp_path, "dukcapil_penduduk_2025-01_a.csv", ["DK1", "DK2", "DK3"])
    later = _file(tmp_path, "dukcapil_penduduk_2025-01_b.csv", ["DK4", "DK2", "DK5", "DK3"])
    spec = get_source("dukcapil")
    a, b = load_month(con, spec, MONTH, [first, later])
    assert (a.rows_loaded, a.rows_quarantined, a.reason) == (3, 0, "")
    assert (b.rows_read, b.rows_loaded, b.rows_quarantined) == (4, 2, 2)
    assert f"{later.name}: 2 rows carry record ids that a file of the month read before" in b.reason
    loaded = con.execute(
        "select source_record_id, source_file, source_row from raw.dukcapil__individu order by 1"
    ).fetchall()
    assert [r[0] for r in loaded] == ["DK1", "DK2", "DK3", "DK4", "DK5"]  # each id once
    assert dict((r[0], r[1]) for r in loaded)["DK2"] == first.name  # from the file read first
    q = con.execute(
        "select source_file, source_row, column_name, reason, raw_value from raw.quarantine "
        "order by source_row"
    ).fetchall()
    assert q == [
        (
            later.name,
            3,
            "source_record_id",
            f"record id repeats row 3 of {first.name}, a file of the month read before this one, "
            f"where it is loaded (this row: {later.name} row 3)",
            "DK2",
        ),
        (
            later.name,
            5,
            "source_record_id",
            f"record id repeats row 4 of {first.name}, a file of the month read before this one, "
            f"where it is loaded (this row: {later.name} row 5)",
            "DK3",
        ),
    ]
    assert all(
        r.balanced for r in reconciliation(con, spec, MONTH)
    )  # counted = loaded + quarantined
    logged = con.execute(
        "select source_file, rows_loaded, rows_quarantined from raw.ingest_log order by 1"
    ).fetchall()
    assert logged == [(first.name, 3, 0), (later.name, 2, 2)]


def test_the_order_is_the_files_order_and_three_files_chain(tmp_path, con):
    a = _file(tmp_path, "a.csv", ["DK1"])
    b = _file(tmp_path, "b.csv", ["DK1", "DK2"])
    c = _file(tmp_path, "c.csv", ["DK2", "DK1", "DK3"])
    results = load_month(con, get_source("dukcapil"), MONTH, [a, b, c])
    assert [(r.rows_loaded, r.rows_quarantined) for r in results] == [(1, 0), (1, 1), (1, 2)]
    reasons = dict(
        con.execute(
            "select raw_value, reason from raw.quarantine where source_file = 'c.csv'"
        ).fetchall()
    )
    assert reasons["DK1"].startswith("record id repeats row 2 of a.csv")
    assert reasons["DK2"].startswith("record id repeats row 3 of b.csv")


def test_files_with_distinct_ids_are_untouched(tmp_path, con):
    a = _file(tmp_path, "a.csv", ["DK1", "DK2"])
    b = _file(tmp_path, "b.csv", ["DK3"])
    results = load_month(con, get_source("dukcapil"), MONTH, [a, b])
    assert [(r.rows_loaded, r.rows_quarantined, r.reason) for r in results] == [
        (2, 0, ""),
        (1, 0, ""),
    ]
