"""quality/data_docs.py: one Data Docs page per suite and month, from real GX results.

The page tells the whole table's counts (summed over batches), not the kept batch's; it says the
suite's verdict; it loads nothing from the network; GX's own index points at the reports index; and
the module imports GX the platform's one way (quality.import_gx), whoever imports it first.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys

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


def stored_result(month: str) -> dict:
    """The validation result GX stored for SPEC and ``month`` (one per month in these tests)."""
    store = data_docs.data_docs_dir() / "gx" / "uncommitted" / "validations" / SPEC.name
    (path,) = store.glob(f"{SPEC.name}-{month}/*/*.json")
    return json.loads(path.read_text(encoding="utf-8"))


def summary_of_two_batches() -> ValidationSummary:
    """A duplicate key in each of two batches: 1 of 198 rows, then 1 of 2."""
    outcome = ExpectationOutcome.of(UNIQUE)
    runner = BatchRunner(SPEC.name, {})
    runner.validate(
        "rows", pd.DataFrame({"record_key_rows": [2] + [1] * 197}), [outcome], "kode_prov=31"
    )
    runner.validate("rows", pd.DataFrame({"record_key_rows": [1, 2]}), [outcome], "kode_prov=53")
    assert (outcome.element_count, outcome.unexpected_count) == (200, 2)
    assert outcome.gx_result.result["element_count"] == 198  # the first failing batch's, kept
    return ValidationSummary(SPEC.name, 2, 200, [outcome])


def test_the_page_tells_the_whole_tables_counts_and_the_suites_verdict():
    failed = summary_of_two_batches()
    page = data_docs.write_page(SPEC, "2025-01", failed)
    assert page is not None and page.is_file()
    assert page.is_relative_to(data_docs.data_docs_site())
    shown = text(page)
    assert "Status: Failed" in shown
    # 2 of 200 rows: neither batch's own share (1 of 198, 1 of 2).
    assert "1% unexpected" in shown and "50% unexpected" not in shown

    passed = summary_of_two_batches()
    passed.outcomes[0].success = True  # as a `mostly` met over the whole table makes it
    page = data_docs.write_page(SPEC, "2025-02", passed)
    assert "Status: Succeeded" in text(page)

    # The stored results the pages are rendered from: summed counts, the outcome's verdict, no
    # sample of values.
    for month, success in (("2025-01", False), ("2025-02", True)):
        stored = stored_result(month)
        assert stored["success"] is success
        (result,) = stored["results"]
        assert result["success"] is success
        assert (result["result"]["element_count"], result["result"]["unexpected_count"]) == (200, 2)
        assert "partial_unexpected_list" not in result["result"]


def test_the_page_loads_nothing_from_the_network_and_gxs_index_points_at_ours():
    page = data_docs.write_page(SPEC, "2025-03", summary_of_two_batches())
    raw = page.read_text(encoding="utf-8")
    assert raw == reports.make_offline(raw)  # already offline
    assert "<script" not in raw.lower()
    assert not re.search(r"<(link|img)\b[^>]*(href|src)=[\"']?(https?:)?//", raw, re.I)
    index = (data_docs.data_docs_site() / "index.html").read_text(encoding="utf-8")
    assert "the reports index" in index and "<script" not in index


def test_gx_comes_in_the_platforms_way_even_when_data_docs_imports_it_first():
    """validate.py imports data_docs before runner: GX must still come through import_gx(), so
    pyspark's pandas-3 notice stays out of a run worker's log (only `dtsen` sets the filter at start)."""
    out = subprocess.run(
        [sys.executable, "-c", "import dtsen_pipeline.quality.validate"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "PySpark does not yet fully support pandas" not in out.stderr
