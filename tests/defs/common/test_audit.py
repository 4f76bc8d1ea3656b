"""The audit trail (issue 32): who or what started a run, the code and configuration a release
was built with, and the publication log, appended to and never rewritten."""

import json
import re
import subprocess

from dagster import (
    AssetCheckResult,
    DagsterEventType,
    DagsterInstance,
    asset,
    asset_check,
    build_run_status_sensor_context,
    materialize,
)

from dtsen_pipeline.defs.common import audit
from dtsen_pipeline.defs.common.monitoring import run_failure_alert
from dtsen_pipeline.defs.common.partitions import monthly_partitions
from dtsen_pipeline.lib import paths
from dtsen_pipeline.publish import releases


@asset(partitions_def=monthly_partitions)
def tiny():
    return None


def _run(instance, tags: dict):
    result = materialize([tiny], partition_key="2025-02", instance=instance, tags=tags)
    return instance.get_run_by_id(result.run_id)


def test_the_trigger_of_a_run_is_named():
    with DagsterInstance.ephemeral() as instance:
        kinds = {
            name: audit.trigger(_run(instance, tags))
            for name, tags in {
                "schedule": {"dagster/schedule_name": "monthly_refresh_job_schedule"},
                "sensor": {"dagster/sensor_name": "landing_sensor"},
                "backfill": {"dagster/backfill": "abcdefgh"},
                "cli": {"dtsen/trigger": "cli"},
                "ui": {"user": "operator@dinsos"},
            }.items()
        }
    assert {n: (t["kind"], t["name"]) for n, t in kinds.items()} == {
        "schedule": ("schedule", "monthly_refresh_job_schedule"),
        "sensor": ("sensor", "landing_sensor"),
        "backfill": ("backfill", "abcdefgh"),
        "cli": ("cli", "dtsen run"),
        "ui": ("ui", ""),
    }
    assert kinds["ui"]["user"] == "operator@dinsos" and "user" not in kinds["cli"]
    assert all(t["run_as"] and len(t["run_id"]) == 36 for t in kinds.values())
    assert audit.describe(kinds["ui"]) == "ui by operator@dinsos"


def test_the_code_version_is_the_checkouts_commit():
    head = subprocess.run(
        ["git", "-C", str(paths.PROJECT_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    version = releases.code_version()
    assert re.fullmatch(rf"git:{head}(\+dirty)?", version), version


def test_the_configuration_hash_follows_every_file(monkeypatch, tmp_path):
    import shutil

    config = tmp_path / "config"
    shutil.copytree(paths.CONFIG_DIR, config)
    monkeypatch.setenv("DTSEN_CONFIG_DIR", str(config))
    before = releases.config_checksums()
    assert {"all", "publication.yaml", "alerts.yaml", "sources/dtks.yaml"} <= set(before)
    (config / "sources" / "dtks.yaml").write_text(
        (config / "sources" / "dtks.yaml").read_text() + "# a steward's note\n"
    )
    after = releases.config_checksums()
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"all", "sources/dtks.yaml"}


def test_the_publication_log_is_appended_to(monkeypatch, tmp_path):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    first = releases.log_publication("published", "2025-01", release="2025-01", gate="passed")
    log = releases.publication_log_path()
    head = log.read_text()
    releases.log_publication("refused", "2025-02", gate="failed", failed=["dtsen_individu"])
    assert log.read_text().startswith(head)  # appended, the earlier line untouched
    assert [(r["event"], r["month"]) for r in releases.publication_log()] == [
        ("published", "2025-01"),
        ("refused", "2025-02"),
    ]
    assert releases.publication_log()[0] == first
    assert log == tmp_path / "publish" / "publications.jsonl"


def test_a_blocked_gate_is_logged_as_a_refused_release(monkeypatch, tmp_path):
    """A real run stopped by a blocking check: the run-failure sensor logs the refusal, naming
    the check and how the run was started."""
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))

    @asset(partitions_def=monthly_partitions, key=["marts", "dtsen_individu"])
    def mart():
        return None

    @asset_check(asset=mart, name="gx_dtsen_individu", blocking=True)
    def gx():
        return AssetCheckResult(passed=False)

    @asset(partitions_def=monthly_partitions, deps=[mart], key=["publish", "dtsen_release"])
    def release():
        return None

    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [mart, release, gx],
            partition_key="2025-02",
            instance=instance,
            raise_on_error=False,
            tags={"dagster/schedule_name": "monthly_refresh_job_schedule"},
        )
        assert not result.success
        [failure] = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
        context = build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
            dagster_event=failure.dagster_event,
        ).for_run_failure()
        run_failure_alert(context)
    [row] = releases.publication_log()
    assert (row["event"], row["month"], row["gate"]) == ("refused", "2025-02", "blocked")
    assert row["failed"] == ["marts/dtsen_individu: gx_dtsen_individu"]
    assert row["trigger"]["kind"] == "schedule" and row["run_id"] == result.run_id
    json.dumps(row)  # plain JSON, nothing else
