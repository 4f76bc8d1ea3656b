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
RELEASED = {
    "dtsen_individu",
    "dtsen_crosswalk",
    "dtsen_id_history",
    "dtsen_keluarga",
    "dtsen_rumah_tangga",
    "dtsen_program_sasaran",
    "dtsen_program_kabupaten",
    "dtsen_bpjs_tk_gap",
    "dtsen_kelas_menengah_rentan",
    "dtsen_perubahan_bulanan",
    "dtsen_progres_pemutakhiran",
    "dtsen_usulan",
    "dtsen_daftar_verifikasi",
    "dtsen_graduasi_pendamping",
}
EXPECTED = {
    # key: (group, parents)
    **{f"landing/{s}": ("landing", set()) for s in SOURCES},
    **{f"raw/{s}__individu": ("raw", {f"landing/{s}"}) for s in SOURCES},
    **{
        f"stg_{s}__individu": ("staging", {f"raw/{s}__individu", "ref_wilayah", "ref_nik_prefix"})
        for s in SOURCES
    },
    "ref_wilayah": ("reference", set()),
    "ref_nik_prefix": ("reference", set()),
    "int_identitas": ("intermediate", STAGED),
    "int_identity_issues": ("intermediate", STAGED),
    "linkage/person_clusters": ("linkage", {"int_identitas"}),
    "linkage/id_history": ("linkage", {"int_identitas"}),
    **{
        f"linkage/{t}": ("linkage", {"int_identitas", "linkage/person_clusters"})
        for t in ("families", "family_members", "kk_crosswalk")
    },
    **{
        name: ("reference", set())
        for name in (
            "kosakata",
            "pmt_weights",
            "programmes",
            "survivorship",
            "update_targets",
            "verifikasi_prioritas",
            "graduasi_target",
        )
    },
    "int_regsosek_terakhir": (
        "intermediate",
        {"stg_regsosek__individu", "linkage/person_clusters"},
    ),
    "int_keluarga_pmt": (
        "intermediate",
        {
            "int_regsosek_terakhir",
            "linkage/family_members",
            "linkage/families",
            "pmt_weights",
            "int_kunjungan",
            "survivorship",
        },
    ),
    # The correction loop (issue 19): visits, and proposals and objections with their status.
    "int_kunjungan": (
        "intermediate",
        {
            "stg_verifikasi_lapangan__individu",
            "linkage/person_clusters",
            "linkage/family_members",
        },
    ),
    "int_koreksi": (
        "intermediate",
        {
            "stg_usulan_desa__individu",
            "stg_sanggahan__individu",
            "int_kunjungan",
            "linkage/person_clusters",
            "linkage/family_members",
        },
    ),
    "dtsen_individu": (
        "marts",
        {
            "int_identitas",
            "linkage/person_clusters",
            "linkage/family_members",
            "survivorship",
            "kosakata",
            "ref_wilayah",
            "int_regsosek_terakhir",
            "int_kunjungan",
            "int_koreksi",
        },
    ),
    "dtsen_keluarga": (
        "marts",
        {"dtsen_individu", "linkage/families", "int_keluarga_pmt", "ref_wilayah"},
    ),
    "dtsen_rumah_tangga": ("marts", {"dtsen_keluarga"}),
    "dtsen_desil_riwayat": ("marts", {"dtsen_keluarga"}),
    "dtsen_individu_riwayat": ("marts", {"dtsen_individu"}),
    "dtsen_program_sasaran": (
        "marts",
        {"programmes", "linkage/person_clusters", "linkage/family_members", "dtsen_keluarga"},
    ),
    "dtsen_program_kabupaten": ("marts", {"dtsen_program_sasaran"}),
    "dtsen_bpjs_tk_gap": ("marts", {"dtsen_individu", "dtsen_keluarga"}),
    "dtsen_kelas_menengah_rentan": (
        "marts",
        {"dtsen_individu", "dtsen_keluarga", "dtsen_desil_riwayat"},
    ),
    "dtsen_perubahan_bulanan": (
        "marts",
        {"dtsen_individu_riwayat", "dtsen_desil_riwayat", "programmes", "ref_wilayah"},
    ),
    "dtsen_progres_pemutakhiran": (
        "marts",
        {"int_identitas", "linkage/person_clusters", "dtsen_individu", "update_targets"},
    ),
    # The correction loop's marts (issue 19, step 3).
    "dtsen_usulan": ("marts", {"int_koreksi", "ref_wilayah"}),
    "dtsen_daftar_verifikasi": (
        "marts",
        {
            "verifikasi_prioritas",
            "programmes",
            "dtsen_program_sasaran",
            "int_koreksi",
            "dtsen_individu",
            "linkage/person_clusters",
            "dtsen_desil_riwayat",
            "dtsen_keluarga",
            "int_kunjungan",
            "ref_wilayah",
        },
    ),
    "dtsen_graduasi_pendamping": (
        "marts",
        {
            "graduasi_target",
            "programmes",
            "int_kunjungan",
            "dtsen_desil_riwayat",
            "dtsen_keluarga",
            "ref_wilayah",
        },
    ),
    "dtsen_crosswalk": ("marts", {"int_identitas", "linkage/person_clusters"}),
    "dtsen_id_history": ("marts", {"linkage/id_history"}),
    "quality/gate": ("quality", RELEASED),
    "publish/dtsen_release": ("publish", RELEASED | {"quality/gate"}),
}


