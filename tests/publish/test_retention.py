"""Retention (issue 31): config/retention.yaml keeps the data root from growing without end, on a
hand-built data root with fake old releases, old reports, real Dagster runs and dbt run folders."""

from __future__ import annotations

import os
import shutil
import time

import pytest
import yaml
from dagster import (
    AssetCheckResult,
    DagsterInstance,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    materialize,
)

from dtsen_pipeline import cli
from dtsen_pipeline.lib import paths
from dtsen_pipeline.publish import retention
from dtsen_pipeline.publish.retention import (
    DaysRule,
    DbtRule,
    ReleasesRule,
    RetentionSettings,
    apply_retention,
)
from tests.conftest import dtsen

DAY = 86400
OLD = time.time() - 500 * DAY


def _rule(keep_months=2, report_days=30, run_days=30, dbt_newest=3, dbt_days=1):
    return RetentionSettings(
        releases=ReleasesRule(keep_months=keep_months),
        reports=DaysRule(keep_days=report_days),
        dagster_runs=DaysRule(keep_days=run_days),
        dbt_artifacts=DbtRule(keep_newest=dbt_newest, keep_days=dbt_days),
    )


def _age(path, when=OLD):
    for dirpath, _, files in os.walk(path):
        for f in files:
            os.utime(os.path.join(dirpath, f), (when, when))
    os.utime(path, (when, when))


def _release(name: str, size: int = 1000):
    folder = paths.publish_dir() / name
    (folder / "identitas").mkdir(parents=True)
    (folder / "dtsen.duckdb").write_bytes(b"r" * size)
    (folder / "identitas" / "dtsen_identitas.duckdb").write_bytes(b"i" * size)
    os.chmod(folder / "identitas", 0o500)  # as a real release is left: read-only
    os.chmod(folder, 0o555)
    return folder


@pytest.fixture()
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    for var in ("DTSEN_PUBLISH_DIR", "DTSEN_REPORTS_DIR", "DTSEN_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    paths.ensure_dirs()
    yield tmp_path / "data"
    for dirpath, _, _ in os.walk(tmp_path):  # let pytest remove the read-only releases
        os.chmod(dirpath, 0o755)


def _releases(names):
    for name in names:
        _release(name)
    return {p.name for p in paths.publish_dir().iterdir()}


def test_releases_keep_the_newest_months_current_and_the_newest(root):
    _releases(["2025-01", "2025-02", "2025-02.r2", "2025-03", "2025-04", "2025-05"])
    (paths.publish_dir() / "current").symlink_to("2025-02.r2")  # a revision of an old month
    (paths.publish_dir() / "publications.jsonl").write_text("{}\n")
    report = apply_retention(_rule(keep_months=2), dbt_target=root / "no-target")
    assert sorted(p.name for p in paths.publish_dir().iterdir()) == [
        "2025-02.r2",
        "2025-04",
        "2025-05",
        "current",
        "publications.jsonl",
    ]
    gone = [(r.kind, r.what, r.bytes) for r in report.removed]
    assert gone == [
        ("release", "2025-01", 2000),
        ("release", "2025-02", 2000),
        ("release", "2025-03", 2000),
    ]
    assert report.bytes_freed == 6000 and "2025-02.r2 (current)" in report.kept
    assert report.lines()[-1] == "retention: removed 3 release(s); 5.9 KB freed"
    # The newest release is kept even when `current` names an older one and the window is 1.
    (paths.publish_dir() / "current").unlink()
    (paths.publish_dir() / "current").symlink_to("2025-04")
    apply_retention(_rule(keep_months=1), dbt_target=root / "no-target")
    assert sorted(p.name for p in paths.publish_dir().iterdir())[:2] == ["2025-04", "2025-05"]


def test_a_dry_run_lists_and_removes_nothing(root):
    before = _releases(["2025-01", "2025-02", "2025-03"])
    report = apply_retention(_rule(keep_months=1), dry_run=True, dbt_target=root / "no-target")
    assert [r.what for r in report.removed] == ["2025-01", "2025-02"]
    assert report.lines()[0] == "would remove release 2025-01 (2.0 KB)"
    assert {p.name for p in paths.publish_dir().iterdir()} == before


def _reports():
    reports = paths.reports_dir()
    made = {}
    for month in ("2025-01", "2025-02", "2025-03"):
        made[month] = [
            paths.quality_results_dir() / month,
            paths.linkage_reports_dir() / month,
            reports / "docs" / month,
            reports / "quality/gx/uncommitted/validations/stg_dukcapil" / f"stg_dukcapil-{month}",
            reports
            / "quality/gx/uncommitted/data_docs/local_site/validations/stg_dukcapil"
            / f"stg_dukcapil-{month}",
        ]
        for folder in made[month]:
            folder.mkdir(parents=True)
            (folder / "page.html").write_text("counts only")
    (reports / "quality/gx/great_expectations.yml").write_text("gx: project")
    return made


def test_old_reports_go_except_the_current_month_s(root):
    made = _reports()
    _release("2025-01")
    (paths.publish_dir() / "current").symlink_to("2025-01")
    for month in ("2025-01", "2025-02"):
        for folder in made[month]:
            _age(folder)
    report = apply_retention(_rule(report_days=30), dbt_target=root / "no-target")
    assert all(f.exists() for f in made["2025-01"])  # current's month, however old
    assert not any(f.exists() for f in made["2025-02"])  # old
    assert all(f.exists() for f in made["2025-03"])  # recent
    assert [r.kind for r in report.removed] == ["report"] * 5
    assert report.bytes_freed == 5 * len("counts only")
    assert (paths.reports_dir() / "quality/gx/great_expectations.yml").exists()
    index = (paths.reports_dir() / "index.html").read_text()
    assert 'id="2025-03"' in index and 'id="2025-02"' not in index  # the index written again


def test_dbt_run_folders_beyond_the_newest_and_old_go(root, tmp_path):
    target = tmp_path / "target"
    names = [f"dbt_run-{i:07x}-{i:07x}" for i in range(6)]
    for i, name in enumerate(names):
        (target / name).mkdir(parents=True)
        (target / name / "dbt.log").write_text("x" * 100)
        _age(target / name, OLD + i)  # all old, in order
    (target / "manifest.json").write_text("{}")  # dbt's own files are not run folders
    (target / "compiled").mkdir()
    _age(target / "compiled")
    recent = target / "abcdef0"
    recent.mkdir()
    report = apply_retention(_rule(dbt_newest=3), dbt_target=target)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [*names[-2:], "abcdef0", "compiled", "manifest.json"]
    )
    assert sorted(r.what for r in report.removed) == names[:4]
    assert report.bytes_freed == 400


