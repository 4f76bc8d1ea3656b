"""``landing_sensor``: new or changed files under data/landing/ request their source's month.

The cursor remembers each file's modification time and size, so a file is acted on once, and a
corrected file (same name, new content) is acted on again; its month is then replaced whole.
Stopped by default: turn it on in the UI (Automation) when the landing folder is fed by agencies.
"""

import json
import re

from dagster import AssetKey, DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from dtsen_pipeline import paths
from dtsen_pipeline.jobs import monthly_refresh_job
from dtsen_pipeline.partitions import monthly_partitions
from dtsen_pipeline.sources import load_sources

MONTH_DIR = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@sensor(job=monthly_refresh_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED,
        description="Requests the ingest of a source's month when a file lands in or changes under "
                    "data/landing/SOURCE/YYYY-MM/.")
def landing_sensor(context: SensorEvaluationContext):
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    landing = paths.landing_dir()
    known_months = set(monthly_partitions.get_partition_keys())
    changed: dict[tuple[str, str], list[str]] = {}
    for spec in load_sources():
        folder = landing / spec.name
        if not folder.is_dir():
            continue
        for month_dir in sorted(p for p in folder.iterdir() if p.is_dir() and MONTH_DIR.fullmatch(p.name)):
            if month_dir.name not in known_months:
                context.log.warning(f"{month_dir}: {month_dir.name} is not a partition month; ignored")
                continue
            for f in sorted(month_dir.glob(spec.file_glob)):
                stat = f.stat()
                stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
                key = str(f.relative_to(landing))
                if seen.get(key) != stamp:
                    seen[key] = stamp
                    changed.setdefault((spec.raw_table, month_dir.name), []).append(f"{key}@{stamp}")
    context.update_cursor(json.dumps(seen, sort_keys=True))
    if not changed:
        yield SkipReason("no new or changed files under the landing folder")
        return
    for (table, month), files in sorted(changed.items()):
        yield RunRequest(
            run_key=f"{table}:{month}:{'|'.join(files)}",
            partition_key=month,
            asset_selection=[AssetKey(["raw", table])],
            tags={"dtsen/trigger": "landing_sensor", "dtsen/files": str(len(files))},
        )
