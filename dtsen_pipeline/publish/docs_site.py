"""`make docs`: a static dbt docs site of a release, as its readers see it, that opens offline.

The site describes the release, not the warehouse: a small dbt project is generated for it under
``<reports>/docs/<release>/project/``, one dbt source per release database whose tables and columns
are exactly the database's (read from the release itself: its tables, column types and
``COMMENT``\\ s, with the unit, code list and privacy class of its data dictionary), so hashed
columns appear as ``<col>_hash``, dropped columns are absent, and the pseudonymised database's
source holds no identity column. Exposures name what reads the release: the analysts, the Dinsos
operators' work lists and the BPJS Ketenagakerjaan gap list.

``dbt docs generate --static`` then builds the page, its catalog (column types, comments) read by
dbt-duckdb from the release's own databases, attached read-only; nothing else is opened. The page,
``<reports>/docs/<release>/index.html``, is dbt's ``static_index.html``: one file with its
scripts, styles, manifest and catalog inlined, loading nothing from outside (dbt's usage tracking is
off in the generated project, and its loader's address is removed from the page). The report server
(`make ui`) serves it; the reports index and the publish asset link it. ``manifest.json`` and
``catalog.json`` stay beside it.

Run by the publish asset for each release, and by ``make docs`` (``python -m
dtsen_pipeline.publish.docs_site [--month YYYY-MM]``, default: ``current``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import yaml

from dtsen_pipeline.lib import paths
from dtsen_pipeline.publish import dictionary, releases

PROJECT = "dtsen_release_docs"
SOURCES = {  # dbt source name -> the release database it describes
    "dtsen": releases.RELEASE_DB,
    "dtsen_identitas": releases.IDENTIFIED_DB,
}
# The snowplow loader dbt's page would fetch if usage tracking were on (it is off): removed anyway,
# so the page holds no address to load a script from.
_TRACKER = "//d1fc8wv8zag5ca.cloudfront.net/2.9.0/sp.js"
_EXPOSURES = (
    {
        "name": "analyst_release",
        "label": "Analyst release (dtsen.duckdb, Parquet)",
        "type": "analysis",
        "source": "dtsen",
        "tables": None,  # every table
        "description": "The pseudonymised release every analyst reads: `dtsen.duckdb` (read-only; "
        "`dtsen query`) and the same tables as Parquet under `parquet/`. NIK, family card numbers "
        "and source record ids are salted hashes (`*_hash`); names and birth dates are left out.",
    },
    {
        "name": "operator_worklists",
        "label": "Dinsos operator work lists",
        "type": "application",
        "source": "dtsen_identitas",
        "tables": (
            "dtsen_daftar_verifikasi",
            "dtsen_program_sasaran",
            "dtsen_usulan",
            "dtsen_graduasi_pendamping",
            "dtsen_keluarga",
            "dtsen_individu",
        ),
        "description": "`dtsen worklists`: each kabupaten's and field worker's lists (visits, "
        "targeting errors, proposals past the service level, PKH graduation) as XLSX and CSV, read "
        "from the identified database (the head of family's name and No. KK, the village) into "
        "owner-only folders outside the release (docs/correction-loop.md).",
    },
    {
        "name": "bpjs_tk_gap_list",
        "label": "BPJS Ketenagakerjaan coverage gap list",
        "type": "analysis",
        "source": "dtsen",
        "tables": ("dtsen_bpjs_tk_gap",),
        "description": "Per kabupaten/kota, the informal workers of desil 1-4 families and how many "
        "are not BPJS Ketenagakerjaan participants: the list BPJS TK and the Dinsos work from.",
    },
)


def site_dir(release: Path) -> Path:
    """Where the site of ``release`` lands: ``<reports>/docs/<release name>/``."""
    return paths.reports_dir() / "docs" / release.name


def _database(path: Path) -> dict[str, dict]:
    """The tables of one release database: description, rows and columns (type, description)."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {
            name: {"description": comment or "", "rows": rows, "columns": {}}
            for name, comment, rows in con.execute(
                "select table_name, comment, estimated_size from duckdb_tables() "
                "where database_name = current_database() and schema_name = 'main' order by table_name"
            ).fetchall()
        }
        for table, column, type_, comment in con.execute(
            "select table_name, column_name, data_type, comment from duckdb_columns() "
            "where database_name = current_database() and schema_name = 'main' "
            "order by table_name, column_index"
        ).fetchall():
            tables[table]["columns"][column] = {"type": type_, "description": comment or ""}
    return tables


def _column(name: str, column: dict, entry: dict[str, str]) -> dict:
    notes = [f"**Privacy class:** `{entry.get('kelas_privasi', '')}`."]
    if entry.get("satuan_atau_kode", "").startswith("kode: "):
        notes.append(f"**Code list:** `{entry['satuan_atau_kode'].removeprefix('kode: ')}`.")
    elif entry.get("satuan_atau_kode"):
        notes.append(f"**Unit:** {entry['satuan_atau_kode'].removeprefix('satuan: ')}.")
    return {
        "name": name,
        "description": f"{column['description']}\n\n{' '.join(notes)}",
        "data_type": column["type"],
        "config": {
            "meta": {
                "kelas_privasi": entry.get("kelas_privasi", ""),
                "satuan_atau_kode": entry.get("satuan_atau_kode", ""),
            }
        },
    }


