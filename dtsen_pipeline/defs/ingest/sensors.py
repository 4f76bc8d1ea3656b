"""``landing_sensor``: a month whose landed files are new or changed is refreshed, whole, once.

The cursor keeps each landed file's modification time, size and checksum (a file is hashed again
only when its time or size changes) and, per month, the fingerprint of the files last requested.
A month is requested when its files differ from those its newest release was built from (the
release manifest's ``inputs``; a release from before manifests kept them counts as built from
files no newer than its publication) and from those last requested: turning the sensor on over
months already published queues nothing, and a changed, added or removed file starts that month
once. A changed file changes everything downstream of it (staging, linkage, marts, gate, release),
so the sensor requests the whole monthly job for that month, one run per month however many
sources changed. It also records what arrived on the landing asset's partition (files, bytes,
checksums, arrival time), so the landing layer shows in the UI which months have been delivered.
A month past the partitions' end (partitions.py: they end at the latest landed month when the
code location loads) waits for the code location to reload, and the sensor says so.
Stopped by default: turn it on in the UI (Automation) when the landing folder is fed by agencies.
"""

import hashlib
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
from dtsen_pipeline.lib.checksums import file_sha256
from dtsen_pipeline.publish import releases

MONTH_DIR = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _read_cursor(cursor: str | None) -> tuple[dict[str, list], dict[str, str]]:
    """(files: key -> [stamp, sha256], requested: month -> fingerprint); a cursor of the earlier
    form (key -> stamp) is started afresh: the releases' inputs say what is already published."""
    doc = json.loads(cursor) if cursor else {}
    if not isinstance(doc.get("files"), dict):
        return {}, {}
    return doc["files"], doc.get("requested", {})


def _scan(seen: dict[str, list]):
    """Every landed month: ({month: {key: sha256}}, {month: sources whose files changed since the
    last tick}, deliveries of the changed files).
    ``seen`` is updated in place with the files as they are now (files gone are dropped)."""
    landing = paths.landing_dir()
    months: dict[str, dict[str, str]] = {}
    sources: dict[str, list[str]] = {}
    deliveries, now = [], {}
    for spec in load_sources():
        folder = landing / spec.name
        if not folder.is_dir():
            continue
        for month_dir in sorted(
            p for p in folder.iterdir() if p.is_dir() and MONTH_DIR.fullmatch(p.name)
        ):
            files = spec.landing_files(month_dir.name)  # the files the raw asset reads
            changed = False
            for f in files:
                stat, key = f.lstat(), str(f.relative_to(landing))
                stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
                before = seen.get(key)
                if before and before[0] == stamp:
                    now[key] = before
                else:
                    regular = f.is_file() and not f.is_symlink()
                    now[key] = [stamp, file_sha256(f) if regular else ""]
                    changed = True
                months.setdefault(month_dir.name, {})[key] = now[key][1]
            if changed:
                sources.setdefault(month_dir.name, []).append(spec.name)
            if changed and monthly_partitions.has_partition_key(month_dir.name):
                deliveries.append(landing_materialization(spec, month_dir.name, files))
    seen.clear()
    seen.update(now)
    return months, sources, deliveries


def fingerprint(inputs: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def already_published(month: str, inputs: dict[str, str]) -> bool:
    """True when ``month``'s newest release was built from exactly these files."""
    published, published_at = releases.published_from(month)
    if published is not None:
        return published == inputs
    if published_at is None:
        return False
    # A release written before manifests kept their inputs: built from these files when none of
    # them is newer than the release.
    landing = paths.landing_dir()
    return all((landing / key).lstat().st_mtime <= published_at.timestamp() for key in inputs)


@sensor(
    job=monthly_refresh_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Refreshes a whole month (ingest to release) when its files under "
    "data/landing/SOURCE/YYYY-MM/ differ from those its release was built from (new, changed or "
    "removed), once per set of files, and records the delivery on the landing asset.",
)
def landing_sensor(context: SensorEvaluationContext):
    seen, requested = _read_cursor(context.cursor)
    months, sources, deliveries = _scan(seen)
    requests = []
    for month, inputs in sorted(months.items()):
        digest = fingerprint(inputs)
        if requested.get(month) == digest:
            continue
        if not monthly_partitions.has_partition_key(month):
            context.log.warning(
                f"{month} has landed files but is not a partition yet (the partitions end at "
                f"{monthly_partitions.get_last_partition_key()}): reload the code location "
                "(Deployment -> Reload) and the next tick requests it"
            )
            continue
        requested[month] = digest
        if already_published(month, inputs):
            context.log.info(f"{month}: published from these files already; not run again")
            continue
        requests.append(
            RunRequest(
                run_key=f"{month}:{digest[:16]}",
                partition_key=month,
                tags={
                    "dtsen/trigger": "landing_sensor",
                    "dtsen/sources": ",".join(sorted(sources.get(month, []))) or "unchanged",
                    "dtsen/files": str(len(inputs)),
                },
            )
        )
    context.update_cursor(json.dumps({"files": seen, "requested": requested}, sort_keys=True))
    if not requests and not deliveries:
        return SkipReason("no month with files other than those published or already requested")
    return SensorResult(run_requests=requests, asset_events=deliveries)
