"""Runs of one data root, one at a time as a whole, and recovery from a run that died.

DuckDB takes one writer, and a month's gate must judge that month's marts, so two runs of one data
root must never interleave, not even step by step. Every run (``dtsen run``, or a run launched from
the Dagster UI, through ``WarehouseResource``) holds an exclusive ``flock`` on the data root's lock
file for its whole life. The kernel drops a flock when its process dies, ``kill -9`` included, so
a lock is never left behind and no stale-lock timeout is needed.

A run killed mid-way leaves other traces, which the next run clears as soon as it holds the lock,
and reports (``recover``):

- the run stays STARTED in Dagster's run storage, and keeps its slot in the ``duckdb_warehouse``
  pool: every later run would wait for that slot forever. A run's liveness is a second flock, on
  ``locks/runs/<run_id>.lock``, held by the run's process: a run whose lock can be taken is dead.
  Dead runs are marked FAILURE and their pool slots freed;
- child processes go on after their parent died (PPID 1), perhaps still writing the warehouse
  (dbt, when the dbt resource's ``in_process`` is off; in process it dies with the run). Every
  child inherits ``DTSEN_RUN_ID``; the processes of a dead run are found by it and stopped;
- a half-written release folder (``publish/.tmp-*``), Splink's spill files and Spark's scratch.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from dtsen_pipeline.lib import paths

RUN_ID_ENV = "DTSEN_RUN_ID"
WAIT_REPORT_SECONDS = 30  # how often a waiting run says what it waits for
NO_LIVENESS_GRACE_SECONDS = (
    120  # a STARTED run that never took its liveness lock is dead after this
)
ACTIVE_STATUSES = ("STARTING", "STARTED", "CANCELING", "NOT_STARTED")

_held: dict[str, object] = {}  # this process's lock state: file handle, depth, run id


def locks_dir() -> Path:
    return paths.dagster_home() / "locks"


def _liveness_file(run_id: str) -> Path:
    return locks_dir() / "runs" / f"{run_id}.lock"


def _holder_file() -> Path:
    return locks_dir() / "data_root.holder.json"


def _try_lock(fh) -> bool:
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder() -> str:
    try:
        h = json.loads(_holder_file().read_text(encoding="utf-8"))
        return f"run {h['run_id']} (pid {h['pid']}, since {h['since']})"
    except (OSError, ValueError, KeyError):
        return "another run"


@contextmanager
def hold_data_root(
    run_id: str, log: Callable[[str], None] = lambda _: None, instance=None
) -> Iterator[list[str]]:
    """Hold the data root for ``run_id``: wait (saying for whom) while another run holds it, then
    clear what dead runs left in ``instance`` (default: the data root's Dagster instance). Yields
    the list of what was cleaned up. Re-entrant within a process (the CLI takes it before the job,
    the job's resource again inside)."""
    if _held.get("run_id") == run_id:
        _held["depth"] = int(_held["depth"]) + 1
        try:
            yield list(_held["cleaned"])
        finally:
            _held["depth"] = int(_held["depth"]) - 1
        return
    if _held:
        raise RuntimeError(
            f"this process already runs {_held['run_id']}; one run per data root at a time"
        )
    (locks_dir() / "runs").mkdir(parents=True, exist_ok=True)
    alive = _liveness_file(run_id).open("a")
    fcntl.flock(alive, fcntl.LOCK_EX)  # our own, fresh file: never contended
    root = (locks_dir() / "data_root.lock").open("a")
    try:
        waited, next_report = time.monotonic(), 0.0
        while not _try_lock(root):
            if time.monotonic() >= next_report:
                log(f"waiting for {_holder()} to finish: runs of one data root go one at a time")
                next_report = time.monotonic() + WAIT_REPORT_SECONDS
            time.sleep(0.5)
        if time.monotonic() - waited > 1:
            log(f"the data root is free after {time.monotonic() - waited:.0f}s; starting")
        _holder_file().write_text(
            json.dumps(
                {
                    "run_id": run_id,
                    "pid": os.getpid(),
                    "since": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            ),
            encoding="utf-8",
        )
        os.environ[RUN_ID_ENV] = run_id  # inherited by dbt and any other child
        _held.update(run_id=run_id, depth=1, cleaned=[])
        cleaned = recover(run_id, instance)
        _held["cleaned"] = cleaned
        for line in cleaned:
            log(f"recovered: {line}")
        yield cleaned
    finally:
        _held.clear()
        os.environ.pop(RUN_ID_ENV, None)
        root.close()  # closing drops the flock
        alive.close()
        _liveness_file(run_id).unlink(missing_ok=True)


def run_is_alive(run_id: str) -> bool | None:
    """True while the run's process holds its liveness lock, False once it died, None if the run
    never took one (it may not have started yet)."""
    path = _liveness_file(run_id)
    if not path.exists():
        return None
    with path.open("a") as fh:
        if _try_lock(fh):
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False
        return True


def _processes_of(run_ids: set[str]) -> list[tuple[int, str, str]]:
    """(pid, run id, command) of live processes started with DTSEN_RUN_ID in ``run_ids``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
            cmd = (proc / "cmdline").read_bytes().split(b"\0")[:2]
        except OSError:  # gone, or not ours to read
            continue
        for item in env:
            if item.startswith(RUN_ID_ENV.encode() + b"="):
                run_id = item.split(b"=", 1)[1].decode()
                if run_id in run_ids:
                    name = " ".join(Path(c.decode(errors="replace")).name for c in cmd if c)
                    found.append((int(proc.name), run_id, name))
    return found


def _stop(pid: int) -> None:
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            if (
                Path(f"/proc/{pid}/stat").exists()
                and " Z " in Path(f"/proc/{pid}/stat").read_text()
            ):
                return  # a zombie: dead, waiting for a parent to reap it
            time.sleep(0.1)


def _data_root_instance():
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(paths.dagster_home()))


def recover(current_run_id: str, instance=None) -> list[str]:
    """Clear what runs that died left behind; return one line per thing cleaned. Called only while
    holding the data root, so every other run that claims to be active and holds no liveness lock
    is dead."""
    from contextlib import nullcontext

    from dagster import DagsterRunStatus, RunsFilter

    cleaned: list[str] = []
    paths.ensure_dirs()
    with nullcontext(instance) if instance is not None else _data_root_instance() as instance:
        statuses = [DagsterRunStatus[s] for s in ACTIVE_STATUSES]
        dead = []
        for run in {
            r.run_id: r for r in instance.get_runs(filters=RunsFilter(statuses=statuses))
        }.values():
            if run.run_id == current_run_id:
                continue
            alive = run_is_alive(run.run_id)
            if alive is None:
                record = instance.get_run_record_by_id(run.run_id)
                started = (
                    (record.start_time or record.create_timestamp.timestamp()) if record else 0.0
                )
                alive = time.time() - started < NO_LIVENESS_GRACE_SECONDS
            if not alive:
                dead.append(run)
        # Orphans first: a dead run's dbt may still hold the warehouse.
        for pid, run_id, name in _processes_of({r.run_id for r in dead} | _dead_liveness_files()):
            _stop(pid)
            cleaned.append(f"stopped `{name}` (pid {pid}) left running by dead run {run_id}")
        storage = instance.event_log_storage
        for run in dead:
            month = run.tags.get("dagster/partition", "?")
            instance.report_run_failed(
                run,
                message="dtsen: the run's process died (killed or crashed); "
                "marked failed by the next run of this data root",
            )
            cleaned.append(f"marked run {run.run_id} ({month}) FAILURE: its process had died")
            if storage.supports_global_concurrency_limits:
                storage.free_concurrency_slots_for_run(run.run_id)
                cleaned.append(f"freed the warehouse pool slot(s) of run {run.run_id}")
        if storage.supports_global_concurrency_limits:
            # Slots claimed by runs that are no longer active (a run marked failed elsewhere).
            for key in storage.get_concurrency_keys():
                for claim in storage.get_concurrency_info(key).claimed_slots:
                    if claim.run_id == current_run_id:
                        continue
                    run = instance.get_run_by_id(claim.run_id)
                    if run is None or run.is_finished:
                        storage.free_concurrency_slots_for_run(claim.run_id)
                        cleaned.append(f"freed pool slot {key} held by finished run {claim.run_id}")
    for path in _dead_liveness_files(paths_only=True):
        path.unlink(missing_ok=True)
    from dtsen_pipeline.publish import releases

    for name in releases.remove_incomplete():
        cleaned.append(f"removed the half-written release folder {name}")
    from dtsen_pipeline.linkage import spark

    for scratch, what in [
        (paths.warehouse_dir() / "spill", "Splink's spill files"),
        *spark.leftovers(),
    ]:
        if scratch.exists() and any(scratch.iterdir()):
            shutil.rmtree(scratch, ignore_errors=True)
            where = scratch.relative_to(paths.warehouse_dir()).as_posix()
            cleaned.append(f"removed {what} from warehouse/{where}")
    return cleaned


def _dead_liveness_files(paths_only: bool = False):
    """Run ids (or files) of liveness locks whose process is gone."""
    folder = locks_dir() / "runs"
    out = []
    for path in folder.glob("*.lock") if folder.exists() else []:
        if path.stem != _held.get("run_id") and run_is_alive(path.stem) is False:
            out.append(path)
    return out if paths_only else {p.stem for p in out}
