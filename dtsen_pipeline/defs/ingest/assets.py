"""Raw layer: one asset per registered source, ``raw/<source>__<entity>``, partitioned by month.

A source whose file is missing, corrupt or lacks columns still materialises: its problem is
recorded (raw.quarantine, raw.ingest_log) and shown by a warning check naming the source and the
file, and every other source carries on. Two checks block what is downstream (so the month's
release is not published): reconciliation (per file, the file's own record count from its census
= loaded + quarantined) and, for a full snapshot, ``snapshot_complete`` (the month's loaded rows
did not fall by more than the source's ``shrink_tolerance`` from its last delivery, and are not 0).
"""

from dataclasses import dataclass

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Failure,
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
from dtsen_pipeline.defs.ingest.landing import (
    landing_inventory,
    landing_key,
    landing_materialization,
)
from dtsen_pipeline.ingest.inventory import (
    NotSettled,
    settled_files,
)
from dtsen_pipeline.ingest.load import (
    SnapshotChange,
    load_month,
    reconciliation,
    snapshot_change,
)
from dtsen_pipeline.ingest.sources import SourceSpec, load_sources
from dtsen_pipeline.lib.printable import printable

RECONCILED = "rows_reconciled"
READABLE = "files_readable"
SNAPSHOT = "snapshot_complete"


