"""Releases: one immutable-by-convention folder per month and an atomically switched ``current``.

A release is written beside the others under a temporary name and renamed into place, then the
``current`` symlink is replaced in one ``rename``: a reader sees the old release or the new one,
never half of either.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

from dtsen_pipeline import paths, warehouse
from dtsen_pipeline.checksums import file_sha256

RELEASE_DB = "dtsen.duckdb"
MANIFEST = "manifest.json"


def write_release(month: str, tables: dict[str, str], extra: dict | None = None) -> Path:
    """Copy ``{release_table: warehouse_table}`` into a new analyst DuckDB for ``month``."""
    root = paths.publish_dir()
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{month}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        db = tmp / RELEASE_DB
        counts = {}
        with warehouse.connect() as con:
            con.execute(f"attach '{db}' as release")
            for name, source in tables.items():
                con.execute(f"create table release.main.{name} as select * from {source}")
                counts[name] = con.execute(f"select count(*) from release.main.{name}").fetchone()[0]
            con.execute("detach release")
        db.chmod(0o444)
        manifest = {
            "month": month,
            "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "tables": counts,
            "sha256": {RELEASE_DB: file_sha256(db)},
            **(extra or {}),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        final = root / month
        if final.exists():  # a re-run of the month: swap the folder, then drop the old one
            old = root / f".old-{month}-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def switch_current(month: str) -> Path:
    """Point ``current`` at ``month`` with one atomic rename of a fresh symlink."""
    root = paths.publish_dir()
    if not (root / month / RELEASE_DB).exists():
        raise FileNotFoundError(f"release {month} does not exist under {root}")
    tmp = root / f".current-{uuid.uuid4().hex[:8]}"
    tmp.symlink_to(month, target_is_directory=True)
    os.replace(tmp, paths.current_release())
    return paths.current_release()


def current_month() -> str | None:
    link = paths.current_release()
    return os.readlink(link) if link.is_symlink() else None
