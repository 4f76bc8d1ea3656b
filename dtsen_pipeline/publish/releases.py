"""Releases: immutable folders, one per month (and revision), and an atomically switched ``current``.

A release is built beside the others under a temporary name and renamed into place in one
``rename``, then made read-only. The ``current`` symlink is replaced with another single
``rename``. A reader sees the old release or the new one, never half of either. A crash leaves
only a ``.tmp-*`` folder, which is not a release and is removed by the next publication. A
release is never rewritten: publishing a month again makes a new revision ``<YYYY-MM>.r2``.
``current`` always names the latest month published: a new revision of an earlier month is
published beside it and leaves ``current`` where it is (advance_current).

The release databases are written in DuckDB's v1.0.0 storage format, so that analysts' tools with
an older DuckDB (DBeaver and other bundled drivers) open them: DuckDB 1.0.0 or newer.

A release is documented from its dbt YAML (contents.table_docs): every table and column of both
databases carries its description as a ``COMMENT`` (kept by the v1.0.0 format: ``duckdb_tables()``,
``duckdb_columns()``), every Parquet file as field and schema metadata (``description``), and each
database has its data dictionary beside it (dictionary.py: ``kamus_data.md``, ``kamus_data.csv``).
A hashed column ``<col>_hash`` is described as ``<col>`` plus a note that it is a salted hash; a
published column without a description is refused, naming its table, column and YAML file. The code
lists (contents.code_lists: each code of a coded column with its Indonesian label) go into every
release; codes of the data that their list does not label are recorded in the manifest
(``unlabelled_codes``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from dtsen_pipeline.lib import paths, warehouse
from dtsen_pipeline.lib.checksums import file_sha256
from dtsen_pipeline.lib.settings import Settings, Text, no_repeats, read_yaml, validate
from dtsen_pipeline.lib.warehouse import quote_ident, quote_literal
from dtsen_pipeline.publish import contents, dictionary

RELEASE_DB = "dtsen.duckdb"  # pseudonymised, general use
IDENTIFIED_DB = "identitas/dtsen_identitas.duckdb"  # identified, restricted roles
PARQUET_DIR = "parquet"
MANIFEST = "manifest.json"
_PARQUET_BATCH_ROWS = 250_000  # rows per Parquet row group, and in memory at a time
_RELEASE_NAME = re.compile(r"^(\d{4}-\d{2})(?:\.r(\d+))?$")
# The storage format of the release databases: what DuckDB 1.0.0 reads (and so every client since).
# The working warehouse keeps DuckDB's newest format; only what analysts open is pinned.
STORAGE_VERSION = "v1.0.0"
MIN_DUCKDB_CLIENT = "1.0.0"


# Personal identity: these columns never reach the pseudonymised database as they are, whatever
# config/publication.yaml says. Wherever a published table has one, publication.yaml must hash or
# drop it; a table that still holds one at publish time is refused (_pseudonymised_select).
IDENTITY_COLUMNS = (
    "nik",
    "no_kk",
    "nama",
    "tanggal_lahir",
    "tempat_lahir",
    "alamat",
    "source_record_id",
    "nama_normal",
    "nama_kunci",
    "alamat_kunci",  # normalised forms and phonetic keys of the above
)


def _release_table(value: str) -> str:
    tables = contents.release_tables()
    if value not in tables:
        raise ValueError(f"{value!r} is not a published table (tables: {', '.join(tables)})")
    return value


_Columns = Annotated[list[Text], AfterValidator(no_repeats)]


class _PublicationFile(Settings):
    hash_columns: dict[Annotated[str, AfterValidator(_release_table)], _Columns]
    drop_columns: dict[Annotated[str, AfterValidator(_release_table)], _Columns]


@dataclass(frozen=True)
class PublicationSettings:
    """What the pseudonymised release does to each table: columns hashed, columns dropped."""

    hash_columns: dict[str, tuple[str, ...]]
    drop_columns: dict[str, tuple[str, ...]]

    def hashed(self, table: str) -> set[str]:
        return set(self.hash_columns.get(table, ()))

    def dropped(self, table: str) -> set[str]:
        return set(self.drop_columns.get(table, ()))


def _listed(doc: object, kind: str) -> dict[str, list[str]]:
    """The well-formed part of ``doc[kind]`` (the schema reports the rest), for the checks below."""
    value = doc.get(kind) if isinstance(doc, dict) else None
    return (
        {
            t: [c for c in cs if isinstance(c, str)]
            for t, cs in value.items()
            if isinstance(cs, list)
        }
        if isinstance(value, dict)
        else {}
    )


def _privacy_problems(doc: object) -> list[tuple[str, str]]:
    """Columns that do not exist, or are both hashed and dropped; identity columns left in the clear."""
    hashed, dropped, documented = (
        _listed(doc, "hash_columns"),
        _listed(doc, "drop_columns"),
        contents.documented_columns(),
    )
    problems = []
    for kind, listed in (("hash_columns", hashed), ("drop_columns", dropped)):
        for table, columns in listed.items():
            for i, column in enumerate(columns):
                if table in documented and column not in documented[table]:
                    problems.append((f"{kind}.{table}[{i}]", f"{table} has no column {column!r}"))
    for table, columns in dropped.items():
        for i, column in enumerate(columns):
            if column in hashed.get(table, []):
                problems.append(
                    (
                        f"drop_columns.{table}[{i}]",
                        f"{column!r} is also in hash_columns.{table}: hash it or drop it, not both",
                    )
                )
    for table, columns in documented.items():
        kept = set(hashed.get(table, [])) | set(dropped.get(table, []))
        for column in [c for c in columns if c in IDENTITY_COLUMNS and c not in kept]:
            problems.append(
                (
                    f"drop_columns.{table}",
                    f"identity column {column!r} of {table} is neither hashed nor dropped: it would "
                    f"reach the pseudonymised {RELEASE_DB} (add it to hash_columns.{table} or "
                    f"drop_columns.{table})",
                )
            )
    return problems


def load_config(config_dir: Path) -> PublicationSettings:
    """``config_dir``/publication.yaml, checked against the published tables' documented columns."""
    path = config_dir / "publication.yaml"
    raw = read_yaml(path)
    doc = validate(_PublicationFile, raw, path, problems=_privacy_problems(raw))
    return PublicationSettings(
        {t: tuple(c) for t, c in doc.hash_columns.items()},
        {t: tuple(c) for t, c in doc.drop_columns.items()},
    )