@asset
def _one_step() -> int:
    return 1


@asset_check(asset=_one_step)
def _one_check() -> AssetCheckResult:
    return AssetCheckResult(passed=True)


def test_dagster_runs_older_than_the_window_are_deleted(root):
    with DagsterInstance.get() as instance:
        runs = [materialize([_one_step], instance=instance).run_id for _ in range(2)]
        assert len(instance.get_runs()) == 2
    nothing = apply_retention(_rule(run_days=30), dbt_target=root / "no-target")
    assert nothing.removed == []
    later = time.time() + 60 * DAY  # two months on, both runs are older than the window
    report = apply_retention(_rule(run_days=30), now=later, dbt_target=root / "no-target")
    assert sorted(r.what for r in report.removed) == sorted(runs)
    assert {r.kind for r in report.removed} == {"dagster run"}
    with DagsterInstance.get() as instance:
        assert instance.get_runs() == []
    for run_id in runs:
        assert not (paths.dagster_home() / "history" / "runs" / f"{run_id}.db").exists()


def test_keep_months_bounds_recent_reports_and_runs_by_the_published_months(root):
    """Months run in a short time (a backfill, the bench): what belongs to a month older than the
    newest N published months goes however recent; runs without a month only by age."""
    made = _reports()
    _releases(["2025-01", "2025-02", "2025-03"])
    (paths.publish_dir() / "current").symlink_to("2025-03")
    logs = ["run-2025-01.log", "run-2025-01.crash.log", "run-2025-02.log", "dbt.log"]
    for name in logs:
        (paths.logs_dir() / name).write_text("counts only")
    with DagsterInstance.get() as instance:
        runs = {
            month: materialize(
                [_one_step, _one_check], instance=instance, tags={retention.PARTITION_TAG: month}
            ).run_id
            for month in ("2025-01", "2025-02", "2025-03")
        }
        untagged = materialize([_one_step], instance=instance).run_id
    rule = _rule(keep_months=2, report_days=30, run_days=30)
    bounded = rule.model_copy(
        update={
            "reports": DaysRule(keep_days=30, keep_months=2),
            "dagster_runs": DaysRule(keep_days=30, keep_months=2),
        }
    )
    assert apply_retention(rule, dbt_target=root / "no-target").removed[0].what == "2025-01"
    report = apply_retention(bounded, dbt_target=root / "no-target")  # 2025-02 and -03 published
    assert not any(f.exists() for f in made["2025-01"])
    assert all(f.exists() for f in made["2025-02"] + made["2025-03"])
    assert [r.what for r in report.removed if r.kind == "dagster run"] == [runs["2025-01"]]
    assert sorted(p.name for p in paths.logs_dir().iterdir()) == ["dbt.log", "run-2025-02.log"]
    with DagsterInstance.get() as instance:
        checks = instance.event_log_storage.get_asset_check_execution_history(
            _one_check.check_key, limit=10
        )
        assert sorted(c.run_id for c in checks) == sorted([runs["2025-02"], runs["2025-03"]])
        assert {r.run_id for r in instance.get_runs()} == {
            runs["2025-02"],
            runs["2025-03"],
            untagged,
        }


def _config_copy(tmp_path, edit):
    config = tmp_path / "config"
    shutil.copytree(paths.CONFIG_DIR, config)
    doc = yaml.safe_load((config / retention.RETENTION_FILE).read_text())
    edit(doc)
    (config / retention.RETENTION_FILE).write_text(yaml.safe_dump(doc))
    return config


