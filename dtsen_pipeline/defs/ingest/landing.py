"""What arrived in a landing partition (data/landing/<source>/<YYYY-MM>/), as an asset event: file
count, bytes, arrival time and each file's checksum. Recorded by ``landing_sensor`` when files
arrive and by the raw asset when it reads them, so the landing layer shows each delivered month.

``landing_inventory`` (an asset per month, with the warning check ``landing_accounted``) lists
every entry under data/landing/*/<YYYY-MM>/ and what became of it (ingest/inventory.py), also in the
warehouse table raw.landing_inventory: a file no source reads is named, with the reason, in the
check, the run's log and ``dtsen run``'s warnings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)

from dtsen_pipeline.defs.common.graph import OWNERS
from dtsen_pipeline.defs.common.partitions import (
    ONE_MONTH_PER_RUN,
    monthly_check_spec,
    monthly_partitions,
)
from dtsen_pipeline.defs.common.resources import WAREHOUSE_POOL, WarehouseResource
from dtsen_pipeline.ingest.inventory import Entry, describe, inventory, not_read, record_inventory
from dtsen_pipeline.ingest.sources import SourceSpec, load_sources
from dtsen_pipeline.lib.checksums import file_sha256
from dtsen_pipeline.lib.printable import printable

FILES_SCHEMA = TableSchema(
    columns=[
        TableColumn("file", "string"),
        TableColumn("bytes", "int"),
        TableColumn("arrived (UTC)", "string"),
        TableColumn(
            "sha256", "string", description="empty for a link or a non-regular file (never opened)"
        ),
    ]
)


def landing_key(spec: SourceSpec) -> AssetKey:
    return AssetKey(["landing", spec.name])


def landing_materialization(
    spec: SourceSpec, month: str, files: list[Path]
) -> AssetMaterialization:
    rows, total, latest = [], 0, None
    for f in files:
        stat = f.lstat()
        regular = f.is_file() and not f.is_symlink()
        arrived = datetime.fromtimestamp(stat.st_mtime, UTC)
        latest = max(latest or arrived, arrived)
        total += stat.st_size
        rows.append(
            TableRecord(
                {
                    "file": printable(f),
                    "bytes": stat.st_size,
                    "arrived (UTC)": arrived.isoformat(timespec="seconds"),
                    "sha256": file_sha256(f) if regular else "",
                }
            )
        )
    return AssetMaterialization(
        asset_key=landing_key(spec),
        partition=month,
        description=f"{spec.name} {month}: {len(files)} file(s) delivered"
        if files
        else f"{spec.name} {month}: no file delivered",
        metadata={
            "month": month,
            "files delivered": len(files),
            "bytes": total,
            "last arrival": latest.isoformat(timespec="seconds") if latest else "none",
            "files": MetadataValue.table(rows, schema=FILES_SCHEMA),
        },
    )


INVENTORY_KEY = AssetKey(["landing_inventory"])
ACCOUNTED = "landing_accounted"
INVENTORY_SCHEMA = TableSchema(
    columns=[
        TableColumn(
            "entry", "string", description="under data/landing/, control characters escaped"
        ),
        TableColumn("kind", "string", description="file, folder, link or other"),
        TableColumn("status", "string", description="read, in transfer, or not read"),
        TableColumn("source", "string", description="the source that reads it"),
        TableColumn("reason", "string", description="why it is not read"),
    ]
)


def inventory_result(month: str, entries: list[Entry]) -> tuple[dict, AssetCheckResult]:
    """The inventory's metadata, and its warning check: every entry read by a source, or named
    with why it is not."""
    unread = not_read(entries)
    rows = [
        TableRecord(
            {
                "entry": "/".join(printable(p) for p in e.path.split("/")),
                "kind": e.kind,
                "status": e.status,
                "source": e.source,
                "reason": e.reason,
            }
        )
        for e in entries
    ]
    metadata = {
        "month": month,
        "entries": len(entries),
        "read": len(entries) - len(unread),
        "not read": len(unread),
        "inventory": MetadataValue.table(rows, schema=INVENTORY_SCHEMA),
    }
    check = AssetCheckResult(
        check_name=ACCOUNTED,
        passed=not unread,
        severity=AssetCheckSeverity.WARN,
        description=f"landing {month}: {len(unread)} of {len(entries)} entries not read: "
        + "; ".join(describe(e) for e in unread)
        if unread
        else f"landing {month}: every entry ({len(entries)}) is read by a source",
        metadata={
            "month": month,
            "not read": len(unread),
            "entries not read": MetadataValue.md(
                "\n".join(f"- {describe(e)}" for e in unread) or "none"
            ),
        },
    )
    return metadata, check


@asset(
    key=INVENTORY_KEY,
    group_name="landing",
    pool=WAREHOUSE_POOL,
    partitions_def=monthly_partitions,
    backfill_policy=ONE_MONTH_PER_RUN,
    kinds={"file"},
    owners=OWNERS,
    description="Every entry under data/landing/*/YYYY-MM/ (subfolders too): read by a source, "
    "in transfer, or not read with the reason (no source matches its name, no registered source "
    "for its folder, in a subfolder), also in raw.landing_inventory. Nothing delivered goes "
    "unmentioned.",
    check_specs=[
        monthly_check_spec(
            ACCOUNTED,
            asset=INVENTORY_KEY,
            description="Every landing entry of the month is read by a registered source "
            "(a warning names each one that is not, with the reason).",
        )
    ],
)
def landing_inventory(context, warehouse: WarehouseResource):
    month = context.partition_key
    entries = inventory(month, load_sources())
    with warehouse.connect() as con:
        record_inventory(con, month, entries)
    for e in not_read(entries):
        context.log.warning(describe(e))
    metadata, check = inventory_result(month, entries)
    yield MaterializeResult(metadata=metadata)
    yield check