@cache
def _config(config_dir: Path) -> PublicationSettings:
    return load_config(config_dir)


def config() -> PublicationSettings:
    """The publication settings in force (read once per configuration folder, on first use)."""
    return _config(paths.config_dir())


def pseudonym_salt() -> str:
    """The salt of the pseudonymised hashes: from the environment or a secrets file, never the repo."""
    salt = os.environ.get("DTSEN_PSEUDONYM_SALT")
    if salt:
        return salt
    path = paths.pseudonym_salt_file()
    if not path.exists():
        paths.make_private(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    salt = path.read_text(encoding="utf-8").strip()
    if len(salt) < 16:
        raise ValueError(
            f"pseudonym salt in {path} is shorter than 16 characters; set a longer one"
        )
    return salt


def _releases() -> list[tuple[str, int, Path]]:
    root = paths.publish_dir()
    out = []
    for p in root.iterdir() if root.exists() else []:
        m = _RELEASE_NAME.match(p.name)
        if m and p.is_dir() and not p.is_symlink():
            out.append((m.group(1), int(m.group(2) or 1), p))
    return sorted(out)


def release_path(month: str) -> Path:
    """The newest revision of ``month``'s release."""
    revisions = [p for m, _, p in _releases() if m == month]
    if not revisions:
        raise FileNotFoundError(f"no release of {month} under {paths.publish_dir()}")
    return revisions[-1]


def landed_inputs(con, month: str) -> dict[str, str]:
    """The month's landed files as ingest loaded them, ``<source>/<YYYY-MM>/<file>`` -> sha256:
    what a release of the month is built from (the manifest's ``inputs``; the landing sensor
    compares). Read from ``raw.ingest_log`` on ``con`` (the checksum each file had when it was read,
    not as it is at publication: a file replaced after its load is not in the release, and the
    sensor runs its month again), for the sources configured now. A workbook's other sheets
    (``<file> [<sheet>]``, the workbook's checksum) are its file's; an entry ingest did not open
    (a link: no checksum) is no input."""
    from dtsen_pipeline.ingest.sources import load_sources

    if not warehouse.table_exists(con, "raw", "ingest_log"):
        return {}
    rows = con.execute(
        """
        select l.source, l.source_file, l.file_sha256 from raw.ingest_log l
        where l.extract_month = ? and l.file_sha256 is not null and list_contains(?, l.source)
          and not exists (
            select 1 from raw.ingest_log w
            where w.source = l.source and w.extract_month = l.extract_month
              and w.file_sha256 = l.file_sha256 and w.source_file <> l.source_file
              and starts_with(l.source_file, w.source_file || ' [') and ends_with(l.source_file, ']'))
        order by 1, 2""",
        [month, [spec.name for spec in load_sources()]],
    ).fetchall()
    return {f"{source}/{month}/{file}": sha for source, file, sha in rows}


def published_from(month: str) -> tuple[dict[str, str] | None, datetime | None]:
    """The newest release of ``month``: the landed files it was built from (None for a release
    written before manifests kept them) and when it was published; (None, None) when unpublished."""
    try:
        manifest = json.loads((release_path(month) / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None, None
    published = manifest.get("published_at")
    return manifest.get("inputs"), datetime.fromisoformat(published) if published else None


def code_version() -> str:
    """The code a release was built with: ``git:<commit>`` of this checkout (``+dirty`` when a
    tracked file differs from it), else ``package:dtsen-pipeline==<version>`` (an installed copy)."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(paths.PROJECT_ROOT), *args],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    commit = git("rev-parse", "HEAD")
    if top and Path(top).resolve() == paths.PROJECT_ROOT and commit:
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return f"git:{commit}" + ("+dirty" if dirty else "")
    try:
        return f"package:dtsen-pipeline=={version('dtsen-pipeline')}"
    except PackageNotFoundError:
        return "unknown"


def config_checksums() -> dict[str, str]:
    """sha256 of every file of the configuration in force (``paths.config_dir()``), and under
    ``all`` one hash of them all: two releases built with the same settings show the same."""
    root = paths.config_dir()
    files = {
        str(p.relative_to(root)): file_sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    every = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    return {"all": every, **files}


PUBLICATION_LOG = "publications.jsonl"


def publication_log_path() -> Path:
    """One JSON line per publication and per release the gate refused, across months, appended to
    and never rewritten: ``data/publish/publications.jsonl`` (no personal data)."""
    return paths.publish_dir() / PUBLICATION_LOG


def log_publication(event: str, month: str, **fields) -> dict:
    """Append ``event`` (published | refused) for ``month`` to the publication log; the row."""
    row = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, "month": month}
    row.update(fields)
    if isinstance(row.get("trigger"), dict) and "run_id" in row["trigger"]:
        row.setdefault("run_id", row["trigger"]["run_id"])
    path = publication_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(row, sort_keys=True) + "\n").encode())  # one write: one line
    finally:
        os.close(fd)
    return row


def publication_log() -> list[dict]:
    path = publication_log_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def published_months(before: str | None = None) -> list[str]:
    return sorted({m for m, _, _ in _releases() if before is None or m < before})


def previous_release(month: str) -> Path | None:
    """The release database the gate compares ``month`` with: the one analysts read now (`current`)
    when it is an earlier month's, else the latest earlier month's; None before the first release."""
    current = current_month()
    if current is None or current >= month:
        earlier = published_months(before=month)
        current = earlier[-1] if earlier else None
    if current is None:
        return None
    db = release_path(current) / RELEASE_DB
    return db if db.exists() else None


def _pseudonymised_select(name: str, source: str, con) -> str:
    cfg = config()
    hashed, dropped = cfg.hashed(name), cfg.dropped(name)
    columns = [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema || '.' || table_name = ? "
            "order by ordinal_position",
            [source],
        ).fetchall()
    ]
    missing = (hashed | dropped) - set(columns)
    if missing:
        raise ValueError(
            f"config/publication.yaml names columns {sorted(missing)} that {source} does not have"
        )
    # Second line of defence, on the table's real columns: a mart that gained an identity column
    # (or a publication.yaml that lost one) must not put personal data in the analysts' database.
    exposed = [c for c in columns if c in IDENTITY_COLUMNS and c not in hashed | dropped]
    if exposed:
        raise ValueError(
            f"refusing to publish {name} ({source}) pseudonymised: identity columns {exposed} are "
            "neither hashed nor dropped; add them to hash_columns or drop_columns in "
            "config/publication.yaml"
        )
    parts = []
    for c in columns:
        if c in dropped:
            continue
        parts.append(f"sha256($salt || {c}) as {c}_hash" if c in hashed else c)
    return f"select {', '.join(parts)} from {source}"


def _make_read_only(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for f in filenames:
            os.chmod(Path(dirpath) / f, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        d = Path(dirpath)
        os.chmod(d, 0o500 if d.name == "identitas" else 0o555)


def _remove(path: Path) -> None:
    for dirpath, _, _ in os.walk(path):
        os.chmod(dirpath, 0o755)
    shutil.rmtree(path, ignore_errors=True)


def remove_incomplete() -> list[str]:
    """Drop what a crashed publication left (``.tmp-*`` folders; never a release)."""
    root = paths.publish_dir()
    stale = [p for p in root.glob(".tmp-*")] if root.exists() else []
    for p in stale:
        _remove(p)
    return [p.name for p in stale]


def _described(
    con, catalog: str, name: str, doc: contents.TableDoc | None, *, pseudonymised: bool
) -> dictionary.Table:
    """``catalog``'s table ``name`` described from its dbt YAML (refused when a column is not), its
    description and every column's written into the database as ``COMMENT``\\ s."""
    columns = con.execute(
        "select column_name, data_type from information_schema.columns where table_catalog = ? "
        "and table_schema = 'main' and table_name = ? order by ordinal_position",
        [catalog, name],
    ).fetchall()
    cfg = config()
    privacy = dictionary.Privacy(
        frozenset(cfg.hashed(name)), frozenset(cfg.dropped(name)), frozenset(IDENTITY_COLUMNS)
    )
    table = dictionary.describe_table(
        name,
        columns,
        doc,
        privacy,
        pseudonymised=pseudonymised,
        code_lists=contents.code_lists(),
    )
    # COMMENT takes no parameters: the texts are quoted.
    relation = f"{catalog}.main.{quote_ident(name)}"
    con.execute(f"comment on table {relation} is {quote_literal(table.description)}")
    for c in table.columns:
        con.execute(
            f"comment on column {relation}.{quote_ident(c.column)} is {quote_literal(c.description)}"
        )
    return table


def _write_parquet(con, relation: str, path: Path, table: dictionary.Table) -> None:
    """``relation`` as Parquet (zstd), batch by batch, every field carrying its description (and
    privacy class, unit or code list) as field metadata and the table's as schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    reader = con.sql(f"select * from {relation}").to_arrow_reader(_PARQUET_BATCH_ROWS)
    columns = {c.column: c for c in table.columns}

    def metadata(c: dictionary.Column) -> dict[bytes, bytes]:
        meta = {b"description": c.description, b"kelas_privasi": c.privacy}
        if c.unit_or_code:
            meta[b"satuan_atau_kode"] = c.unit_or_code
        return {k: v.encode("utf-8") for k, v in meta.items()}

    schema = pa.schema(
        [f.with_metadata(metadata(columns[f.name])) for f in reader.schema],
        metadata={b"description": table.description.encode("utf-8")},
    )
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))


def _write_table(
    con, tmp: Path, name: str, source: str, doc: contents.TableDoc | None
) -> tuple[dictionary.Table, dictionary.Table]:
    """One table into both databases (identified as it is, the other pseudonymised) and Parquet,
    described: (pseudonymised, identified)."""
    con.execute(f"create table identified.main.{name} as select * from {source}")
    select = _pseudonymised_select(name, source, con).replace(
        "$salt", "(select salt from pseudonym_salt)"
    )
    con.execute(f"create table release.main.{name} as {select}")
    identified = _described(con, "identified", name, doc, pseudonymised=False)
    pseudonymised = _described(con, "release", name, doc, pseudonymised=True)
    _write_parquet(
        con, f"release.main.{name}", tmp / PARQUET_DIR / f"{name}.parquet", pseudonymised
    )
    return pseudonymised, identified


def _unlabelled_codes(con, tables: dict[str, dictionary.Table]) -> dict[str, list[str]]:
    """``table.column`` -> codes the data holds that its code list does not label (the first 20)."""
    found = {}
    for table in tables.values():
        for c in table.columns:
            if c.code_list not in tables:
                continue
            codes = con.execute(
                f"select distinct cast({quote_ident(c.column)} as varchar) as code "
                f"from release.main.{table.name} where {quote_ident(c.column)} is not null "
                f"and cast({quote_ident(c.column)} as varchar) not in "
                f"(select cast(kode as varchar) from release.main.{c.code_list}) order by 1 limit 20"
            ).fetchall()
            if codes:
                found[f"{table.name}.{c.column}"] = [r[0] for r in codes]
    return found


def _code_rows(con, names) -> dictionary.CodeRows:
    out = {}
    for name in names:
        rel = con.sql(f"select * from release.main.{name} order by kode")
        out[name] = (list(rel.columns), rel.fetchall())
    return out


def write_release(
    month: str, tables: dict[str, str], extra: dict | None = None, *, _fail_after: str | None = None
) -> Path:
    """Build ``month``'s release from ``{release_table: warehouse_table}`` (and every code list,
    contents.code_lists) and move it into place. Every table and column is described (comments,
    Parquet metadata, the data dictionaries) from its dbt YAML; an undescribed one is refused.

    ``_fail_after`` names a step after which to fail, for tests of crash safety only.
    """
    root = paths.publish_dir()
    root.mkdir(parents=True, exist_ok=True)
    remove_incomplete()
    tmp = root / f".tmp-{month}-{uuid.uuid4().hex[:8]}"
    (tmp / PARQUET_DIR).mkdir(parents=True)
    (tmp / "identitas").mkdir(mode=0o700)
    try:
        pseudo, ident = tmp / RELEASE_DB, tmp / IDENTIFIED_DB
        tables = {**tables, **contents.code_lists()}
        docs = contents.table_docs()
        revision = len([p for m, _, p in _releases() if m == month]) + 1
        name = month if revision == 1 else f"{month}.r{revision}"
        counts, written = {}, {}
        salt = pseudonym_salt()
        with warehouse.connect() as con:
            # ATTACH and COPY take no parameters: the paths are quoted (a data root may hold a ').
            storage = f"(storage_version {quote_literal(STORAGE_VERSION)})"
            con.execute(f"attach {quote_literal(str(pseudo))} as release {storage}")
            con.execute(f"attach {quote_literal(str(ident))} as identified {storage}")
            con.execute("create or replace temp table pseudonym_salt as select ? as salt", [salt])
            for table, source in tables.items():
                written[table] = _write_table(con, tmp, table, source, docs.get(table))
                counts[table] = con.execute(
                    f"select count(*) from release.main.{table}"
                ).fetchall()[0][0]
                if _fail_after == "first_table":
                    raise RuntimeError("simulated crash in the middle of publishing")
            unlabelled = _unlabelled_codes(con, {t: p for t, (p, _) in written.items()})
            inputs = landed_inputs(con, month)
            code_rows = _code_rows(con, [t for t, (p, _) in written.items() if p.code_list])
            con.execute("drop table pseudonym_salt")
            con.execute("detach release")
            con.execute("detach identified")
        dictionaries = []
        for folder, database, index in (
            (tmp, RELEASE_DB, 0),
            (tmp / "identitas", IDENTIFIED_DB, 1),
        ):
            dictionaries += dictionary.write(
                folder,
                [pair[index] for pair in written.values()],
                database=database,
                release=name,
                code_rows=code_rows,
            )
        files = (pseudo, ident, *dictionaries, *sorted((tmp / PARQUET_DIR).glob("*.parquet")))
        checksums = {str(path.relative_to(tmp)): file_sha256(path) for path in files}
        manifest = {
            "month": month,
            "revision": revision,
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "tables": counts,
            "code_lists": sorted(t for t, (p, _) in written.items() if p.code_list),
            "files": checksums,
            "inputs": inputs,  # the landed files it was built from, as ingest read them
            "code_version": code_version(),
            "config_sha256": config_checksums(),
            "dictionary": {
                RELEASE_DB: dictionary.MARKDOWN,
                IDENTIFIED_DB: f"identitas/{dictionary.MARKDOWN}",
            },
            "unlabelled_codes": unlabelled,
            "duckdb": {"storage_version": STORAGE_VERSION, "min_client_version": MIN_DUCKDB_CLIENT},
            "pseudonymised": {
                "hash": "sha256(salt || value)",
                "hashed": config().hash_columns,
                "dropped": config().drop_columns,
            },
            **(extra or {}),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if _fail_after == "manifest":
            raise RuntimeError("simulated crash before the release was moved into place")
        _make_read_only(tmp)
        final = root / name
        os.rename(tmp, final)  # atomic; never over an existing release
        return final
    except BaseException:
        _remove(tmp)
        raise


def switch_current(release: Path) -> Path:
    """Point ``current`` at ``release`` with one atomic rename of a fresh symlink."""
    root = paths.publish_dir()
    if not (release / RELEASE_DB).exists():
        raise FileNotFoundError(f"release {release.name} has no {RELEASE_DB} under {root}")
    tmp = root / f".current-{uuid.uuid4().hex[:8]}"
    tmp.symlink_to(release.name, target_is_directory=True)
    os.replace(tmp, paths.current_release())
    return paths.current_release()


@dataclass(frozen=True)
class CurrentChange:
    """What publishing a release did to ``current``."""

    previous: str | None  # the release ``current`` named before (None: there was none)
    current: str  # the release it names now
    moved: bool  # False when the release was of an earlier month than ``current``'s

    def describe(self, release: Path) -> str:
        if self.moved:
            return f"current: {self.previous or 'none'} -> {self.current}"
        return (
            f"current: unchanged, still {self.current} ({release.name} is a revision of an earlier month; "
            f"read it at {release})"
        )


def advance_current(release: Path) -> CurrentChange:
    """Point ``current`` at ``release`` unless ``current`` already names a later month: analysts
    reading ``current`` always read the latest month, and a month published again (a correction)
    never sends them back in time. A new revision of the latest month does become ``current``."""
    previous, month = current_name(), _RELEASE_NAME.match(release.name)
    if month is None:
        raise ValueError(f"{release.name} is not a release name (YYYY-MM or YYYY-MM.rN)")
    latest = current_month()
    if latest is not None and month.group(1) < latest:
        return CurrentChange(previous, previous, moved=False)
    switch_current(release)
    return CurrentChange(previous, release.name, moved=True)


def current_month() -> str | None:
    link = paths.current_release()
    if not link.is_symlink():
        return None
    m = _RELEASE_NAME.match(os.readlink(link))
    return m.group(1) if m else None


def current_name() -> str | None:
    link = paths.current_release()
    return os.readlink(link) if link.is_symlink() else None
