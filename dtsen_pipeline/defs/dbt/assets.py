"""dbt layers as Dagster assets: staging + intermediate before linkage, marts after it.

Two ``@dbt_assets`` definitions over one dbt project, split at the Splink step, so the graph reads
raw -> staging -> intermediate -> linkage -> marts. Each run passes the partition month to dbt.
"""


import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from dtsen_pipeline import dbt_registry, paths
from dtsen_pipeline.partitions import monthly_partitions

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
    )
    def _assets(context: AssetExecutionContext, dbt: DbtCliResource):
        paths.export_env()
        # A test that spans layers (a mart's region code against ref_wilayah) runs with the later
        # layer, once all its parents exist; dbt's default would pull it into the earlier build.
        os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
        args = ["build", "--vars", json.dumps({"month": context.partition_key})]
        yield from dbt.cli(args, context=context).stream()

    return _assets


dbt_staging_assets = _layer_assets("dbt_staging", "reference staging intermediate resource_type:seed")
dbt_marts_assets = _layer_assets("dbt_marts", "marts")

DTSEN_INDIVIDU_KEY = AssetKey("dtsen_individu")
