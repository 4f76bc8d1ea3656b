"""People who must stay apart (issue 30): twins and namesakes, planted at declared rates.

Twins: a share (population.twins) of families with two or more children make the second child
the first's twin: the same birth date, and so the same NIK date part and, for the same sex, NIK
serials n and n+1 (identity.make_nik numbers a kecamatan's people born on one day in order); half
of them named as the other with a word added ("MEGAWATI" / "MEGAWATI NURHAYATI"). Namesakes: a
share (population.namesakes) of persons pass their full name and birth date to another person of
the same sex, born the same year, in the same kabupaten and another family. Both are in the truth
as they are (persons.parquet: family, birth date, name, village): ``dtsen evaluate`` finds them
there (``must_stay_apart_merged``). Both rates are 0 in the default and hard profiles, which stay
as they were for a seed (no draw at 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def plant_twins(
    share: float,
    family_idx: np.ndarray,
    child: np.ndarray,
    birth: pd.Series,
    nama: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pd.Series, np.ndarray]:
    """Birth dates and names with twins planted (``child``: who is a child of the head): returns
    (birth, nama), new arrays."""
    if share <= 0:
        return birth, nama
    birth, nama = birth.copy(), nama.copy()
    children = pd.DataFrame({"family": family_idx, "i": np.arange(len(family_idx))})
    children = children[child]
    ranked = children.groupby("family").cumcount()
    first = children[ranked.to_numpy() == 0].set_index("family")["i"]
    second = children[ranked.to_numpy() == 1].set_index("family")["i"]
    families = second.index.intersection(first.index)
    chosen = families[rng.random(len(families)) < share]
    a, b = first.loc[chosen].to_numpy(), second.loc[chosen].to_numpy()
    birth.iloc[b] = birth.iloc[a].to_numpy()
    word_added = rng.random(len(b)) < 0.5
    own_word = pd.Series(nama[b], dtype=object).str.split(" ").str[-1].to_numpy()
    nama[b] = np.where(word_added, nama[a] + " " + own_word, nama[b])
    return birth, nama


def plant_namesakes(
    share: float,
    family_idx: np.ndarray,
    female: np.ndarray,
    kabupaten: np.ndarray,
    birth: pd.Series,
    nama: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pd.Series, np.ndarray]:
    """Birth dates and names with namesakes planted: returns (birth, nama), new arrays. Each
    chosen person's name and birth date go to a person of the same kabupaten, sex and birth year
    in another family (none when there is no such person)."""
    if share <= 0:
        return birth, nama
    birth, nama = birth.copy(), nama.copy()
    people = pd.DataFrame(
        {
            "i": np.arange(len(family_idx)),
            "family": family_idx,
            "group": pd.Series(kabupaten).astype(str)
            + np.where(female, "P", "L")
            + pd.to_datetime(birth).dt.year.astype(str).to_numpy(),
        }
    )
    people["order"] = rng.random(len(people))
    people = people.sort_values(["group", "order"])
    # Pair each person with the next of its group (kabupaten, sex, birth year), in random order.
    nxt = people.groupby("group")[["i", "family"]].shift(-1)
    pairs = people.assign(j=nxt["i"], j_family=nxt["family"]).dropna(subset=["j"])
    pairs = pairs[pairs["family"] != pairs["j_family"]]
    pairs = pairs[rng.random(len(pairs)) < share]
    pairs = pairs[~pairs["i"].isin(pairs["j"])]  # a person gives or takes, not both
    a, b = pairs["i"].to_numpy(), pairs["j"].astype(int).to_numpy()
    birth.iloc[b] = birth.iloc[a].to_numpy()
    nama[b] = nama[a]
    return birth, nama
