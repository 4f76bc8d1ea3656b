"""``quality/gate``: the month's quality gate as one asset between the marts and the publication.

The GX suites run as asset checks on the assets they judge (defs/quality/checks.py). The marts'
checks are blocking, so this asset runs only once every mart's suite has passed in the run. It
gathers the month's results, staged sources' warnings included, and links the reports page
(every suite's GX Data Docs page, served over HTTP: see reports.py).
The publication depends on it.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dtsen_pipeline.defs.common.graph import GATE_KEY, OWNERS
from dtsen_pipeline.defs.common.partitions import ONE_MONTH_PER_RUN, monthly_partitions
from dtsen_pipeline.defs.common.resources import WAREHOUSE_POOL
from dtsen_pipeline.lib import reports
from dtsen_pipeline.publish import contents
from dtsen_pipeline.quality.results import gate_results, gate_table


@asset(
    key=GATE_KEY,
    deps=[AssetKey(name) for name in contents.release_tables()],
    group_name="quality",
    kinds={"great_expectations"},
    owners=OWNERS,
    partitions_def=monthly_partitions,
    backfill_policy=ONE_MONTH_PER_RUN,
    pool=WAREHOUSE_POOL,
    description="The month's quality gate: runs only after every published mart's blocking GX suite "
    "passed; reports every suite (staged sources' warnings included) with its Data Docs page.",
)
def quality_gate(context: AssetExecutionContext) -> MaterializeResult:
    month = context.partition_key
    results = gate_results(month)
    marts = contents.release_tables()
    missing = [m for m in marts if m not in results]
    failed = [m for m in marts if m in results and not results[m]["success"]]
    if missing or failed:
        raise ValueError(
            f"quality gate {month}: "
            + (
                f"no result for {', '.join(missing)} (run the marts with their gx_ checks); "
                if missing
                else ""
            )
            + (f"failed: {', '.join(failed)}; " if failed else "")
            + "the release will not be published"
        )
    warnings = [name for name, r in results.items() if not r["success"]]
    for name in warnings:
        context.log.warning(
            f"quality gate {month}: {name} failed (a warning): {', '.join(results[name]['failed'])}"
        )
    reports.write_index()
    return MaterializeResult(
        metadata={
            "month": month,
            "suites": len(results),
            "blocking suites passed": len(marts),
            "warnings": ", ".join(warnings) or "none",
            "results": gate_table(results),
            # Links the browser opens (served by `make ui`; see reports.py): every suite's Data Docs page
            # and the linkage charts of the month, listed on one page.
            "reports": MetadataValue.url(reports.url(anchor=month)),
        }
    )
