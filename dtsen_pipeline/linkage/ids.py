"""Stable person ids: this month's clusters inherit last month's ``dtsen_id``s.

Records keep their source record id from month to month, so each new cluster can vote for the ids
its records had last month. A cluster and an old id that choose each other (most shared records,
ties broken by id) keep it; every other cluster gets a new id. What happened is recorded in
``linkage.id_history``:

- ``new``: a person no earlier month knew;
- ``split_from``: a new id for records that last month belonged to ``related_dtsen_id``;
- ``merged_into``: an old id whose records now belong to ``related_dtsen_id``;
- ``absent``: an old id with no record this month (its records left every source).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

HISTORY_DDL = """
create table if not exists linkage.id_history (
    extract_month varchar, event varchar, dtsen_id varchar, related_dtsen_id varchar, records bigint)
"""


CLUSTER_COLUMNS = ("record_key", "source", "cluster_id")


def assign_ids(con: duckdb.DuckDBPyConnection, month: str, clusters: pa.Table) -> dict[str, int]:
    """From ``clusters`` (record_key, source, cluster_id: the month's linkage) write the month's
    ``linkage.person_clusters`` and ``linkage.id_history``; return event counts. Runs inside the
    caller's transaction, if any."""
    missing = [c for c in CLUSTER_COLUMNS if c not in clusters.column_names]
    if missing:
        raise ValueError(f"assign_ids: the clusters table lacks the columns {missing}")
    # Registered here, under this function's own name, and dropped on the way out: the caller hands
    # over a table, not a view it must remember to create.
    con.register("_assign_ids_clusters", clusters.select(list(CLUSTER_COLUMNS)))
    try:
        return _assign(con, month)
    finally:
        con.unregister("_assign_ids_clusters")


def _assign(con: duckdb.DuckDBPyConnection, month: str) -> dict[str, int]:
    con.execute(HISTORY_DDL)
    con.execute(
        """
        create or replace temp table prev as
        select record_key, dtsen_id from linkage.person_clusters
        where extract_month = (select max(extract_month) from linkage.person_clusters where extract_month < ?)""",
        [month],
    )
    con.execute("""
        create or replace temp table votes as
        select c.cluster_id, p.dtsen_id, count(*) as n
        from _assign_ids_clusters c join prev p using (record_key) group by all""")
    con.execute("""
        create or replace temp table kept as
        select cluster_id, dtsen_id from (
            select *, row_number() over (partition by cluster_id order by n desc, dtsen_id) as by_cluster,
                      row_number() over (partition by dtsen_id order by n desc, cluster_id) as by_id
            from votes)
        where by_cluster = 1 and by_id = 1""")
    con.execute(
        """
        create or replace temp table cluster_ids as
        select c.cluster_id,
               coalesce(any_value(k.dtsen_id), 'DT' || upper(substr(md5(? || ':' || min(c.record_key)), 1, 14)))
                   as dtsen_id,
               any_value(k.dtsen_id) is not null as kept,
               count(*) as records
        from _assign_ids_clusters c left join kept k using (cluster_id) group by c.cluster_id""",
        [month],
    )
    con.execute("delete from linkage.person_clusters where extract_month = ?", [month])
    con.execute("delete from linkage.id_history where extract_month = ?", [month])
    con.execute(
        """
        insert into linkage.person_clusters
        select ?, c.record_key, c.source, c.cluster_id, i.dtsen_id
        from _assign_ids_clusters c join cluster_ids i using (cluster_id)""",
        [month],
    )
    con.execute(
        """
        insert into linkage.id_history
        -- clusters that kept no old id: new people, or records split off a person
        select ?, case when v.dtsen_id is null then 'new' else 'split_from' end, i.dtsen_id, v.dtsen_id, i.records
        from cluster_ids i
        left join (select cluster_id, arg_max(dtsen_id, n) as dtsen_id from votes group by 1) v using (cluster_id)
        where not i.kept
        union all
        -- old ids that were not kept: merged into the id their records now carry, or absent
        select ?, case when merged.into_id is null then 'absent' else 'merged_into' end, old.dtsen_id,
               merged.into_id, old.records
        from (select dtsen_id, count(*) as records from prev group by 1) old
        left join (select v.dtsen_id, arg_max(i.dtsen_id, v.n) as into_id
                   from votes v join cluster_ids i using (cluster_id) group by 1) merged using (dtsen_id)
        where old.dtsen_id not in (select dtsen_id from kept)""",
        [month, month],
    )
    return dict(
        con.execute(
            "select event, count(*) from linkage.id_history where extract_month = ? group by 1",
            [month],
        ).fetchall()
    )
