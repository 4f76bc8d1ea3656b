"""The dbt project and its preparation: the registry's generated files and the parsed manifest.

Importing this module (or the definitions) writes nothing and runs nothing. ``prepare()`` is the
one step that does, run by ``make setup`` (so ``make demo``, ``make test`` and ``make ui`` have a
manifest), by ``dtsen run`` before it loads the definitions, and by hand after editing a source's
YAML or a model: ``python -m dtsen_pipeline.defs.dbt.project``.

The parse also leaves ``target/partial_parse.msgpack``, which dagster-dbt copies into each run's
own target folder: a monthly ``dbt build`` then parses only what changed since (nothing, when the
project has not changed; the month is not a dbt var, see macros/months.sql).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import re
import shutil
import sys
import threading
import time
from functools import cached_property
from pathlib import Path

from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtCliResource, DbtProject
from dagster_dbt.asset_utils import (
    DBT_INDIRECT_SELECTION_ENV,
    extract_runtime_selection_from_args,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.dbt_manifest import validate_manifest
from packaging import version
from pydantic import Field

from dtsen_pipeline.lib import paths

dbt_project = DbtProject(project_dir=paths.DBT_PROJECT_DIR, profiles_dir=paths.DBT_PROJECT_DIR)


class DbtCli(DbtCliResource):
    """dagster-dbt's dbt CLI resource, with a dbt step's dbt run inside the step's process
    (``in_process``, see in_process.py) and without the two things dagster-dbt does before each dbt
    command that this project does not use, which took seconds of every dbt step before dbt even
    started:

    - ``dbt --version`` in a subprocess (a whole dbt start-up) to learn dbt's version: the dbt
      executable is this environment's, so its version is the installed dbt-core's;
    - a dbt adapter built in this process (dbt's import, profile and macros): it serves only
      ``fetch_row_counts()`` / ``fetch_column_metadata()``, which on DuckDB wait until dbt exits (one
      writer), so the row counts and column types come from dbt itself (macros/dagster_metadata.sql).
      Without an adapter dagster-dbt runs dbt as usual (it carries on the same way when it cannot
      build one).
    """

    in_process: bool = Field(
        default=True,
        description=(
            "Run a step's dbt command on a thread of the step's process (dbt's programmatic runner, "
            "the project parsed once per process) instead of a new dbt process per step, which "
            "spent about 6 s importing dbt and loading the manifest before dbt's first node."
        ),
    )

    def setup_for_execution(self, context) -> None:
        """At the start of a run that uses dbt (in_process): the project's parse begins on a
        thread, so the first dbt step finds it parsed (the ingest steps, first, do not use dbt). A
        failure is left to that step, which parses again and reports it."""
        super().setup_for_execution(context)
        if self.in_process:
            project_dir = Path(self.project_dir)
            target_path = project_dir / self._get_unique_target_path(context=None)

            def parse() -> None:
                with contextlib.suppress(Exception):
                    self._parsed_manifest(project_dir, target_path)

            threading.Thread(target=parse, name="dbt-parse", daemon=True).start()

    def _parsed_manifest(self, project_dir: Path, target_path: Path):
        """dbt's Manifest for this process (in_process.parsed_manifest), its parse logged in
        ``target_path``."""
        from dtsen_pipeline.defs.dbt.in_process import parsed_manifest

        return parsed_manifest(
            project_dir,
            Path(self.profiles_dir or project_dir),
            dbt_project.manifest_path,
            target_path,
        )

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None

    def cli(
        self,
        args,
        *,
        raise_on_error=True,
        manifest=None,
        dagster_dbt_translator=None,
        context=None,
        target_path=None,
    ) -> DbtCliInvocation:
        """A step's dbt command (one with a ``context``) runs in process; anything else (``parse``
        in ``prepare()``) as dagster-dbt runs it. The selection, target folder and environment are
        built as dagster-dbt builds them for its process (``DbtCliResource.cli``)."""
        if not self.in_process or context is None:
            return super().cli(
                args,
                raise_on_error=raise_on_error,
                manifest=manifest,
                dagster_dbt_translator=dagster_dbt_translator,
                context=context,
                target_path=target_path,
            )
        from dtsen_pipeline.defs.dbt.in_process import DbtThread

        cleaned_args, selects, excludes = extract_runtime_selection_from_args(args)
        params = get_updated_cli_invocation_params_for_context(
            context=context,
            manifest=validate_manifest(manifest) if manifest else {},
            dagster_dbt_translator=dagster_dbt_translator or DagsterDbtTranslator(),
            runtime_selects=selects,
            runtime_excludes=excludes,
        )
        project_dir = Path(
            params.dbt_project.project_dir if params.dbt_project else self.project_dir
        )
        target_path = Path(target_path or self._get_unique_target_path(context=context))
        if not target_path.is_absolute():  # a thread has the process's working directory
            target_path = project_dir / target_path
        env = {
            "DAGSTER_DBT_CLI": "true",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_LOG_FORMAT": "json",
            "DBT_TARGET_PATH": str(target_path),
            "DBT_LOG_PATH": str(target_path),
            "DBT_PROJECT_DIR": str(project_dir),
            **({"DBT_PROFILES_DIR": self.profiles_dir} if self.profiles_dir else {}),
            **(
                {DBT_INDIRECT_SELECTION_ENV: params.indirect_selection}
                if params.indirect_selection
                else {}
            ),
        }
        return DbtCliInvocation(
            process=DbtThread(
                [*self.global_config_flags, *cleaned_args, *params.selection_args],
                env,
                self._parsed_manifest(project_dir, target_path),
            ),
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            project_dir=project_dir,
            target_path=target_path,
            raise_on_error=raise_on_error,
            context=context,
            adapter=None,
            cli_version=self._cli_version,
            project=params.dbt_project,
        )


def dbt_resource() -> DbtCliResource:
    """dbt from this interpreter's environment, so it works without an activated venv."""
    return DbtCli(project_dir=dbt_project, dbt_executable=str(Path(sys.executable).parent / "dbt"))


