"""Run monitoring notices a run whose process died (issue 32): the deployment's run launcher
answers Dagster's health check from the run's liveness lock. A real process takes the lock as a
run does and is killed with SIGKILL; Dagster's own run-monitoring step then marks the run failed.
(The deployment itself, with the daemon, is tests/defs/common/test_deployment.py.)"""

import logging
import os
import signal
import subprocess
import sys
import time

from dagster import DagsterRunStatus, Definitions, asset, define_asset_job, instance_for_test
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from dtsen_pipeline.defs.common import runlock
from dtsen_pipeline.defs.common.launcher import LivenessRunLauncher, worker_health
from dtsen_pipeline.lib import paths

HOLDER = (
    "import sys, time\n"
    "from dtsen_pipeline.defs.common import runlock\n"
    "alive = runlock._take_liveness(sys.argv[1])  # as a run's first step takes it\n"
    "print('holding', flush=True)\n"
    "time.sleep(120)\n"
)


@asset
def step():
    pass


def _hold(run_id: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, run_id], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_worker_health_from_the_liveness_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    # Not taken yet: starting, within the grace; dead after it.
    assert worker_health("r0", time.time() - 5)[0] is True
    late = worker_health("r0", time.time() - runlock.NO_LIVENESS_GRACE_SECONDS - 1)
    assert late[0] is False and "never took" in late[1]
    proc = _hold("r1")
    try:
        assert worker_health("r1", time.time()) == (
            True,
            "its process holds the run's liveness lock",
        )
        os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.5)  # not reaped yet: a zombie is no live process
        alive, why = worker_health("r1", time.time())
        assert not alive and f"its process (pid {proc.pid}) is gone" in why
    finally:
        proc.kill()
        proc.wait()
    # Released by a process still running (the run is writing its end): alive.
    (runlock.locks_dir() / "runs" / "r2.lock").write_text(f'{{"pid": {os.getpid()}}}')
    assert worker_health("r2", time.time())[1].startswith("finishing")


def test_run_monitoring_marks_a_killed_run_failed(tmp_path, monkeypatch):
    """Dagster's run-monitoring step (the daemon's, called once here) on a STARTED run: left alone
    while its process lives, marked FAILURE with the reason once the process is killed."""
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    paths.dagster_home().mkdir(parents=True)
    launcher = {"module": "dtsen_pipeline.defs.common.launcher", "class": "LivenessRunLauncher"}
    with instance_for_test(
        temp_dir=str(paths.dagster_home()),
        overrides={"run_launcher": launcher, "run_monitoring": {"enabled": True}},
    ) as instance:
        assert isinstance(instance.run_launcher, LivenessRunLauncher)
        job = Definitions(assets=[step], jobs=[define_asset_job("month", [step])]).resolve_job_def(
            "month"
        )
        run = instance.create_run_for_job(job, status=DagsterRunStatus.STARTED)
        proc = _hold(run.run_id)
        log = logging.getLogger("run_monitoring")
        try:
            monitor_started_run(instance, None, instance.get_run_record_by_id(run.run_id), log)
            assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
            proc.kill()
            proc.wait()
            monitor_started_run(instance, None, instance.get_run_record_by_id(run.run_id), log)
        finally:
            proc.kill()
            proc.wait()
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
        [failure] = [
            e for e in instance.all_logs(run.run_id) if e.dagster_event_type == "PIPELINE_FAILURE"
        ]
        assert f"its process (pid {proc.pid}) is gone" in failure.message


def test_the_default_instances_monitor_runs_with_this_launcher(tmp_path, monkeypatch):
    """The dagster.yaml written where none exists, for `make ui` (paths) and for `make serve`
    (deployment, PostgreSQL: read, not opened), both turn run monitoring on with this launcher."""
    import yaml
    from dagster import DagsterInstance

    from dtsen_pipeline.defs.common import deployment

    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    paths.ensure_dirs()
    with DagsterInstance.from_config(str(paths.dagster_home())) as instance:
        assert isinstance(instance.run_launcher, LivenessRunLauncher)
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 10
    serve = yaml.safe_load(deployment.SERVE_DAGSTER_YAML)
    local = yaml.safe_load((paths.dagster_home() / "dagster.yaml").read_text())
    for key in ("run_launcher", "run_monitoring"):
        assert serve[key] == local[key]
