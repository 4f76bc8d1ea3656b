"""Runs launched from the asset graph group with the monthly job (issue 32): the UI launches them
as Dagster's implicit job ``__ASSET_JOB`` ("Jobless asset materializations"); the definitions'
executor gives them the monthly job's tag, which every run of the job carries from its creation."""

from __future__ import annotations

from dagster import DagsterRunStatus, instance_for_test
from dagster._core.test_utils import in_process_test_workspace
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster_graphql.test.utils import materialize_assets

from dtsen_pipeline.defs.common.jobs import JOB_NAME, JOB_TAG
from dtsen_pipeline.defs.ingest.landing import INVENTORY_KEY
from dtsen_pipeline.lib import paths

MONTH = "2025-01"


def test_a_run_launched_from_the_asset_graph_carries_the_monthly_job_tag(tmp_path, monkeypatch):
    """The UI's Materialize on the asset graph: GraphQL launchPipelineExecution of `__ASSET_JOB`
    with the selected asset and the month (dagster_graphql's materialize_assets sends what the UI
    sends), against the project's code location loaded as the UI loads it (here in this process);
    the run executes (here by the test instance's synchronous launcher, in this process) and
    carries the tag, as every run of the monthly job does."""
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    paths.ensure_dirs()
    origin = LoadableTargetOrigin(
        module_name="dtsen_pipeline.definitions", working_directory=str(paths.PROJECT_ROOT)
    )
    with (
        instance_for_test(
            temp_dir=str(paths.dagster_home()),
            synchronous_run_coordinator=True,
            synchronous_run_launcher=True,
        ) as instance,
        in_process_test_workspace(instance, origin) as context,
    ):
        [launched] = materialize_assets(context, [INVENTORY_KEY], partition_keys=[MONTH])
        result = launched.data["launchPipelineExecution"]
        assert result["__typename"] == "LaunchRunSuccess", result
        run = instance.get_run_by_id(result["run"]["runId"])
        assert run.job_name == "__ASSET_JOB" and run.tags["dagster/partition"] == MONTH
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.tags[JOB_TAG] == JOB_NAME
        job = context.get_code_location(context.code_location_names[0]).get_repository(
            "__repository__"
        )
        assert job.get_full_job(JOB_NAME).run_tags[JOB_TAG] == JOB_NAME
