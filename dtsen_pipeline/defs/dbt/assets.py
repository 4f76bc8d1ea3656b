"""dbt layers as Dagster assets: staging + intermediate before linkage, marts after it.

Two ``@dbt_assets`` definitions over one dbt project, split at the Splink step, so the graph reads
raw -> staging -> intermediate -> linkage -> marts. Each run passes the partition month to dbt.
"""


import json
import os
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, Output, RetryRequested
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from dtsen_pipeline import dbt_registry, paths
from dtsen_pipeline.partitions import monthly_partitions
from dtsen_pipeline.resources import LOCK_RETRIES, LOCK_RETRY_SECONDS, WAREHOUSE_POOL, WarehouseResource

dbt_project = DbtProject(project_dir=paths.DBT_PROJECT_DIR, profiles_dir=paths.DBT_PROJECT_DIR)


def dbt_resource() -> DbtCliResource:
    """dbt from this interpreter's environment, so it works without an activated venv."""
    return DbtCliResource(project_dir=dbt_project, dbt_executable=str(Path(sys.executable).parent / "dbt"))


def _manifest_is_stale() -> bool:
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [paths.DBT_PROJECT_DIR / "dbt_project.yml", *paths.DBT_PROJECT_DIR.glob("models/**/*"),
               *paths.DBT_PROJECT_DIR.glob("macros/**/*"), *paths.DBT_PROJECT_DIR.glob("tests/**/*")]
    return any(p.stat().st_mtime > built for p in sources if p.is_file())


def prepare_manifest() -> None:
    """Generate the registry's dbt files, then parse the project when its manifest is missing or
    older than its files."""
    if dbt_registry.sync() or _manifest_is_stale():
        dbt_resource().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()


prepare_manifest()


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

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return ["team:data-engineering"]


def _layer_assets(name: str, select: str):
    """dbt models of the selected folders as one partitioned multi-asset; `dbt build` runs the
    models and their tests (the tests show as asset checks) for the partition's month."""

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        select=select,
        name=name,
        partitions_def=monthly_partitions,
        dagster_dbt_translator=LayerTranslator(),
        pool=WAREHOUSE_POOL,
    )
    def _assets(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        paths.export_env()
        # A test that spans layers (a mart's region code against ref_wilayah) runs with the later
        # layer, once all its parents exist; dbt's default would pull it into the earlier build.
        os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
        args = ["build", "--vars", json.dumps({"month": context.partition_key})]
        invocation = dbt.cli(args, context=context, raise_on_error=False)
        events = list(invocation.stream())  # dbt holds the warehouse's lock until it exits
        if not invocation.is_successful():
            log = invocation.get_error()
            if log is not None and "lock" in str(log).lower():
                raise RetryRequested(max_retries=LOCK_RETRIES, seconds_to_wait=LOCK_RETRY_SECONDS) from log
        yield from with_row_counts(events, warehouse)
        if not invocation.is_successful():
            raise invocation.get_error()

    return _assets


@cache
def _tables_by_unique_id() -> dict[str, str]:
    """dbt models materialised as tables (not views: counting a view re-runs it), by unique id."""
    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    return {uid: f"{node['schema']}.{node['alias']}" for uid, node in manifest["nodes"].items()
            if node["resource_type"] in ("model", "seed")
            and node["config"].get("materialized") in ("table", "incremental", "seed")}


def _unique_id(event) -> str | None:
    if not isinstance(event, Output):
        return None
    uid = event.metadata.get("unique_id")
    return str(getattr(uid, "value", uid)) if uid is not None else None


def with_row_counts(events, warehouse: WarehouseResource):
    """Add ``dagster/row_count`` to each table's materialisation, read after dbt has exited."""
    tables = _tables_by_unique_id()
    relations = sorted({tables[uid] for e in events if (uid := _unique_id(e)) in tables})
    counts = {}
    if relations:
        with warehouse.connect() as con:
            counts = {r: con.execute(f"select count(*) from {r}").fetchall()[0][0] for r in relations}
    for e in events:
        uid = _unique_id(e)
        yield e.with_metadata({**e.metadata, "dagster/row_count": counts[tables[uid]]}) if uid in tables else e


dbt_staging_assets = _layer_assets("dbt_staging", "reference staging intermediate resource_type:seed")
dbt_marts_assets = _layer_assets("dbt_marts", "marts")

DTSEN_INDIVIDU_KEY = AssetKey("dtsen_individu")
