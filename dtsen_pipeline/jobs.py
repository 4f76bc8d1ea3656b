"""Jobs. The monthly refresh runs the whole graph for one month, one step at a time (the DuckDB
warehouse takes one writer; dbt runs in its own process)."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from dtsen_pipeline.partitions import monthly_partitions

monthly_refresh_job = define_asset_job(
    name="monthly_refresh_job",
    selection=AssetSelection.all(),
    partitions_def=monthly_partitions,
    executor_def=in_process_executor,
    description="Full monthly refresh: ingest -> staging -> linkage -> marts -> quality gate -> publish.",
)
