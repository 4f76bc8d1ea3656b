"""Backfills run months in order: linkage refuses a month whose previous landed month is unlinked."""

from __future__ import annotations

import duckdb

from dtsen_pipeline.lib import paths
from dtsen_pipeline.linkage.tables import unlinked_earlier_month


def test_linkage_names_the_earlier_month_it_needs(tmp_path, monkeypatch):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    for month in ("2025-01", "2025-02", "2025-03"):
        (paths.landing_dir() / "dukcapil" / month).mkdir(parents=True)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert unlinked_earlier_month(con, "2025-01") is None  # the first month needs nothing
    assert unlinked_earlier_month(con, "2025-03") == "2025-02"  # nothing linked yet
    con.execute("create schema linkage")
    con.execute("create table linkage.person_clusters (extract_month varchar, record_key varchar)")
    con.execute("insert into linkage.person_clusters values ('2025-01', 'a')")
    assert unlinked_earlier_month(con, "2025-02") is None
    assert unlinked_earlier_month(con, "2025-03") == "2025-02"
    con.execute("insert into linkage.person_clusters values ('2025-02', 'a')")
    assert unlinked_earlier_month(con, "2025-03") is None
