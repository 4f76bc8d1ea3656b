"""Quality gate: Great Expectations suites run as blocking Dagster asset checks.

A blocking check that fails stops everything downstream in the run, so the publication asset never
runs on a mart that failed its gate.
"""


from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from dtsen_pipeline.defs.dbt.assets import DTSEN_INDIVIDU_KEY
from dtsen_pipeline.quality.validate import ValidationSummary, validate_table
from dtsen_pipeline.resources import WarehouseResource


def summary_metadata(summary: ValidationSummary) -> dict:
    table = "| expectation | column | ok | unexpected | of rows | failed batches |\n|---|---|---|---:|---:|---|\n"
    table += "\n".join(
        f"| {o.expectation} | {o.column or ''} | {'yes' if o.success else '**no**'} | {o.unexpected_count} "
        f"| {o.element_count} | {', '.join(o.failed_batches[:5])} |" for o in summary.outcomes)
    return {
        "suite": summary.suite,
        "rows validated": summary.rows,
        "batches": summary.batches,
        "expectations failed": len(summary.failed),
        "failed": ", ".join(f"{o.expectation}({o.column or ''})" for o in summary.failed) or "none",
        "results": MetadataValue.md(table),
    }


@asset_check(
    asset=DTSEN_INDIVIDU_KEY,
    name="gx_dtsen_individu",
    blocking=True,
    description="Great Expectations suite `dtsen_individu` (config/expectations.yaml), validated per "
                "province. Blocking: a failure stops the publication.",
)
def gx_dtsen_individu(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as con:
        summary = validate_table(con, "dtsen_individu")
    for o in summary.failed:
        context.log.error(f"gate: {o.expectation}({o.column}) failed: {o.unexpected_count} unexpected "
                          f"of {o.element_count} rows in {', '.join(o.failed_batches[:5])}")
    return AssetCheckResult(passed=summary.success, severity=AssetCheckSeverity.ERROR,
                            metadata=summary_metadata(summary))
