"""The asset graph's keys, groups and dependencies: a rename or a lost edge shows as a diff."""

import json
import os
from datetime import UTC
from pathlib import Path

from dtsen_pipeline.definitions import defs
from dtsen_pipeline.ingest.sources import load_sources
from dtsen_pipeline.publish import contents

SOURCES = [s.name for s in load_sources()]
STAGED = {f"stg_{s}__individu" for s in SOURCES}


def test_blocking_checks_guard_the_release_and_the_raw_layer():
    graph = defs.resolve_asset_graph()
    checks = {
        k.asset_key.to_user_string() + ":" + k.name: graph.get_check_spec(k)
        for k in graph.asset_check_keys
    }
    RELEASE_TABLES = contents.release_tables()

    for mart in RELEASE_TABLES:  # every published mart has its blocking GX suite
        assert checks[f"{mart}:gx_{mart}"].blocking
    full = {s.name for s in load_sources() if s.snapshot == "full"}
    assert full and full != set(SOURCES)  # both kinds are registered, so both are checked
    for s in SOURCES:
        assert checks[f"raw/{s}__individu:rows_reconciled"].blocking
        assert not checks[f"raw/{s}__individu:files_readable"].blocking
        # A full snapshot that shrinks (a header-only or truncated file) blocks the release; a delta is not checked.
        snapshot = checks.get(f"raw/{s}__individu:snapshot_complete")
        assert (snapshot is not None and snapshot.blocking) if s in full else snapshot is None
        assert not checks[
            f"stg_{s}__individu:gx_stg_{s}"
        ].blocking  # a bad extract warns, others go on


def test_every_asset_is_described_and_monthly():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, f"{key.to_user_string()} has no description"
        assert node.partitions_def is not None, (
            f"{key.to_user_string()} is not partitioned by month"
        )


def test_every_asset_has_an_owner_and_a_kind():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners, f"{key.to_user_string()} has no owner"
        assert node.kinds, f"{key.to_user_string()} has no kind"
    kinds = {k for key in graph.get_all_asset_keys() for k in graph.get(key).kinds}
    assert {"duckdb", "dbt", "splink", "great_expectations"} <= kinds


def test_warehouse_writers_share_one_pool_and_runs_queue_one_at_a_time(tmp_path, monkeypatch):
    import yaml

    from dtsen_pipeline.defs.common.resources import WAREHOUSE_POOL
    from dtsen_pipeline.lib import paths

    for assets_def in defs.assets:
        if hasattr(assets_def, "op") and not getattr(assets_def, "is_external", False):
            if any(k.path[0] == "landing" for k in assets_def.keys):
                continue
            assert assets_def.op.pool == WAREHOUSE_POOL, assets_def.keys
    for check in defs.asset_checks:
        assert check.op.pool == WAREHOUSE_POOL
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    paths.ensure_dirs()
    config = yaml.safe_load((paths.dagster_home() / "dagster.yaml").read_text())
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 1
    assert config["concurrency"]["pools"]["default_limit"] == 1


def test_monthly_schedule_runs_the_current_month():
    from datetime import datetime

    from dagster import build_schedule_context

    [schedule] = defs.schedules
    assert schedule.cron_schedule == "0 2 25 * *"
    context = build_schedule_context(scheduled_execution_time=datetime(2025, 3, 25, 2, tzinfo=UTC))
    [request] = list(schedule.evaluate_tick(context).run_requests)
    assert request.partition_key == "2025-03"


SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
EVERY_SOURCE = "stg_<source>__individu (every source)"


def _source_of(key: str) -> str | None:
    """The registered source a per-source asset belongs to (landing/<s>, raw/<s>__individu,
    stg_<s>__individu), or None."""
    for s in SOURCES:
        if key in (f"landing/{s}", f"raw/{s}__individu", f"stg_{s}__individu"):
            return s
    return None


