"""Validate warehouse tables with Great Expectations 1.x, one bounded batch at a time.

GX cannot validate DuckDB through SQLAlchemy (upstream GX issues #10738, #11579). So each suite's query
is materialised once in a DuckDB temp table. Each batch (for example one province) is then read
into pandas and validated there. Summaries (table-level rules) and the comparison with the last
release are small frames validated once.

Every validation is rendered as a GX Data Docs page under ``data/reports/quality/``. Results carry
counts only, never a value: values here are NIKs and names. GX's sample of unexpected values is
switched off and scrubbed from what is stored.
"""

from __future__ import annotations

import fcntl
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd

from dtsen_pipeline import paths, reports, sources
from dtsen_pipeline.ingest.readers import quote_literal
from dtsen_pipeline.quality.settings import ExpectationsConfig, load_expectations

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402  (after the analytics switch)
from great_expectations.core.expectation_validation_result import (  # noqa: E402
    ExpectationSuiteValidationResult,
)
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

# Counts only: no sample of unexpected values ever leaves GX.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0, "include_unexpected_rows": False}
_VALUE_KEYS = ("partial_unexpected_list", "partial_unexpected_counts", "partial_unexpected_index_list",
               "unexpected_list", "unexpected_index_list", "unexpected_rows")


@dataclass
class ExpectationOutcome:
    label: str
    expectation: str
    column: str | None
    part: str = "rows"                # rows, a summary's name, row_count or drift:<column>
    success: bool = True
    skipped: str | None = None       # why it was not evaluated (no previous release)
    element_count: int = 0
    unexpected_count: int = 0
    missing_count: int = 0
    mostly: float | None = None      # share of present values that must pass, over all batches
    observed: str | None = None
    failed_batches: list[str] = field(default_factory=list)


@dataclass
class ValidationSummary:
    suite: str
    batches: int
    rows: int
    outcomes: list[ExpectationOutcome]
    data_docs: Path | None = None

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def as_dict(self) -> dict:
        """For the release manifest: what was checked and how it went, counts only."""
        return {"suite": self.suite, "success": self.success, "rows": self.rows, "batches": self.batches,
                "expectations": len(self.outcomes), "failed": [o.label for o in self.failed],
                "skipped": [f"{o.label}: {o.skipped}" for o in self.outcomes if o.skipped]}


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    asset: str                # the Dagster asset key (user string) the check belongs to
    table: str | None         # release table it publishes as (marts), for the release comparison
    query: str
    batch_by: str
    expectations: tuple
    summaries: tuple = ()
    drift: tuple = ()
    blocking: bool = True
    settings: tuple = ()      # (name, value) pairs overriding `settings` for this suite
    allow_empty: bool = False
    row_count_tolerance: float | None = None   # None: event tables whose size is not comparable
    extra_columns: tuple = ()  # columns the summaries read

    def columns(self) -> list[str]:
        """The columns this suite's rules read, quoted."""
        used = [self.batch_by, *(e["kwargs"]["column"] for e in self.expectations if "column" in e["kwargs"]),
                *self.drift, *self.extra_columns]
        return [f'"{c}"' for c in dict.fromkeys(used)]


@cache
def _config(config_dir: Path) -> ExpectationsConfig:
    return load_expectations(config_dir)


def config() -> ExpectationsConfig:
    """config/expectations.yaml, typed and checked (quality/settings.py), read once on first use."""
    return _config(paths.config_dir())


