"""The monthly partitions end at the data (issue 32): the latest month with landed files."""

from datetime import UTC, datetime

from dagster import build_schedule_context

from dtsen_pipeline.defs.common import partitions


def _land(root, month: str, name: str = "DTKS_ART_1.csv") -> None:
    folder = root / "landing" / "dtks" / month
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("x\n")


def test_partitions_end_at_the_latest_month_with_landed_files(monkeypatch, tmp_path):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv(partitions.LAST_MONTH_ENV, raising=False)
    _land(tmp_path, "2025-01")
    _land(tmp_path, "2025-03")
    _land(tmp_path, "2025-05", name="notes.txt")  # no file a source reads: not data
    (tmp_path / "landing" / "dtks" / "2025-07").mkdir()  # an empty folder: not data
    keys = partitions.month_partitions().get_partition_keys()
    assert keys == ["2025-01", "2025-02", "2025-03"]  # "Latest" is 2025-03, nothing after it
    assert partitions.month_refusal("2025-03") is None
    assert "2025-05 has no landed files (the months end at 2025-03" in partitions.month_refusal(
        "2025-05"
    )
    assert "before the first month" in partitions.month_refusal("2024-12")
    # A configured last month opens months ahead of their files.
    monkeypatch.setenv(partitions.LAST_MONTH_ENV, "2025-06")
    assert partitions.month_partitions().get_partition_keys()[-1] == "2025-06"


def test_a_fresh_data_root_runs_to_the_current_month(monkeypatch, tmp_path):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv(partitions.LAST_MONTH_ENV, raising=False)
    keys = partitions.month_partitions().get_partition_keys()
    assert keys[0] == partitions.FIRST_MONTH
    assert keys[-1] == datetime.now(UTC).strftime("%Y-%m")


def test_the_schedule_skips_a_month_without_files(monkeypatch, tmp_path):
    """The schedule's month past the partitions' end is skipped with the reason, never run."""
    from dtsen_pipeline.defs.common.jobs import monthly_refresh_schedule

    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv(partitions.LAST_MONTH_ENV, raising=False)
    _land(tmp_path, "2025-01")
    end = partitions.monthly_partitions.get_last_partition_key()
    year, month = int(end[:4]), int(end[5:])
    after = datetime(year + month // 12, month % 12 + 1, 25, 2, tzinfo=UTC)
    result = monthly_refresh_schedule.evaluate_tick(
        build_schedule_context(scheduled_execution_time=after)
    )
    assert not result.run_requests
    assert "has no landed files (the months end at 2025-01" in result.skip_message
