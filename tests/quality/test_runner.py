"""quality/runner.py: real Great Expectations on small pandas batches built here.

A batch with one known bad value fails exactly the expectation that value breaks; counts add up over
batches and only the failing batches are named; "$name" is the suite's parameter; and no value of
the batch leaves GX (its sample of unexpected values is off, and ``scrub`` drops any that were kept).
"""

from __future__ import annotations

import json

import pandas as pd

from dtsen_pipeline.quality import suites
from dtsen_pipeline.quality.results import ExpectationOutcome
from dtsen_pipeline.quality.runner import BatchRunner, expectation, scrub

# The staged-source expectations as shipped: record_key present and unique, NIK structure valid
# (mostly "$nik_structure_mostly"), region code known (mostly "$region_known_mostly").
STAGED = [e.as_dict() for e in suites.config().staged_source.expectations]


def staged_batch(n: int, **changes) -> pd.DataFrame:
    """``n`` clean rows of the staged suite's columns; ``changes`` set one row's values (row 0)."""
    df = pd.DataFrame(
        {
            "kode_prov": ["31"] * n,
            "record_key": [f"dukcapil:{i:04d}" for i in range(n)],
            "record_key_rows": [1] * n,
            "nik_structure_valid": [True] * n,
            "region_known": [True] * n,
        }
    )
    for column, value in changes.items():
        df[column] = df[column].astype(object)
        df.loc[0, column] = value
    return df


def outcomes_of(exps: list[dict]) -> dict[str, ExpectationOutcome]:
    return {e["label"]: ExpectationOutcome.of(e) for e in exps}


def test_a_duplicate_key_fails_exactly_the_uniqueness_expectation():
    outcomes = outcomes_of(STAGED)
    runner = BatchRunner("test_runner_duplicate", suites.config().setting_values("dukcapil"))
    runner.validate(
        "rows", staged_batch(20, record_key_rows=2), list(outcomes.values()), "kode_prov=31"
    )
    unique = outcomes.pop("record_key unique")
    assert not unique.success
    assert (unique.element_count, unique.unexpected_count) == (20, 1)
    assert unique.failed_batches == ["kode_prov=31"]
    assert unique.gx_result is not None and not unique.gx_result.success
    assert len(outcomes) == 3
    for label, other in outcomes.items():
        assert other.success, label
        assert (other.element_count, other.unexpected_count) == (20, 0), label
        assert other.failed_batches == [], label


def test_counts_add_up_over_batches_and_only_the_failing_batch_is_named():
    outcome = ExpectationOutcome.of(
        {
            "label": "record_key present",
            "type": "ExpectColumnValuesToNotBeNull",
            "kwargs": {"column": "record_key"},
        }
    )
    runner = BatchRunner("test_runner_batches", {})
    runner.validate("rows", staged_batch(5), [outcome], "kode_prov=31")
    assert outcome.success and outcome.gx_result.success
    runner.validate("rows", staged_batch(3, record_key=None), [outcome], "kode_prov=53")
    runner.validate("rows", staged_batch(4), [outcome], "kode_prov=64")
    assert not outcome.success
    assert (outcome.element_count, outcome.unexpected_count) == (12, 1)
    assert outcome.failed_batches == ["kode_prov=53"]
    # The result kept for the Data Docs page is the failing batch's.
    assert not outcome.gx_result.success
    assert outcome.gx_result.result["element_count"] == 3


def test_a_dollar_name_takes_the_value_the_suite_is_given():
    share = {
        "label": "NIK structure valid",
        "type": "ExpectColumnValuesToBeInSet",
        "kwargs": {
            "column": "nik_structure_valid",
            "value_set": [True],
            "mostly": "$nik_structure_mostly",
        },
    }
    assert expectation(share).mostly == {"$PARAMETER": "nik_structure_mostly"}
    # 8 of 10 valid: enough for a source allowed 0.80, not for one held to 0.90.
    batch = staged_batch(10)
    batch.loc[:1, "nik_structure_valid"] = False
    found = {}
    for source, mostly in (("dinsos_kaltim", 0.80), ("dukcapil", 0.90)):
        parameters = suites.config().setting_values(source)
        assert parameters["nik_structure_mostly"] == mostly
        outcome = ExpectationOutcome.of(share)
        BatchRunner(f"test_runner_{source}", parameters).validate("rows", batch, [outcome])
        assert outcome.unexpected_count == 2
        found[source] = outcome.success
    assert found == {"dinsos_kaltim": True, "dukcapil": False}


def test_no_value_of_the_batch_is_kept_in_a_result():
    nik_ok, nik_bad, name = "3171010101900001", "31710BUDI1234567", "SITI AMINAH"
    batch = pd.DataFrame(
        {"nik": [nik_ok, nik_bad, nik_ok], "nama": [name, "BUDI SANTOSO", "SITI AMINAH"]}
    )
    exps = [
        {
            "label": "NIK has 16 digits",
            "type": "ExpectColumnValuesToMatchRegex",
            "kwargs": {"column": "nik", "regex": "^[0-9]{16}$"},
        },
        {
            "label": "name unique",
            "type": "ExpectColumnValuesToBeUnique",
            "kwargs": {"column": "nama"},
        },
    ]
    outcomes = [ExpectationOutcome.of(e) for e in exps]
    BatchRunner("test_runner_privacy", {}).validate("rows", batch, outcomes, "kode_prov=31")
    assert [o.success for o in outcomes] == [False, False]
    assert [o.unexpected_count for o in outcomes] == [1, 2]
    for outcome in outcomes:
        kept = json.dumps(outcome.gx_result.to_json_dict(), default=str)
        kept += repr(outcome) + str(outcome.observed)
        for value in (nik_ok, nik_bad, name, "BUDI"):
            assert value not in kept


def test_scrub_drops_every_sample_of_values_and_keeps_the_counts():
    result = {
        "success": False,
        "result": {
            "element_count": 3,
            "unexpected_count": 1,
            "partial_unexpected_list": ["31710BUDI1234567"],
            "partial_unexpected_counts": [{"value": "31710BUDI1234567", "count": 1}],
            "details": [{"unexpected_list": ["SITI"], "unexpected_index_list": [1], "n": 1}],
            "unexpected_rows": [{"nama": "SITI"}],
        },
    }
    assert scrub(result) == {
        "success": False,
        "result": {"element_count": 3, "unexpected_count": 1, "details": [{"n": 1}]},
    }
