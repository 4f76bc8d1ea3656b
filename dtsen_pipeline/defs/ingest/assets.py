"""Raw layer: one asset per registered source, ``raw/<source>__<entity>``, partitioned by month.

A source whose file is missing, corrupt or lacks columns still materialises: its problem is
recorded (raw.quarantine, raw.ingest_log) and shown by a warning check, and every other source
carries on. Reconciliation (rows read = loaded + quarantined, per file) is a blocking check.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dtsen_pipeline.ingest.load import load_month, reconciliation
from dtsen_pipeline.partitions import monthly_partitions
from dtsen_pipeline.resources import WAREHOUSE_POOL, WarehouseResource
from dtsen_pipeline.sources import SourceSpec, load_sources

RECONCILED = "rows_reconciled"
READABLE = "files_readable"


def _files_table(results) -> str:
    lines = ["| file | status | read | loaded | quarantined | reason |", "|---|---|---:|---:|---:|---|"]
    lines += [f"| `{r.file}` | {r.status} | {r.rows_read} | {r.rows_loaded} | {r.rows_quarantined} | {r.reason} |"
              for r in results]
    return "\n".join(lines)


def landing_key(spec: SourceSpec) -> AssetKey:
    return AssetKey(["landing", spec.name])


def landing_asset(spec: SourceSpec) -> AssetSpec:
    """The agency's files under data/landing/<source>/<YYYY-MM>/: delivered, not computed here
    (`landing_sensor` watches them)."""
    return AssetSpec(
        landing_key(spec), group_name="landing", kinds={spec.format, "file"}, owners=[f"team:{spec.name}"],
        description=f"{spec.owner} extract files as delivered: data/landing/{spec.name}/YYYY-MM/{spec.file_glob} "
                    f"({spec.format}, {spec.snapshot} snapshot). Declared in config/sources/{spec.name}.yaml.",
        partitions_def=monthly_partitions, tags={"source": spec.name},
        metadata={"path": MetadataValue.path(f"data/landing/{spec.name}/<YYYY-MM>/{spec.file_glob}")})


def build_ingest_asset(spec: SourceSpec) -> AssetsDefinition:
    key = AssetKey(["raw", spec.raw_table])

    @asset(
        key=key,
        deps=[landing_key(spec)],
        pool=WAREHOUSE_POOL,
        group_name="raw",
        partitions_def=monthly_partitions,
        kinds={"duckdb", spec.format},
        owners=["team:data-engineering"],
        description=f"{spec.owner}: {spec.description} From landing/{spec.name}/YYYY-MM/{spec.file_glob} "
                    f"({spec.snapshot} {'snapshot' if spec.snapshot == 'full' else 'of the month'}); "
                    f"declared in config/sources/{spec.name}.yaml.",
        tags={"source": spec.name, "snapshot": spec.snapshot},
        check_specs=[
            AssetCheckSpec(RECONCILED, asset=key, blocking=True,
                           description="Every row read is loaded or quarantined, per file."),
            AssetCheckSpec(READABLE, asset=key,
                           description="Every file could be read; a full-snapshot source delivered a file."),
        ],
    )
    def _ingest(context: AssetExecutionContext, warehouse: WarehouseResource):
        month = context.partition_key
        files = spec.landing_files(month)
        with warehouse.connect() as con:
            results = load_month(con, spec, month, files)
            recon = reconciliation(con, spec, month)
        loaded = sum(r.rows_loaded for r in results)
        quarantined_rows = sum(r.rows_quarantined for r in results)
        bad_files = [r for r in results if r.status == "quarantined"]
        for r in bad_files:
            context.log.warning(f"{spec.name} {month}: file quarantined: {r.reason}")
        if quarantined_rows:
            context.log.warning(f"{spec.name} {month}: {quarantined_rows} rows quarantined (raw.quarantine)")
        missing_snapshot = not files and spec.snapshot == "full"
        if missing_snapshot:
            context.log.warning(f"{spec.name} {month}: no file at landing/{spec.name}/{month}/{spec.file_glob}")
        unbalanced = [f for f, read, ok, q in recon if read != ok + q]
        context.log.info(f"{spec.name} {month}: {loaded} rows loaded, {quarantined_rows} quarantined, "
                         f"{len(files)} file(s)")
        yield MaterializeResult(metadata={
            "month": month,
            "dagster/row_count": loaded,
            "rows quarantined": quarantined_rows,
            "files": MetadataValue.md(_files_table(results) if results else "no file this month"),
        })
        yield AssetCheckResult(
            check_name=RECONCILED, passed=not unbalanced,
            metadata={"files": len(recon), "unbalanced files": ", ".join(unbalanced) or "none",
                      "rows read": sum(r[1] for r in recon), "rows loaded": sum(r[2] for r in recon),
                      "rows quarantined": sum(r[3] for r in recon)})
        yield AssetCheckResult(
            check_name=READABLE, passed=not bad_files and not missing_snapshot, severity=AssetCheckSeverity.WARN,
            metadata={"files quarantined": len(bad_files),
                      "reasons": MetadataValue.md("\n".join(f"- {r.reason}" for r in bad_files) or "none"),
                      "file expected but missing": missing_snapshot})

    return _ingest


landing_assets = [landing_asset(spec) for spec in load_sources()]
ingest_assets = [build_ingest_asset(spec) for spec in load_sources()]
