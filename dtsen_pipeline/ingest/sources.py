"""The source registry: one declarative YAML file per agency extract under config/sources/.

Adding a source is adding a file: its ingest asset, its raw table, its dbt staging model and its
place in the linkage input all follow from it. Nothing in the code branches on a source's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AfterValidator, field_validator, model_validator

from dtsen_pipeline.lib import paths
from dtsen_pipeline.lib.landing_names import final_name, matches_glob
from dtsen_pipeline.lib.settings import (
    ConfigError,
    Settings,
    Text,
    problems_error,
    read_yaml,
    shown,
    validate,
)

# --- The staged identity schema, declared once ----------------------------------------------------
# CANONICAL_COLUMNS: the identity columns every source maps onto (its YAML's ``columns``), the text
# columns of its raw table (ingest/load.py) and what dbt's stage_identity macro reads from it.
# STAGED_COLUMNS: what every staging model stg_<source>__<entity> returns, in order, with each
# column's description and dbt data tests. dbt_registry.py writes both into the registry macros
# (``canonical_columns()``, ``staged_columns()``) that stage_identity selects, and the columns'
# documentation into the staging models' YAML; dbt computes every value
# (dbt_project/macros/stage_identity.sql).
CANONICAL_COLUMNS = (
    "source_record_id",
    "nik",
    "no_kk",
    "nama",
    "tanggal_lahir",
    "jenis_kelamin",
    "tempat_lahir",
    "kode_desa",
    "nama_desa",
    "nama_kecamatan",
    "nama_kabupaten",
    "alamat",
    "hubungan_kk",  # relationship to the family head, in the source's own codes or words
    "id_keluarga_sumber",  # the source's own family grouping (a form or family id), if it has one
    "id_rumah_tangga",  # the source's own household (dwelling) id, if it has one
)


class StagedColumn(NamedTuple):
    name: str
    description: str
    data_tests: tuple[str, ...] = ()


STAGED_COLUMNS = (
    StagedColumn("source", "The registered source (config/sources/<source>.yaml)."),
    StagedColumn("extract_month", "The extract month, YYYY-MM."),
    StagedColumn(
        "record_key",
        "`<source>:<source_record_id>`, unique per source record and month.",
        ("not_null",),
    ),
    StagedColumn("source_record_id", "The record's id in its source, as given."),
    StagedColumn("source_file", "Landing file the record came from."),
    StagedColumn("source_row", "Row in that file (CSV line, Excel row, Parquet record)."),
    StagedColumn("nik", "NIK digits as given; see nik_issue."),
    StagedColumn("no_kk", "Family card number, digits as given; see no_kk_issue."),
    StagedColumn(
        "nama_normal",
        "Normalised name: titles off, Muhammad variants unified, old spelling mapped.",
    ),
    StagedColumn("nama_ayah", "The father's name a bin/binti carries, normalised, or null."),
    StagedColumn("tanggal_lahir", "Birth date parsed from any of the sources' forms."),
    StagedColumn("tanggal_lahir_raw", "Birth date as given."),
    StagedColumn("jenis_kelamin", "L or P."),
    StagedColumn("jenis_kelamin_raw", "Sex as given."),
    StagedColumn("tempat_lahir", "Place of birth, upper case."),
    StagedColumn(
        "hubungan_kk",
        "Relationship to the family head: kepala, pasangan, anak, orang_tua, lainnya, or null.",
    ),
    StagedColumn("id_keluarga_sumber", "The source's own family grouping, if it has one."),
    StagedColumn("id_rumah_tangga", "The source's own household (dwelling) id, if it has one."),
    StagedColumn(
        "alamat",
        "The street address as given, spaces collapsed: what a field visit needs; never compared.",
    ),
    StagedColumn(
        "alamat_kunci",
        "The address as a key for the same dwelling (upper case, abbreviations unified).",
    ),
    StagedColumn("attributes", "The extract's other columns, as JSON text."),
    StagedColumn("nama_kunci", "Phonetic key of the name, for blocking."),
    StagedColumn("tahun_lahir", "Birth year, also from a year alone."),
    StagedColumn(
        "nik_issue",
        "Why the NIK cannot be a NIK (missing, non_ascii_digits, wrong_length, unknown_province, "
        "bad_region_code, bad_birth_date, bad_serial), or null.",
    ),
    StagedColumn(
        "nik_kecamatan_unknown",
        "The NIK's kecamatan is in no code list (valid structure, flagged).",
    ),
    StagedColumn(
        "nik_prefix_predates_split",
        "The NIK's kecamatan code predates a region split (valid, flagged).",
    ),
    StagedColumn("no_kk_issue", "Why the family card number is not a valid structure, or null."),
    StagedColumn(
        "tanggal_lahir_issue",
        "missing, year_only, not_a_date, in_the_future, implausible_year, or a placeholder day "
        "(placeholder_01_01, placeholder_01_07, placeholder_31_12: dbt var placeholder_birth_day_months), "
        "frequent_date (a date the source repeats implausibly often in the month: dbt var "
        "frequent_birth_date), or null.",
    ),
    StagedColumn("jenis_kelamin_issue", "missing, unknown_code, or null."),
    StagedColumn(
        "nama_issue",
        "missing, non_latin_letters (a letter of another script, dropped), look_alike_letters "
        "(Cyrillic, Greek or fullwidth letters read as the Latin they show), or null.",
    ),
    StagedColumn(
        "kode_desa", "Village code, 10 digits, checked against the Kepmendagri reference."
    ),
    StagedColumn(
        "kode_kab",
        "Kabupaten code, 4 digits, from the village code, a kabupaten code or the names.",
    ),
    StagedColumn(
        "wilayah_issue",
        "Region problems (kabupaten_only, resolved_from_names, unknown_code, ...), or null.",
    ),
    StagedColumn("nik_valid", "The NIK has no issue."),
    StagedColumn(
        "nik_birth_date_agrees", "A valid NIK carries the record's birth date (null without both)."
    ),
    StagedColumn("nik_sex_agrees", "A valid NIK carries the record's sex (null without both)."),
    StagedColumn(
        "nik_matches_birth", "The NIK is valid and carries the record's birth date and sex."
    ),
    StagedColumn("kode_prov", "Province code, 2 digits, from the village or kabupaten code."),
    StagedColumn(
        "tanggal_lahir_pasti",
        "The birth date when it is exact (no issue), else null; what linkage compares.",
    ),
    StagedColumn(
        "tahun_lahir_pasti",
        "The birth year, also from a year alone or a 01-01 date, unless a placeholder year "
        "(var placeholder_birth_years).",
    ),
    StagedColumn(
        "nama_urut",
        "The normalised name's words in alphabetical order (the same name written family name first).",
    ),
)
REQUIRED_COLUMNS = ("source_record_id", "nama")
FORMATS = ("csv", "xlsx", "parquet")
SNAPSHOTS = ("full", "delta")
ENCODINGS = ("utf-8", "latin-1", "utf-16")
# A register describes persons; a correction source (proposals, objections, field visits) speaks
# about persons the registers describe: it links to them without ever joining two, decides no family,
# and changes a golden field only once verified (docs/correction-loop.md).
ROLES = ("register", "correction")


class RegistryError(ConfigError):
    """A source file in config/sources/ that does not describe a source; names file and field."""


@dataclass(frozen=True)
class Mapping:
    """Where a canonical column comes from: one column, several joined with '.', or a regex group."""

    columns: tuple[str, ...]
    extract: str | None = None


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True


@dataclass(frozen=True)
class XlsxOptions:
    sheet: str | None = None  # default: the first sheet
    header_row: int = 1  # 1-based, as Excel numbers rows


@dataclass(frozen=True)
class ParquetOptions:
    unnest: str | None = None  # a list-of-struct column holding one row per member


@dataclass(frozen=True)
class SourceSpec:
    name: str
    owner: str
    description: str
    entity: str
    snapshot: str
    format: str
    file_glob: str
    columns: dict[str, Mapping]
    date_formats: tuple[str, ...] = ()
    csv: CsvOptions = field(default_factory=CsvOptions)
    xlsx: XlsxOptions = field(default_factory=XlsxOptions)
    parquet: ParquetOptions = field(default_factory=ParquetOptions)
    # A full snapshot may hold at most this share fewer loaded rows than its last delivery; beyond
    # it (a header-only or truncated file) the month's release is blocked.
    shrink_tolerance: float = 0.2
    role: str = "register"
    path: Path | None = None
    # Files delivered beside the source's that it knows it does not read: pattern -> why (the
    # landing inventory lists them as "declared", not as a delivery nobody read).
    not_read: dict[str, str] = field(default_factory=dict)

    @property
    def raw_table(self) -> str:
        """Table name in the warehouse's ``raw`` schema, also the dbt source table name."""
        return f"{self.name}__{self.entity}"

    @property
    def staging_model(self) -> str:
        return f"stg_{self.name}__{self.entity}"

    @property
    def extract_columns(self) -> set[str]:
        """The extract's columns the mapping reads: a file without one of them cannot be loaded."""
        return {c for m in self.columns.values() for c in m.columns}

    def landing_files(self, month: str) -> list[Path]:
        """What the source reads this month: the entries directly in landing/<source>/<month>/
        whose name matches file_glob, the extension in any case, and marks no transfer in
        progress (a .part, a lock file: ingest/inventory.py waits for those)."""
        try:
            entries = sorted((paths.landing_dir() / self.name / month).iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [
            p
            for p in entries
            if final_name(p.name) is None and matches_glob(self.file_glob, p.name)
        ]


# --- The schema of a source file: what a data steward may write, checked before anything runs. ---

# A source's name becomes a warehouse table, a dbt model and a Dagster asset key.
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# DuckDB strptime directives (optionally '-' for no padding); a format needs one date part.
_DIRECTIVE = re.compile(r"%(-?)(.)")
_DATE_DIRECTIVES = set("aAwdbBhmyYHIpMSfgnzZjUWcxX%")
_DATE_PARTS = set("dbBmyYjcx")


def _delimiter(value: str) -> str:
    if len(value) != 1:
        raise ValueError(f"must be one character, not {value!r}")
    if value in "\"'\r\n":
        raise ValueError(f"must not be a quote or a line break, not {value!r}")
    return value


def _header_row(value: int) -> int:
    if value < 1:
        raise ValueError(
            f"must be 1 or more (rows are numbered from 1, as in Excel), not {value!r}"
        )
    return value


def _date_format(value: str) -> str:
    directives = _DIRECTIVE.findall(value)
    unknown = [f"%{dash}{d}" for dash, d in directives if d not in _DATE_DIRECTIVES]
    if unknown:
        raise ValueError(f"{value!r} has unknown strftime directives {unknown}")
    if not any(d in _DATE_PARTS for _, d in directives):
        raise ValueError(f"{value!r} is not a strftime date format (no %d, %m, %Y, ...)")
    if "'" in value or '"' in value:  # formats are SQL literals in the staging models
        raise ValueError(f"{value!r} must not contain a quote")
    return value


def _file_glob(value: str) -> str:
    # Landing files are looked for in landing/<source>/<month>/ only: a pattern reaching elsewhere
    # would load another source's (or any) files as this one's.
    if any(bad in value for bad in ("/", "\\", "..")) or "**" in value or "\0" in value:
        raise ValueError(
            f"must be a plain file name pattern (no '/', '\\', '..' or '**'), not {value!r}"
        )
    return value


def _regex(value: str) -> str:
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
    if compiled.groups < 1:
        raise ValueError(f"{value!r} has no group: the first group ( ... ) is the value taken")
    return value


class _CsvFile(Settings):
    delimiter: Annotated[str, AfterValidator(_delimiter)] = ","
    encoding: Literal[ENCODINGS] = "utf-8"  # type: ignore[valid-type]
    header: Literal[True] = (
        True  # the first line is always the header: a file without one is refused
    )


class _XlsxFile(Settings):
    sheet: Text | None = None
    header_row: Annotated[int, AfterValidator(_header_row)] = 1


class _ParquetFile(Settings):
    unnest: Text | None = None


class _ColumnFile(Settings):
    """One canonical column's source, written as a name, a list of names or {column, extract}."""

    column: Text | None = None
    joined: list[Text] | None = None
    extract: Annotated[str, AfterValidator(_regex)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _forms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"column": value}
        if isinstance(value, list):
            if not value:
                raise ValueError("an empty list names no column")
            return {"joined": value}
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"column", "extract"}, key=str)
            missing = [k for k in ("column", "extract") if k not in value]
            if unknown or missing:
                raise ValueError(
                    "expected {column, extract}"
                    + (f"; unknown {unknown}" if unknown else "")
                    + (f"; missing {missing}" if missing else "")
                )
            return value
        raise ValueError("expected a column name, a list of names, or {column, extract}")

    def mapping(self) -> Mapping:
        return Mapping(tuple(self.joined) if self.joined else (self.column,), self.extract)