def suite_specs() -> dict[str, SuiteSpec]:
    """Every suite: one per staged source in the registry (warning) and one per mart (blocking)."""
    cfg = config()
    specs = {}
    staged = cfg.staged_source
    for src in sources.load_sources():
        name = f"stg_{src.name}"
        specs[name] = SuiteSpec(
            name=name, asset=f"stg_{src.name}__individu", table=None,
            query=staged.query.replace("{source}", src.name), batch_by=staged.batch_by,
            expectations=tuple(e.as_dict() for e in staged.expectations), blocking=False,
            settings=tuple(sorted(cfg.source_settings.get(src.name, {}).items())))
    for mart, spec in cfg.marts.items():
        specs[mart] = SuiteSpec(
            name=mart, asset=mart, table=mart, query=spec.query, batch_by=spec.batch_by,
            expectations=tuple(e.as_dict() for e in spec.expectations),
            summaries=tuple(s.as_dict() for s in spec.summaries),
            drift=tuple(spec.drift), blocking=True, allow_empty=spec.allow_empty,
            row_count_tolerance=spec.tolerance(cfg.settings.row_count_tolerance),
            extra_columns=tuple(spec.columns))
    return specs


def _resolve(kwargs: dict, overrides: tuple = ()) -> dict:
    settings = {**config().setting_values(), **dict(overrides)}
    return {k: settings[v[1:]] if isinstance(v, str) and v.startswith("$") else v for k, v in kwargs.items()}


def _expectation(exp: dict, overrides: tuple = ()):
    return getattr(gx.expectations, exp["type"])(**_resolve(exp["kwargs"], overrides))


@cache
def _context(root: str):
    """A file-backed GX context under data/reports/quality (stores + the Data Docs site)."""
    context = gx.get_context(mode="file", project_root_dir=root)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def data_docs_dir() -> Path:
    return paths.reports_dir() / "quality"


def data_docs_site() -> Path:
    """GX's Data Docs site (its index is replaced by data/reports/index.html: see reports.py)."""
    return data_docs_dir() / "gx" / "uncommitted" / "data_docs" / "local_site"


class _Runner:
    """Validates frames against lists of expectations and keeps GX's results for Data Docs."""

    def __init__(self, suite_name: str, overrides: tuple = ()):
        self.overrides = overrides
        self.context = _context(str(data_docs_dir()))
        self.suite_name = suite_name
        self.results: dict[int, object] = {}     # outcome index -> a representative GX result
        self._defs: dict[str, object] = {}

    def batch_definition(self, part: str):
        if part not in self._defs:
            name = f"{self.suite_name}__{part}"
            ds = self.context.data_sources.add_or_update_pandas(name)
            asset = ds.get_asset(name) if name in [a.name for a in ds.assets] else ds.add_dataframe_asset(name)
            self._defs[part] = asset.add_batch_definition_whole_dataframe(f"{name}_batch")
        return self._defs[part]

    def validate(self, part: str, df: pd.DataFrame, exps: list[dict], outcomes: list[ExpectationOutcome],
                 first: int, batch_label: str | None):
        suite = gx.ExpectationSuite(name=f"{self.suite_name}__{part}")
        for exp in exps:
            suite.add_expectation(_expectation(exp, self.overrides))
        result = self.batch_definition(part).get_batch(batch_parameters={"dataframe": df}).validate(
            suite, result_format=RESULT_FORMAT)
        for i, res in enumerate(result.results):
            outcome = outcomes[first + i]
            r = res.result or {}
            outcome.element_count += r.get("element_count", len(df)) or 0
            outcome.unexpected_count += r.get("unexpected_count", 0) or 0
            outcome.missing_count += r.get("missing_count", 0) or 0
            if "observed_value" in r and not isinstance(r["observed_value"], (list, dict)):
                outcome.observed = str(r["observed_value"])
            if not res.success:
                outcome.success = False
                if batch_label:
                    outcome.failed_batches.append(batch_label)
            # Keep the first failing batch's result (else the first one) for the Data Docs page.
            if first + i not in self.results or (not res.success and self.results[first + i].success):
                self.results[first + i] = res


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def _previous_release(month: str) -> Path | None:
    """The release analysts read now (`current`), when it is an earlier month's."""
    from dtsen_pipeline import publication

    current = publication.current_month()
    if current is None or current >= month:
        earlier = publication.published_months(before=month)
        current = earlier[-1] if earlier else None
    if current is None:
        return None
    db = publication.release_path(current) / publication.RELEASE_DB
    return db if db.exists() else None


