"""Dagster resources. Paths come from dtsen_pipeline.paths; connections from dtsen_pipeline.warehouse."""

from __future__ import annotations

from contextlib import contextmanager

from dagster import ConfigurableResource

from dtsen_pipeline import paths, warehouse


class WarehouseResource(ConfigurableResource):
    """The working DuckDB warehouse. Empty ``path`` means the default from paths.warehouse_db()."""

    path: str = ""

    @contextmanager
    def connect(self):
        with warehouse.connect(self.path or paths.warehouse_db()) as con:
            yield con
