"""The data dictionary of a release (kamus data): every table and column of one release database
with its type, description, unit or code list and privacy class.

The release writer (releases.py) describes each table it has written from its real columns and the
dbt YAML (contents.table_docs, one source of truth), and refuses a column the YAML does not
describe. The same descriptions become the database's ``COMMENT``\\ s, the Parquet files' field
metadata and the dictionary files beside each database: ``kamus_data.md`` (to read) and
``kamus_data.csv`` (to load), with the code lists' codes and labels in the Markdown.

Privacy classes: ``umum`` (general: no personal identity), ``pseudonim`` (a salted hash standing
for an identity value, in the pseudonymised database) and ``identitas`` (identity itself: NIK,
family card number, names, birth data, source record ids; only in the identified database).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dtsen_pipeline.publish.contents import TableDoc

UMUM, PSEUDONIM, IDENTITAS = "umum", "pseudonim", "identitas"
PRIVACY_CLASSES = {
    UMUM: "no personal identity",
    PSEUDONIM: "a salted SHA-256 hash standing for an identity value (the value is not in this database)",
    IDENTITAS: "personal identity itself: for the roles that need it, in the identified database only",
}
MARKDOWN = "kamus_data.md"
CSV = "kamus_data.csv"
CSV_COLUMNS = ("tabel", "kolom", "tipe", "deskripsi", "satuan_atau_kode", "kelas_privasi")
HASH_SUFFIX = "_hash"
HASH_NOTE = (
    "Pseudonymised: the hex SHA-256 of a secret salt and the value (config/publication.yaml "
    "hash_columns), the same for the same value in every release made with the same salt; the "
    "value itself is only in the identified database."
)


class UndocumentedColumn(ValueError):
    """A published table or column without a description in its dbt YAML."""


@dataclass(frozen=True)
class Column:
    table: str
    column: str
    type: str
    description: str
    code_list: str | None
    unit: str | None
    privacy: str

    @property
    def unit_or_code(self) -> str:
        if self.code_list:
            return f"kode: {self.code_list}"
        return f"satuan: {self.unit}" if self.unit else ""

    def row(self) -> tuple[str, ...]:
        return (
            self.table,
            self.column,
            self.type,
            self.description,
            self.unit_or_code,
            self.privacy,
        )


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    code_list: bool  # a code list (kode_*), not a mart


@dataclass(frozen=True)
class Privacy:
    """What the release does to one table's identity columns (config/publication.yaml), and which
    columns are identity wherever they appear (releases.IDENTITY_COLUMNS)."""

    hashed: frozenset[str]
    dropped: frozenset[str]
    identity: frozenset[str]


def describe_table(
    name: str,
    columns: Sequence[tuple[str, str]],
    doc: TableDoc | None,
    privacy: Privacy,
    *,
    pseudonymised: bool,
    code_lists: Iterable[str],
) -> Table:
    """``name`` as written into a release database (``columns``: its real names and types, in
    order), described from its dbt YAML ``doc``. A hashed column ``<col>_hash`` of the pseudonymised
    database takes ``<col>``'s description and the hash note. Refuses (UndocumentedColumn) a table
    or column without a description, and a code list that is not published."""
    where = f"dbt_project/{doc.yml}" if doc else f"the dbt YAML of {name}"
    if doc is None or not doc.description.strip():
        raise UndocumentedColumn(
            f"refusing to publish {name}: the table has no description in {where}"
        )
    known_lists = set(code_lists)
    described = []
    for column, type_ in columns:
        original = column
        if pseudonymised and column.endswith(HASH_SUFFIX):
            original = column.removesuffix(HASH_SUFFIX)
            original = original if original in privacy.hashed else column
        cdoc = doc.columns.get(original)
        if cdoc is None or not cdoc.description.strip():
            raise UndocumentedColumn(
                f"refusing to publish {name}.{column}: the column has no description in {where} "
                "(every published column is described there: add its `description`)"
            )
        if cdoc.code_list and cdoc.code_list not in known_lists:
            raise UndocumentedColumn(
                f"refusing to publish {name}.{column}: its code list {cdoc.code_list!r} ({where}) is "
                f"not a published code list (code lists: {', '.join(sorted(known_lists))})"
            )
        description, privacy_class = cdoc.description, UMUM
        if original != column:
            description, privacy_class = f"{cdoc.description} {HASH_NOTE}", PSEUDONIM
        elif not pseudonymised and column in privacy.hashed | privacy.dropped | privacy.identity:
            privacy_class = IDENTITAS
        described.append(
            Column(name, column, type_, description, cdoc.code_list, cdoc.unit, privacy_class)
        )
    return Table(name, doc.description, tuple(described), name in known_lists)


# --- The files --------------------------------------------------------------------------------

CodeRows = dict[str, tuple[list[str], list[tuple]]]  # code list -> (its columns, its rows)


def write_csv(path: Path, tables: Iterable[Table]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for table in tables:
            writer.writerows(c.row() for c in table.columns)
    return path


def _cell(value: object) -> str:
    text = "" if value is None else " ".join(str(value).split())
    return text.replace("|", "\\|")


def _grid(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows),
        "",
    ]


def _columns_grid(table: Table) -> list[str]:
    return _grid(
        ("kolom", "tipe", "deskripsi", "satuan atau kode", "kelas privasi"),
        (
            (f"`{c.column}`", c.type, c.description, c.unit_or_code, c.privacy)
            for c in table.columns
        ),
    )


def render_markdown(
    tables: Sequence[Table], *, database: str, release: str, code_rows: CodeRows
) -> str:
    """The dictionary of one database as Markdown: the tables, each with its columns, then the
    code lists, each with its columns and its codes."""
    marts = [t for t in tables if not t.code_list]
    lists = [t for t in tables if t.code_list]
    lines = [
        f"# Kamus data: `{database}`",
        "",
        f"Release {release}. Every table and column of `{database}`, as its dbt YAML describes it "
        "(dbt_project/models/); the same descriptions are the database's comments "
        "(`select table_name, comment from duckdb_tables()`, `duckdb_columns()`) and the Parquet "
        f"files' field metadata. The same rows as CSV: `{CSV}`.",
        "",
        "Privacy classes: "
        + "; ".join(f"`{k}`: {v}" for k, v in PRIVACY_CLASSES.items())
        + ". A column with a code list holds the codes of that table (`kode`), each with its "
        "Indonesian label (`label`) and meaning (`keterangan`).",
        "",
        "## Tables",
        "",
        *(f"- [`{t.name}`](#{t.name}): {t.description.split('. ')[0].rstrip('.')}." for t in marts),
        "",
        "## Code lists",
        "",
        *(f"- [`{t.name}`](#{t.name}): {t.description}" for t in lists),
        "",
    ]
    for table in marts:
        lines += [f"## {table.name}", "", table.description, "", *_columns_grid(table)]
    for table in lists:
        header, rows = code_rows.get(table.name, ([], []))
        lines += [f"## {table.name}", "", table.description, "", *_columns_grid(table)]
        if header:
            lines += ["Codes:", "", *_grid(header, rows)]
    return "\n".join(lines).rstrip() + "\n"


def write(
    folder: Path, tables: Sequence[Table], *, database: str, release: str, code_rows: CodeRows
) -> list[Path]:
    """``kamus_data.md`` and ``kamus_data.csv`` of one database, in ``folder``."""
    markdown = folder / MARKDOWN
    markdown.write_text(
        render_markdown(tables, database=database, release=release, code_rows=code_rows),
        encoding="utf-8",
    )
    return [markdown, write_csv(folder / CSV, tables)]


def read_csv(path: Path) -> list[dict[str, str]]:
    """A dictionary's rows, as written (for the docs site and tests)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))
