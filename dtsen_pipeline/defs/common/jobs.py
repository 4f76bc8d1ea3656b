"""Jobs. The monthly refresh runs the whole graph for one month, one step at a time (the DuckDB
warehouse takes one writer; dbt runs on a thread of the run's process, defs/dbt/in_process.py).

Every run of the monthly job carries the tag ``dtsen/job=monthly_refresh_job`` (set when the run is
created: schedule, sensor, ``dtsen run``, the job's launchpad). A run launched from the asset graph
or a backfill of assets runs Dagster's implicit job ``__ASSET_JOB``, which the UI lists apart as
"Jobless asset materializations"; its assets are all the monthly job's (the job selects them all),
so ``monthly_executor`` (the definitions' executor: Dagster's in-process executor) tags such a run
too, as its first act, before any step: filtering the Runs page by the tag lists both together."""

from collections.abc import Iterator

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Executor,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    executor,
    in_process_executor,
    schedule,
)

from dtsen_pipeline.defs.common.partitions import month_refusal, monthly_partitions

JOB_NAME = "monthly_refresh_job"
JOB_TAG = "dtsen/job"  # the monthly job's runs and the asset graph's: one filter on the Runs page


class _MonthlyJobTagging(Executor):
    """Dagster's in-process executor, which first gives the run the monthly job's tag."""

    def __init__(self, inner: Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator:
        run = plan_context.dagster_run
        if run.tags.get(JOB_TAG) != JOB_NAME:
            plan_context.instance.add_run_tags(run.run_id, {JOB_TAG: JOB_NAME})
        yield from self._inner.execute(plan_context, execution_plan)


@executor(name=in_process_executor.name, config_schema=in_process_executor.config_schema)
def monthly_executor(init_context):
    """``in_process_executor`` (its name and settings), tagging each run as the monthly job's."""
    return _MonthlyJobTagging(in_process_executor.executor_creation_fn(init_context))


monthly_refresh_job = define_asset_job(
    name=JOB_NAME,
    selection=AssetSelection.all(),
    partitions_def=monthly_partitions,
    executor_def=monthly_executor,
    run_tags={JOB_TAG: JOB_NAME},
    description="Full monthly refresh: ingest -> staging -> linkage -> marts -> quality gate -> publish.",
)


# The unattended monthly refresh: on the 25th at 02:00 UTC, once the month's extracts
# have landed, the job runs the current month's partition. Stopped by default; turn it on in the UI
# (Automation). Earlier months are backfilled from the UI and run one at a time in month order
# (dagster.yaml: one run at a time, first in, first out). The partitions end at the latest month
# with landed files (partitions.py): a month whose files have not landed is skipped with the
# reason, never run empty.
@schedule(
    name="monthly_refresh_job_schedule",
    cron_schedule="0 2 25 * *",
    execution_timezone="UTC",
    job=monthly_refresh_job,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Monthly refresh of the current month on the 25th at 02:00 UTC (extracts are due "
    "by then); skipped, with the reason, when the month has no landed files.",
)
def monthly_refresh_schedule(context: ScheduleEvaluationContext):
    month = context.scheduled_execution_time.strftime("%Y-%m")
    if monthly_partitions.has_partition_key(month):
        return monthly_refresh_job.run_request_for_partition(
            partition_key=month, run_key=month, tags={"dtsen/trigger": "schedule"}
        )
    refusal = month_refusal(month)  # the landing folder as it is now
    if refusal is None:
        return SkipReason(
            f"{month}'s files landed after the code location loaded: reload it (Deployment -> "
            "Reload) to make the month a partition"
        )
    return SkipReason(refusal)
