"""``dtsen``: generate synthetic extracts, run the monthly job, evaluate linkage."""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import sys
import threading
from pathlib import Path

from dtsen_pipeline.lib import paths

# lab/generate/world.py's PROFILES (not imported here: the generator loads numpy and pandas).
GENERATOR_PROFILES = ("default", "hard", "lookalikes")

JOB_NAME = "monthly_refresh_job"


def _cmd_generate(args: argparse.Namespace) -> int:
    from dtsen_pipeline.lab.generate import generate

    out = Path(args.out) if args.out else None
    written = generate(
        persons=args.persons,
        start=args.start,
        months=args.months,
        seed=args.seed,
        out=out,
        log=lambda line: print(line, file=sys.stderr, flush=True),
        reverified=args.reverified,
        profile_name=args.profile,
    )
    for w in written:
        print(f"{w.month}: " + ", ".join(f"{s} {n:,}" for s, n in w.records.items()))
    print(
        f"landing files under {(out / 'landing') if out else paths.landing_dir()}; "
        f"ground truth under {written[-1].truth.parent.parent}"
    )
    return 0


def _import_quietly(module: str) -> None:
    """Import ``module`` ahead of need; an error is left to the code that needs it, which imports
    the module again and reports it where it belongs (a check's failure)."""
    with contextlib.suppress(Exception):
        importlib.import_module(module)


