"""The one place that knows where data lives.

Everything derives from the data root ``DTSEN_DATA_DIR`` (default ``./data``); each folder can be
moved on its own with its own variable. Functions, not constants, so a test or CLI that changes the
environment sees the change at once.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

_T = TypeVar("_T")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
CONFIG_DIR = PACKAGE_DIR / "config"  # the configuration shipped with the package (the default)


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def dbt_manifest() -> Path:
    """dbt's parsed project (``make setup`` or ``python -m dtsen_pipeline.defs.dbt.project`` writes it)."""
    return DBT_PROJECT_DIR / "target" / "manifest.json"


def config_dir() -> Path:
    """The YAML a data steward edits (sources/, linkage.yaml, publication.yaml, expectations.yaml):
    the package's own by default; ``DTSEN_CONFIG_DIR`` points at a copy kept elsewhere."""
    return _env_path("DTSEN_CONFIG_DIR", CONFIG_DIR)


def data_root() -> Path:
    return _env_path("DTSEN_DATA_DIR", PROJECT_ROOT / "data")


def landing_dir() -> Path:
    """Agency extracts as delivered: ``<source>/<YYYY-MM>/<file>``."""
    return _env_path("DTSEN_LANDING_DIR", data_root() / "landing")


def truth_dir() -> Path:
    """Generator ground truth, beside (never inside) landing: used only by evaluation and tests."""
    return _env_path("DTSEN_TRUTH_DIR", data_root() / "truth")


def warehouse_dir() -> Path:
    return _env_path("DTSEN_WAREHOUSE_DIR", data_root() / "warehouse")


def warehouse_db() -> Path:
    """The working warehouse: one writer at a time, never opened by analysts."""
    return warehouse_dir() / "dtsen.duckdb"


def models_dir() -> Path:
    """Trained linkage models (Splink JSON), one per extract month."""
    return warehouse_dir() / "models"


def publish_dir() -> Path:
    """Releases ``<YYYY-MM>/`` and the ``current`` pointer that analysts read."""
    return _env_path("DTSEN_PUBLISH_DIR", data_root() / "publish")


def current_release() -> Path:
    return publish_dir() / "current"


def dagster_home() -> Path:
    return _env_path("DAGSTER_HOME", data_root() / "dagster_home")


def reports_dir() -> Path:
    """Human-readable artefacts linked from the UI (validation results, charts)."""
    return _env_path("DTSEN_REPORTS_DIR", data_root() / "reports")


def review_dir() -> Path:
    """Clerical review: ``decisions.csv`` (record_key_l, record_key_r, decision accept|reject)."""
    return _env_path("DTSEN_REVIEW_DIR", data_root() / "review")


def logs_dir() -> Path:
    """Tool output kept for debugging (dbt's log of a CLI run); never holds NIK or names."""
    return _env_path("DTSEN_LOGS_DIR", data_root() / "logs")


def exports_dir() -> Path:
    """Where `dtsen query --output` writes an analyst's results (``DTSEN_EXPORTS_DIR``), and nowhere
    else. Owner-only: an export of the identified database holds identity."""
    return _env_path("DTSEN_EXPORTS_DIR", data_root() / "exports")


def identity_dir() -> Path:
    """Files drawn from a release's identified database for the roles that need identity, kept
    outside the immutable releases (``DTSEN_IDENTITY_DIR``): the operators' work lists."""
    return _env_path("DTSEN_IDENTITY_DIR", data_root() / "identitas")


def worklists_dir() -> Path:
    """`dtsen worklists`: ``<YYYY-MM>/<kode_kab>/`` per release month and kabupaten."""
    return identity_dir() / "daftar_kerja"


def pseudonym_salt_file() -> Path:
    """The salt of the pseudonymised release's hashes (when DTSEN_PSEUDONYM_SALT is not set)."""
    return _env_path("DTSEN_PSEUDONYM_SALT_FILE", data_root() / "secrets" / "pseudonym_salt")


def quality_results_dir() -> Path:
    """Gate results per month and suite (counts only), read into the release manifest."""
    return reports_dir() / "quality" / "results"


def linkage_reports_dir() -> Path:
    """Splink's charts per month (``<YYYY-MM>/*.html``), linked from the UI."""
    return reports_dir() / "linkage"


def screenshots_dir() -> Path:
    """Screenshots of the Dagster UI taken by the browser test (kept under the checkout's data/)."""
    return _env_path("DTSEN_SCREENSHOTS_DIR", PROJECT_ROOT / "data" / "screenshots")


