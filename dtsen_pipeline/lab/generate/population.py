"""The world's people: persons in families (KK) in households, in real villages, with welfare.

The whole state of the synthetic world lives in two tables (persons, families); dynamics.py moves it
from month to month and registers.py lets each agency see its part of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from dtsen_pipeline.lab.generate import attributes, identity, lookalikes, names, regions

HUB_KEPALA, HUB_PASANGAN, HUB_ANAK, HUB_ORANG_TUA = 1, 2, 3, 6


@dataclass
class World:
    persons: pd.DataFrame
    families: pd.DataFrame
    month: str
    next_ids: dict[str, int]
    # What happened this month, for the event sources (PHK) and the truth files.
    events: dict[str, np.ndarray] = field(default_factory=dict)

    def take_ids(self, kind: str, n: int) -> np.ndarray:
        start = self.next_ids[kind]
        self.next_ids[kind] = start + n
        return np.arange(start, start + n, dtype=np.int64)

    def alive(self) -> pd.DataFrame:
        return self.persons[self.persons["alive"]]


def _ages(
    rng: np.random.Generator,
    sizes: np.ndarray,
    member: np.ndarray,
    family_idx: np.ndarray,
    parent_rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    n_fam = len(sizes)
    head_age = np.round(rng.triangular(19, 34, 85, n_fam)).astype(int)
    has_spouse = (sizes >= 2) & (rng.random(n_fam) < 0.85)
    has_parent = (sizes >= 3) & (rng.random(n_fam) < parent_rate)
    hage = head_age[family_idx]
    last = member == sizes[family_idx] - 1
    hub = np.where(
        member == 0,
        HUB_KEPALA,
        np.where(
            (member == 1) & has_spouse[family_idx],
            HUB_PASANGAN,
            np.where(last & has_parent[family_idx], HUB_ORANG_TUA, HUB_ANAK),
        ),
    )
    n = len(member)
    child_age = (rng.random(n) * np.clip(hage - 18, 1, 30)).astype(int)
    age = np.select(
        [hub == HUB_KEPALA, hub == HUB_PASANGAN, hub == HUB_ORANG_TUA],
        [
            hage,
            np.clip(hage + rng.integers(-7, 3, n), 17, 95),
            np.clip(hage + rng.integers(20, 36, n), 40, 98),
        ],
        child_age,
    )
    return age, hub


def _family_sizes(
    n_persons: int, pop: dict, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Family sizes summing to ``n_persons``; each person's family index and place in the family."""
    sizes = np.clip(1 + rng.poisson(pop["family_size_poisson"], n_persons), 1, 8)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n_persons) + 1]
    sizes[-1] -= sizes.sum() - n_persons
    family_idx = np.repeat(np.arange(len(sizes)), sizes)
    member = np.arange(n_persons) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return sizes, family_idx, member


