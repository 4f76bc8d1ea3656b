"""Scoring: Splink's predicted match probability for the month's candidate pairs.

A full run scores every candidate pair (``score_full``). An incremental run (a reused model and
last month's persons) scores only the records new, changed since last month (``fingerprint_sql``)
or named in a reviewer's decision, against every record (``score_incremental``); last month's
links between the other records are carried over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from splink import Linker

from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.config import predict_threshold
from dtsen_pipeline.linkage.workspace import Workspace

if TYPE_CHECKING:
    from splink.internals.splink_dataframe import SplinkDataFrame


@dataclass(frozen=True)
class Scores:
    """What scoring produced. ``parts``: Splink's scored pairs (one table in a full run; in an
    incremental run, fresh records against all and among themselves). ``carried``: relation
    (record_key_l, record_key_r) of last month's links between records not scored again (empty in
    a full run). ``rescore_keys``: relation (record_key) of the records scored again, and
    ``rescored`` their count (incremental runs only)."""

    parts: list[SplinkDataFrame]
    carried: str
    rescore_keys: str | None = None
    rescored: int | None = None


def fingerprint_sql(alias: str = "") -> str:
    """One hash of the columns the model compares: a record whose hash is unchanged since last
    month needs no new scoring."""
    cols = [c for c in model.INPUT_COLUMNS if c not in (model.UNIQUE_ID, "source")]
    return (
        "md5(concat_ws('|', "
        + ", ".join(f"coalesce(cast({alias}{c} as varchar), '')" for c in cols)
        + "))"
    )


def _no_carried_links(ws: Workspace) -> str:
    ws.con.execute(
        "create or replace temp table carried (record_key_l varchar, record_key_r varchar)"
    )
    return "carried"


def score_full(ws: Workspace, linker: Linker) -> Scores:
    """Every candidate pair of the month's records (the model's blocking rules), scored."""
    scored = ws.scorer(linker).inference.predict(threshold_match_probability=predict_threshold())
    return Scores([ws.scored_here(scored)], _no_carried_links(ws))


def score_incremental(ws: Workspace, linker: Linker, previous: str, decided: str) -> Scores:
    """Score only the records that are new, changed since last month or named in a decision, against
    every record (``predict_between``), themselves included. ``previous``:
    relation of last month's record_key, dtsen_id, fingerprint (``fingerprint_sql``); ``decided``:
    from ``normalise_decisions``. Last month's links between the other records are carried over,
    each record linked to the first record (by key) of its old person."""
    key, records = model.UNIQUE_ID, ws.records.physical_name
    ws.con.execute(f"""
        create or replace temp table rescore_keys as
        select i.{key} from {records} i left join {previous} p on p.record_key = i.{key}
        where p.record_key is null or p.fingerprint <> {fingerprint_sql("i.")}
           or i.{key} in (select a from {decided} union select b from {decided})""")
    ws.con.execute(f"""
        create or replace temp table carried as
        with kept as (
            select p.record_key, p.dtsen_id from {previous} p
            join {records} i on i.{key} = p.record_key
            where p.record_key not in (select {key} from rescore_keys))
        select record_key as record_key_l, min(record_key) over (partition by dtsen_id) as record_key_r
        from kept""")
    rescored = ws.con.execute("select count(*) from rescore_keys").fetchall()[0][0]
    fresh_rows = ws.con.sql(
        f"select i.* from {records} i semi join rescore_keys using ({key})"
    ).to_arrow_table()
    scorer = ws.scorer(linker)
    if ws.spark is None:
        everyone, fresh = ws.records, ws.db_api.register(fresh_rows, dataset_display_name="rescore")
    else:
        everyone, fresh = ws.spark.records, ws.spark.register(fresh_rows, "rescore")
    for column in model.TF_COLUMNS:
        scorer.table_management.compute_tf_table(column)
    # Every record against the fresh ones: the fresh are among every record, so this scores them
    # among themselves too (and each against itself, which ``corroborate`` drops).
    scored = scorer.inference.predict_between(
        everyone, fresh, threshold_match_probability=predict_threshold()
    )
    return Scores([ws.scored_here(scored)], "carried", "rescore_keys", rescored)