# A dbt step's own target folder (dagster-dbt: ``<step>-<run id[:7]>-<uuid[:7]>``, or ``<uuid[:7]>``
# without a context): its manifest copy, compiled SQL, run_results.json and dbt.log.
_INVOCATION_DIR = re.compile(r"^(?:\w+-[0-9a-f]{7}-)?[0-9a-f]{7}$")
KEEP_INVOCATIONS = 20
KEEP_INVOCATIONS_S = 24 * 3600


def prune_invocations(
    target: Path | None = None, keep: int = KEEP_INVOCATIONS, keep_s: float = KEEP_INVOCATIONS_S
) -> int:
    """Remove dbt steps' target folders beyond the ``keep`` newest and older than ``keep_s``
    seconds; the folders removed. Each dbt step writes one (about 6 MB: a manifest, the compiled
    SQL, dbt's log), so they would otherwise grow by two a month and by hundreds per test suite.
    The newest stay for reading a failed step's dbt.log; a folder younger than ``keep_s`` is never
    removed, so no step still running (another data root's) loses its folder."""
    target = target or dbt_project.project_dir / dbt_project.target_path
    if not target.is_dir():
        return 0
    folders = sorted(
        (p for p in target.iterdir() if p.is_dir() and _INVOCATION_DIR.match(p.name)),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    now = time.time()
    removed = 0
    for folder in folders[keep:]:
        if now - folder.stat().st_mtime > keep_s:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def manifest_is_stale() -> bool:
    """The manifest is missing or older than a file dbt parses."""
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    project = paths.DBT_PROJECT_DIR
    sources = [
        project / "dbt_project.yml",
        project / "profiles.yml",
        project / "selectors.yml",
        *project.glob("models/**/*"),
        *project.glob("macros/**/*"),
        *project.glob("tests/**/*"),
        *project.glob("seeds/**/*"),
    ]
    return any(p.stat().st_mtime > built for p in sources if p.is_file())


def prepare() -> bool:
    """Generate the registry's dbt files, then parse the project if its manifest is missing or
    stale, or was parsed for another warehouse. Processes preparing at once take turns (a lock file
    beside the manifest). True if dbt parsed.

    dbt keeps its partial-parse state only for the profile it was parsed with, and the profile holds
    the warehouse's path (DTSEN_WAREHOUSE_PATH, from the data root): parsed for another data root,
    every `dbt build` would parse the whole project again. So the parse is redone here, once, when
    the data root changes, rather than in each dbt step."""
    from dtsen_pipeline.ingest import dbt_registry

    paths.export_env()
    warehouse = os.environ["DTSEN_WAREHOUSE_PATH"]
    target = dbt_project.project_dir / dbt_project.target_path
    target.mkdir(parents=True, exist_ok=True)
    parsed_for = target / ".parsed_for_warehouse"
    with (target / ".prepare.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        changed = dbt_registry.sync()
        other_warehouse = (
            not parsed_for.exists() or parsed_for.read_text(encoding="utf-8") != warehouse
        )
        prune_invocations()
        if changed or other_warehouse or manifest_is_stale():
            _parse_into(target)
            parsed_for.write_text(warehouse, encoding="utf-8")
            return True
    return False


def _parse_into(target: Path) -> None:
    """``dbt parse`` in a folder of its own, then its artifacts moved into ``target`` one by one
    (os.replace): a process loading the definitions or starting a dbt step meanwhile (another data
    root's run, `make ui`) reads the previous manifest or the new one, never a half-written file."""
    scratch = target / f".parse-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        if (target / "partial_parse.msgpack").exists():  # dbt parses only what changed since
            shutil.copy(target / "partial_parse.msgpack", scratch)
        dbt_resource().cli(["parse", "--quiet"], target_path=scratch).wait()
        for artifact in scratch.iterdir():
            if artifact.is_file() and artifact.suffix in (".json", ".msgpack"):
                os.replace(artifact, target / artifact.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    parsed = prepare()
    print(f"dbt project {'parsed' if parsed else 'up to date'}: {dbt_project.manifest_path}")
