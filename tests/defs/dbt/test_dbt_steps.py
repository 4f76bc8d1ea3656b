"""Operating from the Dagster UI: backfills over several months, and the dbt steps.

- A backfill launched the way the UI launches it (the GraphQL mutation `launchPartitionBackfill`,
  against the real instance and the workspace of workspace.yaml) over two months, from the whole
  asset graph, from one group, and from the job's partitions: the backfill daemon's iteration makes
  one run per month, every selected asset in it, submitted in month order.
- A dbt step run as a one-month range (as a backfill tags it) builds; one over two months is refused
  with a clear message; dbt's events reach Dagster while dbt runs; every dbt asset's
  materialisation carries its column types (tables also their row count); the month reaches dbt
  without a re-parse (dbt's own log says it parsed partially).
- Importing the definitions writes no file and runs no subprocess, even with a stale manifest.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from dtsen_pipeline.lib import paths

MONTHS = ["2025-02", "2025-03"]

LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
  }
}"""

ASSET_NODES = """
query { assetNodes { assetKey { path } groupName isMaterializable isPartitioned backfillPolicy { description } } }"""


@pytest.fixture(scope="module")
def ui_workspace(tmp_path_factory):
    """A fresh Dagster instance (the project's dagster.yaml) and the workspace the UI loads."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    root = tmp_path_factory.mktemp("backfill")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DTSEN_DATA_DIR", str(root))
        mp.delenv("DAGSTER_HOME", raising=False)
        paths.ensure_dirs()
        paths.export_env()
        with (
            DagsterInstance.get() as instance,
            WorkspaceProcessContext(
                instance, WorkspaceFileTarget(paths=[str(paths.PROJECT_ROOT / "workspace.yaml")])
            ) as process,
        ):
            yield instance, process


def _backfill_runs(instance, process, params: dict) -> list:
    """Launch a backfill as the UI does, run the backfill daemon's iterations, return its runs oldest first."""
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster_graphql.test.utils import execute_dagster_graphql

    result = execute_dagster_graphql(
        process.create_request_context(), LAUNCH, variables={"params": params}
    )
    launched = result.data["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]
    for _ in range(10):  # each iteration requests what has become possible; ours need one
        list(execute_backfill_iteration(process, logging.getLogger("backfill")))
        if instance.get_backfill(backfill_id).status.value != "REQUESTED":
            break
    runs = [r for r in instance.get_runs() if r.tags.get("dagster/backfill") == backfill_id]
    return sorted(runs, key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)


def _month(run) -> str:
    tags = run.tags
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    assert tags[ASSET_PARTITION_RANGE_START_TAG] == tags[ASSET_PARTITION_RANGE_END_TAG], (
        f"run {run.run_id} covers {tags[ASSET_PARTITION_RANGE_START_TAG]}..{tags[ASSET_PARTITION_RANGE_END_TAG]}"
    )
    return tags[ASSET_PARTITION_RANGE_START_TAG]


@pytest.mark.slow  # make test-slow: loads the workspace as the UI does
def test_every_partitioned_asset_has_one_backfill_policy(ui_workspace):
    """What the Materialize dialog compares: the policies GraphQL serves. The UI compares them by
    identity, so they must all be null (Dagster's one-partition-per-run default) for no warning."""
    from dagster_graphql.test.utils import execute_dagster_graphql

    _, process = ui_workspace
    nodes = execute_dagster_graphql(process.create_request_context(), ASSET_NODES).data[
        "assetNodes"
    ]
    partitioned = [n for n in nodes if n["isMaterializable"] and n["isPartitioned"]]
    assert len(partitioned) > 40
    assert {"raw", "staging", "linkage", "marts", "quality", "publish"} <= {
        n["groupName"] for n in partitioned
    }
    varying = {
        "/".join(n["assetKey"]["path"]): n["backfillPolicy"]
        for n in partitioned
        if n["backfillPolicy"]
    }
    assert not varying, (
        f"assets with their own backfill policy (the UI warns of varying policies): {varying}"
    )


@pytest.mark.slow  # make test-slow: loads the workspace as the UI does
def test_backfills_from_the_graph_a_group_and_the_job_run_one_month_per_run_in_order(ui_workspace):
    instance, process = ui_workspace
    from dagster_graphql.test.utils import execute_dagster_graphql

    nodes = execute_dagster_graphql(process.create_request_context(), ASSET_NODES).data[
        "assetNodes"
    ]
    everything = [n["assetKey"] for n in nodes if n["isMaterializable"] and n["isPartitioned"]]
    marts = [n["assetKey"] for n in nodes if n["isMaterializable"] and n["groupName"] == "marts"]
    location = process.create_request_context().code_location_names[0]
    launches = {
        "asset graph": {
            "assetSelection": everything,
            "partitionNames": MONTHS,
            "fromFailure": False,
        },
        "group marts": {"assetSelection": marts, "partitionNames": MONTHS, "fromFailure": False},
        "Job -> Partitions": {
            "partitionNames": MONTHS,
            "fromFailure": False,
            "selector": {
                "partitionSetName": "monthly_refresh_job_partition_set",
                "repositorySelector": {
                    "repositoryLocationName": location,
                    "repositoryName": "__repository__",
                },
            },
        },
    }
    for how, params in launches.items():
        runs = _backfill_runs(instance, process, params)
        assert [_month(r) for r in runs] == MONTHS, f"{how}: runs {[dict(r.tags) for r in runs]}"
        wanted = {AssetKey(k["path"]) for k in params.get("assetSelection", everything)}
        for run in runs:
            assert set(run.asset_selection or wanted) == wanted, (
                f"{how}: the {_month(run)} run misses "
                f"{sorted(k.to_user_string() for k in wanted - run.asset_selection)}"
            )


# --- dbt steps on the session's generated world ------------------------------------------------


def _run_dbt_step(layer: str, first: str, last: str):
    """Run one dbt multi-asset as a run over first..last, as a backfill tags it."""
    from dtsen_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    [assets_def] = {
        graph.get(k).assets_def
        for k in graph.get_all_asset_keys()
        if graph.get(k).is_materializable and graph.get(k).assets_def.node_def.name == layer
    }
    keys = list(assets_def.keys)
    job = defs.get_implicit_global_asset_job_def().get_subset(  # dbt's own tests, not the GX suites
        asset_selection=set(keys), asset_check_selection=set(assets_def.check_keys)
    )
    with DagsterInstance.get() as instance:
        return job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        ), keys


