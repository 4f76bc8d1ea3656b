"""`dtsen serve` (`make serve`): the platform as Dagster's deployment guide lays it out, on one
machine, each part its own process (docs/operations.md, "Deployment"):

1. PostgreSQL: run, event and schedule storage (dagster-postgres). Started here from the Debian
   package (a cluster in ``DTSEN_POSTGRES_DIR``, default ``data/postgres``, reached over its Unix
   socket only, run as the ``postgres`` account when dtsen runs as root), unless
   ``DTSEN_POSTGRES_URL`` names a server of your own.
2. The code location: ``dagster code-server start`` serving dtsen_pipeline.definitions over gRPC
   (the UI's Reload re-reads the definitions, the partitions' end included).
3. The daemon: ``dagster-daemon run`` (schedules, sensors, the run queue, run monitoring).
4. The webserver: ``dagster-webserver`` (the UI), and beside it the reports server.

The Dagster home is ``DTSEN_SERVE_HOME`` (default ``data/dagster_serve``); its dagster.yaml is
written only where none exists (PostgreSQL storage from ``DTSEN_POSTGRES_URL``, the queued run
coordinator taking one run at a time, run monitoring with launcher.LivenessRunLauncher, so a run
whose process was killed is marked failed) and never overwritten. Ctrl-C (SIGINT) or
SIGTERM stops every process, the webserver first and PostgreSQL last.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from dtsen_pipeline.lib import paths

PG_BIN = Path(os.environ.get("DTSEN_PG_BIN", "/usr/lib/postgresql/15/bin"))
BIN = Path(sys.executable).parent

SERVE_DAGSTER_YAML = (
    """# The dtsen deployment's Dagster instance (`dtsen serve`; docs/operations.md, Deployment): a
# default written once by dtsen_pipeline/defs/common/deployment.py where no dagster.yaml existed.
# It is yours to edit; dtsen never overwrites it. Keep one run and one warehouse writer at a time.
telemetry:
  enabled: false
storage:
  postgres:
    postgres_url:
      env: DTSEN_POSTGRES_URL
concurrency:
  runs:
    max_concurrent_runs: 1  # the queued run coordinator: one run at a time, first in, first out
  pools:
    default_limit: 1  # steps that write the DuckDB warehouse: one at a time
"""
    + paths.RUN_MONITORING_YAML
)


def serve_home() -> Path:
    return paths._env_path("DTSEN_SERVE_HOME", paths.data_root() / "dagster_serve")


def postgres_dir() -> Path:
    return paths._env_path("DTSEN_POSTGRES_DIR", paths.data_root() / "postgres")


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: under root, its commands run as the `postgres` account."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def local_postgres_url(cluster: Path) -> str:
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    # psycopg2 (dagster-postgres's driver) named: SQLAlchemy's default for postgresql:// is psycopg 3.
    return f"postgresql+psycopg2://{quote(user)}@/dagster?host={quote(str(cluster), safe='')}"


def start_postgres(cluster: Path, log) -> subprocess.Popen:
    """Start (creating, the first time) the cluster in ``cluster``; listens on its socket only."""
    if not (cluster / "PG_VERSION").exists():
        cluster.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(cluster, "postgres", "postgres")
        user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
        init = [
            str(PG_BIN / "initdb"),
            "-D",
            str(cluster),
            "-U",
            user,
            "--auth=trust",
            "-E",
            "UTF8",
        ]
        subprocess.run(_as_postgres_user(init), check=True, capture_output=True, text=True)
        log(f"PostgreSQL cluster created in {cluster}")
    server = subprocess.Popen(
        _as_postgres_user(
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(cluster),
                "-k",
                str(cluster),
                "-c",
                "listen_addresses=",
            ]
        ),
        stdout=subprocess.DEVNULL,
        stderr=(cluster.parent / "postgres.log").open("a")
        if os.access(cluster.parent, os.W_OK)
        else None,
        start_new_session=True,
    )
    return server


def _wait_for_database(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until PostgreSQL answers; create the ``dagster`` database the first time."""
    import psycopg2

    admin = url.replace("+psycopg2", "", 1).replace("/dagster?", "/postgres?")
    deadline = time.monotonic() + timeout
    while True:
        try:
            con = psycopg2.connect(admin)
            try:
                con.autocommit = True  # CREATE DATABASE runs outside a transaction
                with con.cursor() as cur:
                    cur.execute("select 1 from pg_database where datname = 'dagster'")
                    if cur.fetchone() is None:
                        cur.execute("create database dagster")
            finally:
                con.close()
            return
        except psycopg2.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "PostgreSQL did not start: see postgres.log beside its cluster"
                ) from None
            time.sleep(0.5)


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"the code location did not start serving on port {port}")


def write_instance(home: Path) -> Path:
    """The deployment's dagster.yaml (only where none exists) and its workspace file."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(SERVE_DAGSTER_YAML, encoding="utf-8")
    workspace = home / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
        f"      port: {int(os.environ.get('DTSEN_CODE_PORT', '4000'))}\n"
        "      location_name: dtsen_pipeline\n",
        encoding="utf-8",
    )
    return workspace


def _processes(workspace: Path, port: int) -> list[tuple[str, list[str]]]:
    code_port = os.environ.get("DTSEN_CODE_PORT", "4000")
    return [
        (
            "code location",
            [
                str(BIN / "dagster"),
                "code-server",
                "start",
                "-m",
                "dtsen_pipeline.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                code_port,
                "--working-directory",
                str(paths.PROJECT_ROOT),
            ],
        ),
        ("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]),
        (
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                str(workspace),
            ],
        ),
        ("reports", [sys.executable, "-m", "dtsen_pipeline.lib.reports"]),
    ]


def stop(children: list[tuple[str, subprocess.Popen]], log, timeout: float = 30) -> None:
    """Stop ``children`` in reverse order of start: SIGTERM, then SIGKILL past ``timeout``."""
    for name, proc in reversed(children):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # each child leads its own process group
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log(f"stopped {name} (pid {proc.pid})")


def serve(port: int = 3000, log=print) -> int:
    """Start every process, wait until one exits or a signal comes, then stop them all."""
    paths.ensure_dirs()
    home = serve_home()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DTSEN_WAREHOUSE_PATH": str(paths.warehouse_db()),
    }
    children: list[tuple[str, subprocess.Popen]] = []
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        if not env.get("DTSEN_POSTGRES_URL"):
            cluster = postgres_dir()
            children.append(("postgres", start_postgres(cluster, log)))
            env["DTSEN_POSTGRES_URL"] = local_postgres_url(cluster)
            _wait_for_database(env["DTSEN_POSTGRES_URL"], children[-1][1])
        workspace = write_instance(home)
        for name, cmd in _processes(workspace, port):
            children.append((name, subprocess.Popen(cmd, env=env, start_new_session=True)))
            log(f"started {name} (pid {children[-1][1].pid}): {' '.join(cmd[:3])} ...")
            if name == "code location":  # the daemon and the UI connect to it: wait until it serves
                _wait_for_port(int(os.environ.get("DTSEN_CODE_PORT", "4000")), children[-1][1])
        log(f"dtsen serve: the UI on http://127.0.0.1:{port}, Dagster home {home}; Ctrl-C stops it")
        while not stopping and all(p.poll() is None for _, p in children):
            time.sleep(1)
        exited = [n for n, p in children if p.poll() is not None]
        if exited:
            log(f"dtsen serve: {', '.join(exited)} exited; stopping the rest")
    except KeyboardInterrupt:
        pass
    finally:
        stop(children, log)
    return 0
