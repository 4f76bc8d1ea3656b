"""Shared fixtures: a generated world in a temporary data root, run through the real stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PERSONS = 1500
MONTHS = ("2025-01", "2025-02")
BIN = Path(sys.executable).parent
# The definitions load once per process, with whatever data root is set then, and the partitions
# end at the latest month landed there (defs/common/partitions.py): in this process they end at a
# fixed month instead. The CLI's processes (cli_env) read their own landing folder.
os.environ.setdefault("DTSEN_LAST_MONTH", "2025-12")


def dtsen(*args: str, env: dict) -> subprocess.CompletedProcess:
    """Run the real console script, as a user would."""
    return subprocess.run(
        [str(BIN / "dtsen"), *args], env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    # A quote and a space in the path: every run of the suite shows no SQL breaks on a user's path.
    root = tmp_path_factory.mktemp("data") / "it's a data root"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def cli_env(data_root) -> dict:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DTSEN_") and k != "DAGSTER_HOME"
    }
    env["DTSEN_DATA_DIR"] = str(data_root)
    return env


@pytest.fixture(scope="session")
def first_month_run(cli_env, data_root):
    """`dtsen generate` two months, then `dtsen run` the first: the CLI round trip."""
    gen = dtsen(
        "generate",
        "--persons",
        str(PERSONS),
        "--start",
        MONTHS[0],
        "--months",
        "2",
        "--seed",
        "11",
        env=cli_env,
    )
    assert gen.returncode == 0, gen.stderr
    run = dtsen("run", "--month", MONTHS[0], env=cli_env)
    assert run.returncode == 0, run.stderr
    return run


@pytest.fixture()
def in_data_root(data_root, monkeypatch):
    """Point this process (paths, Dagster) at the session's data root."""
    monkeypatch.setenv("DTSEN_DATA_DIR", str(data_root))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    from dtsen_pipeline.lib import paths

    paths.ensure_dirs()
    paths.export_env()
    return data_root
