"""What a release holds, declared once: the dbt models marked ``config: {meta: {publish: true}}``
(each mart's own YAML, dbt_project/models/marts/<model>.yml), read from dbt's manifest.

The quality gate (one blocking suite per published mart), the release writer, the pseudonymisation
rules (config/publication.yaml) and the tests all derive their lists from here. To publish another
model, mark it in its YAML, give it a suite in config/expectations.yaml and say in
config/publication.yaml what it hashes or drops; `dtsen check-config` names what is missing.
"""

from __future__ import annotations

import json
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