def run_month(
    month: str,
    *,
    show_progress: bool = True,
    layers: tuple[str, ...] | None = None,
    retrain: bool = False,
    full_relink: bool = False,
):
    """Execute the monthly job in-process against the local Dagster instance (shows in the UI);
    ``layers`` limits it to those asset groups (for example raw and staging; see ``layer_selection``)."""
    paths.ensure_dirs()
    paths.export_env()
    import uuid

    from dagster import DagsterInstance

    from dtsen_pipeline.defs.common import runlock
    from dtsen_pipeline.defs.dbt.project import prepare

    prepare()  # the registry's dbt files and the manifest, before the definitions read them
    from dtsen_pipeline.definitions import defs

    job = defs.resolve_job_def(JOB_NAME)
    loggers = {"progress": {}} if show_progress else {"console": {"config": {"log_level": "ERROR"}}}
    log_path = paths.logs_dir() / f"run-{month}.log"
    # dbt writes its own log lines to stdout; keep them in a file and the terminal for progress.
    run_id = str(uuid.uuid4())  # as Dagster makes its run ids
    say = (
        (lambda line: print(f"dtsen run {month}: {line}", file=sys.stderr, flush=True))
        if show_progress
        else (lambda line: None)
    )
    # The data root is held before the job starts (waiting, if need be, for the run that holds it),
    # and what dead runs left is cleaned and said; the job's resource re-enters the same hold.
    with (
        runlock.hold_data_root(run_id, log=say),
        DagsterInstance.get() as instance,
        log_path.open("w", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
    ):
        run_config: dict = {"loggers": loggers}
        if retrain or full_relink:
            run_config["ops"] = {
                "person_linkage": {"config": {"retrain": retrain, "full_relink": full_relink}}
            }
        selection = layer_selection(defs.resolve_asset_graph(), layers) if layers else None
        # Great Expectations takes seconds to import and is first needed by the checks after
        # linkage: it is imported beside the ingest steps rather than in front of the first check.
        # A failed import fails that check, as before.
        from dtsen_pipeline.quality import quiet_pyspark_notice

        quiet_pyspark_notice()
        threading.Thread(
            target=_import_quietly,
            args=("dtsen_pipeline.quality.validate",),
            name="import-great-expectations",
            daemon=True,
        ).start()
        result = job.execute_in_process(
            partition_key=month,
            instance=instance,
            raise_on_error=False,
            run_config=run_config,
            asset_selection=selection,
            run_id=run_id,
            tags={"dtsen/trigger": "cli"},  # the release's audit trail (defs/common/audit.py)
        )
    return result


def layer_selection(graph, layers: tuple[str, ...]) -> list:
    """The assets of those groups that a run of them alone can build: an asset that needs an asset
    outside them which itself needs one of them is left out (the intermediate models that read the
    linkage output, when linkage is not selected), since it would read a missing or stale table."""
    chosen = {k for k in graph.get_all_asset_keys() if graph.get(k).group_name in layers}
    between = {
        k for k in graph.get_all_asset_keys() - chosen if graph.get_ancestor_asset_keys(k) & chosen
    }
    return sorted(
        (k for k in chosen if not graph.get_ancestor_asset_keys(k) & between), key=lambda k: k.path
    )


def _failures(result) -> list[str]:
    """Why the run did not publish (steps that failed, blocking checks that failed, steps skipped),
    then its warnings. A warning never stopped a release, so it is never given as the reason."""
    from dagster import AssetCheckSeverity, DagsterEventType

    from dtsen_pipeline.defs.common.progress import failure_reason

    lines = []
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE:
            lines.append(
                f"step {event.step_key} failed: {failure_reason(event.event_specific_data.error)}"
            )
        elif event.event_type == DagsterEventType.RUN_FAILURE and getattr(
            event.event_specific_data, "error", None
        ):
            lines.append(f"run failed: {failure_reason(event.event_specific_data.error)}")
        elif (
            event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
            and not event.event_specific_data.passed
        ):
            data = event.event_specific_data
            if data.severity == AssetCheckSeverity.WARN:
                continue
            failed = data.metadata.get("failed")
            detail = str(failed.value) if failed else (data.description or "")
            lines.append(
                f"blocking check {data.asset_key.to_user_string()} {data.check_name} failed"
                f"{': ' + detail if detail else ''}; the release was not published and "
                "`current` is unchanged"
            )
        elif event.event_type == DagsterEventType.STEP_SKIPPED:
            lines.append(
                f"step {event.step_key} skipped (an upstream step or blocking check failed)"
            )
    return lines + _warnings(result)


def _warnings(result) -> list[str]:
    """Warning-level checks that failed, with what they found: the run went on, but someone should look."""
    from dagster import AssetCheckSeverity, DagsterEventType

    lines = []
    for event in result.all_events:
        if (
            event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
            and not event.event_specific_data.passed
        ):
            data = event.event_specific_data
            if data.severity != AssetCheckSeverity.WARN:
                continue
            found = data.metadata.get("failed")
            detail = (
                (str(found.value) if found else (data.description or "")).replace("\n", " ").strip()
            )
            lines.append(
                f"warning: {data.asset_key.to_user_string()} {data.check_name} failed"
                f"{': ' + detail[:300] if detail and detail != 'none' else ''}"
            )
    return lines


INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for a command stopped by Ctrl-C
TERMINATED = 143  # 128 + SIGTERM
_stopped_by: list[int] = []  # the exit code of the signal that stopped the run, once one has


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a scheduler's or an operator's `kill`) stops the run as Ctrl-C does: Dagster marks
    it failed and dagster-dbt forwards the interrupt to dbt, so no child is left writing."""
    import signal

    def stop(signum, frame) -> None:
        _stopped_by.append(TERMINATED)
        # What SIGINT would do now (Dagster's interrupt handler during a run, else Python's
        # KeyboardInterrupt), called directly: a process started with SIGINT ignored (`dtsen run &`
        # from a script, a test runner's worker) would never see a SIGINT sent to itself.
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def _interrupted_step(result) -> str | None:
    """The step Ctrl-C (or SIGTERM) stopped, "the run" when it stopped between steps; None if
    the run was not interrupted."""
    from dagster import DagsterEventType

    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if (
            event.event_type in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE)
            and error is not None
            and error.cls_name == "DagsterExecutionInterruptedError"
        ):
            return event.step_key or "the run"
    return None


def _stop(month: str, run_id: str | None, step: str | None) -> int:
    """Ctrl-C or SIGTERM stopped ``dtsen run``: one line, dbt's thread stopped, a conventional
    exit code (130, or 143 for SIGTERM). ``main`` then exits at once (``_exit_now``)."""
    from dtsen_pipeline.defs.dbt.in_process import stop_dbt_threads

    stopped = stop_dbt_threads()
    where = f" during step {step}" if step and step != "the run" else ""
    print(
        f"dtsen run {month}: interrupted{where}; "
        + (f"run {run_id} is marked failed and " if run_id else "")
        + "nothing was published (`current` unchanged); "
        + ("" if stopped else "dbt did not stop within 60 s; ")
        + f"`dtsen run --month {month}` runs the month again",
        file=sys.stderr,
    )
    return _stopped_by[0] if _stopped_by else INTERRUPTED


def _is_storage_error(exc: BaseException) -> bool:
    """An error of the files the run writes its state to: Dagster's SQLite (through SQLAlchemy)
    or the disk (full, failing)."""
    import sqlite3

    return isinstance(exc, (sqlite3.Error, OSError)) or type(exc).__module__.startswith(
        "sqlalchemy"
    )


def _storage_failure(month: str, exc: BaseException) -> int:
    """The run died as its storage failed (the issue's "disk I/O error" in Dagster's SQLite): one
    line saying where, the error's first line, and the remedy; the traceback goes to a log file."""
    import errno
    import traceback

    log = paths.logs_dir() / f"run-{month}.crash.log"
    with contextlib.suppress(OSError):
        log.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps sqlite3's error
    from dtsen_pipeline.lib.printable import printable

    first = printable((str(cause).strip().splitlines() or [""])[0][:200])
    full = (isinstance(cause, OSError) and cause.errno == errno.ENOSPC) or "full" in first
    where = (
        f"a file of the data root ({printable(cause.filename)})"
        if isinstance(cause, OSError) and cause.filename
        else f"Dagster's storage ({paths.dagster_home() / 'history'})"
    )
    root = paths.data_root()
    print(
        f"dtsen run {month}: the run stopped: {where} failed ({type(cause).__name__}: {first}); "
        + (
            f"the disk is full: free space (`df -h {root}`, `dtsen clean`)"
            if full
            else f"check the disk (`df -h {root}`, the kernel log)"
        )
        + f", then run the month again (the next run clears this one); traceback: {log}",
        file=sys.stderr,
    )
    return 1