def _source(release: Path, name: str, database: str, manifest: dict) -> dict:
    path = release / database
    entries = {
        (r["tabel"], r["kolom"]): r for r in dictionary.read_csv(path.parent / dictionary.CSV)
    }
    kind = "pseudonymised, for every analyst" if name == "dtsen" else "identified, restricted roles"
    tables = []
    for table, t in _database(path).items():
        code_list = table in manifest.get("code_lists", [])
        tables.append(
            {
                "name": table,
                "description": t["description"],
                "config": {
                    "meta": {
                        "rows": manifest["tables"].get(table, t["rows"]),
                        "kind": "code list" if code_list else "mart",
                    }
                },
                "columns": [
                    _column(c, col, entries.get((table, c), {})) for c, col in t["columns"].items()
                ],
            }
        )
    return {
        "name": name,
        "description": f"`{database}` of release {release.name} ({kind}): "
        f"{len(tables)} tables. Its data dictionary: `{Path(database).parent / dictionary.MARKDOWN}`"
        " in the release folder.",
        "database": name,
        "schema": "main",
        "config": {"meta": {"release": release.name, "file": database}},
        "tables": tables,
    }


def _exposures(sources: dict[str, dict]) -> list[dict]:
    out = []
    for e in _EXPOSURES:
        present = [t["name"] for t in sources[e["source"]]["tables"]]
        wanted = present if e["tables"] is None else [t for t in e["tables"] if t in present]
        out.append(
            {
                "name": e["name"],
                "label": e["label"],
                "type": e["type"],
                "owner": {"name": "DTSEN data team"},
                "description": e["description"],
                "depends_on": [f"source('{e['source']}', '{t}')" for t in wanted],
            }
        )
    return out


def write_project(release: Path, folder: Path) -> Path:
    """The dbt project describing ``release``, in ``folder``."""
    manifest = json.loads((release / releases.MANIFEST).read_text(encoding="utf-8"))
    sources = {name: _source(release, name, db, manifest) for name, db in SOURCES.items()}
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "dbt_project.yml").write_text(
        yaml.safe_dump(
            {
                "name": PROJECT,
                "version": "1.0.0",
                "config-version": 2,
                "profile": PROJECT,
                "model-paths": ["models"],
                # Nothing leaves the machine, and the page loads no tracker.
                "flags": {"send_anonymous_usage_stats": False},
            },
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    # dbt reads the catalog (column types, row counts) from the release itself, opened read-only.
    attach = [
        {"path": str(release / db), "alias": name, "read_only": True}
        for name, db in SOURCES.items()
    ]
    (folder / "profiles.yml").write_text(
        yaml.safe_dump(
            {
                PROJECT: {
                    "target": "docs",
                    "outputs": {"docs": {"type": "duckdb", "path": ":memory:", "attach": attach}},
                }
            }
        ),
        encoding="utf-8",
    )
    (folder / "models" / "release.yml").write_text(
        yaml.safe_dump(
            {"version": 2, "sources": list(sources.values()), "exposures": _exposures(sources)},
            sort_keys=False,
            allow_unicode=True,
            width=100,
        ),
        encoding="utf-8",
    )
    return folder


def _dbt(project: Path, target: Path) -> None:
    dbt = Path(sys.executable).parent / "dbt"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DBT_")},
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "DBT_LOG_PATH": str(project / "logs"),
    }
    proc = subprocess.run(
        [
            str(dbt if dbt.exists() else shutil.which("dbt") or "dbt"),
            "docs",
            "generate",
            "--static",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(target),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"dbt docs generate failed for {project}: {(proc.stdout + proc.stderr)[-1500:]}"
        )


def build(release: Path | None = None) -> Path:
    """The site of ``release`` (default: ``current``); returns its ``index.html``."""
    release = (release or paths.current_release()).resolve()
    if not (release / releases.MANIFEST).is_file():
        raise FileNotFoundError(
            f"no release at {release}: publish a month first (`dtsen run --month YYYY-MM` or "
            "`make demo`)"
        )
    final = site_dir(release)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        project = write_project(release, tmp / "project")
        _dbt(project, tmp / "target")
        page = (tmp / "target" / "static_index.html").read_text(encoding="utf-8")
        (tmp / "index.html").write_text(page.replace(_TRACKER, ""), encoding="utf-8")
        for name in ("manifest.json", "catalog.json"):
            shutil.copy2(tmp / "target" / name, tmp / name)
        shutil.rmtree(tmp / "target")
        shutil.rmtree(project / "logs", ignore_errors=True)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / "index.html"


def main(argv: list[str] | None = None) -> int:
    from dtsen_pipeline.lib import reports

    parser = argparse.ArgumentParser(prog="make docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--month", help="the release of this month (its latest revision)")
    args = parser.parse_args(argv)
    try:
        release = releases.release_path(args.month) if args.month else None
        index = build(release)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"docs: {exc}", file=sys.stderr)
        return 1
    reports.write_index()
    print(f"docs: {index}")
    print(f"docs: with `make ui` running, open {reports.url(index)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
