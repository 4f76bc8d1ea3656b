"""The suites the gate runs, from config/expectations.yaml (typed by quality/settings.py): one per
staged source (a warning), one per published mart (blocking), and warning suites on marts.

Nothing here imports Great Expectations: the definitions list one check per suite without loading
GX (about 9 s of imports); GX loads when a check runs (quality/runner.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dtsen_pipeline.ingest import sources
from dtsen_pipeline.lib import paths
from dtsen_pipeline.quality.settings import ExpectationsConfig, load_expectations


@cache
def _config(config_dir: Path, check_gx: bool) -> ExpectationsConfig:
    return load_expectations(config_dir, check_gx=check_gx)


def config(check_gx: bool = False) -> ExpectationsConfig:
    """config/expectations.yaml, typed and checked (quality/settings.py), read once on first use.

    The definitions read it without GX's own check of each expectation (that imports GX); a check
    asks for it (``check_gx=True``) before it validates, and `dtsen check-config` always does, so a
    wrong expectation is still reported by file and field before any data is read."""
    return _config(paths.config_dir(), check_gx)


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    asset: str  # the Dagster asset key (user string) the check belongs to
    table: str | None  # release table it publishes as (marts), for the release comparison
    query: str
    batch_by: str
    expectations: tuple
    summaries: tuple = ()
    drift: tuple = ()
    blocking: bool = True
    source: str | None = None  # a staged source's suite: its overrides of `settings` apply
    allow_empty: bool = False
    row_count_tolerance: float | None = None  # None: event tables whose size is not comparable
    extra_columns: tuple = ()  # columns the summaries read

    def columns(self) -> list[str]:
        """The columns this suite's rules read, quoted."""
        used = [
            self.batch_by,
            *(e["kwargs"]["column"] for e in self.expectations if "column" in e["kwargs"]),
            *self.drift,
            *self.extra_columns,
        ]
        return [f'"{c}"' for c in dict.fromkeys(used)]

    def parameters(self) -> dict[str, float]:
        """The values a "$name" in this suite's expectations stands for (GX expectation parameters)."""
        return config().setting_values(self.source)


def parameter_value(value, parameters: dict):
    """A keyword argument as GX will see it: "$name" is the parameter's value."""
    return parameters[value[1:]] if isinstance(value, str) and value.startswith("$") else value


def suite_specs() -> dict[str, SuiteSpec]:
    """Every suite: one per staged source in the registry (warning), one per mart (blocking), and
    the marts' warning suites (``mart_warnings``)."""
    cfg = config()
    specs = {}
    staged = cfg.staged_source
    for src in sources.load_sources():
        name = f"stg_{src.name}"
        specs[name] = SuiteSpec(
            name=name,
            asset=f"stg_{src.name}__individu",
            table=None,
            query=staged.query.replace("{source}", src.name),
            batch_by=staged.batch_by,
            expectations=tuple(e.as_dict() for e in staged.expectations),
            blocking=False,
            source=src.name,
        )
    for mart, spec in cfg.marts.items():
        specs[mart] = SuiteSpec(
            name=mart,
            asset=mart,
            table=mart,
            query=spec.query,
            batch_by=spec.batch_by,
            expectations=tuple(e.as_dict() for e in spec.expectations),
            summaries=tuple(s.as_dict() for s in spec.summaries),
            drift=tuple(spec.drift),
            blocking=True,
            allow_empty=spec.allow_empty,
            row_count_tolerance=spec.tolerance(cfg.settings.row_count_tolerance),
            extra_columns=tuple(spec.columns),
        )
    for name, warning in cfg.mart_warnings.items():
        specs[name] = SuiteSpec(
            name=name,
            asset=warning.mart,
            table=None,  # compared with no release: it is a fact about this month
            query=warning.query,
            batch_by=warning.batch_by,
            expectations=tuple(e.as_dict() for e in warning.expectations),
            blocking=False,
            allow_empty=warning.allow_empty,
        )
    return specs
