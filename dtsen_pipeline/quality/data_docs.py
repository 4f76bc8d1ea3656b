"""One GX Data Docs page per suite and month, rendered by GX from each expectation's representative
result with the counts summed over all batches, then made to load nothing from the network."""

from __future__ import annotations

import fcntl
import re
from datetime import UTC, datetime
from pathlib import Path

from dtsen_pipeline.lib import paths, reports
from dtsen_pipeline.quality import import_gx
from dtsen_pipeline.quality.results import ValidationSummary
from dtsen_pipeline.quality.suites import SuiteSpec

# GX the platform's one way (quality.import_gx: pyspark's notice quiet) before any GX module below:
# validate.py imports this module first, so here is where a run worker first imports GX.
import_gx()
from great_expectations.core.expectation_validation_result import (  # noqa: E402
    ExpectationSuiteValidationResult,
)
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from dtsen_pipeline.quality.runner import context, scrub  # noqa: E402


def data_docs_dir() -> Path:
    """The GX project (stores and the Data Docs site) under data/reports/quality."""
    return paths.reports_dir() / "quality"


def data_docs_site() -> Path:
    """GX's Data Docs site (its index is replaced by data/reports/index.html: see reports.py)."""
    return data_docs_dir() / "gx" / "uncommitted" / "data_docs" / "local_site"


def write_page(spec: SuiteSpec, month: str, summary: ValidationSummary) -> Path | None:
    """Render ``summary`` as a Data Docs page; its path, or None when GX made none."""
    results = []
    for outcome in summary.outcomes:
        res = outcome.gx_result
        if res is None:
            continue
        res.success = outcome.success
        r = scrub(dict(res.result or {}))
        if outcome.part == "rows":
            r["element_count"] = outcome.element_count
            r["unexpected_count"] = outcome.unexpected_count
            if outcome.element_count:
                r["unexpected_percent"] = 100.0 * outcome.unexpected_count / outcome.element_count
        res.result = r
        results.append(res)
    run_id = RunIdentifier(run_name=f"{spec.name}-{month}", run_time=datetime.now(UTC))
    batch = re.sub(r"[^A-Za-z0-9_-]", "_", f"{month}_{spec.batch_by}_{summary.batches}_batches")
    meta = {
        "run_id": run_id.to_json_dict(),
        "month": month,
        "batches": summary.batches,
        "rows": summary.rows,
        "active_batch_definition": {
            "datasource_name": "duckdb",
            "data_asset_name": spec.asset,
            "batch_definition_name": f"per {spec.batch_by}",
        },
        "batch_spec": {"query": spec.query.strip()},
    }
    passed = sum(r.success for r in results)
    validation = ExpectationSuiteValidationResult(
        success=summary.success,
        results=results,
        suite_name=spec.name,
        meta=meta,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100.0 * passed / max(len(results), 1),
        },
    )
    key = ValidationResultIdentifier(ExpectationSuiteIdentifier(name=spec.name), run_id, batch)
    ctx = context(str(data_docs_dir()))
    lock = data_docs_dir() / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:  # checks of one run may render at once
        fcntl.flock(fh, fcntl.LOCK_EX)
        ctx.validation_results_store.set(key, validation)
        # This page only: GX's index would re-read every result ever stored (more each month),
        # and it is replaced by ours anyway (replace_gx_index).
        ctx.build_data_docs(resource_identifiers=[key], build_index=False)
        urls = ctx.get_docs_sites_urls(resource_identifier=key)
        page = Path(urls[0]["site_url"].removeprefix("file://")) if urls else None
        # GX's templates load their CSS and JavaScript from CDNs: rewritten to load nothing.
        if page is not None and page.is_file():
            reports.make_offline_file(page)
        reports.replace_gx_index(data_docs_site())
    return page
