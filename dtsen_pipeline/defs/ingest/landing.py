"""What arrived in a landing partition (data/landing/<source>/<YYYY-MM>/), as an asset event: file
count, bytes, arrival time and each file's checksum. Recorded by ``landing_sensor`` when files
arrive and by the raw asset when it reads them, so the landing layer shows each delivered month."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    AssetKey,
    AssetMaterialization,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)

from dtsen_pipeline.ingest.sources import SourceSpec
from dtsen_pipeline.lib.checksums import file_sha256

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
                    "file": f.name,
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
