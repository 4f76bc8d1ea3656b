"""`dtsen serve` (issue 32): PostgreSQL started from the Debian package, the code location, the
daemon and the webserver as separate processes. The daemon ticks the landing sensor, its run goes
through the queue, publishes, and the run and its events are in PostgreSQL; SIGTERM stops it all.
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
    # SIGTERM stops every process, PostgreSQL last.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0
    assert not list(cluster.glob("postmaster.pid"))