_DAGSTER_YAML = """# Local Dagster instance for dtsen-pipeline: a default written once by
# dtsen_pipeline.lib.paths.ensure_dirs where no dagster.yaml existed. It is yours: edit it (storage,
# run coordinator, run monitoring); dtsen never overwrites it. Keep the two limits below, whatever
# else changes: the pipeline relies on one run and one warehouse writer at a time.
telemetry:
  enabled: false
concurrency:
  runs:
    # One run at a time, taken from the queue in the order it was submitted: a backfill over several
    # months runs them in month order (linkage of month M builds on month M-1).
    max_concurrent_runs: 1
  pools:
    # Steps that write the DuckDB warehouse share the pool `duckdb_warehouse` (one writer).
    default_limit: 1
"""
# Run monitoring (the daemon of `make ui` and of `make serve`): a run whose process was killed is
# marked failed. Dagster's default launcher cannot tell; this one (the same, plus that check) can.
RUN_MONITORING_YAML = """run_launcher:
  module: dtsen_pipeline.defs.common.launcher
  class: LivenessRunLauncher
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  poll_interval_seconds: 10
  max_resume_run_attempts: 0
  # A run that ended (failed: killed, crashed) still claiming a pool slot would keep the queue from
  # launching any run of the pool: its slots are freed 10 s after its end.
  free_slots_after_run_end_seconds: 10
"""
_DAGSTER_YAML += RUN_MONITORING_YAML


def private_dirs() -> list[Path]:
    """Folders whose files carry identity (NIK, names, addresses) or what protects it, for the
    pipeline's owner only: agencies' extracts (landing), ground truth, the working warehouse and its
    models, clerical review pairs and decisions, logs and reports (drawn from identified data), the
    Dagster instance (run logs), the pseudonym salt, analysts' exports (an identified query's
    result) and the identity folder (work lists with names and No. KK). ``publish`` is not among
    them: analysts read it; its ``identitas/`` folder is made owner-only by the publication itself."""
    return [
        landing_dir(),
        truth_dir(),
        warehouse_dir(),
        models_dir(),
        review_dir(),
        logs_dir(),
        reports_dir(),
        dagster_home(),
        pseudonym_salt_file().parent,
        exports_dir(),
        identity_dir(),
    ]


def write_private(path: Path, write: Callable[[Path], _T]) -> _T:
    """Write ``path`` through a temporary name beside it, created mode 0600 before ``write`` fills
    it: the file appears whole or not at all, and is never readable by others, even while written.
    Returns what ``write`` returns."""
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        result = write(tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result


def make_private(path: Path) -> Path:
    """Create ``path`` (a folder) if absent and take away every group and other permission bit; an
    existing folder is tightened, never loosened (owner bits stay as they are)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            os.chmod(path, mode & ~0o077)
        except OSError as exc:
            raise PermissionError(
                f"{path} holds identity and must be readable by its owner only (mode 700), "
                f"but it is {mode:o} and cannot be changed ({exc.strerror}); "
                "fix its owner or mode, or move it (see dtsen_pipeline/lib/paths.py)"
            ) from None
    return path


def ensure_dirs() -> None:
    """Create every data folder and, where $DAGSTER_HOME has none, a minimal dagster.yaml, so a fresh
    clone runs at once; folders holding identity are made owner-only (also when they already exist,
    for data roots made before). An existing dagster.yaml is the user's (a PostgreSQL instance, a
    comment) and is never rewritten."""
    for d in private_dirs():
        make_private(d)
    publish_dir().mkdir(parents=True, exist_ok=True)
    salt = pseudonym_salt_file()
    if salt.exists() and stat.S_IMODE(salt.stat().st_mode) & 0o077:
        os.chmod(salt, stat.S_IMODE(salt.stat().st_mode) & ~0o077)
    write_default_dagster_yaml(dagster_home() / "dagster.yaml")


def write_default_dagster_yaml(config: Path) -> bool:
    """Write the default instance config at ``config`` unless a file (or a link) is already there;
    True when written. Created exclusively (O_EXCL): two processes starting at once never
    replace each other's file, nor a user's placed between the check and the write."""
    try:
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(_DAGSTER_YAML)
    return True


def export_env() -> None:
    """Expose the resolved paths to child processes (dbt reads DTSEN_WAREHOUSE_PATH) and to Dagster."""
    os.environ["DTSEN_WAREHOUSE_PATH"] = str(warehouse_db())
    os.environ["DAGSTER_HOME"] = str(dagster_home())


if __name__ == "__main__":
    # `python -m dtsen_pipeline.lib.paths dagster_home` creates the folders and prints that path
    # (used by the Makefile, so `make ui` and the CLI share one Dagster home).
    import sys

    ensure_dirs()
    print(globals()[sys.argv[1]]() if len(sys.argv) > 1 else data_root())
