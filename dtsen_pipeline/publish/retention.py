"""Retention: what the data root keeps, by the rule of ``config/retention.yaml``.

Nothing was ever deleted, so a data root grew every month (releases, Dagster's run history, the
reports, dbt's run folders). The rule, applied by the publish step after each publication
(``after_publication``: from `dtsen run`, the UI, a schedule or the sensor alike) and at any
time by ``dtsen clean`` (``--dry-run`` lists without removing), removes:

- releases: every revision of months older than the newest ``releases.keep_months`` published
  months; never the release ``current`` names, nor the newest release (the last one the gate
  passed: a release is only written when its gate passed);
- reports: a month's report folders (gate results, GX validations and Data Docs pages, Splink's
  charts, the release's documentation site) whose newest file is older than ``reports.keep_days``,
  never those of ``current``'s month; the reports index is written again;
- Dagster runs created more than ``dagster_runs.keep_days`` ago and no longer running, through the
  instance's ``delete_run`` (their events go with them), with their compute logs and SQLite event
  shard;
- dbt's run folders under ``dbt_project/target`` beyond the ``dbt_artifacts.keep_newest`` newest
  that are also older than ``dbt_artifacts.keep_days``.

Each removal is reported: what, and the bytes it freed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from dtsen_pipeline.lib import paths
from dtsen_pipeline.lib.settings import Settings, read_yaml, validate

RETENTION_FILE = "retention.yaml"
PARTITION_TAG = "dagster/partition"  # a monthly run's month
DAY_S = 86400
_RELEASE = re.compile(r"^(\d{4}-\d{2})(?:\.r(\d+))?$")
_MONTH_SUFFIX = re.compile(r"-(\d{4}-\d{2})$")
_DBT_RUN_DIR = re.compile(
    r"^(?:\w+-[0-9a-f]{7}-)?[0-9a-f]{7}$"
)  # as defs/dbt/project.py names them


def _at_least_one(value: int) -> int:
    if value < 1:
        raise ValueError(f"must be at least 1, not {value!r}")
    return value


def _not_negative(value: int) -> int:
    if value < 0:
        raise ValueError(f"must not be negative, not {value!r}")
    return value


AtLeastOne = Annotated[int, AfterValidator(_at_least_one)]
NotNegative = Annotated[int, AfterValidator(_not_negative)]


class ReleasesRule(Settings):
    keep_months: AtLeastOne


class DaysRule(Settings):
    keep_days: AtLeastOne
    # Optional bound by months as well: what belongs to a month older than the newest N published
    # months goes however recent it is (months run in a short time: a backfill, the bench).
    keep_months: AtLeastOne | None = None


class DbtRule(Settings):
    keep_newest: AtLeastOne
    keep_days: NotNegative


class RetentionSettings(Settings):
    releases: ReleasesRule
    reports: DaysRule
    dagster_runs: DaysRule
    dbt_artifacts: DbtRule


def load_retention(config_dir: Path | None = None) -> RetentionSettings | None:
    """``config/retention.yaml`` as settings; ConfigError naming the file and field; None when the
    configuration has no such file (a copy made before it existed): then nothing is removed."""
    path = Path(config_dir or paths.config_dir()) / RETENTION_FILE
    if not path.exists():
        return None
    return validate(RetentionSettings, read_yaml(path), path)


@dataclass(frozen=True)
class Removed:
    kind: str  # release | report | log | dagster run | dbt run folder
    what: str
    bytes: int


@dataclass
class RetentionReport:
    removed: list[Removed] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # protected releases, with the reason
    dry_run: bool = False

    @property
    def bytes_freed(self) -> int:
        return sum(r.bytes for r in self.removed)

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        out = [f"{verb} {r.kind} {r.what} ({_size_text(r.bytes)})" for r in self.removed]
        kinds: dict[str, int] = {}
        for r in self.removed:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        counts = ", ".join(f"{n} {k}(s)" for k, n in kinds.items()) or "nothing"
        out.append(f"retention: {verb} {counts}; {_size_text(self.bytes_freed)} freed")
        return out


def _size_text(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (or of ``path`` itself); links are not followed."""
    if not path.exists() and not path.is_symlink():
        return 0
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size
    total = 0
    for dirpath, _, filenames in os.walk(path):
        total += sum((Path(dirpath) / f).lstat().st_size for f in filenames)
    return total


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    for dirpath, _, filenames in os.walk(path):
        for f in filenames:
            newest = max(newest, (Path(dirpath) / f).lstat().st_mtime)
    return newest


