"""The project is a `dg` project (pyproject's [tool.dg]): `dg check defs` loads the definitions
from dtsen_pipeline/definitions.py and validates them, as `dg dev` would before serving them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dtsen_pipeline.lib import paths


def test_dg_check_defs_loads_the_definitions(tmp_path):
    venv = Path(sys.executable).parent.parent
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DTSEN_") and k != "DAGSTER_HOME"
    }
    env.update(
        DTSEN_DATA_DIR=str(tmp_path / "data"),
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    done = subprocess.run(
        [str(venv / "bin" / "dg"), "check", "defs"],
        cwd=paths.PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "All definitions loaded successfully." in done.stdout + done.stderr
    listed = subprocess.run(
        [str(venv / "bin" / "dg"), "list", "defs", "--json"],
        cwd=paths.PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "monthly_refresh_job" in listed.stdout and "dtsen_release" in listed.stdout
