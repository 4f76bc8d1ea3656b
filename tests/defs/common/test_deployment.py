"""`dtsen serve` (issue 32): PostgreSQL started from the Debian package, the code location, the
daemon and the webserver as separate processes. The daemon ticks the landing sensor, its run goes
through the queue, publishes, and the run and its events are in PostgreSQL; a run whose process is
killed with SIGKILL is marked failed and the next run succeeds (launched from the asset graph, it
carries the monthly job's tag); SIGTERM stops it all.
Slow (a real month, end to end): `make test-slow`."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from dtsen_pipeline.defs.common import deployment
from dtsen_pipeline.lib.checksums import file_sha256

BIN = Path(sys.executable).parent
MONTH = "2025-01"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def _until(what: str, check, timeout: float, proc: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"dtsen serve exited while waiting for {what}"
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


def _psql(cluster: Path, sql: str) -> str:
    cmd = ["psql", "-h", str(cluster), "-d", "dagster", "-Atc", sql]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture()
def served(tmp_path):
    # PostgreSQL runs as `postgres` under root: its folders must be reachable by that account.
    root = Path(tempfile.mkdtemp(prefix="dtsen-serve-"))
    root.chmod(0o755)
    data = root / "data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTSEN_")}
    env.pop("DAGSTER_HOME", None)
    env |= {
        "DTSEN_DATA_DIR": str(data),
        "DTSEN_CODE_PORT": str(_free_port()),
        "DTSEN_REPORTS_PORT": str(_free_port()),
    }
    gen = subprocess.run(
        [str(BIN / "dtsen"), "generate", "--persons", "300", "--start", MONTH, "--months", "1"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert gen.returncode == 0, gen.stderr
    data.chmod(0o755)
    log = (root / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "dtsen"), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _until(
            "the webserver",
            lambda: urllib.request.urlopen(f"{base}/server_info", timeout=5).status == 200,
            300,
            proc,
        )
        yield base, data, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        log.close()
        print((root / "serve.log").read_text()[-3000:])
        shutil.rmtree(root, ignore_errors=True)


SENSOR = """mutation { startSensor(sensorSelector: {repositoryLocationName: "dtsen_pipeline",
  repositoryName: "__repository__", sensorName: "landing_sensor"}) { __typename } }"""
RUNS = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"
RUN = '{ runOrError(runId: "%s") { ... on Run { status tags { key value } } } }'
# What the UI sends: the job's launchpad (a month of monthly_refresh_job), the asset graph's
# Materialize (Dagster's implicit job with an asset selection).
LAUNCH = """mutation { launchPipelineExecution(executionParams: {selector: {
  repositoryLocationName: "dtsen_pipeline", repositoryName: "__repository__", pipelineName: "%s"
  %s}, executionMetadata: {tags: [{key: "dagster/partition", value: "%s"}]}}) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


def _launch(base: str, job: str, assets: str = "") -> str:
    launched = _graphql(base, LAUNCH % (job, assets, MONTH))["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _ended(base: str, run_id: str):
    run = _graphql(base, RUN % run_id)["runOrError"]
    return run if run["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None


def _killed_run_is_noticed(base: str, data: Path, proc: subprocess.Popen) -> None:
    """kill -9 of a run's process, once its first step holds the run's liveness lock: the run is
    marked failed, by the code location's server (which started the process and sees it die) or
    else by run monitoring (LivenessRunLauncher: tests/defs/common/test_launcher.py); the next
    run, from the asset graph, succeeds and is tagged as the monthly job's."""
    run_id = _launch(base, "monthly_refresh_job")
    liveness = data / "dagster_serve" / "locks" / "runs" / f"{run_id}.lock"

    def pid():
        try:
            return json.loads(liveness.read_text())["pid"]
        except (OSError, ValueError, KeyError):  # not there yet, or being written
            return None

    os.kill(_until("the run's first step", pid, 300, proc), signal.SIGKILL)
    killed = time.monotonic()
    run = _until("the killed run to be marked failed", lambda: _ended(base, run_id), 120, proc)
    assert run["status"] == "FAILURE", run
    print(f"the killed run was marked failed in {time.monotonic() - killed:.0f} s")
    said = _psql(
        data / "postgres",
        f"select count(*) from event_logs where run_id = '{run_id}' and (event like "
        "'%was terminated by signal 9 (SIGKILL)%' or event like '%is gone: killed or crashed%')",
    )
    assert int(said) >= 1
    keys = '{path: ["landing_inventory"]}'
    next_id = _launch(base, "__ASSET_JOB", f"assetSelection: [{keys}]")
    run = _until("the next run", lambda: _ended(base, next_id), 300, proc)
    assert run["status"] == "SUCCESS", run
    assert {"key": "dtsen/job", "value": "monthly_refresh_job"} in run["tags"]


def test_the_daemon_runs_a_landed_month_through_the_queue_into_postgres(served):
    base, data, proc = served
    assert _graphql(base, SENSOR)["startSensor"]["__typename"] == "Sensor"

    def finished():
        runs = _graphql(base, RUNS)["runsOrError"]["results"]
        done = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        return done[0] if done else None

    run = _until("the sensor's run to finish", finished, 1200, proc)
    assert run["status"] == "SUCCESS", run
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["dagster/sensor_name"] == "landing_sensor" and tags["dagster/partition"] == MONTH
    cluster = data / "postgres"
    assert (data / "dagster_serve" / "dagster.yaml").read_text() == deployment.SERVE_DAGSTER_YAML
    # The run and its events are in PostgreSQL; it went through the queue.
    assert _psql(cluster, f"select status from runs where run_id = '{run['runId']}'") == "SUCCESS"
    events = _psql(
        cluster,
        f"select distinct dagster_event_type from event_logs where run_id = '{run['runId']}'",
    ).split()
    assert {"PIPELINE_ENQUEUED", "PIPELINE_START", "PIPELINE_SUCCESS"} <= set(events)
    manifest = json.loads((data / "publish" / MONTH / "manifest.json").read_text())
    assert manifest["trigger"]["kind"] == "sensor" and manifest["dagster_run_id"] == run["runId"]
    assert manifest["inputs"]  # as ingest read them (raw.ingest_log): the files as they are
    for key, digest in manifest["inputs"].items():
        assert file_sha256(data / "landing" / key) == digest, key
    _killed_run_is_noticed(base, data, proc)
    # SIGTERM stops every process, PostgreSQL last.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0
    assert not list(cluster.glob("postmaster.pid"))
