"""``dtsen generate``: a synthetic DTSEN world, written as the agencies deliver it.

Landing files go to ``<out>/landing/<source>/<YYYY-MM>/``; the ground truth (true person, family
and household per source record, true desil) goes beside them to ``<out>/truth/<YYYY-MM>/`` and is
read only by evaluation, tests and benchmarks, never by the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from dtsen_pipeline import paths
from dtsen_pipeline.generate import noise
from dtsen_pipeline.generate.population import build_population

PROFILE_PATH = Path(__file__).with_name("noise_profile.yaml")
TRUTH_COLUMNS = ["source", "source_record_id", "person_id", "family_id", "household_id", "desil"]


@cache
def noise_profile() -> dict:
    return yaml.safe_load(PROFILE_PATH.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class MonthWritten:
    month: str
    files: dict[str, Path]
    truth: Path
    records: dict[str, int]


def month_range(start: str, months: int) -> list[str]:
    return [p.strftime("%Y-%m") for p in pd.period_range(start=start, periods=months, freq="M")]


def _record_ids(prefix: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Opaque record ids: a shuffled sequence, so ids carry no hint of the true person."""
    return np.char.add(prefix, (rng.permutation(n) + 1).astype(str).astype(object).astype(str))


def _dukcapil(pop: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    rates = noise_profile()["dukcapil"]
    n = len(pop)
    nama = noise.name_variant(pop["nama"], rng.random(n) < rates["name_variant"], rng)
    return pd.DataFrame({
        "ID_REC": _record_ids("DK", n, rng),
        "NIK": pop["nik"].to_numpy(),
        "NO_KK": pop["no_kk"].to_numpy(),
        "NAMA_LGKP": nama.str.upper().to_numpy(),
        "TGL_LHR": pd.to_datetime(pop["tanggal_lahir"]).dt.strftime("%Y-%m-%d").to_numpy(),
        "JENIS_KLMIN": np.where(pop["jenis_kelamin"] == "P", "PEREMPUAN", "LAKI-LAKI"),
        "KODE_WILAYAH": pop["kode_desa"].str.replace(".", "", regex=False).to_numpy(),
        "_person_id": pop["person_id"].to_numpy(),
    })


def _dtks(pop: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    rates = noise_profile()["dtks"]
    cov = rates["coverage"]
    # Coverage is decided per family: a family is on the list or not.
    fam_desil = pop.groupby("family_id")["desil"].min()
    p = np.select([fam_desil <= 4, fam_desil <= 6], [cov["desil_1_4"], cov["desil_5_6"]], cov["desil_7_10"])
    listed = fam_desil.index[rng.random(len(fam_desil)) < p]
    members = pop[pop["family_id"].isin(listed)].reset_index(drop=True)
    dups = members.sample(frac=rates["duplicate_record"], random_state=rng.integers(2**31))
    members = pd.concat([members, dups], ignore_index=True)
    n = len(members)

    draw = rng.random(n)
    nik = members["nik"].astype("string")
    nik = noise.nik_typo(nik, draw < rates["nik_typo"], rng)
    invalid_cut = rates["nik_typo"] + rates["nik_invalid"]
    nik = noise.nik_invalid(nik, (draw >= rates["nik_typo"]) & (draw < invalid_cut), rng)
    nik = nik.where(~((draw >= invalid_cut) & (draw < invalid_cut + rates["nik_missing"])), "")

    nama = noise.name_variant(members["nama"], rng.random(n) < rates["name_variant"], rng)
    nama = nama.where(rng.random(n) >= rates["name_blank"], "")
    birth = noise.day_month_swap(members["tanggal_lahir"], rng.random(n) < rates["dob_day_month_swap"])
    region = members["kode_desa"].str.split(".", expand=True)
    return pd.DataFrame({
        "IDARTBDT": _record_ids("", n, rng),
        "NIK": nik.to_numpy(),
        "NOKK": members["no_kk"].to_numpy(),
        "NAMA": nama.str.upper().to_numpy(),
        "JNSKEL": np.where(members["jenis_kelamin"] == "P", "2", "1"),
        "TGLLAHIR": pd.to_datetime(pd.Series(birth)).dt.strftime("%d-%m-%Y").to_numpy(),
        "KDPROP": region[0].to_numpy(), "KDKAB": region[1].to_numpy(),
        "KDKEC": region[2].to_numpy(), "KDDESA": region[3].to_numpy(),
        "_person_id": members["person_id"].to_numpy(),
    }).sample(frac=1, random_state=rng.integers(2**31)).reset_index(drop=True)


def _write_csv(df: pd.DataFrame, path: Path, sep: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.drop(columns=["_person_id"]).to_csv(path, sep=sep, index=False)


def generate(persons: int = 5000, start: str = "2025-01", months: int = 1, seed: int = 42,
             out: Path | None = None) -> list[MonthWritten]:
    """Write every month's extracts and truth; deterministic for a seed."""
    root = Path(out) if out is not None else paths.data_root()
    landing, truth_root = (root / "landing", root / "truth") if out is not None else (
        paths.landing_dir(), paths.truth_dir())
    written = []
    for i, month in enumerate(month_range(start, months)):
        reference = pd.Period(month, freq="M").end_time.date()
        pop = build_population(persons, seed, date(reference.year, reference.month, 1))
        rng = np.random.default_rng([seed, i])
        extracts = {
            "dukcapil": (_dukcapil(pop, rng), landing / "dukcapil" / month / f"dukcapil_penduduk_{month}.csv", ","),
            "dtks": (_dtks(pop, rng), landing / "dtks" / month / f"DTKS_ART_{month.replace('-', '')}.csv", ";"),
        }
        truth_parts = []
        for source, (df, path, sep) in extracts.items():
            _write_csv(df, path, sep)
            id_col = df.columns[0]
            truth_parts.append(
                df[[id_col, "_person_id"]].rename(columns={id_col: "source_record_id", "_person_id": "person_id"})
                .assign(source=source)
            )
        truth = pd.concat(truth_parts, ignore_index=True).merge(
            pop[["person_id", "family_id", "household_id", "desil"]], on="person_id")[TRUTH_COLUMNS]
        truth_path = truth_root / month / "records.parquet"
        truth_path.parent.mkdir(parents=True, exist_ok=True)
        truth.to_parquet(truth_path, index=False)
        written.append(MonthWritten(month, {s: e[1] for s, e in extracts.items()}, truth_path,
                                    {s: len(e[0]) for s, e in extracts.items()}))
    return written
