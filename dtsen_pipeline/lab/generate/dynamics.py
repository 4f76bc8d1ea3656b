"""One month of life: deaths, births, moves, marriages (new KK), layoffs and recoveries.

Each step changes the world tables in place and records who it touched in ``world.events``, so
the truth files can say what happened and the PHK source can report the layoffs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dtsen_pipeline.lab.generate import attributes, identity, names
from dtsen_pipeline.lab.generate.population import (
    HUB_ANAK,
    HUB_KEPALA,
    HUB_PASANGAN,
    World,
    assign_desil,
)


def _month_days(month: str, n: int, rng: np.random.Generator) -> pd.Series:
    period = pd.Period(month, freq="M")
    return pd.Series(
        period.start_time + pd.to_timedelta(rng.integers(0, period.days_in_month, n), unit="D")
    )


def _ages(world: World, today: pd.Timestamp) -> np.ndarray:
    return ((today - pd.to_datetime(world.persons["tanggal_lahir"])).dt.days // 365).to_numpy()


def advance(world: World, month: str, dyn: dict, rng: np.random.Generator) -> None:
    """Move the world from its month to ``month`` (the next one)."""
    world.month = month
    world.events = {}
    today = pd.Period(month, freq="M").start_time
    _deaths(world, month, dyn, rng, today)
    _births(world, month, dyn, rng, today)
    _moves(world, dyn, rng)
    _marriages(world, month, dyn, rng, today)
    _layoffs_and_recoveries(world, month, dyn, rng)
    assign_desil(world)


def first_month(world: World, month: str, dyn: dict, rng: np.random.Generator) -> None:
    """The starting month has its own layoffs, so the PHK source is never empty."""
    world.events = {}
    _layoffs_and_recoveries(world, month, dyn, rng)
    assign_desil(world)


def _deaths(world, month, dyn, rng, today):
    p = world.persons
    age = _ages(world, today)
    g = dyn["death_gompertz"]
    annual = np.minimum(np.exp(g["a"] + g["b"] * age), 0.5)
    dies = p["alive"].to_numpy() & (rng.random(len(p)) < annual / 12)
    p.loc[dies, "alive"] = False
    p.loc[dies, "tanggal_meninggal"] = _month_days(month, int(dies.sum()), rng).to_numpy()
    world.events["died"] = p.loc[dies, "person_id"].to_numpy()


def _births(world, month, dyn, rng, today):
    p = world.persons
    age = _ages(world, today)
    mothers = (
        (p["alive"] & p["female"] & p["hub"].isin([HUB_KEPALA, HUB_PASANGAN])).to_numpy()
        & (age >= 18)
        & (age <= 44)
        & (rng.random(len(p)) < dyn["fertility_annual"] / 12)
    )
    mom = p[mothers]
    n = len(mom)
    if n == 0:
        world.events["born"] = np.array([], dtype=np.int64)
        return
    fam = world.families.set_index("family_id").loc[mom["family_id"]]
    female = rng.random(n) < 0.5
    birth = _month_days(month, n, rng).dt.normalize()
    babies = pd.DataFrame(
        {
            "person_id": world.take_ids("person", n),
            "family_id": mom["family_id"].to_numpy(),
            "hub": HUB_ANAK,
            "nik": identity.make_nik(
                fam["kode_desa"].reset_index(drop=True), birth, female, p["nik"]
            ).to_numpy(),
            "nama": names.person_names(rng, female, 0.2, 0.08),
            "tanggal_lahir": birth.to_numpy(),
            "female": female,
            "tempat_lahir": mom["tempat_lahir"].to_numpy(),
            "alive": True,
            "tanggal_meninggal": pd.NaT,
        }
    )
    babies = pd.concat(
        [babies, attributes.person_attributes(np.zeros(n, int), fam["welfare"].to_numpy(), rng)],
        axis=1,
    )
    world.persons = pd.concat([p, babies], ignore_index=True)
    world.events["born"] = babies["person_id"].to_numpy()


def _other_village(
    current: np.ndarray, within_kab: np.ndarray, villages: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A destination among the world's villages: in the same kabupaten when asked and possible."""
    kab_of = pd.Series(villages).str.slice(0, 5)
    by_kab = {k: v.to_numpy() for k, v in pd.Series(villages).groupby(kab_of.to_numpy())}
    out = rng.choice(villages, len(current))
    for i in np.flatnonzero(within_kab):
        pool = by_kab.get(current[i][:5])
        if pool is not None and len(pool) > 1:
            out[i] = rng.choice(pool)
    return out


