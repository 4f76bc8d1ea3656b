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
  ``locks/runs/<run_id>.lock``, taken before the data root and held by the run's process: a run
  whose lock can be taken is dead, whether it was killed or died by an exception. The file is
  never removed by its own run (a run that raised may leave its status STARTED and its slot
  claimed when Dagster's storage failed); the next run, once it knows the run dead, marks it
  FAILURE, frees its pool slots and removes the file. A slot held by a run that does not hold its
  liveness lock is freed at once: runs execute steps only while holding the data root, which the
  recovering run holds. A slot of a run whose process is alive (which no run of this code does
  without the data root) is waited for, re-checked every second, for at most
  ``SLOT_WAIT_SECONDS``, after which the run stops with ``DataRootBusyError`` naming that run, its
  process and the remedy: it never waits in Dagster's own slot loop for a run that cannot finish;
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
SLOT_WAIT_SECONDS = 60  # how long a run waits for a pool slot held by another live process


class DataRootBusyError(RuntimeError):
    """A pool slot is held by a live process that does not hold the data root; what and why."""


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
    clear what dead runs left in ``instance`` (default: the data root's Dagster instance) and wait,
    at most ``SLOT_WAIT_SECONDS``, for a pool slot a live process holds (``_wait_for_pool_slots``),
    so the run's steps never wait in Dagster's slot loop for a run that cannot finish. Yields the
    list of what was cleaned up. Re-entrant within a process (the CLI takes it before the job,
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
    alive = _take_liveness(run_id)
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
        cleaned += _wait_for_pool_slots(run_id, instance, log)
        _held["cleaned"] = cleaned
        for line in cleaned:
            log(f"recovered: {line}")
        yield cleaned
    finally:
        _held.clear()
        os.environ.pop(RUN_ID_ENV, None)
        # Liveness first, then the data root (closing drops a flock): whoever takes the data root
        # next finds this run's process known ended. The file stays: the next run's recovery
        # removes it once it has marked the run and freed its slots (this run's own exit may be an
        # exception that left both behind).
        alive.close()
        root.close()


def _take_liveness(run_id: str):
    """Open and lock ``run_id``'s liveness file, writing this process's id into it; the open file
    is returned (its flock lasts as long as it is open). A file removed by another run's recovery
    between the open and the lock is opened again, so the lock held is always on the file's path."""
    path = _liveness_file(run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fh = path.open("a")
        fcntl.flock(fh, fcntl.LOCK_EX)  # our own file: contended only by a checker, for an instant
        try:
            if os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        fh.close()
    try:  # who holds it, for a waiting run's message; the lock, not the text, is what counts
        fh.truncate(0)
        fh.write(json.dumps({"pid": os.getpid()}))
        fh.flush()
    except OSError:
        pass
    return fh


def liveness_pid(run_id: str) -> int | None:
    """The process id written in ``run_id``'s liveness file (the run's process); None if unknown."""
    try:
        return int(json.loads(_liveness_file(run_id).read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _foreign_claims(current_run_id: str, instance) -> dict[str, set[str]]:
    """Run id -> the pools in which it holds a slot, for every run but ``current_run_id``."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    claims: dict[str, set[str]] = {}
    for key in storage.get_concurrency_keys():
        for claim in storage.get_concurrency_info(key).claimed_slots:
            if claim.run_id != current_run_id:
                claims.setdefault(claim.run_id, set()).add(key)
    return claims


def _wait_for_pool_slots(run_id: str, instance, log: Callable[[str], None]) -> list[str]:
    """After recovery: wait while a live process holds a pool slot (re-checked every second,
    recovering again as soon as it is gone), for at most ``SLOT_WAIT_SECONDS``; then raise
    ``DataRootBusyError`` naming it. Returns what the later recoveries cleaned."""
    from contextlib import nullcontext

    cleaned: list[str] = []
    deadline, next_report = time.monotonic() + SLOT_WAIT_SECONDS, 0.0
    with nullcontext(instance) if instance is not None else _data_root_instance() as inst:
        while claims := _foreign_claims(run_id, inst):
            other, pools = sorted(claims.items())[0]
            what = (
                f"run {other} (pid {liveness_pid(other) or 'unknown'}) to give up its "
                f"{', '.join(sorted(pools))} pool slot"
            )
            if time.monotonic() >= deadline:
                raise DataRootBusyError(
                    f"{what[:1].upper()}{what[1:]}: waited {SLOT_WAIT_SECONDS} s. Its process is "
                    "alive but does not hold the data root, so its steps cannot finish and every "
                    "step of this run would wait for that slot. Stop that process (or terminate "
                    f"run {other} in the Dagster UI), then run again."
                )
            if time.monotonic() >= next_report:
                log(f"waiting for {what}; re-checking every second")
                next_report = time.monotonic() + WAIT_REPORT_SECONDS
            time.sleep(1.0)
            if any(run_is_alive(r) is not True for r in claims):
                cleaned += recover(run_id, inst)
    return cleaned


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
        cleaned += _free_orphan_slots(current_run_id, instance)
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


def _free_orphan_slots(current_run_id: str, instance) -> list[str]:
    """Free the pool slots of runs that cannot be using them: finished runs (a run marked failed
    elsewhere), and runs whose process does not hold its liveness lock (dead, or not started:
    a run executes steps only while holding the data root, which the caller holds)."""
    cleaned = []
    storage = instance.event_log_storage
    for other, pools in sorted(_foreign_claims(current_run_id, instance).items()):
        run = instance.get_run_by_id(other)
        if run is None or run.is_finished:
            why = "it had finished"
        elif run_is_alive(other) is not True:
            why = "its process does not hold its liveness lock"
        else:
            continue
        storage.free_concurrency_slots_for_run(other)
        cleaned.append(f"freed pool slot {', '.join(sorted(pools))} held by run {other}: {why}")
    return cleaned


def _dead_liveness_files(paths_only: bool = False):
    """Run ids (or files) of liveness locks whose process is gone."""
    folder = locks_dir() / "runs"
    out = []
    for path in folder.glob("*.lock") if folder.exists() else []:
        if path.stem != _held.get("run_id") and run_is_alive(path.stem) is False:
            out.append(path)
    return out if paths_only else {p.stem for p in out}