def _files_table(results) -> str:
    lines = [
        "| file | status | counted | read | loaded | quarantined | reason |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| `{printable(r.file)}` | {r.status} | {r.rows_counted} | {r.rows_read} "
        f"| {r.rows_loaded} | {r.rows_quarantined} | {r.reason} |"
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


def _check_specs(spec: SourceSpec, key: AssetKey) -> list:
    """The raw asset's checks: reconciliation (blocking), readable files (a warning) and, for a
    full snapshot, ``snapshot_complete`` (blocking)."""
    specs = [
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
    ]
    if spec.snapshot == "full":
        specs.append(
            monthly_check_spec(
                SNAPSHOT,
                asset=key,
                blocking=True,
                description=f"The month's loaded rows are not 0 and fell by at most "
                f"{spec.shrink_tolerance:.0%} from the last delivery (full snapshot).",
            )
        )
    return specs


@dataclass
class _Month:
    """One source's month as loaded: the files' results, their reconciliation and, for a full
    snapshot, the change from the last delivery."""

    spec: SourceSpec
    month: str
    files: list
    results: list
    recon: list
    snapshot: SnapshotChange | None

    @property
    def where(self) -> str:
        return f"{self.spec.name} {self.month}"

    @property
    def loaded(self) -> int:
        return sum(r.rows_loaded for r in self.results)

    @property
    def quarantined_rows(self) -> int:
        return sum(r.rows_quarantined for r in self.results if r.status == "loaded")

    @property
    def bad_files(self) -> list:
        return [r for r in self.results if r.status == "quarantined"]

    @property
    def noted_files(self) -> list:
        """Files loaded with a note: read in part (lines a stray quote swallowed), or not counted."""
        return [r for r in self.results if r.status == "loaded" and r.reason]

    @property
    def missing_snapshot(self) -> bool:
        return not self.files and self.spec.snapshot == "full"

    @property
    def unbalanced(self) -> list:
        return [r for r in self.recon if not r.balanced]


def _load(context: AssetExecutionContext, warehouse: WarehouseResource, spec: SourceSpec) -> _Month:
    """Load the partition's month of the source (what was delivered is logged first, as read)."""
    month = context.partition_key
    try:
        # A file still being written or transferred is waited for, then refused: the month fails
        # (nothing downstream runs) rather than publish part of a delivery.
        files = settled_files(spec, month, log=context.log.info)
        context.log_event(landing_materialization(spec, month, files))  # what was delivered
        with warehouse.connect() as con:
            results = load_month(con, spec, month, files)
            recon = reconciliation(con, spec, month)
            snapshot = snapshot_change(con, spec, month) if spec.snapshot == "full" else None
    except NotSettled as exc:
        raise Failure(description=str(exc)) from None
    return _Month(spec, month, files, results, recon, snapshot)


def _log(context: AssetExecutionContext, m: _Month) -> None:
    """The month's problems on the run's log: quarantined files and rows, a missing snapshot,
    unbalanced files, an incomplete snapshot; then the counts."""
    spec, where = m.spec, m.where
    for r in m.bad_files:
        context.log.warning(f"{where}: file {printable(r.file)} quarantined whole: {r.reason}")
    for r in m.noted_files:
        context.log.warning(f"{where}: {r.reason}")
    if m.quarantined_rows:
        context.log.warning(f"{where}: {m.quarantined_rows} rows quarantined (raw.quarantine)")
    if m.missing_snapshot:
        context.log.warning(f"{where}: no file at landing/{spec.name}/{m.month}/{spec.file_glob}")
    for r in m.unbalanced:
        context.log.error(f"{where}: not reconciled: {r.note}")
    if m.snapshot is not None and not m.snapshot.passed:
        context.log.error(f"{where}: snapshot incomplete: {m.snapshot.description}")
    context.log.info(
        f"{where}: {m.loaded} rows loaded, {m.quarantined_rows} quarantined, {len(m.files)} file(s)"
    )


def _materialization(m: _Month) -> MaterializeResult:
    return MaterializeResult(
        metadata={
            "month": m.month,
            "dagster/row_count": m.loaded,
            "rows quarantined": m.quarantined_rows,
            "files": MetadataValue.md(
                _files_table(m.results) if m.results else "no file this month"
            ),
        }
    )


def _reconciled_check(m: _Month) -> AssetCheckResult:
    unbalanced, recon = m.unbalanced, m.recon
    return AssetCheckResult(
        check_name=RECONCILED,
        passed=not unbalanced,
        description=(f"{m.where}: " + "; ".join(r.note for r in unbalanced))
        if unbalanced
        else f"{m.where}: every counted record is loaded or quarantined",
        metadata={
            "source": m.spec.name,
            "month": m.month,
            "files": len(recon),
            "unbalanced files": ", ".join(printable(r.file) for r in unbalanced) or "none",
            "first unaccounted lines": ", ".join(
                f"{printable(r.file)}: {r.line}" for r in unbalanced if r.line is not None
            )
            or "none",
            "details": MetadataValue.md("\n".join(f"- {r.note}" for r in recon) or "no file"),
            "rows counted": sum(r.counted or 0 for r in recon),
            "rows loaded": sum(r.loaded for r in recon),
            "rows quarantined": sum(r.quarantined for r in recon),
        },
    )


def _readable_check(m: _Month) -> AssetCheckResult:
    spec, bad_files = m.spec, m.bad_files
    problems = [f"{printable(r.file)}: quarantined whole" for r in bad_files]
    problems += [r.reason for r in m.noted_files]
    if m.missing_snapshot:
        problems.append(f"no file at landing/{spec.name}/{m.month}/{spec.file_glob}")
    return AssetCheckResult(
        check_name=READABLE,
        passed=not problems,
        severity=AssetCheckSeverity.WARN,
        description=f"{m.where}: " + ("; ".join(problems) if problems else "every file was read"),
        metadata={
            "source": spec.name,
            "month": m.month,
            "files quarantined": len(bad_files),
            "quarantined files": ", ".join(printable(r.file) for r in bad_files) or "none",
            "reasons": MetadataValue.md(
                "\n".join(f"- {r.reason}" for r in bad_files + m.noted_files) or "none"
            ),
            "file expected but missing": m.missing_snapshot,
        },
    )


def _snapshot_check(m: _Month, snapshot: SnapshotChange) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=SNAPSHOT,
        passed=snapshot.passed,
        description=snapshot.description,
        metadata={
            "source": m.spec.name,
            "month": m.month,
            "rows loaded": snapshot.loaded,
            "previous delivery": snapshot.previous_month or "none",
            "previous rows loaded": snapshot.previous_rows
            if snapshot.previous_rows is not None
            else -1,
            "shrink tolerance": m.spec.shrink_tolerance,
            "summary": snapshot.description,
        },
    )


def build_ingest_asset(spec: SourceSpec) -> AssetsDefinition:
    """The source's raw asset: load the month (``_load``), log its problems (``_log``), then the
    materialisation and the checks' results."""
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
        check_specs=_check_specs(spec, key),
    )
    def _ingest(context: AssetExecutionContext, warehouse: WarehouseResource):
        m = _load(context, warehouse, spec)
        _log(context, m)
        yield _materialization(m)
        yield _reconciled_check(m)
        yield _readable_check(m)
        if m.snapshot is not None:
            yield _snapshot_check(m, m.snapshot)

    return _ingest


# One landing and one raw asset per registered source: the registry is read once, here.
_SOURCES = load_sources()
# The month's landing inventory rides with the landing assets (every entry read or named).
landing_assets = [*(landing_asset(spec) for spec in _SOURCES), landing_inventory]
ingest_assets = [build_ingest_asset(spec) for spec in _SOURCES]
