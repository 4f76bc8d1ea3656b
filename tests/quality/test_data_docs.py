"""quality/data_docs.py: one Data Docs page per suite and month, from real GX results.

The page tells the whole table's counts (summed over batches), not the kept batch's; it says the
suite's verdict; it loads nothing from the network; GX's own index points at the reports index.
"""

from __future__ import annotations

import html
import re

import pandas as pd

from dtsen_pipeline.lib import reports
from dtsen_pipeline.quality import data_docs
from dtsen_pipeline.quality.results import ExpectationOutcome, ValidationSummary
from dtsen_pipeline.quality.runner import BatchRunner
from dtsen_pipeline.quality.suites import SuiteSpec

UNIQUE = {
    "label": "record_key unique",
    "type": "ExpectColumnValuesToBeInSet",
    "kwargs": {"column": "record_key_rows", "value_set": [1]},
}
SPEC = SuiteSpec(
    name="test_data_docs",
    asset="stg_test__individu",
    table=None,
    query="select * from staging.stg_test__individu where extract_month = '{month}'",
    batch_by="kode_prov",
    expectations=(UNIQUE,),
    blocking=False,
)


def text(page) -> str:
    """The page as a reader sees it: no styles, no tags."""
    body = re.sub(r"<style.*?</style>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def summary_of_two_batches() -> ValidationSummary:
    """198 clean rows in one batch, then 2 rows, one of them a duplicate key, in another."""
    outcome = ExpectationOutcome.of(UNIQUE)
    runner = BatchRunner(SPEC.name, {})
    runner.validate("rows", pd.DataFrame({"record_key_rows": [1] * 198}), [outcome], "kode_prov=31")
    runner.validate("rows", pd.DataFrame({"record_key_rows": [1, 2]}), [outcome], "kode_prov=53")
    assert (outcome.element_count, outcome.unexpected_count) == (200, 1)
    return ValidationSummary(SPEC.name, 2, 200, [outcome])


def test_the_page_tells_the_whole_tables_counts_and_the_suites_verdict():
    failed = summary_of_two_batches()
    page = data_docs.write_page(SPEC, "2025-01", failed)
    assert page is not None and page.is_file()
    assert page.is_relative_to(data_docs.data_docs_site())
    shown = text(page)
    assert "Status: Failed" in shown
    # 1 of 200 rows, not the failing batch's 1 of 2.
    assert "0.5% unexpected" in shown and "50% unexpected" not in shown

    passed = summary_of_two_batches()
    passed.outcomes[0].success = True  # as a `mostly` met over the whole table makes it
    page = data_docs.write_page(SPEC, "2025-02", passed)
    assert "Status: Succeeded" in text(page)


def test_the_page_loads_nothing_from_the_network_and_gxs_index_points_at_ours():
    page = data_docs.write_page(SPEC, "2025-03", summary_of_two_batches())
    raw = page.read_text(encoding="utf-8")
    assert raw == reports.make_offline(raw)  # already offline
    assert "<script" not in raw.lower()
    assert not re.search(r"<(link|img)\b[^>]*(href|src)=[\"']?(https?:)?//", raw, re.I)
    index = (data_docs.data_docs_site() / "index.html").read_text(encoding="utf-8")
    assert "the reports index" in index and "<script" not in index
