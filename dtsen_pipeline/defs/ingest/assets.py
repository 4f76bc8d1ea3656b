"""Raw layer: one asset per registered source, ``raw/<source>__<entity>``, partitioned by month.

A source whose file is missing, corrupt or lacks columns still materialises: its problem is
recorded (raw.quarantine, raw.ingest_log) and shown by a warning check naming the source and the
file, and every other source carries on. Two checks block what is downstream (so the month's
release is not published): reconciliation (per file, the file's own record count from its census
= loaded + quarantined) and, for a full snapshot, ``snapshot_complete`` (the month's loaded rows
did not fall by more than the source's ``shrink_tolerance`` from its last delivery, and are not 0).
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dtsen_pipeline.defs.common.graph import OWNERS
from dtsen_pipeline.defs.common.partitions import (
    ONE_MONTH_PER_RUN,
    monthly_check_spec,
    monthly_partitions,
)
from dtsen_pipeline.defs.common.resources import WAREHOUSE_POOL, WarehouseResource
from dtsen_pipeline.defs.ingest.landing import landing_key, landing_materialization
from dtsen_pipeline.ingest.load import load_month, reconciliation, snapshot_change
from dtsen_pipeline.ingest.sources import SourceSpec, load_sources

RECONCILED = "rows_reconciled"
READABLE = "files_readable"
SNAPSHOT = "snapshot_complete"


def _files_table(results) -> str:
    lines = [
        "| file | status | counted | read | loaded | quarantined | reason |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| `{r.file}` | {r.status} | {r.rows_counted} | {r.rows_read} | {r.rows_loaded} | {r.rows_quarantined} "
        f"| {r.reason} |"
        for r in results
    ]
    return "\n".join(lines)


def landing_asset(spec: SourceSpec) -> AssetSpec:
    """The agency's files under data/landing/<source>/<YYYY-MM>/: delivered, not computed here
    (`landing_sensor` watches them)."""
    return AssetSpec(
        landing_key(spec),
        group_name="landing",
        kinds={spec.format, "file"},
        owners=[f"team:{spec.name}"],
        description=f"{spec.owner} extract files as delivered: data/landing/{spec.name}/YYYY-MM/{spec.file_glob} "
        f"({spec.format}, {spec.snapshot} snapshot). Declared in config/sources/{spec.name}.yaml.",
        partitions_def=monthly_partitions,
        tags={"source": spec.name},
        metadata={
            "path": MetadataValue.path(f"data/landing/{spec.name}/<YYYY-MM>/{spec.file_glob}")
        },
    )


def build_ingest_asset(spec: SourceSpec) -> AssetsDefinition:
    key = AssetKey(["raw", spec.raw_table])

    @asset(
        key=key,
        deps=[landing_key(spec)],
        pool=WAREHOUSE_POOL,
        group_name="raw",
        partitions_def=monthly_partitions,
        backfill_policy=ONE_MONTH_PER_RUN,
        kinds={"duckdb", spec.format},
        owners=OWNERS,
        description=f"{spec.owner}: {spec.description} From landing/{spec.name}/YYYY-MM/{spec.file_glob} "
        f"({spec.snapshot} {'snapshot' if spec.snapshot == 'full' else 'of the month'}); "
        f"declared in config/sources/{spec.name}.yaml.",
        tags={"source": spec.name, "snapshot": spec.snapshot},
        check_specs=[
            monthly_check_spec(
                RECONCILED,
                asset=key,
                blocking=True,
                description="Per file, every record of the file's own count (a census that does not "
                "share the loader's parser) is loaded or quarantined.",
            ),
            monthly_check_spec(
                READABLE,
                asset=key,
                description="Every file could be read; a full-snapshot source delivered a file.",
            ),
            *(
                [
                    monthly_check_spec(
                        SNAPSHOT,
                        asset=key,
                        blocking=True,
                        description=f"The month's loaded rows are not 0 and fell by at most "
                        f"{spec.shrink_tolerance:.0%} from the last delivery (full snapshot).",
                    )
                ]
                if spec.snapshot == "full"
                else []
            ),
        ],
    )
    def _ingest(context: AssetExecutionContext, warehouse: WarehouseResource):
        month = context.partition_key
        files = spec.landing_files(month)
        context.log_event(
            landing_materialization(spec, month, files)
        )  # what was delivered, as read
        with warehouse.connect() as con:
            results = load_month(con, spec, month, files)
            recon = reconciliation(con, spec, month)
            snapshot = snapshot_change(con, spec, month) if spec.snapshot == "full" else None
        where = f"{spec.name} {month}"
        loaded = sum(r.rows_loaded for r in results)
        quarantined_rows = sum(r.rows_quarantined for r in results if r.status == "loaded")
        bad_files = [r for r in results if r.status == "quarantined"]
        for r in bad_files:
            context.log.warning(f"{where}: file {r.file} quarantined whole: {r.reason}")
        if quarantined_rows:
            context.log.warning(f"{where}: {quarantined_rows} rows quarantined (raw.quarantine)")
        missing_snapshot = not files and spec.snapshot == "full"
        if missing_snapshot:
            context.log.warning(f"{where}: no file at landing/{spec.name}/{month}/{spec.file_glob}")
        unbalanced = [r for r in recon if not r.balanced]
        for r in unbalanced:
            context.log.error(f"{where}: not reconciled: {r.note}")
        if snapshot is not None and not snapshot.passed:
            context.log.error(f"{where}: snapshot incomplete: {snapshot.description}")
        context.log.info(
            f"{where}: {loaded} rows loaded, {quarantined_rows} quarantined, {len(files)} file(s)"
        )
        yield MaterializeResult(
            metadata={
                "month": month,
                "dagster/row_count": loaded,
                "rows quarantined": quarantined_rows,
                "files": MetadataValue.md(
                    _files_table(results) if results else "no file this month"
                ),
            }
        )
        yield AssetCheckResult(
            check_name=RECONCILED,
            passed=not unbalanced,
            description=(f"{where}: " + "; ".join(r.note for r in unbalanced))
            if unbalanced
            else f"{where}: every counted record is loaded or quarantined",
            metadata={
                "source": spec.name,
                "month": month,
                "files": len(recon),
                "unbalanced files": ", ".join(r.file for r in unbalanced) or "none",
                "first unaccounted lines": ", ".join(
                    f"{r.file}: {r.line}" for r in unbalanced if r.line is not None
                )
                or "none",
                "details": MetadataValue.md("\n".join(f"- {r.note}" for r in recon) or "no file"),
                "rows counted": sum(r.counted or 0 for r in recon),
                "rows loaded": sum(r.loaded for r in recon),
                "rows quarantined": sum(r.quarantined for r in recon),
            },
        )
        problems = [f"{r.file}: quarantined whole" for r in bad_files]
        if missing_snapshot:
            problems.append(f"no file at landing/{spec.name}/{month}/{spec.file_glob}")
        yield AssetCheckResult(
            check_name=READABLE,
            passed=not problems,
            severity=AssetCheckSeverity.WARN,
            description=f"{where}: " + ("; ".join(problems) if problems else "every file was read"),
            metadata={
                "source": spec.name,
                "month": month,
                "files quarantined": len(bad_files),
                "quarantined files": ", ".join(r.file for r in bad_files) or "none",
                "reasons": MetadataValue.md(
                    "\n".join(f"- {r.reason}" for r in bad_files) or "none"
                ),
                "file expected but missing": missing_snapshot,
            },
        )
        if snapshot is not None:
            yield AssetCheckResult(
                check_name=SNAPSHOT,
                passed=snapshot.passed,
                description=snapshot.description,
                metadata={
                    "source": spec.name,
                    "month": month,
                    "rows loaded": snapshot.loaded,
                    "previous delivery": snapshot.previous_month or "none",
                    "previous rows loaded": snapshot.previous_rows
                    if snapshot.previous_rows is not None
                    else -1,
                    "shrink tolerance": spec.shrink_tolerance,
                    "summary": snapshot.description,
                },
            )

    return _ingest


# One landing and one raw asset per registered source: the registry is read once, here.
_SOURCES = load_sources()
landing_assets = [landing_asset(spec) for spec in _SOURCES]
ingest_assets = [build_ingest_asset(spec) for spec in _SOURCES]