def test_check_config_validates_the_rule(tmp_path):
    _, errors = cli.check_all(paths.CONFIG_DIR)
    assert errors == [], errors

    def bad(doc):
        doc["releases"]["keep_months"] = 0
        doc["reports"]["keep_dayz"] = 3
        doc["dagster_runs"]["keep_days"] = "ten"

    _, errors = cli.check_all(_config_copy(tmp_path, bad))
    found = [e for e in errors if "retention.yaml" in e]
    assert any("releases.keep_months: must be at least 1, not 0" in e for e in found), found
    assert any("reports.keep_dayz: unknown field; did you mean 'keep_days'?" in e for e in found)
    assert any("dagster_runs.keep_days: must be a whole number, not 'ten'" in e for e in found)


def test_dtsen_clean_applies_the_rule_and_says_what_it_freed(tmp_path):
    data = tmp_path / "data"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DTSEN_") and k != "DAGSTER_HOME"
    }
    env["DTSEN_DATA_DIR"] = str(data)
    config = _config_copy(tmp_path, lambda doc: doc["releases"].update(keep_months=1))
    env["DTSEN_CONFIG_DIR"] = str(config)
    publish = data / "publish"
    for name in ("2025-01", "2025-02"):
        (publish / name).mkdir(parents=True)
        (publish / name / "dtsen.duckdb").write_bytes(b"r" * 2048)
        os.chmod(publish / name, 0o555)
    (publish / "current").symlink_to("2025-02")
    try:
        dry = dtsen("clean", "--dry-run", env=env)
        assert dry.returncode == 0, dry.stderr
        assert "dtsen clean: would remove release 2025-01 (2.0 KB)" in dry.stderr
        assert (publish / "2025-01").exists()
        done = dtsen("clean", env=env)
        assert done.returncode == 0, done.stderr
        assert "dtsen clean: removed release 2025-01 (2.0 KB)" in done.stderr
        assert "dtsen clean: retention: removed 1 release(s);" in done.stderr
        assert sorted(p.name for p in publish.iterdir()) == ["2025-02", "current"]
        (config / retention.RETENTION_FILE).write_text(
            (config / retention.RETENTION_FILE)
            .read_text()
            .replace("keep_months: 1", "keep_months: 0")
        )
        refused = dtsen("clean", env=env)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert "dtsen clean: retention not applied: " in refused.stderr
        assert "releases.keep_months: must be at least 1, not 0" in refused.stderr
    finally:
        for dirpath, _, _ in os.walk(tmp_path):
            os.chmod(dirpath, 0o755)


def test_a_publication_applies_the_rule_in_its_own_run_and_never_deletes_that_run(
    root, tmp_path, monkeypatch
):
    """The publish step applies the rule (retention.after_publication), so a month published from
    the UI, a schedule or the sensor is kept within it too: old runs are deleted through the
    publishing run's own instance while that run writes its events (SQLite), never that run; a
    rule that cannot be applied is a warning, never a failed publication."""
    with DagsterInstance.get() as instance:
        old = [materialize([_one_step], instance=instance).run_id for _ in range(2)]
    later = time.time() + 500 * DAY  # both runs, and the publishing one, older than the window
    no_target = root / "no-target"  # never the working tree's dbt_project/target

    @asset
    def publishes(context):  # unannotated: this module's annotations are strings
        said = retention.after_publication(
            context.instance, context.run.run_id, context.log, now=later, dbt_target=no_target
        )
        context.log.info("after retention: this run still writes its events")
        return MaterializeResult(metadata={"retention": MetadataValue.json(said)})

    with DagsterInstance.get() as instance:
        result = materialize([publishes], instance=instance)
        assert result.success
        assert [r.run_id for r in instance.get_runs()] == [result.run_id]
        logged = [e.user_message for e in instance.all_logs(result.run_id)]
        assert "after retention: this run still writes its events" in logged
        assert instance.get_run_by_id(result.run_id).is_success
    said = result.asset_materializations_for_node("publishes")[0].metadata["retention"].value
    assert sorted(line.split(" (")[0] for line in said[:-1]) == sorted(
        f"removed dagster run {run_id}" for run_id in old
    )
    assert said[-1].startswith("retention: removed 2 dagster run(s);")
    for run_id in old:
        assert not (paths.dagster_home() / "history" / "runs" / f"{run_id}.db").exists()

    config = _config_copy(tmp_path, lambda doc: doc["releases"].update(keep_months=0))
    monkeypatch.setenv("DTSEN_CONFIG_DIR", str(config))
    with DagsterInstance.get() as instance:
        refused = materialize([publishes], instance=instance)
    assert refused.success  # housekeeping never fails a publication
    said = refused.asset_materializations_for_node("publishes")[0].metadata["retention"].value
    assert len(said) == 1 and said[0].startswith("retention not applied: "), said
    assert "releases.keep_months: must be at least 1, not 0" in said[0]
