"""Quality gate: the Great Expectations suites of config/expectations.yaml as Dagster asset checks.

One check per suite:
- ``gx_<mart>`` on every published mart, **blocking**: a failure stops everything downstream, so
  the publication never runs on a mart that failed its gate;
- ``gx_stg_<source>`` on every staged source, a warning: it shows a bad extract without holding up
  the other sources;
- ``gx_<warning>`` for each of ``mart_warnings``, a warning on a mart: a fact to act on (a
  kabupaten late on its proposals), not a reason to hold the release.

The metadata shows each expectation, whether it passed, its counts, the batches that failed, and a
link to the GX Data Docs page. It never shows a value.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    asset_check,
)

from dtsen_pipeline.defs.common.partitions import monthly_partitions, partitioned_checks
from dtsen_pipeline.defs.common.resources import WAREHOUSE_POOL, WarehouseResource
from dtsen_pipeline.lib import reports
from dtsen_pipeline.publish import releases
from dtsen_pipeline.quality.results import ValidationSummary, save_summary
from dtsen_pipeline.quality.suites import SuiteSpec, suite_specs

RESULT_COLUMNS = TableSchema(
    columns=[
        TableColumn("expectation", "string", description="GX expectation type"),
        TableColumn("what", "string", description="the rule's label in config/expectations.yaml"),
        TableColumn("column", "string"),
        TableColumn("ok", "string", description="yes, NO, or skipped with the reason"),
        TableColumn("unexpected", "int", description="rows that broke the rule (over all batches)"),
        TableColumn("of rows", "int"),
        TableColumn("observed", "string", description="the observed value of a table-level rule"),
        TableColumn("failed batches", "string", description="the first five batches that failed"),
    ]
)


def summary_metadata(summary: ValidationSummary) -> dict:
    records = [
        TableRecord(
            {
                "expectation": o.expectation,
                "what": o.label,
                "column": o.column or "",
                "ok": f"skipped: {o.skipped}" if o.skipped else ("yes" if o.success else "NO"),
                "unexpected": int(o.unexpected_count),
                "of rows": int(o.element_count),
                "observed": o.observed or "",
                "failed batches": ", ".join(o.failed_batches[:5]),
            }
        )
        for o in summary.outcomes
    ]
    meta = {
        "suite": summary.suite,
        "rows validated": summary.rows,
        "batches": summary.batches,
        "expectations failed": len(summary.failed),
        "failed": "; ".join(o.label for o in summary.failed) or "none",
        "results": MetadataValue.table(records, RESULT_COLUMNS),
    }
    if summary.data_docs:
        # A link the browser opens (served by `make ui`; see reports.py), not a path to copy.
        meta["data docs"] = MetadataValue.url(reports.url(summary.data_docs))
        meta["all reports"] = MetadataValue.url(reports.url())
    return meta


def _gx_check(spec: SuiteSpec):
    severity = AssetCheckSeverity.ERROR if spec.blocking else AssetCheckSeverity.WARN
    if spec.blocking:
        kind = "Blocking: a failure stops the publication."
    elif spec.source:
        kind = "A warning: the other sources carry on."
    else:
        kind = "A warning: the release goes ahead, and `dtsen run` lists it."

    @asset_check(
        asset=AssetKey(spec.asset),
        name=f"gx_{spec.name}",
        blocking=spec.blocking,
        pool=WAREHOUSE_POOL,
        partitions_def=monthly_partitions,  # the check's page shows which month each result is for
        description=f"Great Expectations suite `{spec.name}` (config/expectations.yaml), validated per "
        f"{spec.batch_by}. {kind} Its metadata: `results` (one row per expectation) and "
        "`data docs` (the GX page, opened in the browser).",
    )
    def _check(
        context: AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> AssetCheckResult:
        month = context.partition_key if context.has_partition_key else None
        if month is None:
            raise ValueError(
                f"gx_{spec.name} validates one month: run it for a partition (YYYY-MM)"
            )
        # Great Expectations is imported when a check first runs, not when the definitions load.
        from dtsen_pipeline.quality.validate import validate_suite

        with warehouse.connect() as con:
            summary = validate_suite(con, spec, month, releases.previous_release(month))
        # A blocking suite's failure is an error; a warning suite's is logged as a warning.
        log = context.log.error if spec.blocking else context.log.warning
        for o in summary.failed:
            log(
                f"gate {spec.name}: '{o.label}' ({o.expectation} on {o.column}) failed: {o.unexpected_count} "
                f"unexpected of {o.element_count} rows"
                f"{' in ' + ', '.join(o.failed_batches[:5]) if o.failed_batches else ''}"
                f"{'; observed ' + o.observed if o.observed else ''}. See the Data Docs page: {summary.data_docs}"
            )
        save_summary(summary, month, context.run.run_id)
        reports.write_index()
        return AssetCheckResult(
            passed=summary.success,
            severity=severity,
            metadata=summary_metadata(summary),
            description=f"{spec.name} {month}: "
            + (
                "every expectation passed"
                if summary.success
                else "failed: " + "; ".join(o.label for o in summary.failed)
            ),
        )

    return _check


with partitioned_checks():
    GX_CHECKS = [_gx_check(spec) for spec in suite_specs().values()]