@pytest.fixture(scope="module")
def dbt_steps(first_month_run, data_root):
    """staging for 2025-02, then marts for 2025-01 (2025-01 is the month the session ran; staging is
    views over every month, so building it for another month changes no table)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DTSEN_DATA_DIR", str(data_root))
        mp.delenv("DAGSTER_HOME", raising=False)
        from dtsen_pipeline.defs.dbt.project import prepare

        prepare()  # as `dtsen run` does before it runs: the project parsed for this data root
        steps = {
            "dbt_staging": _run_dbt_step("dbt_staging", "2025-02", "2025-02"),
            "dbt_marts": _run_dbt_step("dbt_marts", "2025-01", "2025-01"),
        }
        with DagsterInstance.get() as instance:  # when each event was logged
            times = {
                layer: [
                    (r.dagster_event.event_type, r.timestamp)
                    for r in instance.all_logs(result.run_id)
                    if r.dagster_event is not None
                ]
                for layer, (result, _) in steps.items()
            }
        yield {layer: (*step, times[layer]) for layer, step in steps.items()}


def test_a_one_month_range_run_builds_with_column_types_and_row_counts(dbt_steps):
    materialised = {}
    for layer, (result, keys, _) in dbt_steps.items():
        assert result.success, f"{layer}: {[e.message for e in result.all_events if e.is_failure]}"
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            materialised[mat.asset_key] = mat.metadata
        missing = set(keys) - set(materialised)
        assert not missing, (
            f"{layer} did not materialise {sorted(k.to_user_string() for k in missing)}"
        )
    manifest = json.loads((paths.DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    materialized = {
        AssetKey(n["name"]): n["config"]["materialized"]
        for n in manifest["nodes"].values()
        if n["resource_type"] in ("model", "seed")
    }
    for key, metadata in materialised.items():
        schema = metadata.get("dagster/column_schema")
        assert schema is not None, f"{key.to_user_string()} has no column schema"
        columns = schema.value.columns
        assert columns and all(c.type and c.type != "?" for c in columns), (
            f"{key.to_user_string()}: {columns}"
        )
        if materialized[key] in ("table", "incremental", "seed"):
            assert metadata["dagster/row_count"].value >= 0, (
                key.to_user_string()
            )  # a small world can leave one empty
        else:
            assert "dagster/row_count" not in metadata, (
                f"{key.to_user_string()}: a view is not counted"
            )
    individu = materialised[AssetKey("dtsen_individu")]
    assert individu["dagster/row_count"].value > 100
    types = {c.name: c.type for c in individu["dagster/column_schema"].value.columns}
    assert types["extract_month"] == "VARCHAR" and types["umur"] in ("BIGINT", "INTEGER"), types
    assert any(
        c.description for c in individu["dagster/column_schema"].value.columns
    )  # from dtsen_individu.yml


def test_dbt_events_reach_dagster_while_dbt_runs(dbt_steps):
    """The first materialisation is logged well before the step ends (it was buffered to the end)."""
    _, _, logged = dbt_steps["dbt_marts"]
    times = {}
    for event_type, timestamp in logged:
        times.setdefault(event_type, []).append(timestamp)
    start, end = times[DagsterEventType.STEP_START][0], times[DagsterEventType.STEP_SUCCESS][0]
    first = min(times[DagsterEventType.ASSET_MATERIALIZATION])
    assert end - first > 0.3 * (end - start), (
        f"step {end - start:.1f}s, first materialisation {end - first:.1f}s before its end"
    )


def test_dbt_runs_in_the_step_process_and_the_month_forces_no_reparse(dbt_steps):
    """dbt's own log of each step: every event came from the step's process (dbt ran on its thread,
    not in a new dbt process), and the project was parsed at most once for both steps, partially;
    the month (DTSEN_MONTH) never makes a build parse."""
    parsed_in = []
    for layer, (result, _, _) in dbt_steps.items():
        [log] = (paths.DBT_PROJECT_DIR / "target").glob(f"{layer}-{result.run_id[:7]}-*/dbt.log")
        events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        assert any(e["info"]["name"] == "LogModelResult" for e in events), f"{layer}: {log}"
        pids = {e["info"]["pid"] for e in events}
        assert pids == {os.getpid()}, (
            f"{layer}: dbt ran in process {pids}, the step in {os.getpid()}"
        )
        messages = [e["info"]["msg"] for e in events]
        assert not any("Unable to do partial parsing" in m for m in messages), (
            f"{layer}: dbt re-parsed the project ({log})"
        )
        if any("Partial parsing enabled" in m for m in messages):
            parsed_in.append(layer)
    assert len(parsed_in) <= 1, f"the project was parsed in each step: {parsed_in}"


def test_a_monthly_step_runs_the_data_tests_and_leaves_the_unit_tests_to_make_test(dbt_steps):
    """dbt's run results of each step: models and data tests ran, no unit test (those run in
    tests/dbt_project/test_marts_known_answers.py, on fixed rows)."""
    for layer, (result, _, _) in dbt_steps.items():
        [results] = (paths.DBT_PROJECT_DIR / "target").glob(
            f"{layer}-{result.run_id[:7]}-*/run_results.json"
        )
        kinds = {r["unique_id"].split(".")[0] for r in json.loads(results.read_text())["results"]}
        assert {"model", "test"} <= kinds, f"{layer}: {kinds}"
        assert "unit_test" not in kinds, f"{layer} ran dbt unit tests in a monthly build"


def test_a_run_over_two_months_is_refused_clearly(first_month_run, data_root, monkeypatch):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(data_root))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    paths.export_env()
    result, _ = _run_dbt_step("dbt_marts", "2025-01", "2025-02")
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    message = failure.event_specific_data.error.message
    assert (
        "one month per run" in message and "2025-01..2025-02" in message and "backfill" in message
    ), message


def test_importing_the_definitions_writes_no_file_and_runs_no_subprocess(tmp_path):
    """With a stale manifest (older than the models), as after editing a model."""
    manifest = paths.DBT_PROJECT_DIR / "target" / "manifest.json"
    probe = textwrap.dedent("""
        import os, sys
        import dagster  # Dagster's own import runs `file` (platform.architecture()): not ours to judge
        seen = []
        def hook(event, args):
            if event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec"):
                seen.append(f"{event} {args[0]!r}")
            elif event == "open" and args[1] is not None and (
                    (isinstance(args[1], str) and any(m in args[1] for m in "wax+"))
                    or (isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))):
                seen.append(f"write {args[0]}")
            elif event in ("os.rename", "os.remove", "os.mkdir", "shutil.copyfile"):
                seen.append(f"{event} {args[0]}")
        sys.addaudithook(hook)
        import dtsen_pipeline.definitions
        print("\\n".join(seen))
    """)
    before = manifest.stat()
    os.utime(manifest, (before.st_atime, before.st_mtime - 10 * 365 * 86400))
    try:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DTSEN_") and k != "DAGSTER_HOME"
        }
        env.update(
            DTSEN_DATA_DIR=str(tmp_path / "data"),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONPATH=str(paths.PROJECT_ROOT),
        )
        done = subprocess.run(
            [sys.executable, "-c", probe],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
    finally:
        os.utime(manifest, (before.st_atime, before.st_mtime))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "", f"importing the definitions wrote or ran:\n{done.stdout}"
    assert not (tmp_path / "data").exists()


def test_a_missing_manifest_is_reported_with_the_fix(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DTSEN_") and k != "DAGSTER_HOME"
    }
    # A checkout without a manifest: the dbt project copied, without target/.
    import shutil

    project = tmp_path / "checkout"
    shutil.copytree(
        paths.PROJECT_ROOT / "dtsen_pipeline",
        project / "dtsen_pipeline",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copytree(
        paths.DBT_PROJECT_DIR,
        project / "dbt_project",
        ignore=shutil.ignore_patterns("target", "logs"),
    )
    env.update(
        PYTHONPATH=str(project), PYTHONDONTWRITEBYTECODE="1", DTSEN_DATA_DIR=str(tmp_path / "data")
    )
    done = subprocess.run(
        [sys.executable, "-c", "import dtsen_pipeline.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "make setup" in done.stderr and "manifest" in done.stderr, done.stderr[-2000:]
    assert not (project / "dbt_project" / "target").exists()


def test_old_dbt_step_folders_are_pruned_and_recent_ones_kept(tmp_path):
    """Each dbt step leaves a target folder (~6 MB); `prepare()` removes those beyond the newest 20
    that are also more than a day old, and nothing else in the target folder."""
    import time

    from dtsen_pipeline.defs.dbt.project import prune_invocations

    now = time.time()
    old = [tmp_path / f"dbt_staging-{i:07x}-abcdef{i % 10}" for i in range(30)]
    young = [tmp_path / "dbt_marts-00000aa-1234567", tmp_path / "89abcde"]
    for i, folder in enumerate(old):
        (folder / "compiled").mkdir(parents=True)
        os.utime(folder, (now - 2 * 86400 - i, now - 2 * 86400 - i))  # old[0] is the newest
    for folder in young:
        folder.mkdir()
    (tmp_path / "compiled").mkdir()
    os.utime(tmp_path / "compiled", (now - 9 * 86400, now - 9 * 86400))
    (tmp_path / "manifest.json").write_text("{}")

    assert prune_invocations(tmp_path, keep=20, keep_s=86400) == 12
    assert all(f.exists() for f in young + old[:18])
    assert not any(f.exists() for f in old[18:])
    assert (tmp_path / "compiled").exists() and (tmp_path / "manifest.json").exists()
    # A young folder outlives the count: fewer than a day old, it is never removed.
    assert prune_invocations(tmp_path, keep=0, keep_s=86400) == 18
    assert all(f.exists() for f in young)


def test_a_dbt_command_that_cannot_start_in_process_says_why_and_restores_the_environment(
    tmp_path, monkeypatch
):
    """dbt on the step's thread (defs/dbt/in_process.py): a command dbt cannot even start reaches
    dagster-dbt as an error line naming the cause, with a failing return code, and the environment
    given to dbt is this process's again once dbt has returned."""
    from dtsen_pipeline.defs.dbt.in_process import DbtThread

    monkeypatch.delenv("DBT_LOG_PATH", raising=False)
    project = tmp_path / "no project here"
    project.mkdir()
    thread = DbtThread(
        ["build", "--project-dir", str(project), "--profiles-dir", str(project)],
        {"DBT_LOG_PATH": str(tmp_path / "logs")},
        None,
    )
    lines = [json.loads(line) for line in thread.stdout]
    assert thread.wait(timeout=120) == 2
    errors = [line["info"]["msg"] for line in lines if line["info"]["level"] == "error"]
    assert errors and "dbt_project.yml" in errors[-1], errors
    assert "DBT_LOG_PATH" not in os.environ and "DBT_LOG_LEVEL" not in os.environ
