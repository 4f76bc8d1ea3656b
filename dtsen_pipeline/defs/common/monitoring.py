"""Sensors that watch the deployment and alert (defs/common/alerts.py, config/alerts.yaml):

- ``run_failure_alert``: any run of this code location that fails (the monthly job, a backfill's
  run, a materialisation launched from the graph) says which month, which step and why. A
  blocked gate fails its run, so the alert carries the checks that failed, and the refusal goes
  to the publication log (data/publish/publications.jsonl; the publish step logs its own).
- ``late_month_alert``: the current month (UTC) with no landed file by ``late.landed_by_day``, or
  not published by ``late.published_by_day``: said once per month and kind.

Both run by default (the daemon evaluates them: `make ui`, `make serve`); with no target
configured they only log. A delivery that fails is logged in the sensor's tick, never raised.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from dtsen_pipeline.defs.common import alerts
from dtsen_pipeline.defs.common.partitions import landed_months


def failure_alert(context: RunFailureSensorContext) -> alerts.Alert:
    """The alert for a failed run: its first failed step and that step's error, else the run's."""
    run = context.dagster_run
    tags = run.tags
    partition = tags.get("dagster/partition") or (
        f"{tags['dagster/asset_partition_range_start']}..{tags['dagster/asset_partition_range_end']}"
        if "dagster/asset_partition_range_start" in tags
        else ""
    )
    step, reason = "", context.failure_event.message or "the run failed"
    failures = context.get_step_failure_events()
    if failures:
        step = failures[0].step_key or ""
        error = _root_error(failures[0])
        if error is not None:
            reason = error.message
    return alerts.Alert(
        kind="run_failed",
        reason=reason,
        run_id=run.run_id,
        job=run.job_name,
        partition=partition,
        step=step,
    )


def _log(log, lines: list[str]) -> None:
    for line in lines:
        (log.warning if "NOT delivered" in line or "could not" in line else log.info)(line)


def _root_error(event):
    error = event.step_failure_data.error
    while error is not None and error.cause is not None:  # Dagster's wrapper -> the step's own
        error = error.cause
    return error


def blocked_checks(context: RunFailureSensorContext) -> list[str]:
    """The blocking checks whose failure stopped the run (``<asset>: <check>``): a refused gate."""
    checks = []
    for event in context.get_step_failure_events():
        error = _root_error(event)
        if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
            checks += [line.strip() for line in error.message.splitlines()[1:] if line.strip()]
    return checks


def _log_refusal(context: RunFailureSensorContext, alert: alerts.Alert) -> None:
    """A run stopped by a blocking check goes to the publication log as a refused release."""
    from dtsen_pipeline.defs.common import audit
    from dtsen_pipeline.publish import releases

    checks = blocked_checks(context)
    if checks and alert.partition:
        trigger = audit.trigger(context.dagster_run)
        releases.log_publication(
            "refused",
            alert.partition,
            gate="blocked",
            failed=checks,
            trigger=trigger,
        )


@run_failure_sensor(
    name="run_failure_alert",
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts the targets of config/alerts.yaml (webhook, e-mail) when a run fails: "
    "run id, job, month, failed step and reason (no personal data).",
)
def run_failure_alert(context: RunFailureSensorContext):
    alert = failure_alert(context)
    _log(context.log, alerts.deliver(alert))
    try:
        _log_refusal(context, alert)
    except Exception as exc:  # the log is said, never a reason for the sensor to fail
        context.log.warning(f"the publication log was not written: {alerts.masked(exc)}")


def late_alerts(now: datetime, said: dict[str, list[str]]) -> list[alerts.Alert]:
    """What is late at ``now`` and not yet said (``said``: month -> kinds already alerted, updated)."""
    from dtsen_pipeline.publish import releases

    config = alerts.settings().late
    month = now.strftime("%Y-%m")
    out = []
    if now.day >= config.landed_by_day and month not in landed_months():
        out.append(
            ("landing", f"no file has landed for {month} by day {config.landed_by_day} (UTC)")
        )
    if now.day >= config.published_by_day and month not in releases.published_months():
        out.append(("publication", f"{month} is not published by day {config.published_by_day}"))
    new = [(kind, reason) for kind, reason in out if kind not in said.get(month, [])]
    for kind, _ in new:
        said.setdefault(month, []).append(kind)
    return [alerts.Alert(kind="month_late", reason=r, partition=month) for _, r in new]


@sensor(
    name="late_month_alert",
    minimum_interval_seconds=3600,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts once when the current month has no landed file, or is not published, by "
    "the days set in config/alerts.yaml (late).",
)
def late_month_alert(context: SensorEvaluationContext):
    said: dict[str, list[str]] = json.loads(context.cursor) if context.cursor else {}
    try:
        late = late_alerts(datetime.now(UTC), said)
    except Exception as exc:  # a broken alerts.yaml: said in the tick, checked by check-config
        return SkipReason(f"alerts.yaml could not be read: {alerts.masked(exc)}")
    for alert in late:
        context.log.warning(alert.text())
        _log(context.log, alerts.deliver(alert))
    context.update_cursor(json.dumps(dict(sorted(said.items())[-12:])))
    if not late:
        return SkipReason("no month late, or already said")
    return SkipReason("alerted: " + "; ".join(a.text() for a in late))