def validate_suite(con: duckdb.DuckDBPyConnection, spec: SuiteSpec, month: str) -> ValidationSummary:
    """Run one suite on the month's data in ``con`` (the working warehouse)."""
    settings = config().setting_values()
    runner = _Runner(spec.name, spec.settings)
    outcomes = [ExpectationOutcome(e.get("label", e["type"]), e["type"], e["kwargs"].get("column"),
                                   mostly=_resolve(e["kwargs"], spec.settings).get("mostly"))
                for e in spec.expectations]

    # 1. The suite's rows, materialised once with only the columns its rules read (DuckDB prunes
    #    the rest from the query); then one bounded batch per value of batch_by.
    con.execute(f"create or replace temp table gx_rows as select {', '.join(spec.columns())} "
                f"from ({spec.query.replace('{month}', month)}) as q")
    keys = [r[0] for r in con.execute(f"select distinct {spec.batch_by} from gx_rows order by 1").fetchall()]
    rows = 0
    for key in keys:
        df = _frame(con, f"select * from gx_rows where {spec.batch_by} is not distinct from ?", [key])
        rows += len(df)
        runner.validate("rows", df, list(spec.expectations), outcomes, 0, f"{spec.batch_by}={key}")
    for outcome in outcomes:
        # `mostly` holds over the whole table, not each batch: a small province with one bad value
        # out of three must not fail a 90% rule the table meets.
        present = outcome.element_count - outcome.missing_count
        if outcome.mostly is not None and present:
            outcome.success = 1 - outcome.unexpected_count / present >= outcome.mostly
            outcome.failed_batches = [] if outcome.success else ["whole table"]
    if not keys and not spec.allow_empty:  # an empty table fails the gate rather than passing vacuously
        for outcome in outcomes:
            outcome.success = False
            outcome.failed_batches.append("table is empty")

    # 2. Table-level summaries.
    for summary in spec.summaries:
        first = len(outcomes)
        outcomes += [ExpectationOutcome(e.get("label", e["type"]), e["type"], e["kwargs"].get("column"),
                                        part=summary["name"]) for e in summary["expectations"]]
        df = _frame(con, summary["query"].replace("{rows}", "gx_rows"))
        runner.validate(summary["name"], df, summary["expectations"], outcomes, first, None)

    # 3. Against the last release: row count and drift of key fields.
    if spec.table:
        previous = _previous_release(month)
        compare = _compare_with_release(con, spec, previous, settings) if previous else []
        for part, label, df, exp in compare:
            first = len(outcomes)
            outcomes.append(ExpectationOutcome(label, exp["type"], exp["kwargs"]["column"], part=part))
            if df is None:
                outcomes[-1].skipped = "the last release has no such table"
                continue
            runner.validate(part, df, [exp], outcomes, first, None)
        if previous is None:
            for label in ["row count within tolerance of the last release",
                          *[f"{c} shares within tolerance of the last release" for c in spec.drift]]:
                outcomes.append(ExpectationOutcome(label, "ExpectColumnValuesToBeBetween", None,
                                                   part="release", skipped="first release: nothing to compare"))
    con.execute("drop table if exists gx_rows")

    summary = ValidationSummary(spec.name, len(keys), rows, outcomes)
    summary.data_docs = _write_data_docs(runner, spec, month, summary)
    return summary