def _remove(path: Path) -> None:
    """Remove ``path`` (a release is read-only: its folders are made writable first)."""
    if path.is_dir() and not path.is_symlink():
        for dirpath, _, _ in os.walk(path):
            os.chmod(dirpath, 0o700)
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _take(report: RetentionReport, kind: str, path: Path, what: str | None = None) -> None:
    size = tree_size(path)
    if not report.dry_run:
        _remove(path)
    report.removed.append(Removed(kind, what or str(path), size))


def release_folders(root: Path | None = None) -> list[tuple[str, int, Path]]:
    """(month, revision, folder) of every release under ``root`` (the publish folder), oldest
    first."""
    root = root or paths.publish_dir()
    found = []
    for p in root.iterdir() if root.is_dir() else []:
        m = _RELEASE.match(p.name)
        if m and p.is_dir() and not p.is_symlink():
            found.append((m.group(1), int(m.group(2) or 1), p))
    return sorted(found)


def current_release_name() -> str | None:
    link = paths.current_release()
    return os.readlink(link) if link.is_symlink() else None


def prune_releases(rule: ReleasesRule, report: RetentionReport) -> set[str]:
    """Releases of months outside the newest ``keep_months``; the months kept."""
    found = release_folders()
    months = sorted({m for m, _, _ in found})
    keep = set(months[-rule.keep_months :])
    protected = {
        current_release_name(): "current",
        (found[-1][2].name if found else None): "newest",
    }
    for month, _, folder in found:
        if folder.name in protected:
            report.kept.append(f"{folder.name} ({protected[folder.name]})")
            keep.add(month)
        elif month not in keep:
            _take(report, "release", folder, folder.name)
    return keep


def _report_folders() -> Iterator[tuple[str, Path]]:
    """(month, folder) of every month's reports."""
    month = re.compile(r"^\d{4}-\d{2}$")
    for root in (paths.quality_results_dir(), paths.linkage_reports_dir()):
        for p in sorted(root.iterdir()) if root.is_dir() else []:
            if p.is_dir() and month.match(p.name):
                yield p.name, p
    docs = paths.reports_dir() / "docs"
    for p in sorted(docs.iterdir()) if docs.is_dir() else []:
        m = _RELEASE.match(p.name)
        if m and p.is_dir():
            yield m.group(1), p
    gx = paths.reports_dir() / "quality" / "gx" / "uncommitted"
    for store in (gx / "validations", gx / "data_docs" / "local_site" / "validations"):
        for p in sorted(store.glob("*/*")) if store.is_dir() else []:
            m = _MONTH_SUFFIX.search(p.name)
            if m and p.is_dir():
                yield m.group(1), p


def _oldest_kept_month(keep_months: int | None) -> str | None:
    """The oldest of the newest ``keep_months`` published months; None when there is no bound by
    months or fewer months were published."""
    months = sorted({m for m, _, _ in release_folders()})
    return months[-keep_months] if keep_months and len(months) >= keep_months else None


def _outside(rule: DaysRule, now: float) -> Callable[[str | None, float], bool]:
    """The rule as a test of (month, created): older than ``keep_days``, or of a month before the
    newest ``keep_months`` published (the publish folder listed once, not once per item)."""
    oldest = _oldest_kept_month(rule.keep_months)

    def outside(month: str | None, created: float) -> bool:
        return now - created > rule.keep_days * DAY_S or bool(oldest and month and month < oldest)

    return outside


_RUN_LOG = re.compile(r"^run-(\d{4}-\d{2})(?:\.crash)?\.log$")  # as cli.py names them


def prune_run_logs(outside, report: RetentionReport, current_month) -> None:
    """`dtsen run`'s logs of a month (``logs/run-<month>.log``, ``.crash.log``), by the reports'
    rule (``outside``): they grew by one a month."""
    folder = paths.logs_dir()
    for log in sorted(folder.iterdir()) if folder.is_dir() else []:
        m = _RUN_LOG.match(log.name)
        if m and m.group(1) != current_month and outside(m.group(1), log.stat().st_mtime):
            _take(report, "log", log, log.name)


def prune_reports(rule: DaysRule, report: RetentionReport, now: float) -> None:
    current = current_release_name()
    current_month = current[:7] if current else None
    outside = _outside(rule, now)
    prune_run_logs(outside, report, current_month)
    before = len(report.removed)
    for month, folder in list(_report_folders()):
        if month != current_month and outside(month, _newest_mtime(folder)):
            _take(report, "report", folder, str(folder.relative_to(paths.reports_dir())))
    if len(report.removed) > before and not report.dry_run:
        from dtsen_pipeline.lib import reports

        reports.write_index()


