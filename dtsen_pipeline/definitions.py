"""Assembles the Dagster definitions; each layer lives in its own folder under defs/."""

from dagster import Definitions, colored_console_logger

from dtsen_pipeline.defs.common.jobs import (
    monthly_executor,
    monthly_refresh_job,
    monthly_refresh_schedule,
)
from dtsen_pipeline.defs.common.monitoring import late_month_alert, run_failure_alert
from dtsen_pipeline.defs.common.progress import progress_logger
from dtsen_pipeline.defs.common.resources import WarehouseResource
from dtsen_pipeline.defs.dbt.assets import dbt_marts_assets, dbt_resource, dbt_staging_assets
from dtsen_pipeline.defs.ingest.assets import ingest_assets, landing_assets
from dtsen_pipeline.defs.ingest.sensors import landing_sensor
from dtsen_pipeline.defs.linkage.assets import family_linkage, person_linkage
from dtsen_pipeline.defs.publish.assets import dtsen_release
from dtsen_pipeline.defs.quality.assets import quality_gate
from dtsen_pipeline.defs.quality.checks import GX_CHECKS
from dtsen_pipeline.lib import paths

paths.export_env()

defs = Definitions(
    assets=[
        *landing_assets,
        *ingest_assets,
        dbt_staging_assets,
        person_linkage,
        family_linkage,
        dbt_marts_assets,
        quality_gate,
        dtsen_release,
    ],
    asset_checks=GX_CHECKS,
    jobs=[monthly_refresh_job],
    schedules=[monthly_refresh_schedule],
    sensors=[landing_sensor, run_failure_alert, late_month_alert],
    resources={
        "warehouse": WarehouseResource(),
        "dbt": dbt_resource(),
    },
    loggers={"console": colored_console_logger, "progress": progress_logger},
    # Every job, the UI's asset-graph materialisations included, runs its steps in one process:
    # one writer for the warehouse, and one hold on the data root for the whole run (runlock);
    # a run of the asset graph is tagged as the monthly job's (jobs.py).
    executor=monthly_executor,
)
