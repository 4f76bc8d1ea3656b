"""dbt run inside the step's own process, by dbt's programmatic runner (``dbtRunner``).

dagster-dbt starts a new dbt process for every command. Before that process reports anything it
imports dbt (about 4 s on this machine) and loads the manifest (about 2 s), and the monthly run has
two dbt steps. The step's process has imported dbt already (dagster-dbt does), so here the same
``dbt build`` runs on a thread of that process, with the project parsed once per process (dbt's
"reusing objects": ``dbtRunner(manifest=...)``).

Everything else stays dagster-dbt's: the command, its selection for the assets a run selected, the
per-step target folder, and the reading of dbt's structured events into Dagster events
(``DbtCliInvocation``). :class:`DbtThread` stands in for the ``subprocess.Popen`` that
``DbtCliInvocation`` reads: dbt's events reach it as the JSON lines ``dbt --log-format json`` would
print, as dbt fires them, so the UI shows each model as it finishes.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

_END = object()  # the thread's last line: dbt has returned
_LEVELS = {"info", "warn", "error"}  # what `dbt --log-level info` prints; debug stays in dbt.log


class _Lines:
    """dbt's events as the byte lines a process's stdout would give, in the order dbt fired them."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self.closed = False

    def put(self, line: bytes | object) -> None:
        self._queue.put(line)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self._queue.get()
            if line is _END:
                return
            yield line

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc) -> None:
        self.closed = True


class DbtThread:
    """One dbt command on a thread of this process, behind the part of ``subprocess.Popen`` that
    dagster-dbt's ``DbtCliInvocation`` uses: ``args``, ``stdout``, ``wait()``, ``returncode`` and
    ``send_signal()``.

    ``env`` is the environment dagster-dbt gives a dbt process (its target and log folder, the JSON
    log format, the indirect selection); it is this process's environment while dbt starts, since dbt
    reads its flags and ``env_var()`` values from there, and is restored when dbt returns.
    """

    def __init__(self, args: Sequence[str], env: Mapping[str, str], manifest: Any) -> None:
        self.args = ["dbt", *args]
        self.returncode: int | None = None
        self.stdout = _Lines()
        self._thread = threading.Thread(
            target=self._run, args=(list(args), dict(env), manifest), name="dbt", daemon=True
        )
        self._thread.start()

    def _run(self, args: list[str], env: dict[str, str], manifest: Any) -> None:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
        from dbt.cli.main import dbtRunner
        from dbt_common.events.functions import msg_to_dict

        databases: list = []  # dbt-duckdb's open database, seen while dbt runs

        def forward(msg) -> None:
            database = DuckDBConnectionManager._ENV
            if database is not None and (not databases or databases[-1] is not database):
                databases.append(database)
            if msg.info.level in _LEVELS:
                self.stdout.put(json.dumps(msg_to_dict(msg), default=str).encode())

        # The console stays quiet: the events reach the step (and its log) through `forward`.
        env = {**env, "DBT_LOG_LEVEL": "none", "DBT_LOG_LEVEL_FILE": "debug"}
        saved = {key: os.environ.get(key) for key in env}
        try:
            os.environ.update(env)
            result = dbtRunner(manifest=manifest, callbacks=[forward]).invoke(args)
            if result.exception is not None:
                # dbt could not run the command at all (a profile or project error): said the way
                # dbt's CLI says it, as an error event, so dagster-dbt's error names it.
                self.stdout.put(_error_line(f"dbt: {result.exception}"))
                self.returncode = 2
            else:
                self.returncode = 0 if result.success else 1
        except BaseException as exc:  # noqa: BLE001 - a thread must report, not die silently
            self.stdout.put(_error_line(f"dbt: {type(exc).__name__}: {exc}"))
            self.returncode = 2
        finally:
            # dbt-duckdb forgets its database when dbt ends but leaves it open: in this process the
            # warehouse file would stay held by dbt's DuckDB, and the next step's connection (other
            # settings) would be refused. A dbt process closed it by exiting.
            for database in databases:
                database.close()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self.stdout.put(_END)

    def wait(self, timeout: float | None = None) -> int | None:
        self._thread.join(timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        """Stop dbt when the run is terminated: interrupt the query DuckDB is running, and each one
        dbt starts after it, until dbt returns (dagster-dbt then waits for it, as for a process)."""
        if sig not in (signal.SIGINT, signal.SIGTERM):
            return

        def interrupt() -> None:
            while self._thread.is_alive():
                _interrupt_duckdb()
                self._thread.join(0.2)

        threading.Thread(target=interrupt, name="dbt-interrupt", daemon=True).start()


def stop_dbt_threads(timeout: float = 60) -> bool:
    """After Ctrl-C, wait for every dbt thread of this process to return, interrupting the query
    DuckDB runs for it: a process that exits while a thread is inside DuckDB aborts (rc 134) instead
    of stopping. False if one still runs after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    for thread in [t for t in threading.enumerate() if t.name == "dbt"]:
        while thread.is_alive() and time.monotonic() < deadline:
            _interrupt_duckdb()
            thread.join(0.2)
    return not any(t.name == "dbt" and t.is_alive() for t in threading.enumerate())


def _interrupt_duckdb() -> None:
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    conn = getattr(DuckDBConnectionManager._ENV, "conn", None)
    if conn is not None:
        with contextlib.suppress(Exception):  # closed between the check and the call
            conn.interrupt()


def _error_line(message: str) -> bytes:
    return json.dumps(
        {"info": {"level": "error", "msg": message, "name": "MainEncounteredError"}, "data": {}}
    ).encode()


# The parsed project, once per process: ((manifest.json's mtime, warehouse path), dbt's Manifest).
# prepare() rewrites manifest.json whenever the project or the warehouse changes, so a key that no
# longer matches means parse again.
_parsed: tuple[tuple, Any] | None = None
_parsed_lock = threading.Lock()


def parsed_manifest(
    project_dir: Path, profiles_dir: Path, manifest_path: Path, target_path: Path
) -> Any:
    """dbt's Manifest object for this process, parsed (partially, from the prepared project's
    ``partial_parse.msgpack``) the first time a step needs it."""
    from dbt.cli.main import dbtRunner

    global _parsed
    key = (manifest_path.stat().st_mtime_ns, os.environ.get("DTSEN_WAREHOUSE_PATH"))
    with _parsed_lock:
        if _parsed is not None and _parsed[0] == key:
            return _parsed[1]
        target_path.mkdir(parents=True, exist_ok=True)
        partial = manifest_path.parent / "partial_parse.msgpack"
        if partial.exists():
            shutil.copy(partial, target_path / partial.name)
        result = dbtRunner().invoke(
            [
                "parse",
                "--project-dir",
                str(project_dir),
                "--profiles-dir",
                str(profiles_dir),
                "--target-path",
                str(target_path),
                "--log-path",
                str(target_path),
                "--log-format",
                "json",  # as the step's build logs to the same dbt.log
                "--log-level",
                "none",
                "--log-level-file",
                "debug",  # the step's dbt.log shows the parse (partial, or why not)
            ]
        )
        if isinstance(result.exception, BaseException) and not isinstance(
            result.exception, Exception
        ):
            raise result.exception  # Ctrl-C while dbt parsed (dbtRunner returns it): stop the step
        if not result.success or result.result is None:
            raise RuntimeError(
                f"dbt could not parse {project_dir} in process: {result.exception}; "
                "run `python -m dtsen_pipeline.defs.dbt.project` to see dbt's own message"
            )
        _parsed = (key, result.result)
        return result.result
