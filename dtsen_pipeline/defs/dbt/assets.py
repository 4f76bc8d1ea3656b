"""dbt layers as Dagster assets: what Splink reads before linkage, what reads Splink's output after it.

Two ``@dbt_assets`` definitions over one dbt project, split at the Splink step by the dbt selectors
``before_linkage`` and ``after_linkage`` (dbt_project/selectors.yml: after_linkage is everything
downstream of ``source('linkage', ...)``), so the graph reads raw -> staging -> intermediate ->
linkage -> marts, and a model's folder (its asset group) does not decide which step builds it.
Each run builds one month: the partition month reaches dbt as DTSEN_MONTH (macros/months.sql), and
dbt's events reach Dagster as dbt emits them.

Importing this module reads the manifest and writes nothing: ``project.prepare()`` makes it.
"""

import json
import os
import time
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    Output,
    RetryRequested,
    TableColumn,
    TableSchema,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from dtsen_pipeline.defs.common.graph import OWNERS
from dtsen_pipeline.defs.common.partitions import ONE_MONTH_PER_RUN, monthly_partitions
from dtsen_pipeline.defs.common.resources import (
    LOCK_RETRIES,
    LOCK_RETRY_SECONDS,
    WAREHOUSE_POOL,
    WarehouseResource,
)
from dtsen_pipeline.defs.dbt.project import dbt_project, dbt_resource
from dtsen_pipeline.lib.warehouse import MEMORY_LIMIT_ENV, memory_limit

__all__ = [
    "DTSEN_INDIVIDU_KEY",
    "dbt_marts_assets",
    "dbt_project",
    "dbt_resource",
    "dbt_staging_assets",
]

if not dbt_project.manifest_path.exists():
    raise FileNotFoundError(
        f"the dbt manifest {dbt_project.manifest_path} is missing: run `make setup` "
        "(or `python -m dtsen_pipeline.defs.dbt.project`) to generate and parse the dbt project"
    )

METADATA_PREFIX = "dtsen_dagster_metadata "  # the log line of macros/dagster_metadata.sql


class LayerTranslator(DagsterDbtTranslator):
    """Group dbt models by their folder (staging, intermediate, marts); sources keep
    ``<schema>/<table>`` keys so they meet the Python assets that write them."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"  # declarative tables: PMT weights, programme cut-offs, survivorship, targets
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else None  # the folder under models/

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        description = super().get_description(dbt_resource_props)
        if self.get_group_name(dbt_resource_props) != "marts":
            return description
        # The marts are the month's tables: each month's run replaces them, and the month as
        # published stays in its own release. Said on the asset, so a green earlier partition in the
        # UI is not read as "the warehouse still holds that month".
        return (
            f"{description}\n\nThe working warehouse holds the month last built (see `extract_month`); "
            "every month as published stays in its release, `data/publish/<month>/dtsen.duckdb` "
            "(`dtsen query --month <month>`)."
        )

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return OWNERS


# The monthly build: models, seeds and their data tests (shown as asset checks), without unit tests.
BUILD_ARGS = ["build", "--exclude-resource-type", "unit_test"]


def run_month(context: AssetExecutionContext) -> str:
    """The one month this run builds. Backfills make one run per month (partitions.ONE_MONTH_PER_RUN),
    tagged with the month or with a one-month range; a run over several months is refused, since
    the marts hold one month and each month's gate and release must see its own."""
    months = context.partition_keys
    if len(months) != 1:
        raise Failure(
            f"a dbt step builds one month per run, but this run covers {months[0]}..{months[-1]} "
            f"({len(months)} months): launch a backfill over those months instead (one run per month, "
            "in month order)"
        )
    return months[0]


