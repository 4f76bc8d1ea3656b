"""Who or what started a run, for the release manifest and the publication log (issue 32): the
monthly schedule, a sensor, a backfill, `dtsen run`, or the UI (Dagster's open-source UI names no
user: the run's ``user`` tag is kept where something set it)."""

from __future__ import annotations

import getpass

from dagster import DagsterRun, MetadataValue

from dtsen_pipeline.defs.common import charts

TRIGGER_TAG = "dtsen/trigger"  # set by `dtsen run` (cli), the schedule and the landing sensor


def _process_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def trigger(run: DagsterRun) -> dict:
    """How ``run`` was started: ``kind`` (schedule, sensor, backfill, cli, ui), the schedule's,
    sensor's or backfill's name, the user where known, and the account the run ran as."""
    tags = run.tags
    if "dagster/schedule_name" in tags:
        found = {"kind": "schedule", "name": tags["dagster/schedule_name"]}
    elif "dagster/sensor_name" in tags:
        found = {"kind": "sensor", "name": tags["dagster/sensor_name"]}
    elif "dagster/backfill" in tags:
        found = {"kind": "backfill", "name": tags["dagster/backfill"]}
    elif tags.get(TRIGGER_TAG) == "cli":
        found = {"kind": "cli", "name": "dtsen run"}
    else:  # launched from the UI (launchpad, asset graph) or the GraphQL API
        found = {"kind": "ui", "name": tags.get(TRIGGER_TAG, "")}
    user = tags.get("user") or tags.get("dagster/reporting_user")
    if user:
        found["user"] = user
    found["run_as"] = _process_user()
    found["run_id"] = run.run_id
    return found


def describe(found: dict) -> str:
    by = f" by {found['user']}" if found.get("user") else ""
    return f"{found.get('kind', '?')} {found.get('name', '')}".strip() + by


def publications_table(rows: list[dict], last: int = 12):
    """The publication log's last rows, for the release asset's page."""
    return charts.table(
        [
            ("at (UTC)", "string"),
            ("event", "string"),
            ("month", "string"),
            ("release", "string"),
            ("trigger", "string"),
            ("gate", "string"),
            ("previous current", "string"),
        ],
        [
            (
                r.get("at", ""),
                r.get("event", ""),
                r.get("month", ""),
                r.get("release", ""),
                describe(r.get("trigger", {})),
                r.get("gate", ""),
                r.get("previous_current") or "",
            )
            for r in rows[-last:]
        ],
    )


def record_publication(log, release, trigger: dict, change) -> dict:
    """Append the publication of ``release`` (a folder under publish/) to the publication log; the
    release asset's metadata showing the log. Runs after `current` switched: a failure is logged
    as a warning, never raised."""
    from dtsen_pipeline.publish import releases

    month, _, revision = release.name.partition(".r")
    try:
        releases.log_publication(
            "published",
            month,
            release=release.name,
            revision=int(revision or 1),
            gate="passed",
            trigger=trigger,
            previous_current=change.previous,
            current=change.current,
        )
        return {
            "publications": publications_table(releases.publication_log()),
            "publication log": MetadataValue.path(str(releases.publication_log_path())),
        }
    except Exception as exc:
        log.warning(f"publish {release.name}: the publication log was not written ({exc})")
        return {}
