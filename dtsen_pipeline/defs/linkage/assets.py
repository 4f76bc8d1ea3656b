"""Linkage layer: one person id (dtsen_id) per source record, stable from month to month.

Writes linkage.person_clusters, linkage.id_history, linkage.pairwise_predictions and
linkage.review_pairs (uncertain pairs for clerical review; decisions in data/review/decisions.csv
are applied on the next run); then families and households (linkage/families.py).
"""

import json

import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from dtsen_pipeline.defs.common import charts
from dtsen_pipeline.defs.common.charts import bar
from dtsen_pipeline.defs.common.graph import OWNERS
from dtsen_pipeline.defs.common.partitions import ONE_MONTH_PER_RUN, monthly_partitions
from dtsen_pipeline.defs.common.resources import WAREHOUSE_POOL, WarehouseResource
from dtsen_pipeline.ingest.sources import correction_sources, load_sources
from dtsen_pipeline.lib import paths, reports
from dtsen_pipeline.lib.warehouse import table_exists
from dtsen_pipeline.linkage import accuracy, model
from dtsen_pipeline.linkage.config import cluster_threshold, predict_threshold
from dtsen_pipeline.linkage.decisions import DecisionsTooLargeError, read_decisions
from dtsen_pipeline.linkage.families import link_families
from dtsen_pipeline.linkage.ids import assign_ids
from dtsen_pipeline.linkage.run import link_month
from dtsen_pipeline.linkage.scoring import fingerprint_sql

PERSON_CLUSTERS_KEY = AssetKey(["linkage", "person_clusters"])
ID_HISTORY_KEY = AssetKey(["linkage", "id_history"])

