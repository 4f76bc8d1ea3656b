"""The source registry: one declarative YAML file per agency extract under config/sources/.

Adding a source is adding a file; nothing here branches on a source's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from dtsen_pipeline import paths

# The canonical identity schema every source maps onto (see dbt_project/models/staging).
CANONICAL_COLUMNS = (
    "source_record_id", "nik", "no_kk", "nama", "tanggal_lahir", "jenis_kelamin", "kode_desa",
)
REQUIRED_COLUMNS = ("source_record_id",)


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True


@dataclass(frozen=True)
class SourceSpec:
    name: str
    owner: str
    description: str
    entity: str
    snapshot: str
    format: str
    file_glob: str
    columns: dict[str, str | list[str]]
    csv: CsvOptions = field(default_factory=CsvOptions)

    @property
    def raw_table(self) -> str:
        """Table name in the warehouse's ``raw`` schema, also the dbt source table name."""
        return f"{self.name}__{self.entity}"

    def landing_files(self, month: str) -> list[Path]:
        return sorted((paths.landing_dir() / self.name / month).glob(self.file_glob))


def _parse(path: Path) -> SourceSpec:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown = set(doc.get("columns", {})) - set(CANONICAL_COLUMNS)
    if unknown:
        raise ValueError(f"{path.name}: columns {sorted(unknown)} are not canonical; "
                         f"choose from {list(CANONICAL_COLUMNS)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in doc.get("columns", {})]
    if missing:
        raise ValueError(f"{path.name}: mapping lacks required canonical columns {missing}")
    csv = CsvOptions(**doc.pop("csv", {}))
    return SourceSpec(csv=csv, **doc)


@cache
def load_sources(config_dir: Path | None = None) -> tuple[SourceSpec, ...]:
    directory = config_dir or paths.CONFIG_DIR / "sources"
    return tuple(_parse(p) for p in sorted(directory.glob("*.yaml")))


def get_source(name: str) -> SourceSpec:
    for spec in load_sources():
        if spec.name == name:
            return spec
    raise KeyError(f"no source named {name!r} in {paths.CONFIG_DIR / 'sources'}")