def _moves(world, dyn, rng):
    fam = world.families
    moving = rng.random(len(fam)) < dyn["family_move"]
    villages = fam["kode_desa"].unique()
    current = fam.loc[moving, "kode_desa"].to_numpy()
    fam.loc[moving, "kode_desa"] = _other_village(
        current, rng.random(len(current)) < dyn["move_within_kabupaten"], villages, rng
    )
    fam.loc[moving, "alamat"] = names.street_addresses(rng, int(moving.sum()))
    # A moving KK leaves any shared dwelling: it gets a household of its own.
    fam.loc[moving, "household_id"] = world.take_ids("household", int(moving.sum()))
    world.events["moved_families"] = fam.loc[moving, "family_id"].to_numpy()


def _marriages(world, month, dyn, rng, today):
    p = world.persons
    age = _ages(world, today)
    marrying = (
        (p["alive"] & (p["hub"] == HUB_ANAK)).to_numpy()
        & (age >= 20)
        & (age <= 35)
        & (rng.random(len(p)) < dyn["marriage_annual"] / 12)
    )
    idx = np.flatnonzero(marrying)
    if len(idx) == 0:
        world.events["married"] = np.array([], dtype=np.int64)
        return
    fam = world.families.set_index("family_id")
    old_family = p["family_id"].to_numpy()[idx]
    # Pair brides and grooms within a kabupaten; the unpaired marry someone outside the world.
    kab = fam.loc[old_family, "kode_desa"].str.slice(0, 5).to_numpy()
    female = p["female"].to_numpy()[idx]
    cand = pd.DataFrame({"i": idx, "kab": kab, "female": female})
    cand["rank"] = cand.groupby(["kab", "female"]).cumcount()
    pairs = cand[~cand["female"]].merge(
        cand[cand["female"]], on=["kab", "rank"], suffixes=("_m", "_f")
    )
    paired_f = set(pairs["i_f"])
    heads = np.array([i for i in idx if i not in paired_f])  # grooms, unpaired brides and grooms
    n_new = len(heads)
    new_ids = world.take_ids("family", n_new)
    head_family = dict(zip(heads, new_ids))
    src = fam.loc[p["family_id"].to_numpy()[heads]]
    own_dwelling = rng.random(n_new) < dyn["new_kk_new_dwelling"]
    household = np.where(
        own_dwelling, world.take_ids("household", n_new), src["household_id"].to_numpy()
    )
    welfare = src["welfare"].to_numpy() + rng.normal(0, 0.4, n_new)
    issued = pd.Series(np.full(n_new, pd.Timestamp(today)))
    new_fams = pd.DataFrame(
        {
            "family_id": new_ids,
            "household_id": household,
            "no_kk": identity.make_no_kk(
                src["kode_desa"].reset_index(drop=True), issued, world.families["no_kk"]
            ).to_numpy(),
            "kode_desa": src["kode_desa"].to_numpy(),
            "alamat": np.where(
                own_dwelling, names.street_addresses(rng, n_new), src["alamat"].to_numpy()
            ),
            "welfare": welfare,
        }
    )
    new_fams = pd.concat(
        [
            new_fams,
            attributes.family_attributes(welfare, np.full(n_new, 2), np.zeros(n_new, bool), rng),
        ],
        axis=1,
    )
    world.families = pd.concat([world.families, new_fams], ignore_index=True)
    family_col = p["family_id"].to_numpy().copy()
    hub_col = p["hub"].to_numpy().copy()
    family_col[heads] = new_ids
    hub_col[heads] = HUB_KEPALA
    for groom, bride in zip(pairs["i_m"], pairs["i_f"]):
        family_col[bride] = head_family[groom]
        hub_col[bride] = HUB_PASANGAN
    p["family_id"] = family_col
    p["hub"] = hub_col
    world.events["married"] = p["person_id"].to_numpy()[idx]
    world.events["new_families"] = new_ids


def _layoffs_and_recoveries(world, month, dyn, rng):
    p, fam = world.persons, world.families
    laid_off = (p["alive"] & (p["pekerjaan"] == "formal")).to_numpy() & (
        rng.random(len(p)) < dyn["layoff_formal"]
    )
    p.loc[laid_off, "pekerjaan"] = "tidak_bekerja"
    hit = np.isin(fam["family_id"].to_numpy(), p.loc[laid_off, "family_id"].to_numpy())
    fam.loc[hit, "welfare"] -= dyn["layoff_welfare_drop"]
    fam.loc[hit, ["punya_mobil", "punya_emas"]] = False  # the car and the gold are sold first
    world.events["laid_off"] = p.loc[laid_off, "person_id"].to_numpy()
    world.events["phk_dates"] = _month_days(month, int(laid_off.sum()), rng).to_numpy()

    bottom = fam["welfare"].to_numpy() < np.quantile(fam["welfare"], 0.3)
    recovers = bottom & ~hit & (rng.random(len(fam)) < dyn["recovery_bottom"])
    fam.loc[recovers, "welfare"] += dyn["recovery_welfare_gain"]
    fam.loc[recovers, "punya_motor"] = True
    world.events["recovered_families"] = fam.loc[recovers, "family_id"].to_numpy()