def _cmd_run(args: argparse.Namespace) -> int:
    _interrupt_on_sigterm()
    print(
        f"dtsen run {args.month}: warehouse {paths.warehouse_db()}, Dagster home {paths.dagster_home()}",
        file=sys.stderr,
    )
    from dtsen_pipeline.defs.common.partitions import month_refusal

    refusal = month_refusal(args.month)  # before anything runs: no partition marked materialised
    if refusal:
        print(f"dtsen run {args.month}: refused: {refusal}", file=sys.stderr)
        return 1
    from dtsen_pipeline.defs.common.runlock import DataRootBusyError
    from dtsen_pipeline.lib.state_files import DamagedStateError, check_all

    try:
        check_all()  # a damaged warehouse or Dagster storage: one line with the file and remedy
        result = run_month(args.month, retrain=args.retrain, full_relink=args.full_relink)
    except (DataRootBusyError, DamagedStateError) as exc:
        print(f"dtsen run {args.month}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before or after the job: waiting for the data root, preparing dbt
        return _stop(args.month, None, None)
    except Exception as exc:  # the run's own storage failed under it: one line, not a traceback
        if not _is_storage_error(exc):
            raise
        return _storage_failure(args.month, exc)
    step = _interrupted_step(result)
    if step is not None:
        return _stop(args.month, result.run_id, step)
    if result.success:
        from dtsen_pipeline.publish import releases

        try:
            release = releases.release_path(args.month)
            current = releases.current_name()
            moved = current == release.name
            print(
                f"run {result.run_id} succeeded; published {release}/; "
                + (
                    "`current` now points at it"
                    if moved
                    else f"`current` unchanged, still {current}"
                )
            )
        except FileNotFoundError:  # a run limited to some layers publishes nothing
            print(f"run {result.run_id} succeeded")
        for line in _retention_said(result):  # applied by the publish step (after_publication)
            print(f"dtsen run {args.month}: {line}", file=sys.stderr)
        warnings = _warnings(result)
        if warnings:
            print(
                f"{len(warnings)} warning(s) (the release was published; see the checks in the UI):",
                file=sys.stderr,
            )
            for line in warnings:
                print(f"  - {line}", file=sys.stderr)
        return 0
    print(f"run {result.run_id} FAILED:", file=sys.stderr)
    for line in _failures(result):
        print(f"  - {line}", file=sys.stderr)
    print(
        f"  dbt log: {paths.logs_dir() / f'run-{args.month}.log'}; details: `make ui`, then Runs",
        file=sys.stderr,
    )
    return 1


def _retention_said(result) -> list[str]:
    """What the publish step's retention removed (its ``retention`` metadata), or why it was not
    applied; nothing when it removed nothing."""
    from dagster import DagsterEventType

    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            said = event.event_specific_data.materialization.metadata.get("retention")
            lines = list(said.value) if said is not None else []
            if len(lines) > 1 or any("not applied" in line for line in lines):
                return lines
    return []


def _apply_retention(command: str, dry_run: bool = False) -> int:
    """The retention rule (config/retention.yaml, publish/retention.py), each removal said on
    stderr with the bytes freed; 1 when the rule cannot be read or applied (said in one line)."""
    from dtsen_pipeline.publish.retention import apply_retention

    try:
        report = apply_retention(dry_run=dry_run)
    except Exception as exc:  # housekeeping: said, never a traceback
        print(f"{command}: retention not applied: {exc}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(f"{command}: {line}", file=sys.stderr)
    return 0


def _cmd_clean(args: argparse.Namespace) -> int:
    paths.ensure_dirs()
    return _apply_retention("dtsen clean", dry_run=args.dry_run)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from dtsen_pipeline.lab.evaluate import evaluate_month

    try:
        print(json.dumps(evaluate_month(args.month), indent=2))
    except (FileNotFoundError, LookupError) as exc:
        print(f"dtsen evaluate: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_review_sample(args: argparse.Namespace) -> int:
    """Draw the month's clerical sample (identity in the file, counts on the terminal)."""
    from dtsen_pipeline.linkage import accuracy

    try:
        sample = accuracy.draw_sample(
            args.month,
            args.n,
            out=Path(args.out) if args.out else None,
            seed=accuracy.SEED if args.seed is None else args.seed,
            replace=args.replace,
        )
    except (FileNotFoundError, FileExistsError, LookupError, ValueError) as exc:
        print(f"dtsen review sample: {exc}", file=sys.stderr)
        return 1
    print(
        f"{sample.pairs:,} pairs of {args.month} drawn from {sample.candidate_pairs:,} candidate pairs and "
        f"{sample.linked_pairs:,} linked pairs, in {len(sample.strata)} strata:"
    )
    for name, counts in sample.strata.items():
        print(f"  {name}: {counts['sampled']:,} of {counts['population']:,}")
    print(
        f"written to {sample.path} (it holds NIKs and names: owner-only). Fill its label column "
        f"(1 or match, 0 or non-match), then: dtsen review estimate --month {args.month}"
        + (f" --labels {sample.path}" if args.out else "")
    )
    return 0


def _cmd_review_estimate(args: argparse.Namespace) -> int:
    """Estimated precision and recall from the month's labelled sample, as JSON."""
    from dtsen_pipeline.lib import warehouse
    from dtsen_pipeline.linkage import accuracy

    try:
        with warehouse.connect(read_only=True) as con:
            result = accuracy.estimate(args.month, con, Path(args.labels) if args.labels else None)
    except (FileNotFoundError, ValueError) as exc:
        print(f"dtsen review estimate: {exc}", file=sys.stderr)
        return 1
    if result is None:
        print(
            f"dtsen review estimate: no pair of the sample is labelled yet; fill the label column of "
            f"{args.labels or accuracy.sample_path(args.month)}",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(result, indent=2))
    return 0


def _release_db(command: str, month: str | None, name: str) -> Path | None:
    """``name`` in ``month``'s release (its newest revision) or in `current`; None, said on
    stderr, when there is none."""
    from dtsen_pipeline.publish import releases

    if month:  # an earlier month, as it was published (its newest revision)
        try:
            db = releases.release_path(month) / name
        except FileNotFoundError as exc:
            print(
                f"dtsen {command}: {exc}; published: {', '.join(releases.published_months()) or 'none'}",
                file=sys.stderr,
            )
            return None
    else:
        db = paths.current_release() / name
    if not db.exists():
        print(
            f"dtsen {command}: no published release at {db}; run `make demo` or `dtsen run` first",
            file=sys.stderr,
        )
        return None
    return db


def _show_result(rel, args: argparse.Namespace, fmt: str, target: Path | None) -> None:
    """The query's result as a table on the terminal, or CSV/JSON on stdout, or written to
    ``target`` under the exports folder (HUGEINT columns as BIGINT when they fit)."""
    from dtsen_pipeline.publish import exports

    if fmt == "table" and target is None:
        rel.show(max_rows=args.max_rows)
    elif target is None:
        exports.to_stdout(rel, fmt)
    else:
        n = exports.to_file(rel, fmt, target)
        print(f"dtsen query: {n:,} rows written to {target} ({fmt})", file=sys.stderr)


def _cmd_query(args: argparse.Namespace) -> int:
    """Query the current release as an analyst would: sandboxed (see warehouse.SANDBOX_CONFIG), so
    the SQL reads that one database's tables and nothing else (no file, attach, copy or extension).
    ``--identified`` opens the identified database instead, equally sandboxed. The result is
    printed as a table, as CSV or JSON, or written by this code (never by the SQL) under the
    exports folder (publish/exports.py)."""
    import duckdb

    from dtsen_pipeline.publish import exports, query_limits, releases

    try:
        timeout = query_limits.timeout_seconds(args.timeout)
        fmt = exports.format_for(args.format, args.output)
        if fmt == "table" and args.output:
            raise exports.ExportError(
                "a table is for the terminal: --output needs --format csv, json or parquet"
            )
        if fmt == "parquet" and not args.output:
            raise exports.ExportError(
                "parquet is a binary file: give --output FILE (written under the exports folder)"
            )
        target = exports.output_path(args.output) if args.output else None
    except (exports.ExportError, ValueError) as exc:
        print(f"dtsen query: {exc}", file=sys.stderr)
        return 1
    name = releases.IDENTIFIED_DB if args.identified else releases.RELEASE_DB
    db = _release_db("query", args.month, name)
    if db is None:
        return 1
    try:
        with query_limits.limited_connection(db, timeout) as con:  # timeout, spill under tmp/
            rel = con.sql(args.sql)
            if rel is not None:
                _show_result(rel, args, fmt, target)
    except (exports.ExportError, query_limits.QueryTimeout) as exc:
        print(f"dtsen query: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # stdout piped into `head`, which stopped reading: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # duckdb raises many error types; show the message, not a trace
        print(f"dtsen query: {exc}", file=sys.stderr)
        if (
            isinstance(exc, duckdb.PermissionException)
            or "has been locked" in str(exc)
            or "read-only mode" in str(exc)
        ):
            print(
                "dtsen query is read-only and sandboxed: it reads the release's tables only; files, "
                "attach, copy/export, extensions and settings are off (--format and --output "
                "write a result under the exports folder)",
                file=sys.stderr,
            )
        return 1
    return 0


def _cmd_worklists(args: argparse.Namespace) -> int:
    """Write the operators' work lists of a release (publish/worklists.py); counts on the terminal."""
    from dtsen_pipeline.lib.settings import ConfigError
    from dtsen_pipeline.publish import worklists

    try:
        release, folder, written = worklists.write_worklists(
            args.month, args.kabupaten or None, args.worker
        )
    except (FileNotFoundError, LookupError, ConfigError) as exc:
        print(f"dtsen worklists: {exc}", file=sys.stderr)
        return 1
    labels = worklists.load_labels()
    for kab in written:
        counts = ", ".join(f"{labels.sheets[k]} {n:,}" for k, n in kab.rows.items())
        who = f"worker {args.worker}" if args.worker else f"{len(kab.workers)} worker(s)"
        print(f"{kab.kode_kab} {kab.nama_kabupaten or ''}: {counts}; {who}".replace("  ", " "))
    files = sum(len(k.files) for k in written)
    print(
        f"{files} files (XLSX, and a CSV per sheet) of release {release} under {folder}/ "
        "(identity: owner-only)"
    )
    return 0


def check_all(
    config_dir: Path | None = None, profile: Path | None = None, survivorship: Path | None = None
) -> tuple[list[str], list[str]]:
    """Load every YAML a user edits (``config_dir``: default ``paths.config_dir()``; the generator's
    profile) and the dbt seed that ranks each source (``survivorship``: default the dbt project's
    seeds/survivorship.csv); return what was loaded and every problem found, file and field named."""
    from dtsen_pipeline.defs.common.alerts import load_alerts
    from dtsen_pipeline.ingest.dbt_registry import survivorship_problems
    from dtsen_pipeline.ingest.sources import load_sources
    from dtsen_pipeline.lab.generate.world import PROFILE_PATH, PROFILES, load_profile
    from dtsen_pipeline.lib.settings import ConfigError
    from dtsen_pipeline.linkage.config import load_rules
    from dtsen_pipeline.publish.releases import load_config
    from dtsen_pipeline.publish.retention import load_retention
    from dtsen_pipeline.quality.settings import load_expectations

    config_dir = Path(config_dir) if config_dir else paths.config_dir()
    loaded: list[str] = []
    errors: list[str] = []
    try:
        roles: dict[str, str | None] = {
            s.name: s.role for s in load_sources(config_dir / "sources")
        }
        loaded.append(f"{len(roles)} sources")
    except ConfigError as exc:
        errors += exc.messages
        # The other files are still checked against the sources that are declared, broken or not.
        roles = {p.stem: None for p in (config_dir / "sources").glob("*.yaml")}
    names = list(roles)
    checks = [
        (lambda: load_rules(config_dir, names), lambda r: "linkage rules"),
        (lambda: load_config(config_dir), lambda c: "publication rules"),
        (
            lambda: load_alerts(config_dir),
            lambda a: f"alert targets ({', '.join(a.targets()) or 'none'})",
        ),
        (
            lambda: load_expectations(config_dir, names),
            lambda e: f"{len(names) + len(e.marts) + len(e.mart_warnings)} quality suites",
        ),
        (
            lambda: load_profile(profile or PROFILE_PATH),
            lambda p: f"generator profile ({len(p['sources'])} registers)",
        ),
    ]
    # Each named profile's overrides, merged over the default profile, must make a valid profile too.
    checks += [
        (
            lambda over=over: load_profile(profile or PROFILE_PATH, over),
            lambda p, name=name: f"{name} profile",
        )
        for name, over in PROFILES.items()
        if over is not None
    ]
    for load, describe in checks:
        try:
            loaded.append(describe(load()))
        except ConfigError as exc:
            errors += exc.messages
    # The work lists' sheet names and headers, and the labels of the codes they show (the dbt
    # seeds the release's code lists are built from): problems listed; `loaded` keeps its list.
    from dtsen_pipeline.publish import worklists

    try:
        worklists.load_labels(config_dir)
    except ConfigError as exc:
        errors += exc.messages
    try:
        load_retention(config_dir)  # config/retention.yaml (publish/retention.py)
    except ConfigError as exc:
        errors += exc.messages
    errors += worklists.seed_problems()
    problems = survivorship_problems(roles, survivorship)
    errors += problems
    if not problems:
        loaded.append("survivorship ranks")
    return loaded, errors


def _cmd_status(args: argparse.Namespace) -> int:
    """A month's release in a few lines: where it is, what it holds, its gate, its accuracy."""
    from dtsen_pipeline.publish import releases

    month = args.month or releases.current_month()
    try:
        if month is None:
            raise FileNotFoundError("nothing is published yet: run `dtsen run --month YYYY-MM`")
        release = releases.release_path(month)
        manifest = json.loads((release / releases.MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, LookupError) as exc:
        print(f"dtsen status: {exc}", file=sys.stderr)
        return 1
    for line in _status_lines(release, manifest, _evaluation(month)):
        print(line)
    return 0


def _evaluation(month: str) -> dict | None:
    """Accuracy against the generator's truth, where the month has one (a generated world)."""
    if not (paths.truth_dir() / month).exists():
        return None
    from dtsen_pipeline.lab.evaluate import evaluate_month

    try:
        return evaluate_month(month)
    except (FileNotFoundError, LookupError):
        return None


def _status_lines(release: Path, manifest: dict, evaluation: dict | None) -> list[str]:
    from dtsen_pipeline.publish import releases

    rows, gate = manifest.get("tables", {}), manifest.get("gate", {})
    failed = sorted(name for name, suite in gate.items() if not suite["success"])
    current = "current" if releases.current_name() == release.name else "not current"
    lines = [
        f"release {release.name} ({current}): {release}/",
        f"  persons {rows.get('dtsen_individu', 0):,}, families {rows.get('dtsen_keluarga', 0):,}, "
        f"households {rows.get('dtsen_rumah_tangga', 0):,}, source records linked "
        f"{rows.get('dtsen_crosswalk', 0):,}",
        f"  programme targets {rows.get('dtsen_program_sasaran', 0):,}, visits listed "
        f"{rows.get('dtsen_daftar_verifikasi', 0):,}, proposals {rows.get('dtsen_usulan', 0):,}",
        (
            f"  quality gate: {len(gate) - len(failed)} of {len(gate)} suites passed"
            + (f" (failed: {', '.join(failed)})" if failed else "")
            if gate
            else "  quality gate: not recorded in the manifest"
        ),
        f"  linkage model {manifest.get('linkage_model', {}).get('version', 'not recorded')}; "
        f"clerical estimate: {manifest.get('linkage_accuracy', {}).get('status', 'estimated')}",
    ]
    if evaluation:
        ours, nik = evaluation["splink"], evaluation["nik_only_baseline"]
        lines.append(
            f"  accuracy against the generator's truth: F1 {ours['f1']:.4f} (precision "
            f"{ours['precision']:.4f}, recall {ours['recall']:.4f}); a NIK-only join: F1 {nik['f1']:.4f}"
        )
    return lines


def _cmd_check_config(args: argparse.Namespace) -> int:
    """Load every YAML a user edits; list every problem with its file and field."""
    from dtsen_pipeline.lib.settings import shown

    directory = Path(args.config_dir).resolve() if args.config_dir else paths.config_dir()
    loaded, errors = check_all(directory)
    if errors:
        print(
            f"dtsen check-config: {len(errors)} problem(s) in {shown(directory)}:", file=sys.stderr
        )
        for line in errors:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"configuration OK ({', '.join(loaded)}) in {shown(directory)}")
    return 0


def _month(value: str) -> str:
    import re

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a month in YYYY-MM form")
    return value


MIN_PERSONS = 100  # below this the synthetic world has too few families to draw from


def _at_least(minimum: int):
    """An argparse type: an integer of at least ``minimum`` (a one-line usage error otherwise)."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:,}, not {number}")
        return number

    return parse


def _share(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"a share is between 0 and 1, not {value}")
    return number


def _add_generate(sub) -> None:
    gen = sub.add_parser("generate", help="write synthetic agency extracts and ground truth")
    gen.add_argument(
        "--persons",
        type=_at_least(MIN_PERSONS),
        default=5000,
        help=f"persons in the world (at least {MIN_PERSONS}; default 5000)",
    )
    gen.add_argument("--start", type=_month, default="2025-01", help="first month, YYYY-MM")
    gen.add_argument("--months", type=_at_least(1), default=1)
    gen.add_argument("--seed", type=_at_least(0), default=42)
    gen.add_argument("--out", help="data root to write under (default: DTSEN_DATA_DIR or ./data)")
    gen.add_argument(
        "--reverified",
        type=_share,
        default=None,
        help="share of each register's records re-verified (re-typed) each month after the first; "
        "raises monthly change, e.g. for the incremental benchmark (default: profile, 0)",
    )
    gen.add_argument(
        "--profile",
        choices=GENERATOR_PROFILES,
        default="default",
        help="noise and naming rates: the default world, a harder one (lab/generate/profile_hard.yaml "
        "over lab/generate/profile.yaml: names reordered, shortened, misspelt, family names shared, "
        "partial birth dates, stale regions and family cards), or lookalikes (twins, namesakes, "
        "01-07 and 31-12 placeholder birth days: profile_lookalikes.yaml)",
    )
    gen.set_defaults(func=_cmd_generate)


def _add_run_and_evaluate(sub) -> None:
    run = sub.add_parser("run", help="run the monthly refresh job for one month")
    run.add_argument("--month", type=_month, required=True)
    run.add_argument(
        "--retrain",
        action="store_true",
        help="retrain the linkage model instead of reusing the latest earlier month's",
    )
    run.add_argument(
        "--full-relink",
        action="store_true",
        help="score every record again instead of only new and changed ones",
    )
    run.set_defaults(func=_cmd_run)

    ev = sub.add_parser(
        "evaluate", help="linkage precision/recall/F1 against ground truth, as JSON"
    )
    ev.add_argument("--month", type=_month, required=True)
    ev.set_defaults(func=_cmd_evaluate)

    st = sub.add_parser(
        "status",
        help="a release in a few lines: where it is, persons and families, the gate, the linkage "
        "model, and accuracy against the truth where the world was generated",
    )
    st.add_argument("--month", type=_month, help="default: the month `current` points at")
    st.set_defaults(func=_cmd_status)


def _add_review(sub) -> None:
    review = sub.add_parser(
        "review", help="clerical review: a labelled sample of pairs estimates linkage accuracy"
    )
    review_sub = review.add_subparsers(dest="review_command", required=True)
    rs = review_sub.add_parser(
        "sample",
        help="draw pairs stratified by linkage decision and match weight into a CSV for labelling",
    )
    rs.add_argument("--month", type=_month, required=True)
    rs.add_argument("--n", type=int, default=2000, help="pairs to draw (default 2000)")
    rs.add_argument(
        "--out", help="CSV to write (default: the review folder's accuracy_<month>.csv)"
    )
    rs.add_argument("--seed", type=int, help="seed of the draw (default: the same each time)")
    rs.add_argument(
        "--replace",
        action="store_true",
        help="replace the month's sample (and its labels) if drawn",
    )
    rs.set_defaults(func=_cmd_review_sample)
    re_ = review_sub.add_parser(
        "estimate",
        help="estimated precision and recall with 95%% intervals from the labelled sample",
    )
    re_.add_argument("--month", type=_month, required=True)
    re_.add_argument(
        "--labels", help="the labelled CSV (default: the review folder's accuracy_<month>.csv)"
    )
    re_.set_defaults(func=_cmd_review_estimate)


def _add_query(sub) -> None:
    q = sub.add_parser(
        "query",
        help="run SQL on the current published release (read-only, sandboxed, pseudonymised)",
    )
    q.add_argument("sql")
    q.add_argument("--max-rows", type=int, default=40, help="rows a table shows (default 40)")
    q.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop the query after this many seconds (default: DTSEN_QUERY_TIMEOUT, else 300)",
    )
    q.add_argument(
        "--format",
        choices=["table", "csv", "json", "parquet"],
        help="table (the default, on the terminal), csv or json (on stdout, or to --output) or "
        "parquet (needs --output); in csv, json and parquet a HUGEINT column (what sum() of "
        "integers gives) is written as BIGINT when every value fits, so it stays an integer",
    )
    q.add_argument(
        "--output",
        metavar="FILE",
        help="write the result to FILE under the exports folder (DTSEN_EXPORTS_DIR, default "
        "<data root>/exports; owner-only), and nowhere else: a path outside it is refused; the "
        "format is --format's or FILE's suffix (.csv, .json, .parquet)",
    )
    q.add_argument(
        "--month",
        type=_month,
        help="query that month's release (its newest revision) instead of the current one",
    )
    q.add_argument(
        "--identified",
        action="store_true",
        help="query the identified database (NIK, names) instead of the pseudonymised one; "
        "for roles that need identity (equally sandboxed)",
    )
    q.set_defaults(func=_cmd_query)


def _add_worklists(sub) -> None:
    w = sub.add_parser(
        "worklists",
        help="write a release's work lists for Dinsos operators (XLSX, and a CSV per sheet, in "
        "Indonesian, with names and No. KK from the identified database) per kabupaten and "
        "field worker, under <data root>/identitas/daftar_kerja/<YYYY-MM>/ (owner-only)",
    )
    w.add_argument(
        "--month",
        type=_month,
        help="that month's release (its newest revision; default: the current release)",
    )
    w.add_argument(
        "--kabupaten",
        action="append",
        metavar="KODE",
        help="only this kabupaten (4-digit code, e.g. 6401); repeat for several",
    )
    w.add_argument(
        "--worker", metavar="ID", help="only this field worker's lists (e.g. TKSK-6401-01)"
    )
    w.set_defaults(func=_cmd_worklists)


def _add_check_config(sub) -> None:
    cc = sub.add_parser(
        "check-config",
        help="check every configuration file (sources, linkage, publication, "
        "expectations, generator profile, survivorship ranks); exit 1 on any problem",
    )
    cc.add_argument(
        "--config-dir",
        help="configuration folder to check (default: DTSEN_CONFIG_DIR or the package's config/)",
    )
    cc.set_defaults(func=_cmd_check_config)
    cl = sub.add_parser(
        "clean",
        help="apply the retention rule (config/retention.yaml): old releases, reports, Dagster "
        "runs and dbt run folders; never `current` or the newest release (also after each "
        "`dtsen run` that publishes)",
    )
    cl.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")
    cl.set_defaults(func=_cmd_clean)


def _cmd_serve(args: argparse.Namespace) -> int:
    from dtsen_pipeline.defs.common import deployment

    return deployment.serve(port=args.port, log=lambda line: print(line, flush=True))


def _add_serve(sub) -> None:
    sv = sub.add_parser(
        "serve",
        help="run the deployment: PostgreSQL, the code location, the daemon and the webserver as "
        "separate processes (docs/operations.md, Deployment); Ctrl-C stops them all",
    )
    sv.add_argument("--port", type=int, default=3000, help="the UI's port (default 3000)")
    sv.set_defaults(func=_cmd_serve)


def build_parser() -> argparse.ArgumentParser:
    """``dtsen`` and its sub-commands, each group added by its own function."""
    parser = argparse.ArgumentParser(prog="dtsen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_generate,
        _add_run_and_evaluate,
        _add_review,
        _add_query,
        _add_worklists,
        _add_check_config,
        _add_serve,
    ):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status = args.func(args)
    if status in (INTERRUPTED, TERMINATED) and args.func is _cmd_run:
        # Stopped by a signal: dagster-dbt's abandoned event reader, collected below, would print
        # a traceback ("generator ignored GeneratorExit") under the one line already said.
        sys.unraisablehook = lambda _: None
    # Free DuckDB objects caught in reference cycles (run results hold some) now, not at
    # interpreter exit, where the DuckDB 2.0 bindings would report them as leaks.
    gc.collect()
    return status


if __name__ == "__main__":
    sys.exit(main())
