"""quality/suites.py: the suites the gate runs are the ones config/expectations.yaml declares.

The YAML is read here on its own (plain yaml.safe_load) and each spec is held against it: one
warning suite per registry source, one blocking suite per published mart, the marts' warning
suites; the columns a suite reads; the values its "$name" arguments stand for.
"""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from dtsen_pipeline.ingest.sources import load_sources
from dtsen_pipeline.lib import paths
from dtsen_pipeline.linkage.config import rules
from dtsen_pipeline.publish import contents
from dtsen_pipeline.quality.suites import SuiteSpec, parameter_value, suite_specs

DECLARED = yaml.safe_load((paths.CONFIG_DIR / "expectations.yaml").read_text(encoding="utf-8"))


def test_building_the_suites_imports_no_great_expectations():
    """The definitions list the checks without GX's ~10 s of imports."""
    code = (
        "import sys\n"
        "from dtsen_pipeline.quality.suites import suite_specs\n"
        "specs = suite_specs()\n"
        "[(s.columns(), s.parameters()) for s in specs.values()]\n"
        "print(len(specs), sorted({m.split('.')[0] for m in sys.modules} & {'great_expectations'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert out.returncode == 0, out.stderr
    count, gx = out.stdout.split(" ", 1)
    assert int(count) > 0 and gx.strip() == "[]"


def test_every_registry_source_has_a_warning_suite_with_the_declared_expectations():
    specs = suite_specs()
    names = [s.name for s in load_sources()]
    assert names and {k for k in specs if k.startswith("stg_")} == {f"stg_{n}" for n in names}
    staged = DECLARED["staged_source"]
    for name in names:
        spec = specs[f"stg_{name}"]
        assert not spec.blocking, name  # a source's suite warns
        assert spec.source == name and spec.table is None  # its overrides; never compared
        assert spec.asset == f"stg_{name}__individu"
        assert spec.query == staged["query"].replace("{source}", name)
        assert "{month}" in spec.query  # filled in at validation
        assert spec.batch_by == staged["batch_by"]
        assert list(spec.expectations) == staged["expectations"]


def test_every_published_mart_has_a_blocking_suite_as_declared():
    specs = suite_specs()
    declared = DECLARED["marts"]
    assert set(declared) == set(contents.release_tables())
    for mart, suite in declared.items():
        spec = specs[mart]
        assert spec.blocking and spec.table == mart and spec.asset == mart and spec.source is None
        assert spec.query == suite["query"] and spec.batch_by == suite["batch_by"]
        assert list(spec.expectations) == suite["expectations"], mart
        assert list(spec.summaries) == suite.get("summaries", []), mart
        assert spec.drift == tuple(suite.get("drift", ()))
        assert spec.extra_columns == tuple(suite.get("columns", ()))
        assert spec.allow_empty == suite.get("allow_empty", False)


def test_a_marts_row_count_tolerance_is_its_own_none_or_the_settings():
    specs = suite_specs()
    default = DECLARED["settings"]["row_count_tolerance"]
    kinds = set()
    for mart, suite in DECLARED["marts"].items():
        if "row_count_tolerance" in suite:
            expected = suite["row_count_tolerance"]  # null: an event table, not compared
            kinds.add("none" if expected is None else "own")
        else:
            expected = default
            kinds.add("default")
        assert specs[mart].row_count_tolerance == expected, mart
    assert kinds == {"none", "own", "default"}  # each case is exercised by the shipped file


def test_a_mart_warning_suite_warns_on_its_mart_and_is_never_compared():
    specs = suite_specs()
    assert DECLARED["mart_warnings"]
    for name, warning in DECLARED["mart_warnings"].items():
        spec = specs[name]
        assert not spec.blocking and spec.asset == warning["mart"] and spec.table is None
        assert list(spec.expectations) == warning["expectations"]
        assert spec.allow_empty == warning.get("allow_empty", False)


def test_a_suite_reads_only_the_columns_its_rules_use_once_each_and_quoted():
    spec = SuiteSpec(
        name="t",
        asset="t",
        table=None,
        query="select 1",
        batch_by="kode_prov",
        expectations=(
            {"type": "ExpectColumnValuesToNotBeNull", "kwargs": {"column": "dtsen_id"}},
            {"type": "ExpectColumnValuesToNotBeNull", "kwargs": {"column": "kode_prov"}},
            {"type": "ExpectTableRowCountToBeBetween", "kwargs": {"min_value": 1}},
        ),
        drift=("jenis_kelamin", "dtsen_id"),
        extra_columns=("in_dukcapil",),
    )
    assert spec.columns() == ['"kode_prov"', '"dtsen_id"', '"jenis_kelamin"', '"in_dukcapil"']
    # The shipped person suite never reads a name: none reaches GX.
    individu = suite_specs()["dtsen_individu"].columns()
    assert '"nik"' in individu and '"nama"' not in individu


def test_a_dollar_name_stands_for_the_setting_and_a_sources_override():
    specs = suite_specs()
    settings = DECLARED["settings"]
    overrides = DECLARED["source_settings"]
    assert overrides["dinsos_kaltim"]["nik_structure_mostly"] != settings["nik_structure_mostly"]
    kaltim = specs["stg_dinsos_kaltim"].parameters()
    assert kaltim["nik_structure_mostly"] == overrides["dinsos_kaltim"]["nik_structure_mostly"]
    assert "dukcapil" not in overrides
    dukcapil = specs["stg_dukcapil"].parameters()
    mart = specs["dtsen_individu"].parameters()
    for params in (dukcapil, mart):
        assert {k: params[k] for k in settings} == settings
        # Owned by config/linkage.yaml, declared once there.
        assert params["max_records_per_person"] == rules().max_records_per_person
    assert parameter_value("$nik_structure_mostly", kaltim) == kaltim["nik_structure_mostly"]
    assert parameter_value(0.5, kaltim) == 0.5
    assert parameter_value("L", kaltim) == "L"
