"""Dagster resources. Paths come from dtsen_pipeline.lib.paths; connections from dtsen_pipeline.lib.warehouse."""

from __future__ import annotations

from contextlib import contextmanager

from dagster import ConfigurableResource, InitResourceContext, RetryRequested

from dtsen_pipeline.defs.common import runlock
from dtsen_pipeline.lib import paths, warehouse

# Steps that write the working warehouse run one at a time across runs (dagster.yaml sets the
# pool's limit to 1). A lock held by another process is waited for with backoff
# (warehouse.connect); past that wait, the step asks Dagster to retry it later.
WAREHOUSE_POOL = "duckdb_warehouse"
LOCK_RETRIES = 3
LOCK_RETRY_SECONDS = 60


class WarehouseResource(ConfigurableResource):
    """The working DuckDB warehouse. Empty ``path`` means the default from paths.warehouse_db().

    Not dagster-duckdb's DuckDBResource: that one retries every IOException (a corrupt file or a
    missing folder too) for ~100 s and then raises DuckDB's bare error, leaves the connection open
    when the step raises (the file stays locked for the next step), and has no place for the data
    root's run lock. This one
    opens through warehouse.connect (the one way to open DuckDB here: waits on the lock, then says
    which file and what to do), always closes, and asks Dagster to retry the step later."""

    path: str = ""

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext):
        """A run holds its data root from its first step to its last (runlock): runs of one data
        root never interleave, and a run that finds a dead run's traces clears them first."""
        if context.run is None:  # outside a run (building a resource in a test or a script)
            yield self
            return
        with runlock.hold_data_root(
            context.run.run_id, log=context.log.info, instance=context.instance
        ) as cleaned:
            for line in cleaned:
                context.log.warning(f"recovered from a run that died: {line}")
            yield self

    @contextmanager
    def connect(self):
        try:  # only opening can raise WarehouseLockedError
            with warehouse.connect(self.path or paths.warehouse_db()) as con:
                yield con
        except warehouse.WarehouseLockedError as exc:
            raise RetryRequested(
                max_retries=LOCK_RETRIES, seconds_to_wait=LOCK_RETRY_SECONDS
            ) from exc
