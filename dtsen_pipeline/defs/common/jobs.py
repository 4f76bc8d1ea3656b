"""Jobs. The monthly refresh runs the whole graph for one month, one step at a time (the DuckDB
warehouse takes one writer; dbt runs on a thread of the run's process, defs/dbt/in_process.py)."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
)

from dtsen_pipeline.defs.common.partitions import month_refusal, monthly_partitions

monthly_refresh_job = define_asset_job(
    name="monthly_refresh_job",
    selection=AssetSelection.all(),
    partitions_def=monthly_partitions,
    executor_def=in_process_executor,
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
