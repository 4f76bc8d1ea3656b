"""Quality gate: the Great Expectations suites of config/expectations.yaml as Dagster asset checks.

One check per suite:
- ``gx_<mart>`` on every published mart, **blocking**: a failure stops everything downstream, so
  the publication never runs on a mart that failed its gate;
- ``gx_stg_<source>`` on every staged source, a warning: it shows a bad extract without holding up
  the other sources.

The metadata shows each expectation, whether it passed, its counts, the batches that failed, and a
link to the GX Data Docs page. It never shows a value.
"""


import json

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from dtsen_pipeline import paths
from dtsen_pipeline.quality.validate import SuiteSpec, ValidationSummary, suite_specs, validate_suite
from dtsen_pipeline.resources import WAREHOUSE_POOL, WarehouseResource


def summary_metadata(summary: ValidationSummary) -> dict:
    table = ("| expectation | what | column | ok | unexpected | of rows | observed | failed batches |\n"
             "|---|---|---|---|---:|---:|---|---|\n")
    table += "\n".join(
        f"| {o.expectation} | {o.label} | {o.column or ''} | "
        f"{'skipped: ' + o.skipped if o.skipped else ('yes' if o.success else '**no**')} | "
        f"{o.unexpected_count} | {o.element_count} | {o.observed or ''} | {', '.join(o.failed_batches[:5])} |"
        for o in summary.outcomes)
    meta = {
        "suite": summary.suite,
        "rows validated": summary.rows,
        "batches": summary.batches,
        "expectations failed": len(summary.failed),
        "failed": "; ".join(o.label for o in summary.failed) or "none",
        "results": MetadataValue.md(table),
    }
    if summary.data_docs:
        meta["data docs"] = MetadataValue.path(str(summary.data_docs))
    return meta


def _save(summary: ValidationSummary, month: str, run_id: str) -> None:
    """Keep the result (counts only) for the release manifest."""
    folder = paths.quality_results_dir() / month
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{summary.suite}.json").write_text(
        json.dumps({**summary.as_dict(), "run_id": run_id,
                    "data_docs": str(summary.data_docs) if summary.data_docs else None}, indent=2),
        encoding="utf-8")


def _gx_check(spec: SuiteSpec):
    severity = AssetCheckSeverity.ERROR if spec.blocking else AssetCheckSeverity.WARN
    kind = "Blocking: a failure stops the publication." if spec.blocking else \
        "A warning: the other sources carry on."

    @asset_check(
        asset=AssetKey(spec.asset),
        name=f"gx_{spec.name}",
        blocking=spec.blocking,
        pool=WAREHOUSE_POOL,
        description=f"Great Expectations suite `{spec.name}` (config/expectations.yaml), validated per "
                    f"{spec.batch_by}. {kind}",
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        month = context.partition_key if context.has_partition_key else None
        if month is None:
            raise ValueError(f"gx_{spec.name} validates one month: run it for a partition (YYYY-MM)")
        with warehouse.connect() as con:
            summary = validate_suite(con, spec, month)
        for o in summary.failed:
            context.log.error(
                f"gate {spec.name}: '{o.label}' ({o.expectation} on {o.column}) failed: {o.unexpected_count} "
                f"unexpected of {o.element_count} rows{' in ' + ', '.join(o.failed_batches[:5]) if o.failed_batches else ''}"
                f"{'; observed ' + o.observed if o.observed else ''}. See the Data Docs page: {summary.data_docs}")
        _save(summary, month, context.run.run_id)
        return AssetCheckResult(passed=summary.success, severity=severity, metadata=summary_metadata(summary))

    return _check


GX_CHECKS = [_gx_check(spec) for spec in suite_specs().values()]
