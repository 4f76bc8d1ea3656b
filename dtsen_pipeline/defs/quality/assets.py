"""``quality/gate``: the month's quality gate as one asset between the marts and the publication.

The GX suites run as asset checks on the assets they judge (defs/quality/checks.py). The marts'
checks are blocking, so this asset runs only once every mart's suite has passed in the run. It
gathers the month's results, staged sources' warnings included, and links the GX Data Docs site.
The publication depends on it.
"""


from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from dtsen_pipeline.defs.publish.tables import RELEASE_TABLES
from dtsen_pipeline.partitions import ONE_MONTH_PER_RUN, monthly_partitions
from dtsen_pipeline.quality.results import gate_results
from dtsen_pipeline.quality.validate import data_docs_dir
from dtsen_pipeline.resources import WAREHOUSE_POOL

GATE_KEY = AssetKey(["quality", "gate"])


@asset(
    key=GATE_KEY,
    deps=[AssetKey(name) for name in RELEASE_TABLES],
    group_name="quality",
    kinds={"great_expectations"},
    owners=["team:data-engineering"],
    partitions_def=monthly_partitions,
    backfill_policy=ONE_MONTH_PER_RUN,
    pool=WAREHOUSE_POOL,
    description="The month's quality gate: runs only after every published mart's blocking GX suite "
                "passed; reports every suite (staged sources' warnings included) with its Data Docs page.",
)
def quality_gate(context: AssetExecutionContext) -> MaterializeResult:
    month = context.partition_key
    results = gate_results(month)
    missing = [m for m in RELEASE_TABLES if m not in results]
    failed = [m for m in RELEASE_TABLES if m in results and not results[m]["success"]]
    if missing or failed:
        raise ValueError(f"quality gate {month}: "
                         + (f"no result for {', '.join(missing)} (run the marts with their gx_ checks); " if missing else "")
                         + (f"failed: {', '.join(failed)}; " if failed else "")
                         + "the release will not be published")
    warnings = [name for name, r in results.items() if not r["success"]]
    table = "| suite | passed | rows | failed | skipped | Data Docs |\n|---|---|---:|---|---|---|\n" + "\n".join(
        f"| {name} | {'yes' if r['success'] else '**no** (warning)'} | {r['rows']:,} | {', '.join(r['failed'])} | "
        f"{len(r['skipped'])} | {'[page](file://' + r['data_docs'] + ')' if r.get('data_docs') else ''} |"
        for name, r in sorted(results.items()))
    for name in warnings:
        context.log.warning(f"quality gate {month}: {name} failed (a warning): {', '.join(results[name]['failed'])}")
    return MaterializeResult(metadata={
        "month": month,
        "suites": len(results),
        "blocking suites passed": len(RELEASE_TABLES),
        "warnings": ", ".join(warnings) or "none",
        "results": MetadataValue.md(table),
        "data docs": MetadataValue.path(str(data_docs_dir() / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html")),
    })
