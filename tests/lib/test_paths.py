from pathlib import Path

from dtsen_pipeline.lib import paths


def test_everything_derives_from_the_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert paths.landing_dir() == tmp_path / "landing"
    assert paths.warehouse_db() == tmp_path / "warehouse" / "dtsen.duckdb"
    assert paths.publish_dir() == tmp_path / "publish"
    assert paths.dagster_home() == tmp_path / "dagster_home"


def test_each_folder_can_move_on_its_own(monkeypatch, tmp_path):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path / "root"))
    monkeypatch.setenv("DTSEN_PUBLISH_DIR", str(tmp_path / "elsewhere"))
    assert paths.publish_dir() == tmp_path / "elsewhere"
    assert paths.landing_dir() == tmp_path / "root" / "landing"


def test_default_root_is_the_repo_data_folder(monkeypatch):
    monkeypatch.delenv("DTSEN_DATA_DIR", raising=False)
    assert paths.data_root() == Path(__file__).resolve().parents[2] / "data"


def test_ensure_dirs_writes_a_dagster_instance_config(monkeypatch, tmp_path):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    paths.ensure_dirs()
    assert "enabled: false" in (tmp_path / "dagster_home" / "dagster.yaml").read_text()


POSTGRES_INSTANCE = """# Our production instance (ops team): do not touch.
storage:
  postgres:
    postgres_url:
      env: DTSEN_TEST_PG_URL
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
"""

COMMENTED_INSTANCE = """# Edited by hand: run monitoring on, telemetry off.
telemetry:
  enabled: false
run_monitoring:
  enabled: true
  poll_interval_seconds: 30
"""


def _user_instance(monkeypatch, tmp_path, text: str):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "dagster_home"
    home.mkdir(mode=0o700)
    (home / "dagster.yaml").write_text(text)
    return home / "dagster.yaml"


def test_a_users_dagster_yaml_is_never_overwritten(monkeypatch, tmp_path):
    """dagster.yaml is the user's (issue 32): ensure_dirs, and `python -m dtsen_pipeline.lib.paths`
    (make ui, make demo), leave a PostgreSQL instance config byte for byte as it was."""
    import os
    import subprocess
    import sys

    config = _user_instance(monkeypatch, tmp_path, POSTGRES_INSTANCE)
    paths.ensure_dirs()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    out = subprocess.run(
        [sys.executable, "-m", "dtsen_pipeline.lib.paths", "dagster_home"],
        env=env | {"DTSEN_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(config.parent)
    assert config.read_text() == POSTGRES_INSTANCE
    assert paths.write_default_dagster_yaml(config) is False


def test_a_users_dagster_yaml_survives_a_run(monkeypatch, tmp_path):
    """The path that loads the instance too: every run holds its data root and recovers what dead
    runs left (runlock), calling ensure_dirs; `dtsen run` calls it the same way (cli.run_month)."""
    from dagster import DagsterInstance, materialize

    from dtsen_pipeline.defs.common import runlock

    config = _user_instance(monkeypatch, tmp_path, COMMENTED_INSTANCE)
    with runlock.hold_data_root("user-config-run"):
        pass
    monkeypatch.setenv("DAGSTER_HOME", str(config.parent))
    with DagsterInstance.get() as instance:
        assert instance.run_monitoring_enabled  # the user's setting is the one in force
        assert materialize([], instance=instance).success
    assert config.read_text() == COMMENTED_INSTANCE


def test_the_default_is_written_where_none_exists(monkeypatch, tmp_path):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    paths.ensure_dirs()
    config = tmp_path / "dagster_home" / "dagster.yaml"
    assert "never overwrites it" in config.read_text()
    config.write_text(config.read_text() + "# mine\n")
    paths.ensure_dirs()
    assert config.read_text().endswith("# mine\n")
