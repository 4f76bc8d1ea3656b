"""``landing_sensor``: new or changed files under data/landing/ refresh their whole month.

The cursor remembers each file's modification time and size, so a file is acted on once, and a
corrected file (same name, new content) is acted on again. A changed file changes everything
downstream of it (staging, linkage, marts, gate, release), so the sensor requests the whole monthly
job for that month, one run per month however many sources changed, not just the raw asset.
It also records what arrived on the landing asset's partition (files, bytes, checksums, arrival
time), so the landing layer shows in the UI which months have been delivered.
Stopped by default: turn it on in the UI (Automation) when the landing folder is fed by agencies.
"""

import json
import re

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from dtsen_pipeline.defs.common.jobs import monthly_refresh_job
from dtsen_pipeline.defs.common.partitions import monthly_partitions
from dtsen_pipeline.defs.ingest.landing import landing_materialization
from dtsen_pipeline.ingest.sources import load_sources
from dtsen_pipeline.lib import paths

MONTH_DIR = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@sensor(
    job=monthly_refresh_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Refreshes a whole month (ingest to release) when a file lands in or changes under "
    "data/landing/SOURCE/YYYY-MM/, and records the delivery on the landing asset.",
)
def landing_sensor(context: SensorEvaluationContext):
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    landing = paths.landing_dir()
    known_months = set(monthly_partitions.get_partition_keys())
    changed: dict[str, dict[str, list[str]]] = {}  # month -> source -> changed files (key@stamp)
    deliveries = []
    for spec in load_sources():
        folder = landing / spec.name
        if not folder.is_dir():
            continue
        for month_dir in sorted(
            p for p in folder.iterdir() if p.is_dir() and MONTH_DIR.fullmatch(p.name)
        ):
            if month_dir.name not in known_months:
                context.log.warning(
                    f"{month_dir}: {month_dir.name} is not a partition month; ignored"
                )
                continue
            files = sorted(month_dir.glob(spec.file_glob))
            touched = []
            for f in files:
                stat = f.lstat()
                stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
                key = str(f.relative_to(landing))
                if seen.get(key) != stamp:
                    seen[key] = stamp
                    touched.append(f"{key}@{stamp}")
            if touched:
                changed.setdefault(month_dir.name, {})[spec.name] = touched
                deliveries.append(landing_materialization(spec, month_dir.name, files))
    context.update_cursor(json.dumps(seen, sort_keys=True))
    if not changed:
        return SkipReason("no new or changed files under the landing folder")
    requests = [
        RunRequest(
            run_key=f"{month}:" + "|".join(f for files in by_source.values() for f in files),
            partition_key=month,
            tags={
                "dtsen/trigger": "landing_sensor",
                "dtsen/sources": ",".join(sorted(by_source)),
                "dtsen/files": str(sum(len(f) for f in by_source.values())),
            },
        )
        for month, by_source in sorted(changed.items())
    ]
    return SensorResult(run_requests=requests, asset_events=deliveries)