def _dwellings(
    n_fam: int, pop: dict, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The world's villages, each family's village, household and dwelling (the first KK of its
    household, whose village and address it shares)."""
    world_villages = regions.choose_villages(
        max(1, n_fam // pop["families_per_village"]),
        pop["required_provinces"],
        pop["required_share"],
        rng,
    )
    fam_village = rng.choice(world_villages, n_fam)
    shares = np.r_[False, rng.random(n_fam - 1) < pop["shared_dwelling"]]
    household = np.cumsum(~shares)
    dwelling_of = np.maximum.accumulate(
        np.where(~shares, np.arange(n_fam), 0)
    )  # first KK of each household
    return world_villages, fam_village[dwelling_of], household, dwelling_of


def _welfare(fam_village: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Welfare: a province effect, towns better off than villages, and the family's own draw.
    Returns welfare and whether each family's village is rural."""
    fam_village_s = pd.Series(fam_village)
    provinces = fam_village_s.str.slice(0, 2)
    prov_effect = provinces.map(
        dict(zip(sorted(provinces.unique()), rng.normal(0, 0.3, provinces.nunique())))
    ).to_numpy()
    rural = fam_village_s.str.slice(3, 5).astype(int).to_numpy() < 71
    welfare = rng.normal(0, 1, len(fam_village)) + prov_effect + np.where(rural, 0.0, 0.35)
    return welfare, rural


def _demography(
    sizes: np.ndarray,
    member: np.ndarray,
    family_idx: np.ndarray,
    pop: dict,
    reference: pd.Timestamp,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Series]:
    """Each person's age, relation to the head (hub), sex and birth date."""
    n_persons = len(member)
    age, hub = _ages(rng, sizes, member, family_idx, pop["parent_in_family"])
    head_female = rng.random(len(sizes)) < pop["female_head"]
    female = np.select(
        [hub == HUB_KEPALA, hub == HUB_PASANGAN],
        [head_female[family_idx], ~head_female[family_idx]],
        rng.random(n_persons) < 0.5,
    )
    birth = pd.Series(
        reference - pd.to_timedelta(age * 365.25 + rng.integers(0, 365, n_persons), unit="D")
    )
    return age, hub, female, birth.dt.normalize()


def _names(
    female: np.ndarray,
    family_idx: np.ndarray,
    hub: np.ndarray,
    person_prov: np.ndarray,
    pop: dict,
    rng: np.random.Generator,
) -> np.ndarray:
    """Person names, with one name only and family names (marga) where they are the custom."""
    mononym = pop["mononym"]
    if (
        pop.get("mononym_java") is not None
    ):  # the same draw, a higher bar where one name is the custom
        mononym = np.where(np.isin(person_prov, names.JAVA), pop["mononym_java"], mononym)
    nama = names.person_names(rng, female, mononym, pop["muhammad"])
    if pop.get("marga", 0) > 0:
        nama = _marga_names(nama, family_idx, hub, person_prov, pop["marga"], rng)
    return nama


def build_world(n_persons: int, seed: int, month: str, profile: dict) -> World:
    pop = profile["population"]
    rng = np.random.default_rng([seed, 0])
    reference = pd.Period(month, freq="M").start_time

    sizes, family_idx, member = _family_sizes(n_persons, pop, rng)
    n_fam = len(sizes)
    world_villages, fam_village, household, dwelling_of = _dwellings(n_fam, pop, rng)
    welfare, rural = _welfare(fam_village, rng)
    age, hub, female, birth = _demography(sizes, member, family_idx, pop, reference, rng)

    # NIK region: where the person was first registered: mostly the family's kecamatan, but
    # parents and spouses often come from elsewhere in the world.
    born_elsewhere = (hub != HUB_ANAK) & (rng.random(n_persons) < 0.3)
    first_village = pd.Series(
        np.where(born_elsewhere, rng.choice(world_villages, n_persons), fam_village[family_idx])
    )
    nik = identity.make_nik(first_village, birth, female)
    issued = pd.Series(
        reference - pd.to_timedelta(rng.integers(30, 3650, n_fam), unit="D")
    ).dt.normalize()
    no_kk = identity.make_no_kk(pd.Series(fam_village), issued)

    village_names = regions.villages().set_index("kode_desa")["nama_kabupaten"]
    person_prov = pd.Series(fam_village[family_idx]).str.slice(0, 2).to_numpy()
    nama = _names(female, family_idx, hub, person_prov, pop, rng)
    # Twins and namesakes (population.twins, .namesakes; 0 in the default and hard profiles: no
    # draw, so those worlds stay as they were for a seed), then their NIKs (no draw either).
    if pop.get("twins", 0.0) > 0 or pop.get("namesakes", 0.0) > 0:
        birth, nama = lookalikes.plant_twins(
            pop.get("twins", 0.0), family_idx, hub == HUB_ANAK, birth, nama, rng
        )
        kabupaten = pd.Series(fam_village[family_idx]).str.slice(0, 5).to_numpy()
        birth, nama = lookalikes.plant_namesakes(
            pop.get("namesakes", 0.0), family_idx, female, kabupaten, birth, nama, rng
        )
        nik = identity.make_nik(first_village, birth, female)
    persons = pd.DataFrame(
        {
            "person_id": np.arange(1, n_persons + 1, dtype=np.int64),
            "family_id": (family_idx + 1).astype(np.int64),
            "hub": hub,
            "nik": nik.to_numpy(),
            "nama": nama,
            "tanggal_lahir": birth.to_numpy(),
            "female": female,
            "tempat_lahir": first_village.map(village_names)
            .str.replace(r"^(Kabupaten|Kota) ", "", regex=True)
            .str.upper()
            .to_numpy(),
            "alive": True,
            "tanggal_meninggal": pd.NaT,
        }
    )
    persons = pd.concat(
        [persons, attributes.person_attributes(age, welfare[family_idx], rng)], axis=1
    )
    families = pd.DataFrame(
        {
            "family_id": np.arange(1, n_fam + 1, dtype=np.int64),
            "household_id": household.astype(np.int64),
            "no_kk": no_kk.to_numpy(),
            "kode_desa": fam_village,
            "alamat": names.street_addresses(rng, n_fam)[
                dwelling_of
            ],  # KKs of one dwelling share its address
            "welfare": welfare,
        }
    )
    families = pd.concat(
        [families, attributes.family_attributes(welfare, sizes, rural, rng)], axis=1
    )
    world = World(
        persons,
        families,
        month,
        {"person": n_persons + 1, "family": n_fam + 1, "household": int(household.max()) + 1},
    )
    assign_desil(world)
    return world


def _marga_names(
    nama: np.ndarray,
    family_idx: np.ndarray,
    hub: np.ndarray,
    prov: np.ndarray,
    share: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Where a family name is the custom, ``share`` of families carry one: the head, the children
    and the head's parent take the family's marga, a spouse keeps a marga of her (his) own."""
    n_fam = int(family_idx.max()) + 1
    fam_prov = pd.Series(prov).groupby(family_idx).first().reindex(range(n_fam)).to_numpy()
    carries = rng.random(n_fam) < share
    marga = np.array([None] * n_fam, dtype=object)
    spouse_marga = np.array([None] * len(nama), dtype=object)
    for p in pd.unique(fam_prov[carries]):
        pool = names.marga_pool(p)
        if pool is None:
            continue
        fams = np.flatnonzero(carries & (fam_prov == p))
        marga[fams] = rng.choice(pool, len(fams))
        members = np.flatnonzero(np.isin(family_idx, fams))
        spouse_marga[members] = rng.choice(pool, len(members))
    out = nama.copy()
    carried = np.flatnonzero(pd.notna(marga[family_idx]))
    given = names.first_name(pd.Series(nama[carried], dtype=object)).to_numpy(dtype=object)
    surname = np.where(
        hub[carried] == HUB_PASANGAN, spouse_marga[carried], marga[family_idx[carried]]
    )
    out[carried] = given + " " + surname
    return out


def assign_desil(world: World) -> None:
    """Desil 1-10 of families by welfare, each decile holding a tenth of living persons."""
    fam = world.families
    size = world.alive().groupby("family_id").size().reindex(fam["family_id"]).fillna(0).to_numpy()
    order = np.argsort(fam["welfare"].to_numpy(), kind="stable")
    cum = np.cumsum(size[order]) - size[order] / 2
    desil = np.empty(len(fam), dtype=np.int64)
    desil[order] = np.clip((cum / max(size.sum(), 1) * 10).astype(int) + 1, 1, 10)
    fam["desil"] = desil


def person_view(world: World, today: date) -> pd.DataFrame:
    """Persons with their family's current attributes, the columns coverage rules are written in."""
    fam = world.families[["family_id", "household_id", "no_kk", "kode_desa", "desil", "alamat"]]
    view = world.persons.merge(fam, on="family_id", how="left")
    view["kode_prov"] = view["kode_desa"].str.slice(0, 2)
    heads = view.loc[
        view["hub"] == HUB_KEPALA, ["family_id", "nik", "nama", "female"]
    ].drop_duplicates("family_id")
    heads = heads.set_index("family_id")
    view["head_nik"] = view["family_id"].map(heads["nik"]).fillna(view["nik"])
    # bin/binti names the father: the head, when he is a man and this is his child.
    father = view["family_id"].map(names.first_name(heads.loc[~heads["female"], "nama"]))
    view["father"] = father.where(view["hub"] == HUB_ANAK)
    view["age"] = (
        (pd.Timestamp(today) - pd.to_datetime(view["tanggal_lahir"])).dt.days // 365
    ).astype(int)
    return view
