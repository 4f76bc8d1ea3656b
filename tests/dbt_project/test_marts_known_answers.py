"""Known answers for every mart: the dbt unit tests in each mart's own YAML (dbt_project/models/marts/<model>.yml).

Each mart, and each intermediate model that reads the linkage output (built after linkage with the
marts), has a hand-built input and the rows it must return (worked out in the YAML's comments).
The monthly `dbt build` runs them before building each model, so a mart whose logic breaks is not
built; here they run on their own, against the session's real warehouse (dbt reads the input
tables' column types from it), and one is broken on purpose to show the harness catches it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dtsen_pipeline.lib import paths

DBT = Path(sys.executable).parent / "dbt"

# Marts without a unit test, and where they are tested instead.
TESTED_ELSEWHERE = {
    "dtsen_crosswalk": "a copy of linkage.person_clusters: test_linkage_ids",
    "dtsen_id_history": "a copy of linkage.id_history: test_linkage_ids",
    "dtsen_desil_riwayat": "month-by-month history: test_pipeline (both months kept)",
    "dtsen_individu_riwayat": "month-by-month history: test_pipeline (both months kept)",
}


def _dbt(project: Path, target: Path, *args: str) -> dict:
    """Run dbt on a project and return its run_results.json (the exit code is for the caller)."""
    subprocess.run(
        [
            str(DBT),
            *args,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return json.loads((target / "run_results.json").read_text())


@pytest.fixture(scope="module")
def warehouse_env(first_month_run, data_root):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DTSEN_DATA_DIR", str(data_root))
        paths.export_env()  # DTSEN_WAREHOUSE_PATH for dbt's profile
        yield


@pytest.fixture(scope="module")
def unit_results(warehouse_env, tmp_path_factory) -> dict[str, dict]:
    results = _dbt(
        paths.DBT_PROJECT_DIR,
        tmp_path_factory.mktemp("dbt_unit"),
        "test",
        "--select",
        "test_type:unit",
    )
    return {r["unique_id"]: r for r in results["results"]}


def _mart_models() -> list[str]:
    """The marts, and the intermediate models that read Splink's output (built after linkage with them)."""
    models = paths.DBT_PROJECT_DIR / "models"
    after_linkage = [
        p for p in (models / "intermediate").glob("*.sql") if "source('linkage'" in p.read_text()
    ]
    return sorted(p.stem for p in [*(models / "marts").glob("*.sql"), *after_linkage])


@pytest.mark.parametrize("model", _mart_models())
def test_every_mart_has_a_passing_known_answer(model, unit_results):
    mine = {
        uid: r for uid, r in unit_results.items() if uid.startswith(f"unit_test.dtsen.{model}.")
    }
    if model in TESTED_ELSEWHERE:
        assert not mine, f"{model} now has a unit test: drop it from TESTED_ELSEWHERE"
        return
    assert mine, f"{model} has no unit test in its YAML ({model}.yml beside its SQL)"
    failed = {uid: r["message"] for uid, r in mine.items() if r["status"] != "pass"}
    assert not failed, failed


def test_a_broken_mart_fails_its_known_answer(warehouse_env, tmp_path):
    """Rank families into desil by the wrong end (richest first): the unit test must fail."""
    project = tmp_path / "dbt_project"
    shutil.copytree(
        paths.DBT_PROJECT_DIR,
        project,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    model = project / "models" / "marts" / "dtsen_keluarga.sql"
    sql = model.read_text()
    assert sql.count("order by skor_pmt, dtsen_kk_id") == 2
    model.write_text(
        sql.replace("order by skor_pmt, dtsen_kk_id", "order by skor_pmt desc, dtsen_kk_id")
    )
    results = _dbt(
        project, tmp_path / "target", "test", "--select", "dtsen_keluarga,test_type:unit"
    )
    status = {r["unique_id"].rsplit(".", 1)[1]: r["status"] for r in results["results"]}
    # the desil test fails; the model's other known answer (the address) does not read the order
    assert status == {
        "keluarga_desil_weighted_by_persons": "fail",
        "keluarga_address_is_the_heads": "pass",
    }


def test_every_published_mart_is_documented_column_by_column_and_tested(first_month_run, data_root):
    import duckdb
    import yaml

    documented = {
        m["name"]: m
        for f in (paths.DBT_PROJECT_DIR / "models" / "marts").glob("*.yml")
        for m in yaml.safe_load(f.read_text()).get("models", [])
    }
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        tables = con.execute(
            "select table_name, list(column_name order by ordinal_position) "
            "from information_schema.columns where table_schema = 'marts' group by 1"
        ).fetchall()
    assert len(tables) >= 13
    for table, columns in tables:
        model = documented.get(table)
        assert model and model.get("description"), (
            f"{table} is not documented in models/marts/{table}.yml"
        )
        described = [c["name"] for c in model.get("columns", []) if c.get("description")]
        assert sorted(described) == sorted(columns), f"{table}: docs and table differ"
        tests = model.get("data_tests", []) + [
            t for c in model["columns"] for t in c.get("data_tests", [])
        ]
        assert tests, f"{table} has no data tests"