_CREATE = """
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


class LinkageConfig(Config):
    """By default a month reuses the latest earlier model and links incrementally: only new and
    changed records are scored. ``retrain`` (``dtsen run --retrain``) trains a new model and
    relinks every record; ``full_relink`` (``dtsen run --full-relink``) relinks every record with
    the saved model."""

    retrain: bool = False
    full_relink: bool = False


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


@multi_asset(
    name="person_linkage",
    specs=[
        AssetSpec(
            PERSON_CLUSTERS_KEY,
            deps=[AssetKey("int_identitas")],
            group_name="linkage",
            kinds={"splink", "duckdb"},
            owners=OWNERS,
            description="Splink (DuckDB) person linkage across and within sources: trained by EM on the "
            "month's records, pairs scored, clustered into persons with stable dtsen_ids. "
            "Also writes linkage.pairwise_predictions.",
        ),
        AssetSpec(
            ID_HISTORY_KEY,
            deps=[AssetKey("int_identitas")],
            group_name="linkage",
            kinds={"duckdb"},
            owners=OWNERS,
            description="How dtsen_ids changed from the previous month: new, split_from, merged_into, absent.",
        ),
    ],
    partitions_def=monthly_partitions,
    backfill_policy=ONE_MONTH_PER_RUN,
    pool=WAREHOUSE_POOL,
)
def person_linkage(
    context: AssetExecutionContext, config: LinkageConfig, warehouse: WarehouseResource
):
    month = context.partition_key
    columns = ", ".join(model.INPUT_COLUMNS)
    reuse = None if config.retrain else model.latest_model(month)
    with warehouse.connect() as con:
        identities = con.sql(
            f"select {columns} from intermediate.int_identitas where extract_month = ?",
            params=[month],
        ).to_arrow_table()
        previous = None if (reuse is None or config.full_relink) else previous_month(con, month)
    if identities.num_rows == 0:
        raise ValueError(
            f"linkage {month}: intermediate.int_identitas has no rows for this month; "
            "materialise the raw and staging assets for it first"
        )
    with warehouse.connect() as con:
        unlinked = unlinked_earlier_month(con, month)
    if unlinked:
        raise ValueError(
            f"linkage {month}: month {unlinked} has extracts under data/landing but is not linked "
            f"yet, and {month}'s ids build on it. Run {unlinked} first (a backfill runs months "
            "in order, one at a time)."
        )
    decisions_file = paths.review_dir() / "decisions.csv"
    mode = "incremental" if previous is not None else "full relink"
    context.log.info(
        f"linkage {month}: {identities.num_rows} records, {mode}, "
        + (f"reusing model {reuse.name}" if reuse else "training the model")
    )
    # Checked against this month's records before any scoring: a bad file fails fast, every problem listed.
    decisions = read_decisions(decisions_file, known_keys=identities.column(model.UNIQUE_ID))
    try:
        result = link_month(
            identities,
            paths.models_dir() / f"{model.MODEL_VERSION}_{month}.json",
            decisions=decisions,
            charts_dir=paths.linkage_reports_dir() / month,
            reuse_model=reuse,
            previous=previous,
            attach_only=correction_sources(),
            progress=lambda message: context.log.info(f"linkage {month}: {message}"),
        )
    except DecisionsTooLargeError as exc:
        raise ValueError(f"{decisions_file}: {exc}") from None
    reports.write_index()

    with warehouse.connect() as con:
        con.execute(_CREATE)
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
        labelled = accuracy.summary(month, con)
    if labelled["status"].startswith("not estimated"):
        context.log.warning(f"linkage {month}: labels-based accuracy {labelled['status']}")
    table = "| source | records | matched to Dukcapil | | duplicates within source |\n|---|---:|---:|---|---:|\n"
    table += "\n".join(f"| {s} | {r:,} | {m:.1%} | {bar(m)} | {d:,} |" for s, r, m, d in stats)
    yield MaterializeResult(
        asset_key=ID_HISTORY_KEY,
        metadata={"month": month, **{f"{event}": n for event, n in sorted(id_events.items())}},
    )
    yield MaterializeResult(
        asset_key=PERSON_CLUSTERS_KEY,
        metadata={
            "month": month,
            "records": identities.num_rows,
            "persons (clusters)": persons,
            # The threshold from config/linkage.yaml, not a copy of it in the label.
            "pairs kept (at or above the predict threshold)": result.predictions.num_rows,
            "predict threshold": predict_threshold(),
            "cluster threshold": cluster_threshold(),
            "match rate by source": MetadataValue.md(table),
            "model file": MetadataValue.path(str(result.model_json)),
            "model version": model.MODEL_VERSION,
            # Where Splink trained and scored (config/linkage.yaml engine; the rest ran on DuckDB).
            "engine": result.engine,
            "model": "trained this month" if result.trained else f"reused {reuse.name}",
            # Levels no training pair reached this month, given a deliberate value instead of
            # Splink's default (model.fill_untrained): labels only, no record's values.
            "levels filled, not trained": MetadataValue.json(
                result.filled if result.trained else "model reused"
            ),
            # Each EM session's pairs, and the kabupaten it sampled when over the cap (counts only).
            "EM sessions": MetadataValue.json(
                result.em_sessions if result.trained else "model reused"
            ),
            "weights per level": charts.table(
                [
                    ("comparison", "string"),
                    ("level", "string"),
                    ("m", "float"),
                    ("u", "float"),
                    ("weight (bits)", "float"),
                    ("set by", "string"),
                ],
                model.level_weights(json.loads(result.model_json.read_text()), result.filled or ()),
                {
                    "set by": "trained (EM / random sampling), fixed in linkage/model.py with its "
                    "reason, or filled (no training pair reached the level this month)"
                },
            ),
            "seconds per phase": MetadataValue.json(result.seconds),
            "mode": mode,
            "records scored again": result.rescored
            if result.rescored is not None
            else identities.num_rows,
            "pairs for clerical review (linkage.review_pairs)": result.review.num_rows,
            "review decisions applied": MetadataValue.json(
                result.decisions_applied or {"none": str(decisions_file)}
            ),
            # Links the browser opens (the report server of `make ui`; see reports.py).
            **{
                f"chart: {name}": MetadataValue.url(reports.url(path))
                for name, path in result.charts.items()
            },
            "all reports": MetadataValue.url(reports.url(anchor=month)),
            **accuracy_metadata(labelled),
            "id events (linkage.id_history)": MetadataValue.json(id_events),
            "dagster/row_count": identities.num_rows,
        },
    )


def accuracy_metadata(summary: dict) -> dict:
    """The labels-based accuracy (``accuracy.summary``) as the asset shows it: estimates with their
    95% intervals and the sample by stratum (counts only), or why there is none."""
    out = {"accuracy from labels": summary["status"]}
    if "precision" not in summary:
        return out
    for figure in ("precision", "recall", "f1"):
        if summary[figure] is None:  # no linked or no matching pair: nothing to divide by
            continue
        lo, hi = summary[f"{figure}_95"]
        out[f"{figure}, estimated from labels"] = MetadataValue.float(summary[figure])
        out[f"{figure}, 95% interval"] = f"{lo} to {hi}"
    out["labelled pairs"] = summary["labelled_pairs"]
    out["labelled sample by stratum"] = MetadataValue.md(
        "| stratum | pairs | labelled | matches |\n|---|---:|---:|---:|\n"
        + "\n".join(
            f"| {s['stratum']} | {s['population']:,} | {s['labelled']:,} | {s['matches']:,} |"
            for s in summary["strata"]
        )
    )
    return out


FAMILIES_KEY = AssetKey(["linkage", "families"])
FAMILY_MEMBERS_KEY = AssetKey(["linkage", "family_members"])
KK_CROSSWALK_KEY = AssetKey(["linkage", "kk_crosswalk"])


def _family_spec(key: AssetKey, description: str) -> AssetSpec:
    return AssetSpec(
        key,
        deps=[PERSON_CLUSTERS_KEY, AssetKey("int_identitas")],
        group_name="linkage",
        kinds={"duckdb"},
        owners=OWNERS,
        description=description,
    )


@multi_asset(
    name="family_linkage",
    specs=[
        _family_spec(
            FAMILIES_KEY,
            "Families (KK) and the households (dwellings) they form, linked across sources "
            "from the person linkage by the rules in config/linkage.yaml.",
        ),
        _family_spec(
            FAMILY_MEMBERS_KEY,
            "Each person's family (dtsen_kk_id), how it was found, and their "
            "relationship to the head.",
        ),
        _family_spec(
            KK_CROSSWALK_KEY, "Each source's KK numbers and the family (dtsen_kk_id) they joined."
        ),
    ],
    partitions_def=monthly_partitions,
    backfill_policy=ONE_MONTH_PER_RUN,
    pool=WAREHOUSE_POOL,
)
def family_linkage(context: AssetExecutionContext, warehouse: WarehouseResource):
    month = context.partition_key
    with warehouse.connect() as con:
        stats = link_families(con, month)
        counts = {
            t: con.execute(
                f"select count(*) from linkage.{t} where extract_month = ?", [month]
            ).fetchall()[0][0]
            for t in ("family_members", "kk_crosswalk")
        }
    basis = stats.pop("persons by how their family was found")
    table = "| family found by | persons |\n|---|---:|\n" + "\n".join(
        f"| {k} | {v} |" for k, v in basis.items()
    )
    yield MaterializeResult(
        asset_key=FAMILIES_KEY,
        metadata={
            "month": month,
            **stats,
            "persons by how their family was found": MetadataValue.md(table),
            "rules": MetadataValue.path(str(paths.config_dir() / "linkage.yaml")),
            "dagster/row_count": stats["families"],
        },
    )
    yield MaterializeResult(
        asset_key=FAMILY_MEMBERS_KEY,
        metadata={"month": month, "dagster/row_count": counts["family_members"]},
    )
    yield MaterializeResult(
        asset_key=KK_CROSSWALK_KEY,
        metadata={"month": month, "dagster/row_count": counts["kk_crosswalk"]},
    )
