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