def _layer_assets(name: str, selector: str) -> AssetsDefinition:
    """The dbt models of a selector (dbt_project/selectors.yml) as one partitioned multi-asset;
    `dbt build` runs the models and their tests (the tests show as asset checks) for the partition's month."""

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        selector=selector,
        name=name,
        partitions_def=monthly_partitions,
        dagster_dbt_translator=LayerTranslator(),
        pool=WAREHOUSE_POOL,
        backfill_policy=ONE_MONTH_PER_RUN,
    )
    def _assets(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        # `warehouse` is not queried here: requiring it makes the run hold its data root (runlock)
        # when only dbt steps are selected.
        month = run_month(context)
        os.environ["DTSEN_MONTH"] = (
            month  # read by dbt (macros/months.sql); the step's process is the run's
        )
        os.environ[MEMORY_LIMIT_ENV] = memory_limit()  # dbt's DuckDB cap (profiles.yml)
        # A test that spans layers (a mart's region code against ref_wilayah) runs with the later
        # layer, once all its parents exist; dbt's default would pull it into the earlier build.
        os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
        timing = DbtTiming()
        # dbt's unit tests check the models' logic on fixed rows, not the month's data: as dbt
        # advises, they run in development and CI (`make test`: tests/dbt_project/test_marts_known_answers.py),
        # not in every production build, where they took half of the marts step on a small month.
        invocation = dbt.cli(BUILD_ARGS, context=context, raise_on_error=False)
        yield from stream_with_metadata(invocation, timing)
        context.log.info(timing.describe(invocation))
        if not invocation.is_successful():
            error = invocation.get_error()
            if error is not None and "lock" in str(error).lower():
                raise RetryRequested(
                    max_retries=LOCK_RETRIES, seconds_to_wait=LOCK_RETRY_SECONDS
                ) from error
            raise error

    # dagster-dbt gives time-partitioned dbt assets a single-run backfill policy when given None;
    # every partitioned asset here shares ONE_MONTH_PER_RUN (see partitions.py).
    if _assets.backfill_policy != ONE_MONTH_PER_RUN:
        with warnings.catch_warnings():  # the copy passes every attribute back, beta ones included
            warnings.simplefilter("ignore")
            _assets = AssetsDefinition(
                **{**_assets.get_attributes_dict(), "backfill_policy": ONE_MONTH_PER_RUN}
            )
    return _assets


class DbtTiming:
    """Where a dbt step's time goes, for its log: from the step's call to ``dbt.cli`` to the last
    event read from dbt, the part before dbt's first event (dagster-dbt's selection, the parse the
    first dbt step of a process makes, dbt's start-up), and dbt's own elapsed time for the nodes
    (run_results)."""

    def __init__(self) -> None:
        self.spawned = time.perf_counter()
        self.first_event: float | None = None
        self.ended: float | None = None

    def describe(self, invocation) -> str:
        ended = self.ended or time.perf_counter()
        start_up = (self.first_event or ended) - self.spawned
        try:
            nodes = float(invocation.get_artifact("run_results.json").get("elapsed_time") or 0)
        except Exception:  # no run_results.json: dbt failed before it wrote one
            nodes = None
        return (
            f"dbt build: {ended - self.spawned:.1f} s from the call to dbt to its last event, "
            f"{start_up:.1f} s of it before dbt's first event (selection, the project's parse "
            "once per process, dbt's start-up)"
            + (f", {nodes:.1f} s running the nodes (run_results.json)" if nodes is not None else "")
        )


def stream_with_metadata(invocation, timing: DbtTiming | None = None) -> Iterator:
    """dbt's events as Dagster events while dbt runs, each model's and seed's materialisation with
    the column types (``dagster/column_schema``) and row count (``dagster/row_count``, tables only)
    that its post-hook logged (macros/dagster_metadata.sql) just before dbt reported it built."""
    reported: dict[str, dict] = {}
    nodes = invocation.manifest.get("nodes", {})
    for event in invocation.stream_raw_events():
        if timing is not None and timing.first_event is None:
            timing.first_event = time.perf_counter()
        info, data = event.raw_event.get("info", {}), event.raw_event.get("data", {})
        message = info.get("msg") or ""
        if info.get("name") == "JinjaLogInfo" and message.startswith(METADATA_PREFIX):
            unique_id = data.get("node_info", {}).get("unique_id")
            if unique_id:
                reported[unique_id] = json.loads(message[len(METADATA_PREFIX) :])
            continue
        for dagster_event in event.to_default_asset_events(
            manifest=invocation.manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=invocation.context,
            target_path=invocation.target_path,
            project=invocation.project,
        ):
            unique_id = _unique_id(dagster_event)
            if unique_id in reported:
                dagster_event = dagster_event.with_metadata(
                    {
                        **dagster_event.metadata,
                        **_table_metadata(reported.pop(unique_id), nodes.get(unique_id, {})),
                    }
                )
            yield dagster_event
    if timing is not None:
        timing.ended = time.perf_counter()


def _unique_id(event) -> str | None:
    if not isinstance(event, Output):
        return None
    uid = event.metadata.get("unique_id")
    return str(getattr(uid, "value", uid)) if uid is not None else None


def _table_metadata(reported: dict, node: Mapping[str, Any]) -> dict:
    """Column names and types as built, with the descriptions documented in the model's YAML."""
    documented = {
        name.lower(): column.get("description") or None
        for name, column in node.get("columns", {}).items()
    }
    schema = TableSchema(
        columns=[
            TableColumn(name=name, type=data_type, description=documented.get(name.lower()))
            for name, data_type in reported["columns"]
        ]
    )
    row_count = reported.get("row_count")
    return {
        "dagster/column_schema": schema,
        **({"dagster/row_count": row_count} if row_count is not None else {}),
    }


dbt_staging_assets = _layer_assets("dbt_staging", "before_linkage")
dbt_marts_assets = _layer_assets("dbt_marts", "after_linkage")

DTSEN_INDIVIDU_KEY = AssetKey("dtsen_individu")
