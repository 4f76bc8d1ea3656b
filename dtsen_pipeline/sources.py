"""The source registry: one declarative YAML file per agency extract under config/sources/.

Adding a source is adding a file: its ingest asset, its raw table, its dbt staging model and its
place in the linkage input all follow from it. Nothing in the code branches on a source's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from dtsen_pipeline import paths

# The canonical identity schema every source maps onto (dbt_project/macros/stage_identity.sql).
CANONICAL_COLUMNS = (
    "source_record_id", "nik", "no_kk", "nama", "tanggal_lahir", "jenis_kelamin", "tempat_lahir",
    "kode_desa", "nama_desa", "nama_kecamatan", "nama_kabupaten", "alamat",
    "hubungan_kk",        # relationship to the family head, in the source's own codes or words
    "id_keluarga_sumber", # the source's own family grouping (a form or family id), if it has one
    "id_rumah_tangga",    # the source's own household (dwelling) id, if it has one
)
REQUIRED_COLUMNS = ("source_record_id", "nama")
FORMATS = ("csv", "xlsx", "parquet")
SNAPSHOTS = ("full", "delta")
ENCODINGS = ("utf-8", "latin-1", "utf-16")


class RegistryError(ValueError):
    """A source file in config/sources/ that does not describe a source; names file and field."""


@dataclass(frozen=True)
class Mapping:
    """Where a canonical column comes from: one column, several joined with '.', or a regex group."""

    columns: tuple[str, ...]
    extract: str | None = None

    @classmethod
    def parse(cls, value, where: str) -> Mapping:
        if isinstance(value, str):
            return cls((value,))
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return cls(tuple(value))
        if isinstance(value, dict) and set(value) == {"column", "extract"}:
            return cls((value["column"],), value["extract"])
        raise RegistryError(f"{where}: expected a column name, a list of names, or {{column, extract}}")


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True


@dataclass(frozen=True)
class XlsxOptions:
    sheet: str | None = None   # default: the first sheet
    header_row: int = 1        # 1-based, as Excel numbers rows


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
    path: Path | None = None

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
        return sorted((paths.landing_dir() / self.name / month).glob(self.file_glob))


def _parse(path: Path) -> SourceSpec:
    where = f"config/sources/{path.name}"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RegistryError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{where}: expected a mapping of fields")
    for key in ("name", "owner", "description", "entity", "snapshot", "format", "file_glob", "columns"):
        if key not in doc:
            raise RegistryError(f"{where}: field '{key}' is missing")
    if doc["name"] != path.stem:
        raise RegistryError(f"{where}: name '{doc['name']}' must match the file name '{path.stem}'")
    if doc["format"] not in FORMATS:
        raise RegistryError(f"{where}: format '{doc['format']}' is not one of {FORMATS}")
    if doc["snapshot"] not in SNAPSHOTS:
        raise RegistryError(f"{where}: snapshot '{doc['snapshot']}' is not one of {SNAPSHOTS}")
    unknown = set(doc["columns"]) - set(CANONICAL_COLUMNS)
    if unknown:
        raise RegistryError(f"{where}: columns {sorted(unknown)} are not canonical; choose from {CANONICAL_COLUMNS}")
    missing = [c for c in REQUIRED_COLUMNS if c not in doc["columns"]]
    if missing:
        raise RegistryError(f"{where}: the mapping lacks required canonical columns {missing}")
    columns = {k: Mapping.parse(v, f"{where}: columns.{k}") for k, v in doc.pop("columns").items()}
    try:
        csv = CsvOptions(**doc.pop("csv", {}))
        xlsx = XlsxOptions(**doc.pop("xlsx", {}))
        parquet = ParquetOptions(**doc.pop("parquet", {}))
        spec = SourceSpec(columns=columns, csv=csv, xlsx=xlsx, parquet=parquet,
                          date_formats=tuple(doc.pop("date_formats", ())), path=path, **doc)
    except TypeError as exc:
        raise RegistryError(f"{where}: {exc}") from None
    if isinstance(spec.shrink_tolerance, bool) or not isinstance(spec.shrink_tolerance, (int, float)) \
            or not 0 <= spec.shrink_tolerance < 1:
        raise RegistryError(f"{where}: shrink_tolerance must be a share in [0, 1), not {spec.shrink_tolerance!r}")
    if spec.csv.encoding not in ENCODINGS:
        raise RegistryError(f"{where}: csv.encoding '{spec.csv.encoding}' is not one of {ENCODINGS}")
    return spec


@cache
def load_sources(config_dir: Path | None = None) -> tuple[SourceSpec, ...]:
    directory = config_dir or sources_dir()
    return tuple(_parse(p) for p in sorted(directory.glob("*.yaml")))


def sources_dir() -> Path:
    return paths.CONFIG_DIR / "sources"


def get_source(name: str) -> SourceSpec:
    for spec in load_sources():
        if spec.name == name:
            return spec
    raise KeyError(f"no source named {name!r} in {sources_dir()}")