def _shrink(value: float) -> float:
    if not 0 <= value < 1:
        raise ValueError(f"must be a share in [0, 1), not {value!r}")
    return value


class _SourceFile(Settings):
    name: str
    owner: Text
    description: Text
    entity: Literal["individu"]  # staging, linkage and quality read <source>__individu
    snapshot: Literal[SNAPSHOTS]  # type: ignore[valid-type]
    format: Literal[FORMATS]  # type: ignore[valid-type]
    file_glob: Annotated[str, AfterValidator(_file_glob)]
    columns: dict[str, _ColumnFile]
    date_formats: list[Annotated[str, AfterValidator(_date_format)]] = []
    csv: _CsvFile = _CsvFile()
    xlsx: _XlsxFile = _XlsxFile()
    parquet: _ParquetFile = _ParquetFile()
    shrink_tolerance: Annotated[float, AfterValidator(_shrink)] = 0.2
    role: Literal[ROLES] = "register"  # type: ignore[valid-type]
    not_read: dict[Annotated[str, AfterValidator(_file_glob)], Text] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} must be lower case letters, digits and '_' (it names tables)"
            )
        return value

    @field_validator("columns")
    @classmethod
    def _canonical(cls, value: dict) -> dict:
        unknown = sorted(set(value) - set(CANONICAL_COLUMNS))
        missing = [c for c in REQUIRED_COLUMNS if c not in value]
        if unknown:
            raise ValueError(f"{unknown} are not canonical; choose from {CANONICAL_COLUMNS}")
        if missing:
            raise ValueError(f"the mapping lacks required canonical columns {missing}")
        return value

    @model_validator(mode="after")
    def _options_match_format(self):
        other = sorted({"csv", "xlsx", "parquet"} - {self.format} & self.model_fields_set)
        if other:
            raise ValueError(
                f"{other} options given for a {self.format} source: a misplaced or wrong format?"
            )
        return self


