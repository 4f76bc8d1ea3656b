"""Great Expectations runs a suite's expectations on one bounded batch (a pandas frame) at a time.

GX cannot validate DuckDB through SQLAlchemy (upstream GX issues #10738, #11579), so the caller
hands each batch as a frame. A "$name" in config/expectations.yaml is a GX expectation parameter
(``{"$PARAMETER": name}``), its value passed to GX at validation. Results keep counts only: GX's
sample of unexpected values is switched off here and scrubbed from what is stored (values here are
NIKs and names).
"""

from __future__ import annotations

import json
from functools import cache

import pandas as pd

from dtsen_pipeline.quality import import_gx
from dtsen_pipeline.quality.results import ExpectationOutcome

gx = import_gx()
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

# Counts only: no sample of unexpected values ever leaves GX.
RESULT_FORMAT = {
    "result_format": "BASIC",
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
}
_VALUE_KEYS = (
    "partial_unexpected_list",
    "partial_unexpected_counts",
    "partial_unexpected_index_list",
    "unexpected_list",
    "unexpected_index_list",
    "unexpected_rows",
)


def scrub(obj):
    """Remove any sample of values from a GX result (counts stay)."""
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items() if k not in _VALUE_KEYS}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    return obj


@cache
def context(root: str):
    """A file-backed GX context (stores and the Data Docs site) under ``root``, one per process:
    where the results are kept and rendered (quality/data_docs.py)."""
    ctx = gx.get_context(mode="file", project_root_dir=root)
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


@cache
def validation_context():
    """An in-memory GX context for validating frames, one per process. Its data sources (one per
    suite and part, holding nothing but a name) are never written to a file: a file context
    rewrote its great_expectations.yml for each one, a quarter of a check's time on a small month."""
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def expectation(exp: dict):
    """The GX expectation a config entry declares, each "$name" argument a GX expectation parameter."""
    kwargs = {
        k: {"$PARAMETER": v[1:]} if isinstance(v, str) and v.startswith("$") else v
        for k, v in exp["kwargs"].items()
    }
    return getattr(gx.expectations, exp["type"])(**kwargs)


class BatchRunner:
    """Validates frames for one suite; each outcome sums its counts over the batches it ran on."""

    def __init__(self, suite_name: str, parameters: dict):
        self.suite_name = suite_name
        self.parameters = parameters
        self.context = validation_context()
        self._batch_definitions: dict[str, object] = {}
        self._suites: dict[tuple[str, str], object] = {}

    def _batch_definition(self, part: str):
        if part not in self._batch_definitions:
            name = f"{self.suite_name}__{part}"
            ds = self.context.data_sources.add_or_update_pandas(name)
            asset = (
                ds.get_asset(name)
                if name in [a.name for a in ds.assets]
                else ds.add_dataframe_asset(name)
            )
            self._batch_definitions[part] = asset.add_batch_definition_whole_dataframe(
                f"{name}_batch"
            )
        return self._batch_definitions[part]

    def _suite(self, part: str, outcomes: list[ExpectationOutcome]):
        """The GX suite of ``outcomes``' expectations, built once for all of a part's batches:
        GX resolves its context's configuration for every expectation added, a third of a small
        suite's time when it was built again for each batch."""
        key = (part, json.dumps([o.config for o in outcomes], sort_keys=True, default=str))
        if key not in self._suites:
            suite = gx.ExpectationSuite(name=f"{self.suite_name}__{part}")
            for outcome in outcomes:
                suite.add_expectation(expectation(outcome.config))
            self._suites[key] = suite
        return self._suites[key]

    def validate(
        self,
        part: str,
        df: pd.DataFrame,
        outcomes: list[ExpectationOutcome],
        batch_label: str | None = None,
    ) -> None:
        """Run ``outcomes``' expectations on ``df`` and add what GX found to each outcome."""
        result = (
            self._batch_definition(part)
            .get_batch(batch_parameters={"dataframe": df})
            .validate(
                self._suite(part, outcomes),
                result_format=RESULT_FORMAT,
                expectation_parameters=self.parameters,
            )
        )
        for outcome, res in zip(outcomes, result.results, strict=True):
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
            if outcome.gx_result is None or (not res.success and outcome.gx_result.success):
                outcome.gx_result = res
