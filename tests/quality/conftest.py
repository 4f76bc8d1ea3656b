"""The quality tests run in a data root of their own: a GX Data Docs page or a saved result goes
there, never into the checkout's data/. The configuration is the package's own."""

from __future__ import annotations

from pathlib import Path

import pytest

PATH_VARIABLES = (
    "DTSEN_CONFIG_DIR",
    "DTSEN_REPORTS_DIR",
    "DTSEN_WAREHOUSE_DIR",
    "DTSEN_PUBLISH_DIR",
    "DTSEN_LANDING_DIR",
    "DTSEN_TRUTH_DIR",
)


@pytest.fixture(scope="session")
def quality_root(tmp_path_factory) -> Path:
    """One data root for the session: GX's file context is built once per root and process."""
    return tmp_path_factory.mktemp("quality")


@pytest.fixture(autouse=True)
def in_quality_root(quality_root, monkeypatch) -> Path:
    for var in PATH_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DTSEN_DATA_DIR", str(quality_root))
    return quality_root
