"""Indonesian names from Faker's ``id_ID`` pools, drawn vectorised, and the ways sources vary them."""

from __future__ import annotations

import re

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


def person_names(
    rng: np.random.Generator, female: np.ndarray, mononym_rate: float, muhammad_rate: float
) -> np.ndarray:
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


def variant(
    name: str, kind: int, rng: np.random.Generator, father: str | None, female: bool
) -> str:
    """One way a source writes the same person's name differently."""
    if kind == 0 and name.startswith("Muhammad "):
        return f"{rng.choice(MUHAMMAD_FORMS)} {name[len('Muhammad ') :]}"
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
        return (
            name[:pos] + name[pos + 1 :]
            if rng.random() < 0.5
            else name[:pos] + name[pos] + name[pos:]
        )
    return name.lower() if rng.random() < 0.5 else name.upper()


def name_variants(
    names: pd.Series,
    mask: np.ndarray,
    rng: np.random.Generator,
    fathers: pd.Series,
    female: np.ndarray,
) -> np.ndarray:
    # Plain Python lists: assigning into an Arrow-backed string Series copies it on every write.
    out = names.astype(object).to_numpy().copy()
    father_list = fathers.astype(object).to_numpy()
    idx = np.flatnonzero(mask)
    for i, kind in zip(idx, rng.integers(0, 8, len(idx))):
        father = father_list[i]
        out[i] = variant(
            out[i], int(kind), rng, father if isinstance(father, str) else None, bool(female[i])
        )
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


# --- The harder world (`dtsen generate --profile hard`): regional naming and the ways a name drifts. ---

# Family names (marga, fam) carried by a whole family where that is the custom. Small pools on
# purpose: in a village many unrelated families share one, as they do.
MARGA = {
    "12": [
        "Simanjuntak",
        "Siregar",
        "Nainggolan",
        "Hutapea",
        "Sitorus",
        "Simatupang",
        "Lubis",
        "Nasution",
        "Harahap",
        "Pardede",
        "Sinaga",
        "Situmorang",
        "Panjaitan",
        "Manurung",
        "Silalahi",
        "Tampubolon",
        "Hutagalung",
        "Sihombing",
        "Pasaribu",
        "Simbolon",
    ],  # Sumatera Utara (Batak)
    "71": [
        "Wenas",
        "Lumenta",
        "Rumengan",
        "Sondakh",
        "Mandagi",
        "Tumbelaka",
        "Pangemanan",
        "Lasut",
        "Kaunang",
        "Supit",
        "Runtuwene",
        "Rondonuwu",
        "Wowor",
        "Karundeng",
        "Tambuwun",
        "Kalalo",
    ],  # Sulawesi Utara
    "53": [
        "Fanggidae",
        "Ndoen",
        "Manafe",
        "Bessie",
        "Tefa",
        "Nenobais",
        "Lado",
        "Pah",
        "Messakh",
        "Koroh",
        "Dethan",
        "Amalo",
        "Tallo",
        "Mauko",
        "Rihi",
        "Haning",
    ],  # Nusa Tenggara Timur
    "9": [
        "Wenda",
        "Kogoya",
        "Wonda",
        "Tabuni",
        "Yikwa",
        "Murib",
        "Rumbiak",
        "Mandowen",
        "Wanggai",
        "Kafiar",
        "Rumaropen",
        "Yoku",
        "Ayomi",
        "Sawaki",
        "Numberi",
        "Krey",
    ],  # Papua (every 9x province)
}
JAVA = (
    "31",
    "32",
    "33",
    "34",
    "35",
    "36",
)  # DKI, Jabar, Jateng, DIY, Jatim, Banten: where mononyms are common


def marga_pool(kode_prov: str) -> list[str] | None:
    return MARGA["9"] if kode_prov.startswith("9") else MARGA.get(kode_prov)


# Old (pre-1972) spelling, letter by letter so that j -> dj and y -> j do not chain.
_OLD = {"u": "oe", "j": "dj", "y": "j", "c": "tj"}
_VOWEL_TAIL = re.compile(r"[^aeiou]?[aeiou]+[^aeiou]*[aeiou]+[^aeiou]*$", re.IGNORECASE)


def can_respell(name: str) -> bool:
    return any(ch.lower() in _OLD for ch in name)


def old_spelling(name: str) -> str:
    """Soekarno, Djoko Tjahjono: the spelling of older documents and of older clerks."""
    out = []
    for ch in name:
        old = _OLD.get(ch.lower())
        out.append(ch if old is None else (old.capitalize() if ch.isupper() else old))
    return "".join(out)


def can_flip(name: str) -> bool:
    return len(name.split()) >= 2


def order_flipped(name: str) -> str:
    """Family name first, as forms with a 'surname' box get it (Simanjuntak Budi)."""
    parts = name.split()
    return " ".join([parts[-1], *parts[:-1]])


def nickname(given: str) -> str:
    """The call name Indonesians make from the end of a given name (Susanti -> Santi, Agustina ->
    Tina, Wahyudi -> Yudi), or its first letters when the name is too short for that."""
    tail = _VOWEL_TAIL.search(given)
    if tail and 3 <= len(tail.group(0)) < len(given):
        return tail.group(0).capitalize()
    return given[:3] if len(given) > 3 else given + given[-1]


def short_form(name: str, rng: np.random.Generator) -> str:
    """A short form: another part of the name cut to its initial (Budi S.), or the given name
    replaced by the call name (Santi Simanjuntak)."""
    parts = name.split()
    if len(parts) >= 2 and rng.random() < 0.5:
        i = int(rng.integers(1, len(parts)))
        parts[i] = parts[i][0] + "."
        return " ".join(parts)
    parts[0] = nickname(parts[0])
    return " ".join(parts)


_KEYS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


def typing_slip(name: str, rng: np.random.Generator) -> str:
    """One slip of the hand: a letter dropped, doubled, swapped with the next, or a neighbouring key."""
    pos = int(rng.integers(1, len(name) - 1))
    how = int(rng.integers(0, 4))
    if how == 0:
        return name[:pos] + name[pos + 1 :]
    if how == 1:
        return name[:pos] + name[pos] + name[pos:]
    if how == 2 and name[pos] != name[pos + 1]:
        return name[:pos] + name[pos + 1] + name[pos] + name[pos + 2 :]
    row = next((r for r in _KEYS if name[pos].lower() in r), None)
    if row is None:
        return name[:pos] + name[pos + 1 :]
    j = row.index(name[pos].lower())
    near = row[j - 1] if j > 0 and (j == len(row) - 1 or rng.random() < 0.5) else row[j + 1]
    return name[:pos] + (near.upper() if name[pos].isupper() else near) + name[pos + 1 :]


def can_slip(name: str) -> bool:
    return len(name) >= 4
