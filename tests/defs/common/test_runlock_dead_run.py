"""A run that died by an exception (issue 31, item 2): the next run proceeds at once, and a run
that waits says for what, gives up within a bounded time, and stops on SIGTERM.

The dead run's leftovers are made by a real process with the real lock and Dagster's real
storage: a run STARTED in the data root's instance, holding the ``duckdb_warehouse`` pool slot,
whose process raised inside ``hold_data_root`` (as Dagster's SQLite raised "disk I/O error" in the
issue's run) and exited, leaving the run STARTED and the slot claimed.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from dagster import AssetExecutionContext, DagsterInstance, DagsterRunStatus, asset, materialize

from dtsen_pipeline.defs.common import runlock
from dtsen_pipeline.defs.common.resources import WAREHOUSE_POOL, WarehouseResource

# A run of a one-step job in the warehouse pool, STARTED, its step holding the pool's slot.
_STARTED_RUN = """
from dagster import DagsterInstance, DagsterRunStatus, Definitions, asset, define_asset_job
from dtsen_pipeline.defs.common import runlock
from dtsen_pipeline.defs.common.resources import WAREHOUSE_POOL

@asset(pool=WAREHOUSE_POOL)
def step():
    pass

job = Definitions(assets=[step], jobs=[define_asset_job("month", [step])]).resolve_job_def("month")
instance = DagsterInstance.get()
run = instance.create_run_for_job(
    job, status=DagsterRunStatus.STARTED, tags={"dagster/partition": "2025-01"}
)
storage = instance.event_log_storage
storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
assert storage.claim_concurrency_slot(WAREHOUSE_POOL, run.run_id, "step").is_claimed
"""

DIES_BY_EXCEPTION = _STARTED_RUN + textwrap.dedent("""
    with runlock.hold_data_root(run.run_id, instance=instance):
        print(run.run_id, flush=True)
        raise OSError("disk I/O error")
""")

# A process that holds a run's liveness lock (so it is alive) and its pool slot, without the data
# root: what no run of this code does, so the next run waits for it, boundedly.
ALIVE_WITH_SLOT = _STARTED_RUN + textwrap.dedent("""
    import time
    alive = runlock._take_liveness(run.run_id)  # as a run takes it, before the data root
    print(run.run_id, flush=True)
    time.sleep(120)
""")

# The next run, as `dtsen run` takes the data root: SIGTERM stops it as Ctrl-C does.
ACQUIRER = textwrap.dedent("""
    import sys
    from dtsen_pipeline.cli import _interrupt_on_sigterm
    from dtsen_pipeline.defs.common import runlock
    runlock.SLOT_WAIT_SECONDS = 600
    _interrupt_on_sigterm()
    try:
        with runlock.hold_data_root("next-run", log=lambda line: print(line, flush=True)):
            print("holding", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
""")


def _slots_claimed(instance) -> list[str]:
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    return [claim.run_id for claim in info.claimed_slots]


def _python(script: str) -> list[str]:
    return [sys.executable, "-c", script]


@pytest.mark.timeout(300)
def test_a_run_that_died_by_an_exception_is_cleared_at_once_and_the_rerun_goes_through(
    in_data_root,
):
    died = subprocess.run(
        _python(DIES_BY_EXCEPTION), env=dict(os.environ), capture_output=True, text=True
    )
    assert died.returncode == 1 and "OSError: disk I/O error" in died.stderr, died.stderr
    dead = died.stdout.strip()
    with DagsterInstance.get() as instance:
        assert instance.get_run_by_id(dead).status == DagsterRunStatus.STARTED
        assert _slots_claimed(instance) == [dead]  # what made the rerun spin

    started = time.monotonic()
    with runlock.hold_data_root("rerun") as cleaned:
        took = time.monotonic() - started
    assert took < 10, f"the rerun waited {took:.0f} s for a run whose process had exited"
    assert f"marked run {dead} (2025-01) FAILURE: its process had died" in cleaned, cleaned
    assert f"freed the warehouse pool slot(s) of run {dead}" in cleaned, cleaned
    with DagsterInstance.get() as instance:
        assert instance.get_run_by_id(dead).status == DagsterRunStatus.FAILURE
        assert _slots_claimed(instance) == []

        # A real run with a step in the pool, in the same instance, goes through.
        @asset(pool=WAREHOUSE_POOL)
        def pooled(context: AssetExecutionContext, warehouse: WarehouseResource) -> None:
            assert runlock.run_is_alive(context.run.run_id) is True

        result = materialize(
            [pooled], resources={"warehouse": WarehouseResource()}, instance=instance
        )
        assert result.success


@pytest.mark.timeout(120)
def test_a_run_waiting_on_a_live_runs_slot_says_so_and_gives_up_within_the_bound(
    in_data_root, monkeypatch
):
    holder = subprocess.Popen(
        _python(ALIVE_WITH_SLOT), env=dict(os.environ), stdout=subprocess.PIPE, text=True
    )
    try:
        other = holder.stdout.readline().strip()
        assert other, "the holder did not start"
        monkeypatch.setattr(runlock, "SLOT_WAIT_SECONDS", 3)
        said: list[str] = []
        started = time.monotonic()
        with (
            pytest.raises(runlock.DataRootBusyError) as err,
            runlock.hold_data_root("waiter", log=said.append),
        ):
            pass
        assert time.monotonic() - started < 15
        message = str(err.value)
        assert f"run {other}" in message and f"pid {holder.pid}" in message, message
        assert WAREHOUSE_POOL in message and "then run again" in message, message
        assert any(f"waiting for run {other}" in line for line in said), said
    finally:
        holder.kill()
        holder.wait()
    # Once that process is gone, its run is known dead and the next run clears it.
    with runlock.hold_data_root("after") as cleaned:
        assert f"freed the warehouse pool slot(s) of run {other}" in cleaned, cleaned


@pytest.mark.timeout(120)
@pytest.mark.parametrize("waits_for", ["the data root", "a live run's pool slot"])
def test_a_waiting_run_stops_on_sigterm(in_data_root, waits_for):
    if waits_for == "the data root":
        blocker = subprocess.Popen(
            _python(
                "from dtsen_pipeline.defs.common import runlock\nimport time\n"
                "with runlock.hold_data_root('holder'):\n"
                "    print('holding', flush=True)\n    time.sleep(120)\n"
            ),
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            text=True,
        )
    else:
        blocker = subprocess.Popen(
            _python(ALIVE_WITH_SLOT), env=dict(os.environ), stdout=subprocess.PIPE, text=True
        )
    waiter = None
    try:
        assert blocker.stdout.readline().strip()
        # Waiting for the data root, the waiter starts with SIGINT ignored, as `dtsen run &` from a
        # script (or a test runner's worker) starts it: SIGTERM must stop it all the same.
        waiter = subprocess.Popen(
            _python(ACQUIRER),
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=(
                (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
                if waits_for == "the data root"
                else (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
            ),
        )
        first = waiter.stdout.readline()
        assert "waiting for" in first, first
        waiter.send_signal(signal.SIGTERM)
        assert waiter.wait(timeout=10) == 130
        assert waiter.stdout.read().strip() == "interrupted"
    finally:
        for proc in (waiter, blocker):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    with runlock.hold_data_root("after"):
        pass  # nothing left held: the waiter let go of its liveness lock as it stopped
    assert runlock.run_is_alive("next-run") is not True