def _compare_with_release(con, spec: SuiteSpec, previous: Path, settings: dict) -> list:
    tol, drift_tol = spec.row_count_tolerance, settings["drift_tolerance"]
    con.execute(f"attach {quote_literal(str(previous))} as last_release (read_only)")  # ATTACH takes no parameter
    try:
        has = con.execute("select count(*) from information_schema.tables where table_catalog = 'last_release' "
                          "and table_name = ?", [spec.table]).fetchall()[0][0]
        out = []
        if tol is None or not has:
            return out
        row_exp = {"type": "ExpectColumnValuesToBeBetween",
                   "kwargs": {"column": "change", "min_value": -tol, "max_value": tol}}
        counts = _frame(con, f"""
            select (select count(*) from gx_rows) as rows,
                   (select count(*) from last_release.main.{spec.table}) as previous_rows""")
        counts["change"] = counts["rows"] / counts["previous_rows"].clip(lower=1) - 1
        out.append(("row_count", "row count within tolerance of the last release", counts, row_exp))
        for column in spec.drift:
            shares = _frame(con, f"""
                with now as (select cast({column} as varchar) as value, count(*) / sum(count(*)) over () as share
                             from gx_rows group by 1),
                     prev as (select cast({column} as varchar) as value, count(*) / sum(count(*)) over () as share
                              from last_release.main.{spec.table} group by 1)
                select coalesce(now.value, prev.value) as value, coalesce(now.share, 0) as share,
                       coalesce(prev.share, 0) as previous_share,
                       coalesce(now.share, 0) - coalesce(prev.share, 0) as share_change
                from now full outer join prev on now.value is not distinct from prev.value""")
            out.append((f"drift_{column}", f"{column} shares within tolerance of the last release", shares,
                        {"type": "ExpectColumnValuesToBeBetween",
                         "kwargs": {"column": "share_change", "min_value": -drift_tol, "max_value": drift_tol}}))
        return out
    finally:
        con.execute("detach last_release")


def _scrub(obj):
    """Remove any sample of values from a GX result (counts stay)."""
    if isinstance(obj, dict):
        return {k: _scrub(v) for k, v in obj.items() if k not in _VALUE_KEYS}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def _write_data_docs(runner: _Runner, spec: SuiteSpec, month: str, summary: ValidationSummary) -> Path | None:
    """One Data Docs page per suite and month: each expectation's representative GX result with the
    counts summed over all batches."""
    results = []
    for i, outcome in enumerate(summary.outcomes):
        res = runner.results.get(i)
        if res is None:
            continue
        res.success = outcome.success
        r = _scrub(dict(res.result or {}))
        if outcome.part == "rows":
            r["element_count"] = outcome.element_count
            r["unexpected_count"] = outcome.unexpected_count
            if outcome.element_count:
                r["unexpected_percent"] = 100.0 * outcome.unexpected_count / outcome.element_count
        res.result = r
        results.append(res)
    run_id = RunIdentifier(run_name=f"{spec.name}-{month}", run_time=datetime.now(timezone.utc))
    batch = re.sub(r"[^A-Za-z0-9_-]", "_", f"{month}_{spec.batch_by}_{summary.batches}_batches")
    meta = {"run_id": run_id.to_json_dict(), "month": month, "batches": summary.batches, "rows": summary.rows,
            "active_batch_definition": {"datasource_name": "duckdb", "data_asset_name": spec.asset,
                                        "batch_definition_name": f"per {spec.batch_by}"},
            "batch_spec": {"query": spec.query.strip()}}
    validation = ExpectationSuiteValidationResult(
        success=summary.success, results=results, suite_name=spec.name, meta=meta,
        statistics={"evaluated_expectations": len(results),
                    "successful_expectations": sum(r.success for r in results),
                    "unsuccessful_expectations": sum(not r.success for r in results),
                    "success_percent": 100.0 * sum(r.success for r in results) / max(len(results), 1)})
    key = ValidationResultIdentifier(ExpectationSuiteIdentifier(name=spec.name), run_id, batch)
    context = runner.context
    lock = data_docs_dir() / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:  # checks of one run may render at once
        fcntl.flock(fh, fcntl.LOCK_EX)
        context.validation_results_store.set(key, validation)
        context.build_data_docs(resource_identifiers=[key])
        urls = context.get_docs_sites_urls(resource_identifier=key)
        page = Path(urls[0]["site_url"].removeprefix("file://")) if urls else None
        # GX's templates load their CSS and JavaScript from CDNs: rewritten to load nothing.
        if page is not None and page.is_file():
            reports.make_offline_file(page)
        reports.replace_gx_index(data_docs_site())
    return page
