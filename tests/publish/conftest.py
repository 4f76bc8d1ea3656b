"""Fixtures of the release tests: `dtsen query` on the session's release, in this process."""

from __future__ import annotations

import pytest

from dtsen_pipeline import cli


@pytest.fixture()
def query(first_month_run, data_root, monkeypatch, capsys):
    """Run `dtsen query` in this process (the same code as the console script) on the session's
    release; each call returns (status, stdout, stderr)."""
    monkeypatch.setenv("DTSEN_DATA_DIR", str(data_root))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for var in (
        "DTSEN_PUBLISH_DIR",
        "DTSEN_WAREHOUSE_DIR",
        "DTSEN_PSEUDONYM_SALT_FILE",
        "DTSEN_EXPORTS_DIR",
    ):
        monkeypatch.delenv(var, raising=False)

    def run(sql: str, *flags: str) -> tuple[int, str, str]:
        status = cli.main(["query", *flags, sql])
        out = capsys.readouterr()
        return status, out.out, out.err

    return run
