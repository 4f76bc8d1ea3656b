"""Jobs. The monthly refresh runs the whole graph for one month, one step at a time (the DuckDB
warehouse takes one writer; dbt runs on a thread of the run's process, defs/dbt/in_process.py)."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    build_schedule_from_partitioned_job,
    define_asset_job,
    in_process_executor,
)

from dtsen_pipeline.defs.common.partitions import monthly_partitions

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
# (dagster.yaml: one run at a time, first in, first out).
monthly_refresh_schedule = build_schedule_from_partitioned_job(
    monthly_refresh_job,
    day_of_month=25,
    hour_of_day=2,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Monthly refresh of the current month on the 25th at 02:00 UTC (extracts are due by then).",
)