def _data_root_instance():
    """The data root's Dagster instance, as every command opens it."""
    from dagster import DagsterInstance

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(paths.dagster_home())
    try:
        return DagsterInstance.get()
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def _delete_check_executions(di, run_id: str) -> None:
    """Dagster's ``delete_run`` leaves the run's asset check executions in the event log's index
    (a row per check, about 260 a month here: dagster_home grew 1 MB a month after the window).
    No public Dagster API removes them: the SQL storage's own index connection and table name
    (its schema) are used; a no-op on other storages."""
    import sqlalchemy

    storage = di.event_log_storage
    if hasattr(storage, "index_connection"):  # SQL storage (SQLite, PostgreSQL)
        with storage.index_connection() as conn:
            delete = "DELETE FROM asset_check_executions WHERE run_id = :run_id"
            conn.execute(sqlalchemy.text(delete), {"run_id": run_id})


def prune_dagster_runs(
    rule: DaysRule, report: RetentionReport, now: float, instance=None, running: str | None = None
) -> None:
    """Runs created before the window (or of a month before ``keep_months``' newest published
    months: their ``dagster/partition`` tag) and no longer running, deleted by the instance: the one
    given (the publishing run's own, so no second instance writes its SQLite files while it runs)
    or the data root's. ``running``: the run applying the rule, never deleted whatever its age."""
    home = paths.dagster_home()
    if (
        instance is None
        and not (home / "dagster.yaml").exists()
        and not (home / "history").exists()
    ):
        return
    from dagster import DagsterRunStatus, RunsFilter

    finished = [s for s in DagsterRunStatus if s.value in ("SUCCESS", "FAILURE", "CANCELED")]
    outside = _outside(rule, now)
    with contextlib.nullcontext(instance) if instance is not None else _data_root_instance() as di:
        for record in di.get_run_records(RunsFilter(statuses=finished)):
            run_id, month = record.dagster_run.run_id, record.dagster_run.tags.get(PARTITION_TAG)
            if run_id == running or not outside(month, record.create_timestamp.timestamp()):
                continue
            leftovers = [home / "storage" / run_id] + [
                home / "history" / "runs" / f"{run_id}.db{suffix}"
                for suffix in ("", "-wal", "-shm")
            ]
            size = sum(tree_size(p) for p in leftovers)
            if not report.dry_run:
                di.delete_run(run_id)
                _delete_check_executions(di, run_id)
                for p in leftovers:
                    if p.exists():
                        _remove(p)
            report.removed.append(Removed("dagster run", run_id, size))


def dbt_run_folders(target: Path) -> list[Path]:
    """dbt's run folders under ``target`` (dbt_project/target), newest first."""
    return sorted(
        (p for p in target.iterdir() if p.is_dir() and _DBT_RUN_DIR.match(p.name))
        if target.is_dir()
        else [],
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )


def prune_dbt_runs(rule: DbtRule, report: RetentionReport, now: float, target: Path) -> None:
    folders = dbt_run_folders(target)
    for folder in folders[rule.keep_newest :]:
        if now - folder.stat().st_mtime > rule.keep_days * DAY_S:
            _take(report, "dbt run folder", folder, folder.name)


def apply_retention(
    settings: RetentionSettings | None = None,
    *,
    dry_run: bool = False,
    now: float | None = None,
    dbt_target: Path | None = None,
    instance=None,
    running: str | None = None,
) -> RetentionReport:
    """Apply the rule to the data root (and dbt's target folder); what was removed, and why kept.
    ``instance``, ``running``: the Dagster instance to delete runs with, and the run applying the
    rule (``prune_dagster_runs``)."""
    settings = settings or load_retention()
    now = time.time() if now is None else now
    report = RetentionReport(dry_run=dry_run)
    if settings is None:
        report.kept.append(f"everything: the configuration has no {RETENTION_FILE}")
        return report
    prune_releases(settings.releases, report)
    prune_reports(settings.reports, report, now)
    prune_dagster_runs(settings.dagster_runs, report, now, instance, running)
    prune_dbt_runs(
        settings.dbt_artifacts, report, now, dbt_target or paths.DBT_PROJECT_DIR / "target"
    )
    return report


def after_publication(
    instance, run_id: str, log, now: float | None = None, dbt_target: Path | None = None
) -> list[str]:
    """The rule applied by the publish step itself, so a month published from the UI, a schedule
    or the landing sensor keeps the data root within it as `dtsen run` does. Runs are deleted with
    the publishing run's own instance, never that run (``running``). Housekeeping never fails a
    publication: a rule that cannot be read or applied is a warning. ``log``: the step's logger;
    the lines said are returned (for the release's metadata)."""
    try:
        report = apply_retention(now=now, dbt_target=dbt_target, instance=instance, running=run_id)
    except Exception as exc:  # after `current` switched: said, never a failed run
        line = f"retention not applied: {exc}"
        log.warning(line)
        return [line]
    lines = report.lines()
    for line in lines if report.removed else []:
        log.info(line)
    return lines if report.removed else lines[-1:]
