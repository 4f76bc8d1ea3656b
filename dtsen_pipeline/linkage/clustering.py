"""Clustering: the month's records joined into persons by the edges at or above the cluster threshold.

A full run clusters every record. An incremental run first splits off the records no new, changed or
reviewed record touches (``split_touched``): they keep last month's person without clustering again.
"""

from __future__ import annotations

from dataclasses import dataclass

from splink.clustering import cluster_pairwise_predictions_at_threshold

from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.config import cluster_threshold
from dtsen_pipeline.linkage.workspace import Workspace


@dataclass(frozen=True)
class Touched:
    """An incremental run's split of the month's records (relations): ``nodes`` are clustered again
    (records scored again, in a scored pair, or of a person one of those touches); ``untouched``
    (record_key, cluster_id 'kept:' || last month's dtsen_id) keep their person."""

    nodes: str
    untouched: str


def split_touched(
    ws: Workspace, previous: str, rescore_keys: str, scored: str, decided: str
) -> Touched:
    """Only last month's persons that a new, changed or reviewed record touches can change; every
    other record keeps its person without clustering again."""
    key, records = model.UNIQUE_ID, ws.records.physical_name
    ws.con.execute(f"""
        create or replace temp table touched_ids as
        with touched as (select {key} as k from {rescore_keys}
                         union select a from {scored} union select b from {scored}
                         union select a from {decided} union select b from {decided})
        select distinct p.dtsen_id from {previous} p join touched t on t.k = p.record_key""")
    ws.con.execute(f"""
        create or replace temp table cluster_nodes as
        select i.* from {records} i
        left join {previous} p on p.record_key = i.{key}
        where i.{key} in (select {key} from {rescore_keys}) or p.dtsen_id in (select dtsen_id from touched_ids)
           or i.{key} in (select a from {scored} union select b from {scored})""")
    ws.con.execute(f"""
        create or replace temp table untouched as
        select i.{key}, 'kept:' || p.dtsen_id as cluster_id
        from {records} i join {previous} p on p.record_key = i.{key}
        where i.{key} not in (select {key} from cluster_nodes)""")
    return Touched("cluster_nodes", "untouched")


def cluster(ws: Workspace, edges: str, touched: Touched | None = None) -> str:
    """The relation ``final_clusters`` (record_key, cluster_id): the month's records joined by the
    edges at or above the cluster threshold; with ``touched`` (incremental runs) only its nodes are
    clustered and the untouched records keep their person. Its name is returned."""
    key = model.UNIQUE_ID
    nodes = ws.records.physical_name
    if touched is not None:
        ws.con.execute(
            f"create or replace temp table cluster_edges as select * from {edges} "
            f"where record_key_l in (select {key} from {touched.nodes})"
        )
        nodes, edges = touched.nodes, "cluster_edges"
    clustered = cluster_pairwise_predictions_at_threshold(
        nodes,
        edges,
        ws.db_api,
        node_id_column_name=key,
        edge_id_column_name_left="record_key_l",
        edge_id_column_name_right="record_key_r",
        threshold_match_probability=cluster_threshold(),
    )
    clusters = (
        f"select {key}, cast(cluster_id as varchar) as cluster_id from {clustered.physical_name}"
    )
    if touched is not None:
        clusters += f" union all select {key}, cluster_id from {touched.untouched}"
    ws.con.execute(f"create or replace temp table final_clusters as {clusters}")
    return "final_clusters"
