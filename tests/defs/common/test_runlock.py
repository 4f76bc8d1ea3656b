"""Runs of one data root go one at a time, as a whole (dtsen_pipeline/defs/common/runlock.py)."""

import subprocess
import sys
import textwrap
import time

from dagster import AssetExecutionContext, asset, materialize

from dtsen_pipeline.defs.common import runlock
from dtsen_pipeline.defs.common.resources import WarehouseResource

HOLDER = textwrap.dedent("""
    import sys, time
    from dtsen_pipeline.defs.common import runlock
    with runlock.hold_data_root("run-a", log=print):
        print("holding", flush=True)
        time.sleep(float(sys.argv[1]))
    print("released", flush=True)
""")


def _hold_in_another_process(seconds: float, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(seconds)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_second_run_waits_for_the_first_and_says_for_whom(in_data_root, monkeypatch):
    import os

    other = _hold_in_another_process(3, dict(os.environ))
    said: list[str] = []
    started = time.monotonic()
    with runlock.hold_data_root("run-b", log=said.append):
        waited = time.monotonic() - started
    assert waited >= 2.5, "run-b got the data root while run-a still held it (for 3 s)"
    assert any("waiting for run run-a (pid" in line for line in said), said
    other.wait(timeout=10)


def test_a_job_run_holds_the_data_root_for_its_whole_length(in_data_root):
    """The warehouse resource takes the hold when the run starts (UI runs included), not per step."""
    seen = []

    @asset
    def first(context: AssetExecutionContext, warehouse: WarehouseResource) -> None:
        seen.append((context.run.run_id, runlock.run_is_alive(context.run.run_id), os_env_run_id()))

    @asset(deps=[first])
    def second(context: AssetExecutionContext, warehouse: WarehouseResource) -> None:
        seen.append((context.run.run_id, runlock.run_is_alive(context.run.run_id), os_env_run_id()))

    result = materialize([first, second], resources={"warehouse": WarehouseResource()})
    assert result.success
    assert seen == [(result.run_id, True, result.run_id)] * 2
    # Released at the end: the next run gets it at once and finds nothing to clean.
    with runlock.hold_data_root("next") as cleaned:
        assert cleaned == []
    assert runlock.run_is_alive(result.run_id) is None


def os_env_run_id() -> str | None:
    import os

    return os.environ.get(runlock.RUN_ID_ENV)


def test_the_next_run_removes_the_scratch_a_killed_run_left(in_data_root):
    """Splink's spill and Spark's scratch (the hand-over Parquet of the month's records and scored
    pairs, and the shuffle files: 17 GB in a 3M-person month's scoring) left by a run killed
    mid-linkage are removed when the next run takes the data root."""
    from dtsen_pipeline.lib import paths

    left = {
        "spill": paths.warehouse_dir() / "spill" / "duckdb_temp_block-1.block",
        "spark": paths.warehouse_dir()
        / "spark"
        / "handover"
        / "handover-x"
        / "scored"
        / "p.parquet",
        "shuffle": paths.warehouse_dir()
        / "spark"
        / "local"
        / "blockmgr-x"
        / "0c"
        / "shuffle_0.data",
    }
    for path in left.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    with runlock.hold_data_root("next") as cleaned:
        assert [c.split(" from ")[1] for c in cleaned] == [
            "warehouse/spill",
            "warehouse/spark/handover",
            "warehouse/spark/local",
        ]
    assert not any(path.exists() for path in left.values())
    with runlock.hold_data_root("after") as cleaned:
        assert cleaned == []