def _definitions_snapshot() -> dict:
    """What the UI shows of the definitions: every asset with its group, kinds, checks (blocking or
    not) and parents, and the jobs, schedules and sensors.

    A source's own assets are written once per kind of source (full or delta snapshot, file format)
    with the source's name as ``<source>``, and "every staged source" as one parent: adding a source through its YAML
    changes no line of the snapshot, and a source whose assets differ from its kind's shows."""
    graph = defs.resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        checks.setdefault(key.asset_key.to_user_string(), []).append(
            f"{key.name} ({'blocking' if spec.blocking else 'warning'})"
        )
    kind = {s.name: f"{s.snapshot} snapshot, {s.format}" for s in load_sources()}
    assets: dict[str, dict] = {}
    per_source: dict[str, dict[str, dict]] = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        name = key.to_user_string()
        parents = {p.to_user_string() for p in graph.get(key).parent_keys}
        if parents >= STAGED:
            parents = (parents - STAGED) | {EVERY_SOURCE}
        entry = {
            "group": graph.get(key).group_name,
            "kinds": sorted(graph.get(key).kinds),
            "checks": sorted(checks.get(name, [])),
            "parents": sorted(parents),
        }
        source = _source_of(name)
        if source is None:
            assets[name] = entry
            continue
        templated = json.loads(json.dumps({name: entry}).replace(source, "<source>"))
        [(template, entry)] = templated.items()
        seen = per_source.setdefault(kind[source], {}).setdefault(template, entry)
        assert seen == entry, f"{name} differs from the other sources' {template} ({kind[source]})"
    return {
        "assets": assets,
        "assets of each source, by snapshot and file format": per_source,
        "jobs": sorted(j.name for j in defs.jobs or []),
        "schedules": sorted(s.name for s in defs.schedules or []),
        "sensors": sorted(s.name for s in defs.sensors or []),
    }


def test_definitions_snapshot():
    """A refactor that drops or renames an asset, a check, a kind, a group or an edge fails here.
    After a deliberate change, review the diff and write the snapshot again:
    ``DTSEN_UPDATE_SNAPSHOT=1 pytest tests/defs/test_asset_graph.py -k snapshot``."""
    actual = _definitions_snapshot()
    if os.environ.get("DTSEN_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert actual == expected, (
        "the definitions differ from tests/defs/snapshots/definitions.json (see docstring)"
    )


def test_every_source_has_its_assets_and_nothing_else_is_per_source():
    """Each registered source has its landing, raw and staging assets (the snapshot writes them once
    per kind, so this is where a source that lost one shows)."""
    graph = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    for s in SOURCES:
        assert {f"landing/{s}", f"raw/{s}__individu", f"stg_{s}__individu"} <= graph, s
    assert {k for k in graph if k.startswith(("landing/", "raw/"))} == {
        k for s in SOURCES for k in (f"landing/{s}", f"raw/{s}__individu")
    }


def test_models_that_read_linkage_are_built_after_it():
    """The two dbt steps split at Splink by lineage (dbt_project/selectors.yml), not by folder: every dbt
    model downstream of linkage, the intermediate ones included, is built by the after-linkage step."""
    from dtsen_pipeline.defs.dbt.assets import dbt_marts_assets, dbt_staging_assets

    graph = defs.resolve_asset_graph()
    downstream, frontier = (
        set(),
        {k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "linkage"},
    )
    while frontier:
        frontier = {c for k in frontier for c in graph.get(k).child_keys} - downstream
        downstream |= frontier
    dbt_keys = set(dbt_staging_assets.keys) | set(dbt_marts_assets.keys)
    assert set(dbt_marts_assets.keys) == downstream & dbt_keys
    assert {"int_keluarga_pmt", "int_regsosek_terakhir"} <= {
        k.to_user_string() for k in dbt_marts_assets.keys
    }
    assert not set(dbt_staging_assets.keys) & downstream


def test_a_run_of_the_layers_before_linkage_leaves_out_what_reads_linkage():
    """`make bench` times raw to intermediate alone: the intermediate models that read the linkage output
    are left out of that run (linkage is not in it), everything else of those groups is in."""
    from dtsen_pipeline.cli import layer_selection

    graph = defs.resolve_asset_graph()
    layers = ("raw", "reference", "staging", "intermediate")
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    selected = {k.to_user_string() for k in layer_selection(graph, layers)}
    assert selected == {key for key, group in groups.items() if group in layers} - {
        "int_regsosek_terakhir",
        "int_keluarga_pmt",
        "int_kunjungan",
        "int_koreksi",
    }
    linkage = {k.to_user_string() for k in layer_selection(graph, ("linkage",))}
    assert linkage == {key for key, group in groups.items() if group == "linkage"}
