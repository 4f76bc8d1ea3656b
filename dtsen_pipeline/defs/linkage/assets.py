"""Linkage layer: one person id (dtsen_id) per source record, stable from month to month.

Writes linkage.person_clusters, linkage.id_history, linkage.pairwise_predictions and
linkage.review_pairs (uncertain pairs for clerical review; decisions in data/review/decisions.csv
are applied on the next run); then families and households (linkage/families.py).

Dagster wiring only: the linkage itself is linkage/run.py, the tables it reads and writes
linkage/tables.py, reviewers' decisions linkage/decisions.py.
"""

import json
from pathlib import Path
from typing import NamedTuple

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
from dtsen_pipeline.ingest.sources import correction_sources
from dtsen_pipeline.lib import paths, reports
from dtsen_pipeline.linkage import accuracy, model, tables
from dtsen_pipeline.linkage.config import cluster_threshold, predict_threshold
from dtsen_pipeline.linkage.decisions import (
    DecisionsTooLargeError,
    read_decisions,
    records_of_other_months,
)
from dtsen_pipeline.linkage.families import link_families
from dtsen_pipeline.linkage.run import LinkageResult, link_month

PERSON_CLUSTERS_KEY = AssetKey(["linkage", "person_clusters"])
ID_HISTORY_KEY = AssetKey(["linkage", "id_history"])


class LinkageConfig(Config):
    """By default a month reuses the latest earlier model and links incrementally: only new and
    changed records are scored. ``retrain`` (``dtsen run --retrain``) trains a new model and
    relinks every record; ``full_relink`` (``dtsen run --full-relink``) relinks every record with
    the saved model."""

    retrain: bool = False
    full_relink: bool = False


class _Month(NamedTuple):
    """One month's linkage inputs, as the asset read them."""

    month: str
    identities: pa.Table
    reuse: Path | None  # the saved model reused; None: train one
    previous: pa.Table | None  # last month's persons (incremental); None: a full relink
    decisions_file: Path

    @property
    def mode(self) -> str:
        return "incremental" if self.previous is not None else "full relink"


def _inputs(warehouse: WarehouseResource, month: str, config: LinkageConfig) -> _Month:
    """The month's records, the model to reuse and last month's persons; refused when the month has
    no records or the month before it has extracts but is not linked yet."""
    reuse = None if config.retrain else model.latest_model(month)
    with warehouse.connect() as con:
        identities = tables.identities(con, month)
        previous = (
            None if (reuse is None or config.full_relink) else tables.previous_month(con, month)
        )
    if identities.num_rows == 0:
        raise ValueError(
            f"linkage {month}: intermediate.int_identitas has no rows for this month; "
            "materialise the raw and staging assets for it first"
        )
    with warehouse.connect() as con:
        unlinked = tables.unlinked_earlier_month(con, month)
    if unlinked:
        raise ValueError(
            f"linkage {month}: month {unlinked} has extracts under data/landing but is not linked "
            f"yet, and {month}'s ids build on it. Run {unlinked} first (a backfill runs months "
            "in order, one at a time)."
        )
    return _Month(month, identities, reuse, previous, paths.review_dir() / "decisions.csv")


def _link(
    context: AssetExecutionContext, inputs: _Month, warehouse: WarehouseResource
) -> LinkageResult:
    """``link_month`` on the month's inputs, with reviewers' decisions and the run's log."""
    month, identities, reuse = inputs.month, inputs.identities, inputs.reuse
    context.log.info(
        f"linkage {month}: {identities.num_rows} records, {inputs.mode}, "
        + (f"reusing model {reuse.name}" if reuse else "training the model")
    )
    # Checked against this month's records before any scoring: a bad file fails fast, every problem listed.
    # A row naming a record of another month (a delta source's, last month) is kept for that month.
    with warehouse.connect() as con:
        decisions = read_decisions(
            inputs.decisions_file,
            known_keys=identities.column(model.UNIQUE_ID),
            other_months=lambda keys: records_of_other_months(con, month, keys),
        )
    try:
        return link_month(
            identities,
            paths.models_dir() / f"{model.MODEL_VERSION}_{month}.json",
            decisions=decisions,
            charts_dir=paths.linkage_reports_dir() / month,
            reuse_model=reuse,
            previous=inputs.previous,
            attach_only=correction_sources(),
            progress=lambda message: context.log.info(f"linkage {month}: {message}"),
        )
    except DecisionsTooLargeError as exc:
        raise ValueError(f"{inputs.decisions_file}: {exc}") from None


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
    inputs = _inputs(warehouse, month, config)
    result = _link(context, inputs, warehouse)
    reports.write_index()
    with warehouse.connect() as con:
        id_events = tables.save_month(con, month, result)
        stats, persons = tables.match_rates(con, month)
        labelled = accuracy.summary(month, con)
    if labelled["status"].startswith("not estimated"):
        context.log.warning(f"linkage {month}: labels-based accuracy {labelled['status']}")
    yield MaterializeResult(
        asset_key=ID_HISTORY_KEY,
        metadata={"month": month, **{f"{event}": n for event, n in sorted(id_events.items())}},
    )
    yield MaterializeResult(
        asset_key=PERSON_CLUSTERS_KEY,
        metadata=_person_clusters_metadata(inputs, result, stats, persons, labelled, id_events),
    )


def _person_clusters_metadata(
    inputs: _Month,
    result: LinkageResult,
    stats: list[tuple],
    persons: int,
    labelled: dict,
    id_events: dict[str, int],
) -> dict:
    """What linkage/person_clusters shows: counts, thresholds, match rates by source (``stats``,
    from ``tables.match_rates``), the model and its weights, phase times, review figures, chart
    links and the labels-based accuracy (``labelled``): counts and labels, never a record's values."""
    table = "| source | records | matched to Dukcapil | | duplicates within source |\n|---|---:|---:|---|---:|\n"
    table += "\n".join(f"| {s} | {r:,} | {m:.1%} | {bar(m)} | {d:,} |" for s, r, m, d in stats)
    return {
        "month": inputs.month,
        "records": inputs.identities.num_rows,
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
        "model": "trained this month" if result.trained else f"reused {inputs.reuse.name}",
        # Levels no training pair reached this month, given a deliberate value instead of
        # Splink's default (model.fill_untrained): labels only, no record's values.
        "levels filled, not trained": MetadataValue.json(
            result.filled if result.trained else "model reused"
        ),
        # Each EM session's pairs, and the kabupaten it sampled when over the cap (counts only).
        "EM sessions": MetadataValue.json(result.em_sessions if result.trained else "model reused"),
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
        "mode": inputs.mode,
        "records scored again": result.rescored
        if result.rescored is not None
        else inputs.identities.num_rows,
        "pairs for clerical review (linkage.review_pairs)": result.review.num_rows,
        # Two civil-registry records with two NIKs are two people (clustering.registry_apart).
        f"persons split: two {model.CIVIL_REGISTRY} NIKs": result.registry_split,
        "review decisions applied": MetadataValue.json(
            result.decisions_applied or {"none": str(inputs.decisions_file)}
        ),
        # Links the browser opens (the report server of `make ui`; see reports.py).
        **{
            f"chart: {name}": MetadataValue.url(reports.url(path))
            for name, path in result.charts.items()
        },
        "all reports": MetadataValue.url(reports.url(anchor=inputs.month)),
        **accuracy_metadata(labelled),
        "id events (linkage.id_history)": MetadataValue.json(id_events),
        "dagster/row_count": inputs.identities.num_rows,
    }


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