def _parse(path: Path) -> SourceSpec:
    doc = validate(_SourceFile, read_yaml(path, RegistryError), path, error=RegistryError)
    if doc.name != path.stem:
        raise problems_error(
            path, [("name", f"'{doc.name}' must match the file name '{path.stem}'")], RegistryError
        )
    return SourceSpec(
        name=doc.name,
        owner=doc.owner,
        description=doc.description,
        entity=doc.entity,
        snapshot=doc.snapshot,
        format=doc.format,
        file_glob=doc.file_glob,
        columns={k: v.mapping() for k, v in doc.columns.items()},
        date_formats=tuple(doc.date_formats),
        csv=CsvOptions(doc.csv.delimiter, doc.csv.encoding, doc.csv.header),
        xlsx=XlsxOptions(doc.xlsx.sheet, doc.xlsx.header_row),
        parquet=ParquetOptions(doc.parquet.unnest),
        shrink_tolerance=float(doc.shrink_tolerance),
        role=doc.role,
        path=path,
        not_read=dict(doc.not_read),
    )


def load_sources(config_dir: Path | None = None) -> tuple[SourceSpec, ...]:
    """Every source in ``config_dir`` (default: the sources folder of ``paths.config_dir()``);
    RegistryError lists the problems of every file at once."""
    return _load_sources(Path(config_dir) if config_dir else sources_dir())


@cache
def _load_sources(directory: Path) -> tuple[SourceSpec, ...]:
    specs, errors = [], []
    for path in sorted(directory.glob("*.yaml")):
        try:
            specs.append(_parse(path))
        except RegistryError as exc:
            errors += exc.messages
    # A file the registry would skip without a word: sources are *.yaml files.
    errors += [
        f"{shown(p)}: not read (source files end in .yaml)" for p in sorted(directory.glob("*.yml"))
    ]
    if not specs and not errors:
        errors.append(f"{shown(directory)}: no source file (*.yaml)")
    if errors:
        raise RegistryError(errors)
    return tuple(specs)


def correction_sources() -> tuple[str, ...]:
    """Names of the registered sources whose role is ``correction``."""
    return tuple(s.name for s in load_sources() if s.role == "correction")


def sources_dir() -> Path:
    return paths.config_dir() / "sources"


def get_source(name: str) -> SourceSpec:
    for spec in load_sources():
        if spec.name == name:
            return spec
    raise KeyError(f"no source named {name!r} in {sources_dir()}")