def test_every_agency_is_registered():
    assert sorted(SOURCES) == [
        "bpjs_tk",
        "dinsos_kaltim",
        "dinsos_ntt",
        "dtks",
        "dukcapil",
        "p3ke",
        "pbi_jk",
        "phk",
        "regsosek",
        "sanggahan",
        "usulan_desa",
        "verifikasi_lapangan",
    ]


def test_asset_graph_snapshot():
    graph = defs.resolve_asset_graph()
    actual = {
        key.to_user_string(): (
            graph.get(key).group_name,
            {p.to_user_string() for p in graph.get(key).parent_keys},
        )
        for key in graph.get_all_asset_keys()
    }
    assert actual == EXPECTED


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
    assert full == {"bpjs_tk", "dinsos_kaltim", "dtks", "dukcapil", "p3ke", "pbi_jk"}
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


def _definitions_snapshot() -> dict:
    """What the UI shows of the definitions: every asset with its group, kinds and checks (blocking
    or not), and the jobs, schedules and sensors."""
    graph = defs.resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        checks.setdefault(key.asset_key.to_user_string(), []).append(
            f"{key.name} ({'blocking' if spec.blocking else 'warning'})"
        )
    return {
        "assets": {
            key.to_user_string(): {
                "group": graph.get(key).group_name,
                "kinds": sorted(graph.get(key).kinds),
                "checks": sorted(checks.get(key.to_user_string(), [])),
            }
            for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
        },
        "jobs": sorted(j.name for j in defs.jobs or []),
        "schedules": sorted(s.name for s in defs.schedules or []),
        "sensors": sorted(s.name for s in defs.sensors or []),
    }


def test_definitions_snapshot():
    """A refactor that drops or renames an asset, a check, a kind or a group fails here. After a
    deliberate change, review the diff and write the snapshot again:
    ``DTSEN_UPDATE_SNAPSHOT=1 pytest tests/defs/test_asset_graph.py -k snapshot``."""
    actual = _definitions_snapshot()
    if os.environ.get("DTSEN_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert actual == expected, (
        "the definitions differ from tests/defs/snapshots/definitions.json (see docstring)"
    )


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
    selected = {k.to_user_string() for k in layer_selection(graph, layers)}
    assert selected == {key for key, (group, _) in EXPECTED.items() if group in layers} - {
        "int_regsosek_terakhir",
        "int_keluarga_pmt",
        "int_kunjungan",
        "int_koreksi",
    }
    linkage = {k.to_user_string() for k in layer_selection(graph, ("linkage",))}
    assert linkage == {key for key, (group, _) in EXPECTED.items() if group == "linkage"}
