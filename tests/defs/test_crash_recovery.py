"""Crash safety: `dtsen run` killed with SIGKILL at each stage, then simply run again.

The month is run in its own data root from the session world's landing files. It is killed
(SIGKILL to `dtsen run` alone, as the kernel's OOM killer or `kill -9` would) as soon as it
reaches a stage, and run again with no manual step. Each run after a kill must say what it cleaned
up and get past the stage where its predecessor died; the last one completes. Then the release
must hold exactly what a clean run of the same files published, and no process of the data root
may be left running. The kills are chained (each rerun is killed at the next stage) so the test
costs about three runs, not ten.

Two more ways to stop, in the same chain (issue 31): Ctrl-C (SIGINT) while dbt works stops the run
with one line and exit code 130 (it aborted with 134); and a run that dies by an exception (its
Dagster event shard made unreadable mid-month, as a failing disk does: "file is not a database")
says so in one line, and the run after it, started at once with the file repaired, clears it and
completes (such a rerun hung).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pytest

from dtsen_pipeline.publish import releases
from tests.conftest import BIN, MONTHS

MONTH = MONTHS[0]
# (stage, the progress line that says the stage has begun, how the run is stopped there)
STAGES = [
    ("dbt", "start    dbt_staging", "interrupt"),
    ("ingest", "start    raw__dtks__individu", "kill"),
    ("dbt", "start    dbt_staging", "kill"),
    ("linkage", "start    person_linkage", "kill"),
    ("gate", "start    dtsen_individu_gx_dtsen_individu", "kill"),
    ("publish", "start    publish__dtsen_release", "kill"),
    ("linkage", "start    person_linkage", "exception"),
]
RUN_TIMEOUT = 600


def _processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (the kill test's data root)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if marker.encode() in (proc / "environ").read_bytes().split(b"\0"):
                    stat = (proc / "stat").read_text()
                    if ") Z " not in stat:  # zombies are dead
                        pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def _alive(pid: int) -> bool:
    try:
        return ") Z " not in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False


def _children(pid: int) -> list[str]:
    """Command lines of the live children of ``pid``."""
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                    out.append(
                        (proc / "cmdline")
                        .read_bytes()
                        .replace(b"\0", b" ")
                        .decode(errors="replace")
                    )
            except (OSError, IndexError):
                continue
    return out


class _Run:
    """`dtsen run --month` in the background, its stderr collected line by line."""

    def __init__(self, env: dict):
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [str(BIN / "dtsen"), "run", "--month", MONTH],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            # SIGINT as a terminal leaves it (a test runner's worker may ignore it, and the child
            # would inherit that): the Ctrl-C stage sends one.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = RUN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None, f"run ended before {text!r}:\n" + "\n".join(
                self.lines[-30:]
            )
            assert time.monotonic() < deadline, f"no {text!r} within {timeout}s:\n" + "\n".join(
                self.lines[-30:]
            )
            time.sleep(0.1)

    def output(self) -> str:
        self.reader.join(timeout=10)
        return "\n".join(self.lines)


def _release_rows(release: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(release / releases.RELEASE_DB), read_only=True) as con:
        tables = [
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        ]
        return {
            t: con.execute(f"select * from {t} order by all").fetchall() for t in sorted(tables)
        }


def _interrupt(run: _Run) -> None:
    """Ctrl-C while dbt works: one line, exit code 130, no abort and no traceback."""
    run.wait_for("check    ref_")  # dbt is building: after its first model
    run.proc.send_signal(signal.SIGINT)
    assert run.proc.wait(timeout=120) == 130, run.output()
    out = run.output()
    assert out.splitlines()[-1].startswith(
        f"dtsen run {MONTH}: interrupted during step dbt_staging; run "
    ), out
    assert "Traceback" not in out and "terminate called" not in out, out


def _die_by_exception(run: _Run, root: Path) -> str:
    """The run's Dagster event shard made unreadable mid-step (its SQLite header zeroed): the
    run dies by an exception, says so in one line, and the file is repaired behind it."""
    shards = [p for p in (root / "dagster_home" / "history" / "runs").glob("*.db")]
    shard = max((p for p in shards if p.name != "index.db"), key=lambda p: p.stat().st_mtime)
    with shard.open("r+b") as fh:
        header = fh.read(100)
        fh.seek(0)
        fh.write(bytes(100))
    try:
        assert run.proc.wait(timeout=300) == 1
    finally:
        with shard.open("r+b") as fh:
            fh.write(header)
    out = run.output()
    assert out.splitlines()[-1].startswith(
        f"dtsen run {MONTH}: the run stopped: Dagster's storage ("
    ), out
    assert "file is not a database" in out.splitlines()[-1], out
    return out


@pytest.mark.slow
@pytest.mark.timeout(2100)  # eight runs of a month, seven of them stopped part-way
def test_a_run_killed_at_any_stage_recovers_on_the_next_run(
    first_month_run, data_root, cli_env, tmp_path
):
    root = tmp_path / "killed"
    for month_dir in (data_root / "landing").glob(f"*/{MONTH}"):
        shutil.copytree(month_dir, root / "landing" / month_dir.parent.name / MONTH)
    marker = f"DTSEN_DATA_DIR={root}"
    env = {
        **cli_env,
        "DTSEN_DATA_DIR": str(root),
        # the clean run's salt, so the two releases' hashes can be compared
        "DTSEN_PSEUDONYM_SALT": (data_root / "secrets" / "pseudonym_salt").read_text().strip(),
    }

    previous, orphans = None, []
    for stage, started, how in STAGES:
        run = _Run(env)
        run.wait_for(started)  # so this run got past the stage where the previous one died
        if how == "interrupt":
            _interrupt(run)
            continue  # a clean stop: nothing for the next run to recover
        if how == "exception":  # this run first cleared the publish-stage kill, then died
            out = _die_by_exception(run, root)
            assert "recovered: marked run" in out and "FAILURE: its process had died" in out, out
            break  # the final run, started at once, must clear it and complete
        if stage == "dbt":  # kill while dbt works: after its first model, before its last
            run.wait_for("check    ref_")
            # dbt works on a thread of the run's process (defs/dbt/in_process.py): it dies with the
            # run, and no dbt process is left writing the warehouse
            children = _children(run.proc.pid)
            assert not any("dbt build" in c for c in children), children
        run.proc.send_signal(signal.SIGKILL)
        run.proc.wait(timeout=30)
        out = run.output()
        if previous is not None:  # the run after a kill cleaned up and said so
            assert "recovered: marked run" in out and "FAILURE: its process had died" in out, (
                stage,
                out,
            )
        if (
            previous == "dbt"
        ):  # ... and no process the dbt-stage victim left (log tails) outlived it
            assert not [pid for pid in orphans if _alive(pid)], out
        if stage == "dbt":
            orphans = _processes_with(marker)
        previous = stage

    final = subprocess.run(
        [str(BIN / "dtsen"), "run", "--month", MONTH],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert final.returncode == 0, final.stderr
    assert (
        "recovered: marked run" in final.stderr and "FAILURE: its process had died" in final.stderr
    )
    assert not _processes_with(marker), "a process of the killed runs is still running"
    # Nothing half-written is left, and the release is exactly a clean run's.
    publish = root / "publish"
    assert not list(publish.glob(".tmp-*"))
    recovered = publication_current(publish)
    assert _release_rows(recovered) == _release_rows(data_root / "publish" / MONTH)


def publication_current(publish: Path) -> Path:
    return (publish / "current").resolve()
