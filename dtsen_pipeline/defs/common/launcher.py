"""The deployment's run launcher: Dagster's default (each run its own process, started by the code
location's server), plus the health check that run monitoring needs to notice a run whose process
died.

Dagster's ``DefaultRunLauncher`` cannot tell whether a run's process is alive, so its run
monitoring only fails runs that never start: a run killed with ``kill -9`` stayed STARTED until the
next run of the data root found it dead (runlock.recover). ``LivenessRunLauncher`` answers from the
run's liveness lock (runlock: ``locks/runs/<run_id>.lock``, flocked by the run's process from its
first step to its last; the kernel drops the flock when the process dies):

- held: the run is RUNNING;
- free, and the process that held it (its pid is in the file) still exists: the run is finishing
  (its last step released the lock, the end of the run is being written): RUNNING;
- free, and that process gone (or a zombie): FAILED, and the daemon's run monitoring marks the run
  failed (its pool slot is freed by the next run's recovery if Dagster left it claimed);
- never taken: RUNNING for ``runlock.NO_LIVENESS_GRACE_SECONDS`` after the run started (it is
  loading the definitions), FAILED after, as the next run's recovery would judge it.

The check reads only the data root's lock files and ``/proc``: the daemon and the runs must share
``DAGSTER_HOME`` (``dtsen serve`` gives every process the same). Set in dagster.yaml as
``run_launcher: {module: dtsen_pipeline.defs.common.launcher, class: LivenessRunLauncher}`` with
``run_monitoring: {enabled: true}``; both are in the deployment's default (deployment.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from dagster import DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

from dtsen_pipeline.defs.common import runlock


def _process_exists(pid: int) -> bool:
    """True while ``pid`` is a process that has not exited (a zombie has: it awaits its parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def worker_health(run_id: str, started: float | None) -> tuple[bool, str]:
    """(alive, why) of ``run_id``'s process, from its liveness lock; ``started``: when the run
    started (epoch seconds), for a run that has not taken its lock yet."""
    alive = runlock.run_is_alive(run_id)
    if alive:
        return True, "its process holds the run's liveness lock"
    if alive is None:
        waited = time.time() - (started or time.time())
        if waited < runlock.NO_LIVENESS_GRACE_SECONDS:
            return True, f"starting ({waited:.0f} s): it has not reached its first step yet"
        return False, (
            f"its process never took the run's liveness lock in {waited:.0f} s "
            f"(more than {runlock.NO_LIVENESS_GRACE_SECONDS} s): it died before its first step"
        )
    pid = runlock.liveness_pid(run_id)
    if pid is not None and _process_exists(pid):
        return True, f"finishing: process {pid} released the liveness lock and is still running"
    return False, (
        f"its process (pid {pid if pid is not None else 'unknown'}) is gone: killed or crashed "
        "without reporting the end of the run"
    )


class LivenessRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` whose run workers run monitoring can check (``worker_health``)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        record = self._instance.get_run_record_by_id(run.run_id)
        started = (record.start_time or record.create_timestamp.timestamp()) if record else None
        alive, why = worker_health(run.run_id, started)
        status = WorkerStatus.RUNNING if alive else WorkerStatus.FAILED
        return CheckRunHealthResult(status, f"dtsen: {why}")
