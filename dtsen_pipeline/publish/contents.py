"""What a release holds, declared once: the dbt models marked ``config: {meta: {publish: true}}``
(each mart's own YAML, dbt_project/models/marts/<model>.yml), read from dbt's manifest.

The quality gate (one blocking suite per published mart), the release writer, the pseudonymisation
rules (config/publication.yaml) and the tests all derive their lists from here. To publish another
model, mark it in its YAML, give it a suite in config/expectations.yaml and say in
config/publication.yaml what it hashes or drops; `dtsen check-config` names what is missing.

Beside the marts, a release holds the code lists (``code_lists``: models marked
``config: {meta: {code_list: true}}``), and every table and column of it carries the description
its dbt YAML gives (``table_docs``), with a coded column's code list and a measure's unit from the
column's ``config: {meta: {code_list: ..., unit: ...}}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dtsen_pipeline.lib import paths


@cache
def _manifest_models(manifest: Path, modified: float) -> tuple[dict, ...]:
    if not manifest.exists():
        raise FileNotFoundError(
            f"the dbt manifest {manifest} is missing: run `make setup` (or "
            "`python -m dtsen_pipeline.defs.dbt.project`) to parse the dbt project"
        )
    nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"].values()
    return tuple(
        sorted((n for n in nodes if n["resource_type"] == "model"), key=lambda n: n["name"])
    )


def _published_models() -> list[dict]:
    manifest = paths.dbt_manifest()
    modified = manifest.stat().st_mtime if manifest.exists() else 0.0
    return [
        n
        for n in _manifest_models(manifest, modified)
        if n["config"].get("meta", {}).get("publish") is True
    ]


def release_tables() -> dict[str, str]:
    """Release table name -> the warehouse relation it is copied from (``schema.table``)."""
    return {n["name"]: f"{n['schema']}.{n['alias'] or n['name']}" for n in _published_models()}


def documented_columns() -> dict[str, list[str]]:
    """Each published table's columns as its dbt YAML documents them."""
    return {n["name"]: list(n["columns"]) for n in _published_models()}


# --- Code lists and descriptions -------------------------------------------------------------
# Code lists are dbt models marked ``config: {meta: {code_list: true}}`` (dbt_project/models/
# reference/kode/): each code of a coded column with its Indonesian label. They go into every
# release beside the marts, but not through the quality gate: they are the seeds' own rows
# (tested by dbt where they are declared), not a month's data.


def code_lists() -> dict[str, str]:
    """Code list table name -> the warehouse relation it is copied from (``schema.table``)."""
    manifest = paths.dbt_manifest()
    modified = manifest.stat().st_mtime if manifest.exists() else 0.0
    return {
        n["name"]: f"{n['schema']}.{n['alias'] or n['name']}"
        for n in _manifest_models(manifest, modified)
        if n["config"].get("meta", {}).get("code_list") is True
    }


def published_tables() -> dict[str, str]:
    """Every table of a release: the published marts, then the code lists."""
    return {**release_tables(), **code_lists()}


@dataclass(frozen=True)
class ColumnDoc:
    description: str
    code_list: str | None  # the code list naming its codes (column meta ``code_list``)
    unit: str | None  # its unit (column meta ``unit``)


@dataclass(frozen=True)
class TableDoc:
    description: str
    yml: str  # where it is documented, for messages (models/marts/<model>.yml)
    columns: dict[str, ColumnDoc]


def _column_doc(column: dict) -> ColumnDoc:
    meta = {**column.get("meta", {}), **column.get("config", {}).get("meta", {})}
    return ColumnDoc(
        " ".join((column.get("description") or "").split()),
        meta.get("code_list"),
        None if meta.get("unit") is None else str(meta["unit"]),
    )


def table_docs() -> dict[str, TableDoc]:
    """Every published table's description and its columns' (with code list and unit), as its dbt
    YAML declares them: the one source of a release's comments, Parquet metadata and dictionary."""
    manifest = paths.dbt_manifest()
    modified = manifest.stat().st_mtime if manifest.exists() else 0.0
    tables = published_tables()
    return {
        n["name"]: TableDoc(
            " ".join((n.get("description") or "").split()),
            (n.get("patch_path") or n["original_file_path"]).split("://", 1)[-1],
            {name: _column_doc(c) for name, c in n["columns"].items()},
        )
        for n in _manifest_models(manifest, modified)
        if n["name"] in tables
    }
