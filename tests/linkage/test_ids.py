"""Stable dtsen_id across months, with merges, splits and absences recorded."""

import duckdb
import pyarrow as pa
import pytest

from dtsen_pipeline.linkage.ids import assign_ids


@pytest.fixture()
def con():
    with duckdb.connect() as c:
        c.execute(
            "create schema linkage; create table linkage.person_clusters (extract_month varchar, "
            "record_key varchar, source varchar, cluster_id varchar, dtsen_id varchar)"
        )
        yield c


def month(con, name: str, clusters: dict[str, list[str]]) -> tuple[dict[str, str], dict[str, int]]:
    rows = [(r, r.split(":")[0], c) for c, records in clusters.items() for r in records]
    events = assign_ids(
        con, name, pa.table(list(zip(*rows)), names=["record_key", "source", "cluster_id"])
    )
    ids = dict(
        con.execute(
            "select record_key, dtsen_id from linkage.person_clusters where extract_month = ?",
            [name],
        ).fetchall()
    )
    return ids, events


def history(con, name):
    return sorted(
        con.execute(
            "select event, dtsen_id, related_dtsen_id, records from linkage.id_history "
            "where extract_month = ?",
            [name],
        ).fetchall()
    )


def test_ids_survive_merge_split_and_absence(con):
    m1, e1 = month(con, "2025-01", {"a": ["dk:1", "dtks:1"], "b": ["dk:2"], "c": ["dk:3", "pbi:3"]})
    assert e1 == {"new": 3}
    person_a, person_b, person_c = m1["dk:1"], m1["dk:2"], m1["dk:3"]
    assert len({person_a, person_b, person_c}) == 3

    # Month 2: A unchanged (new cluster names do not matter), B and C found to be one person
    # (C had more records, so it keeps its id), a newborn appears.
    m2, e2 = month(
        con, "2025-02", {"x": ["dk:1", "dtks:1"], "y": ["dk:2", "dk:3", "pbi:3"], "z": ["dk:9"]}
    )
    assert m2["dk:1"] == m2["dtks:1"] == person_a
    assert m2["dk:2"] == m2["dk:3"] == person_c
    assert e2 == {"merged_into": 1, "new": 1}
    assert ("merged_into", person_b, person_c, 1) in history(con, "2025-02")

    # Month 3: A's two records turn out to be two people; the newborn's record is gone.
    m3, e3 = month(con, "2025-03", {"p": ["dk:1"], "q": ["dtks:1"], "r": ["dk:2", "dk:3", "pbi:3"]})
    assert person_a in {m3["dk:1"], m3["dtks:1"]} and m3["dk:1"] != m3["dtks:1"]
    split_id = m3["dtks:1"] if m3["dk:1"] == person_a else m3["dk:1"]
    assert ("split_from", split_id, person_a, 1) in history(con, "2025-03")
    assert ("absent", m2["dk:9"], None, 1) in history(con, "2025-03")
    assert m3["dk:2"] == person_c


def test_rerunning_a_month_gives_the_same_ids(con):
    month(con, "2025-01", {"a": ["dk:1"], "b": ["dk:2", "dtks:7"]})
    first, _ = month(con, "2025-02", {"a": ["dk:1", "dk:5"], "b": ["dk:2", "dtks:7"]})
    again, _ = month(con, "2025-02", {"k": ["dk:1", "dk:5"], "j": ["dk:2", "dtks:7"]})
    assert first == again
    assert (
        con.execute(
            "select count(*) from linkage.person_clusters where extract_month = '2025-02'"
        ).fetchone()[0]
        == 4
    )


def test_the_clusters_are_handed_over_not_left_in_a_view_by_the_caller(con):
    """assign_ids reads the table it is given: a view named ``new_clusters`` (what callers once had to
    register) is ignored, none is needed, and the function leaves no view of its own behind."""
    con.register(
        "new_clusters",
        pa.table({"record_key": ["dk:99"], "source": ["dk"], "cluster_id": ["stale"]}),
    )
    views = set(con.execute("select view_name from duckdb_views() where not internal").fetchall())
    con.execute("begin")  # the linkage asset assigns ids inside its own transaction
    ids, events = month(con, "2025-01", {"a": ["dk:1", "dtks:1"], "b": ["dk:2"]})
    con.execute("commit")
    assert set(ids) == {"dk:1", "dtks:1", "dk:2"} and events == {"new": 2}
    assert (
        set(con.execute("select view_name from duckdb_views() where not internal").fetchall())
        == views
    )
    with pytest.raises(ValueError, match=r"lacks the columns \['source'\]"):
        assign_ids(con, "2025-02", pa.table({"record_key": ["dk:1"], "cluster_id": ["a"]}))
