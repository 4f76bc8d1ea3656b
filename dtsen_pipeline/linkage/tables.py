"""The person-linkage tables in the warehouse: what a month's linkage reads from it and writes to it.

``link_month`` (linkage/run.py) reads and writes no warehouse table: the asset (defs/linkage/assets.py)
reads its inputs and saves its result with these.

- ``identities``: the month's records as the model reads them (intermediate.int_identitas);
- ``unlinked_earlier_month``: a month's ids build on the month before, which must be linked first;
- ``previous_month``: last linked month's persons with each record's fingerprint (incremental runs);
- ``save_month``: the month's persons (linkage.person_clusters and linkage.id_history, by
  ``ids.assign_ids``), scored pairs (linkage.pairwise_predictions) and clerical review table
  (linkage.review_pairs), in one transaction;
- ``match_rates``: per source, the records, the share whose person has a Dukcapil record, and the
  duplicates within the source; and the month's persons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from dtsen_pipeline.ingest.sources import load_sources
from dtsen_pipeline.lib import paths
from dtsen_pipeline.lib.warehouse import table_exists
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.ids import assign_ids
from dtsen_pipeline.linkage.scoring import fingerprint_sql

if TYPE_CHECKING:
    from dtsen_pipeline.linkage.run import LinkageResult

DDL = """
create schema if not exists linkage;
create table if not exists linkage.person_clusters (
    extract_month varchar, record_key varchar, source varchar, cluster_id varchar, dtsen_id varchar);
create table if not exists linkage.pairwise_predictions (
    extract_month varchar, record_key_l varchar, record_key_r varchar,
    match_weight double, match_probability double);
create table if not exists linkage.review_pairs (
    extract_month varchar, record_key_l varchar, record_key_r varchar, match_probability double,
    match_weight double, evidence varchar, decision varchar);
"""


def identities(con, month: str) -> pa.Table:
    """The month's records, the columns the model reads (model.INPUT_COLUMNS)."""
    columns = ", ".join(model.INPUT_COLUMNS)
    return con.sql(
        f"select {columns} from intermediate.int_identitas where extract_month = ?",
        params=[month],
    ).to_arrow_table()


def unlinked_earlier_month(con, month: str) -> str | None:
    """The latest month before ``month`` with landed extracts, if it has not been linked."""
    landed = {
        d.name
        for spec in load_sources()
        if (paths.landing_dir() / spec.name).is_dir()
        for d in (paths.landing_dir() / spec.name).iterdir()
        if d.is_dir() and d.name < month
    }
    if not landed:
        return None
    latest = max(landed)
    linked = (
        table_exists(con, "linkage", "person_clusters")
        and con.execute(
            "select count(*) from linkage.person_clusters where extract_month = ?", [latest]
        ).fetchall()[0][0]
        > 0
    )
    return None if linked else latest


def previous_month(con, month: str) -> pa.Table | None:
    """Last linked month's assignment with each record's fingerprint, or None if there is none."""
    if not table_exists(con, "linkage", "person_clusters"):
        return None
    prev = con.execute(
        "select max(extract_month) from linkage.person_clusters where extract_month < ?", [month]
    ).fetchall()[0][0]
    if prev is None:
        return None
    return con.sql(
        f"""
        select c.record_key, c.dtsen_id, {fingerprint_sql("i.")} as fingerprint
        from linkage.person_clusters c
        join intermediate.int_identitas i on i.record_key = c.record_key and i.extract_month = c.extract_month
        where c.extract_month = ?""",
        params=[prev],
    ).to_arrow_table()


def save_month(con, month: str, result: LinkageResult) -> dict[str, int]:
    """Write the month's persons, scored pairs and review table (replacing any earlier run of the
    month) in one transaction; return the id events (``ids.assign_ids``)."""
    con.execute(DDL)
    con.register("new_predictions", result.predictions)
    con.execute("begin")
    id_events = assign_ids(con, month, result.clusters)
    con.execute("delete from linkage.pairwise_predictions where extract_month = ?", [month])
    con.execute(
        "insert into linkage.pairwise_predictions select ?, * from new_predictions", [month]
    )
    con.register("new_review", result.review)
    con.execute("delete from linkage.review_pairs where extract_month = ?", [month])
    con.execute("insert into linkage.review_pairs select ?, * from new_review", [month])
    con.execute("commit")
    return id_events


def match_rates(con, month: str) -> tuple[list[tuple], int]:
    """Per source (source, records, share matched to a Dukcapil person, duplicates within the
    source), and the month's persons."""
    stats = con.execute(
        """
        with c as (select * from linkage.person_clusters where extract_month = ?),
        persons as (
            select dtsen_id, bool_or(source = 'dukcapil') as in_dukcapil, count(*) as n
            from c group by 1)
        select c.source, count(*) as records,
               avg(case when p.in_dukcapil then 1 else 0 end) as matched_to_dukcapil,
               count(*) - count(distinct c.dtsen_id) as within_source_duplicates
        from c join persons p using (dtsen_id) group by 1 order by 1""",
        [month],
    ).fetchall()
    persons = con.execute(
        "select count(distinct dtsen_id) from linkage.person_clusters where extract_month = ?",
        [month],
    ).fetchone()[0]
    return stats, persons
