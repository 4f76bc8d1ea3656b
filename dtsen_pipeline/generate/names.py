"""Indonesian names from Faker's ``id_ID`` pools, drawn vectorised, and the ways sources vary them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from faker.providers.address.id_ID import Provider as IdAddress
from faker.providers.company.id_ID import Provider as IdCompany
from faker.providers.person.id_ID import Provider as IdNames

FIRST_M = np.array(IdNames.first_names_male)
FIRST_F = np.array(IdNames.first_names_female)
LAST_M = np.array(IdNames.last_names_male)
LAST_F = np.array(IdNames.last_names_female)
STREETS = np.array(IdAddress.streets)
TITLES_BEFORE = np.array(["H.", "Hj.", "Drs.", "Ir.", "dr."])
TITLES_AFTER = np.array([", S.Pd", ", S.E.", ", S.H.", ", drg.", ", S.Kom", ", S.Sos", ", A.Md"])
MUHAMMAD_FORMS = np.array(["M.", "Moh.", "Muh.", "Mochammad", "Mohamad", "Muhamad", "Mhd."])
OLD_SPELLING = [("u", "oe"), ("j", "dj"), ("c", "tj"), ("y", "j")]


def person_names(rng: np.random.Generator, female: np.ndarray, mononym_rate: float,
                 muhammad_rate: float) -> np.ndarray:
    n = len(female)
    first = np.where(female, rng.choice(FIRST_F, n), rng.choice(FIRST_M, n))
    last = np.where(female, rng.choice(LAST_F, n), rng.choice(LAST_M, n))
    full = pd.Series(first, dtype=object)
    muhammad = (~female) & (rng.random(n) < muhammad_rate)
    full = full.where(~muhammad, "Muhammad " + full)
    mononym = rng.random(n) < mononym_rate
    full = full.where(mononym, full + " " + last)
    return full.to_numpy()


def first_name(names: pd.Series) -> pd.Series:
    return names.str.replace(r"^Muhammad ", "", regex=True).str.split(" ").str[0]


def variant(name: str, kind: int, rng: np.random.Generator, father: str | None, female: bool) -> str:
    """One way a source writes the same person's name differently."""
    if kind == 0 and name.startswith("Muhammad "):
        return f"{rng.choice(MUHAMMAD_FORMS)} {name[len('Muhammad '):]}"
    if kind == 1:
        return f"{rng.choice(TITLES_BEFORE[1:2] if female else TITLES_BEFORE[[0, 2, 3, 4]])} {name}"
    if kind == 2:
        return name + rng.choice(TITLES_AFTER)
    if kind == 3 and " " in name:
        return name.rsplit(" ", 1)[0]
    if kind == 4:
        new, old = OLD_SPELLING[int(rng.integers(0, len(OLD_SPELLING)))]
        if new in name:
            return name.replace(new, old, 1)
    if kind == 5 and father:
        return f"{name} {'binti' if female else 'bin'} {father}"
    if kind == 6 and len(name) > 4:  # a typing slip: one letter dropped or doubled
        pos = int(rng.integers(1, len(name) - 1))
        return name[:pos] + name[pos + 1:] if rng.random() < 0.5 else name[:pos] + name[pos] + name[pos:]
    return name.lower() if rng.random() < 0.5 else name.upper()


def name_variants(names: pd.Series, mask: np.ndarray, rng: np.random.Generator,
                  fathers: pd.Series, female: np.ndarray) -> np.ndarray:
    # Plain Python lists: assigning into an Arrow-backed string Series copies it on every write.
    out = names.astype(object).to_numpy().copy()
    father_list = fathers.astype(object).to_numpy()
    idx = np.flatnonzero(mask)
    for i, kind in zip(idx, rng.integers(0, 8, len(idx))):
        father = father_list[i]
        out[i] = variant(out[i], int(kind), rng, father if isinstance(father, str) else None, bool(female[i]))
    return out


def street_addresses(rng: np.random.Generator, n: int) -> np.ndarray:
    street = rng.choice(STREETS, n)
    number = rng.integers(1, 200, n).astype(str)
    rt = pd.Series(rng.integers(1, 15, n)).astype(str).str.zfill(3)
    rw = pd.Series(rng.integers(1, 10, n)).astype(str).str.zfill(3)
    prefix = np.where(rng.random(n) < 0.8, "Jl. ", "Gg. ")
    return (pd.Series(prefix) + street + " No. " + number + " RT " + rt + "/RW " + rw).to_numpy()


def company_names(rng: np.random.Generator, n: int) -> np.ndarray:
    prefix = rng.choice(np.array(IdCompany.company_prefixes), n)
    owner = rng.choice(np.concatenate([LAST_M, LAST_F]), n)
    suffix = np.where(rng.random(n) < 0.1, " Tbk", "")
    return (pd.Series(prefix) + " " + owner + suffix).to_numpy()
