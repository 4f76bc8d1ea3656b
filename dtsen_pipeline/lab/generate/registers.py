"""Each agency's register of the world: who it lists, under which record id, written how.

A register persists from month to month like a real agency list: a record keeps its id and its
errors (a mistyped NIK stays mistyped), families enrol and leave by the coverage rules, the dead
linger until removed, and movers keep their old address until the record is refreshed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dtsen_pipeline.lab.generate import names

NIK_NOISE = ("nik_typo", "nik_invalid", "nik_missing", "nik_shared")
# New kinds go at the end of a group: the shared draw then falls on the same kind for every record
# of a profile that leaves them at 0 (the default world stays the same for a seed).
DOB_NOISE = (
    "dob_day_month_swap",
    "dob_placeholder",
    "dob_invalid",
    "dob_year_only",
    "dob_fixed_placeholder",
    "dob_day_placeholder",  # 01-07 or 31-12 of the year: a register's "day unknown"
)
# Name errors of the harder world, each its own draw among the records whose name allows it, in this order.
NAME_NOISE = ("name_old_spelling", "name_short_form", "name_order_flip", "name_typo")
_NAME_CHANGE = {
    "name_old_spelling": (names.can_respell, lambda name, rng: names.old_spelling(name)),
    "name_short_form": (lambda name: bool(name), names.short_form),
    "name_order_flip": (names.can_flip, lambda name, rng: names.order_flipped(name)),
    "name_typo": (names.can_slip, names.typing_slip),
}
FIXED_PLACEHOLDERS = np.array(["1900-01-01", "1970-01-01"])  # "unknown" typed as a date


@dataclass
class Register:
    name: str
    spec: dict
    records: pd.DataFrame = field(default_factory=pd.DataFrame)
    next_rec: int = 1

    def active(self) -> pd.DataFrame:
        return self.records[self.records["active"]] if len(self.records) else self.records


def coverage_probability(view: pd.DataFrame, rules: list[dict]) -> np.ndarray:
    masks = [
        np.ones(len(view), bool) if r["when"] == "all" else view.eval(r["when"]).to_numpy(bool)
        for r in rules
    ]
    p = np.select(masks, [r["p"] for r in rules], 0.0)
    return np.where(view["alive"].to_numpy(), p, 0.0)


def _nik_typo(nik: pd.Series, rng: np.random.Generator) -> pd.Series:
    out = []
    for value in nik.tolist():
        digits = list(value)
        pos = int(rng.integers(0, 15))
        if rng.random() < 0.5:
            digits[pos], digits[pos + 1] = digits[pos + 1], digits[pos]
        else:
            digits[pos] = str((int(digits[pos]) + int(rng.integers(1, 10))) % 10)
        out.append("".join(digits))
    return pd.Series(out, index=nik.index, dtype=object)


def _nik_invalid(nik: pd.Series, rng: np.random.Generator) -> pd.Series:
    short = rng.random(len(nik)) < 0.5
    bad_day = rng.choice(np.array(["00", "35", "38", "75", "99"]), len(nik))
    broken = nik.str.slice(0, 6) + bad_day + nik.str.slice(8)
    return pd.Series(np.where(short, nik.str.slice(0, 15), broken), index=nik.index, dtype=object)


def _iso(dates: pd.Series) -> pd.Series:
    return pd.to_datetime(dates).dt.strftime("%Y-%m-%d")


def apply_noise(new: pd.DataFrame, rates: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Record the true identity the way this source gets it wrong; flags say what was done."""
    n = len(new)
    out = pd.DataFrame(index=new.index)
    # NIK: at most one kind of error per record.
    u = rng.random(n)
    edges = np.cumsum([rates.get(k, 0.0) for k in NIK_NOISE])
    kind = np.searchsorted(edges, u, side="right")
    nik_flag = np.where(kind < len(NIK_NOISE), np.array([*NIK_NOISE, ""], dtype=object)[kind], "")
    nik = new["nik"].astype(object).copy()
    typo = nik_flag == "nik_typo"
    nik[typo] = _nik_typo(nik[typo], rng)
    invalid = nik_flag == "nik_invalid"
    nik[invalid] = _nik_invalid(nik[invalid], rng)
    nik[nik_flag == "nik_missing"] = ""
    shared = (nik_flag == "nik_shared") & (new["head_nik"] != new["nik"]).to_numpy()
    nik[shared] = new.loc[shared, "head_nik"]
    nik_flag = np.where((nik_flag == "nik_shared") & ~shared, "", nik_flag)
    out["nik"], out["noise_nik"] = nik, nik_flag

    female = new["female"].to_numpy()
    variant = rng.random(n) < rates.get("name_variant", 0.0)
    nama = names.name_variants(new["nama"], variant, rng, new["father"], female)
    blank = rng.random(n) < rates.get("name_blank", 0.0)
    name_kinds = np.full(n, "", dtype=object)
    for kind in NAME_NOISE:
        if rates.get(kind, 0.0) > 0:  # no draw at 0: the default world's draws stay as they were
            nama, hit = _change_names(nama, kind, rates[kind], rng)
            name_kinds = np.where(hit & ~blank, name_kinds + "," + kind, name_kinds)
    out["nama"] = np.where(blank, "", nama)
    out["noise_nama"] = np.select([blank, variant], ["name_blank", "name_variant"], "")

    u = rng.random(n)
    edges = np.cumsum([rates.get(k, 0.0) for k in DOB_NOISE])
    kind = np.searchsorted(edges, u, side="right")
    dob_flag = np.where(kind < len(DOB_NOISE), np.array([*DOB_NOISE, ""], dtype=object)[kind], "")
    d = pd.to_datetime(new["tanggal_lahir"])
    iso = _iso(d)
    swappable = (
        (dob_flag == "dob_day_month_swap")
        & (d.dt.day <= 12).to_numpy()
        & (d.dt.day != d.dt.month).to_numpy()
    )
    swapped = (
        d.dt.year.astype(str)
        + "-"
        + d.dt.day.astype(str).str.zfill(2)
        + "-"
        + d.dt.month.astype(str).str.zfill(2)
    )
    year = d.dt.year.astype(str)
    placeholder = np.where(rng.random(n) < 0.5, year + "-01-01", year)
    invalid_date = np.where(rng.random(n) < 0.5, year + "-02-31", year + "-00-00")
    fixed = (
        rng.choice(FIXED_PLACEHOLDERS, n) if rates.get("dob_fixed_placeholder", 0.0) > 0 else iso
    )
    day_placeholder = (  # no draw at 0: the other profiles' draws stay as they were
        np.where(rng.random(n) < 0.5, year + "-07-01", year + "-12-31")
        if rates.get("dob_day_placeholder", 0.0) > 0
        else iso
    )
    out["tanggal_lahir"] = np.select(
        [
            swappable,
            dob_flag == "dob_placeholder",
            dob_flag == "dob_invalid",
            dob_flag == "dob_year_only",
            dob_flag == "dob_fixed_placeholder",
            dob_flag == "dob_day_placeholder",
        ],
        [swapped, placeholder, invalid_date, year, fixed, day_placeholder],
        iso,
    )
    out["noise_tanggal_lahir"] = np.where(
        (dob_flag == "dob_day_month_swap") & ~swappable, "", dob_flag
    )

    wrong_sex = rng.random(n) < rates.get("sex_wrong", 0.0)
    out["jenis_kelamin"] = np.where(female ^ wrong_sex, "P", "L")
    out["noise_jenis_kelamin"] = np.where(wrong_sex, "sex_wrong", "")
    # Every kind the record carries, comma-separated (the truth's per-record errors).
    kinds = pd.DataFrame(
        {
            "nik": out["noise_nik"].to_numpy(),
            "nama": out["noise_nama"].to_numpy(),
            "more": pd.Series(name_kinds).str.lstrip(",").to_numpy(),
            "dob": out["noise_tanggal_lahir"].to_numpy(),
            "sex": out["noise_jenis_kelamin"].to_numpy(),
        }
    )
    out["errors"] = _joined(kinds)
    return out


def _joined(kinds: pd.DataFrame) -> np.ndarray:
    """Columns of kind names ("" for none) -> one comma-separated list per row."""
    cols = [
        pd.Series(kinds[c].to_numpy(dtype=object)).fillna("").astype(str) for c in kinds.columns
    ]
    text = cols[0]
    for col in cols[1:]:
        text = text + "," + col
    return text.str.replace(r",{2,}", ",", regex=True).str.strip(",").to_numpy(dtype=object)


def _change_names(
    nama: np.ndarray, kind: str, rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``rate`` of the records whose name allows ``kind`` get it; the rows changed are returned."""
    allowed, change = _NAME_CHANGE[kind]
    draw = rng.random(len(nama)) < rate
    out = nama.copy()
    hit = np.zeros(len(nama), bool)
    for i in np.flatnonzero(draw):
        if isinstance(out[i], str) and allowed(out[i]):
            changed = change(out[i], rng)
            hit[i] = changed != out[i]
            out[i] = changed
    return out, hit


def record_errors(recs: pd.DataFrame, kk: bool = True, village: bool = True) -> np.ndarray:
    """A record's errors as written: the identity errors typed when it was made, plus what it says
    about the person's place now (a record that kept the old kabupaten or village after a move; a
    family card that is not the person's now, as for a child still on a parent's card after
    marriage) and a second record of the same person. ``recs``: register records merged with the
    person view (``_true`` columns); ``kk``, ``village``: whether the source writes the record's own
    KK, its village (not only the kabupaten)."""
    region, now = recs["kode_desa"].astype(str), recs["kode_desa_true"].astype(str)
    known = recs["kode_desa_true"].notna()
    kinds = pd.DataFrame(
        {
            "errors": recs["errors"].fillna("").to_numpy(),
            "dup": np.where(recs["duplicate"].fillna(False).astype(bool), "duplicate_record", ""),
            "region": np.select(
                [
                    known & (region.str.slice(0, 5) != now.str.slice(0, 5)),
                    known & village & (region != now),
                ],
                ["old_kabupaten", "old_village"],
                "",
            ),
            "kk": np.where(
                kk & recs["no_kk_true"].notna() & (recs["no_kk"] != recs["no_kk_true"]),
                "parent_card",
                "",
            ),
        }
    )
    return _joined(kinds)


def _new_records(
    reg: Register, who: pd.DataFrame, month: str, rng: np.random.Generator
) -> pd.DataFrame:
    """Records for persons ``who`` (rows of the person view), with duplicates and noise."""
    rates = reg.spec.get("noise", {})
    dup = who[rng.random(len(who)) < rates.get("duplicate_record", 0.0)]
    batch = pd.concat([who.assign(duplicate=False), dup.assign(duplicate=True)], ignore_index=True)
    n = len(batch)
    recorded = apply_noise(batch, rates, rng)
    recs = pd.DataFrame(
        {
            # Opaque ids: shuffled within the batch, so record order says nothing about the person.
            "rec_no": reg.next_rec + rng.permutation(n),
            "person_id": batch["person_id"].to_numpy(),
            "active": True,
            "enrolled_month": month,
            "duplicate": batch["duplicate"].to_numpy(),
            "kode_desa": batch["kode_desa"].to_numpy(),
            "no_kk": batch["no_kk"].to_numpy(),
            "alamat": batch["alamat"].to_numpy(),
        }
    )
    reg.next_rec += n
    if rates.get("parent_card", 0.0) > 0:
        _parent_card(recs, batch, rates["parent_card"], rng)
    if rates.get("old_kabupaten", 0.0) > 0:
        _old_kabupaten(recs, batch, reg.spec["unit"], rates["old_kabupaten"], rng)
    return pd.concat([recs, recorded.reset_index(drop=True)], axis=1)


def _parent_card(
    recs: pd.DataFrame, batch: pd.DataFrame, rate: float, rng: np.random.Generator
) -> None:
    """Young heads and spouses (18-35) still listed on a parent's family card: ``rate`` of them
    carry the KK and address of another family of their village on the same list (the world does
    not keep who their parents are; a family of their village stands in for them)."""
    young = batch["hub"].isin([1, 2]).to_numpy() & batch["age"].between(18, 35).to_numpy()
    pick = np.flatnonzero(young & (rng.random(len(batch)) < rate))
    if not len(pick):
        return
    # Families of the list by village; each pick draws one of the other families of its village.
    fams = (
        batch.drop_duplicates("family_id")[["family_id", "kode_desa", "no_kk", "alamat"]]
        .sort_values(["kode_desa", "family_id"])
        .reset_index(drop=True)
    )
    within = fams.groupby("kode_desa").cumcount().to_numpy()
    size = fams.groupby("kode_desa")["family_id"].transform("size").to_numpy()
    own = (
        pd.Series(fams.index, index=fams["family_id"])
        .loc[batch["family_id"].to_numpy()[pick]]
        .to_numpy()
    )
    has_other = size[own] > 1
    pick, own = pick[has_other], own[has_other]
    other = rng.integers(0, size[own] - 1)
    other = other + (other >= within[own])  # skip the person's own family
    parent = own - within[own] + other
    recs.loc[pick, "no_kk"] = fams["no_kk"].to_numpy()[parent]
    recs.loc[pick, "alamat"] = fams["alamat"].to_numpy()[parent]


def _old_kabupaten(
    recs: pd.DataFrame, batch: pd.DataFrame, unit: str, rate: float, rng: np.random.Generator
) -> None:
    """Families (or persons, for a person register) that moved before the agency's last visit:
    ``rate`` of them keep an address in another kabupaten of the world."""
    key = batch["family_id" if unit == "family" else "person_id"].to_numpy()
    first = pd.Series(batch["kode_desa"].to_numpy(dtype=str)).groupby(key).first()
    moved = first[rng.random(len(first)) < rate]
    villages = np.unique(first.to_numpy(dtype=str))
    kab = pd.Series(villages).str.slice(0, 5).to_numpy()
    old = {}
    for (
        u,
        here,
    ) in moved.items():  # a few per cent of the units: one pick each, no pass over all rows
        elsewhere = villages[kab != here[:5]]
        if len(elsewhere):
            old[u] = elsewhere[int(rng.integers(0, len(elsewhere)))]
    rows = np.isin(key, list(old))
    street = dict(zip(old, names.street_addresses(rng, len(old))))
    recs.loc[rows, "kode_desa"] = pd.Series(key[rows]).map(old).to_numpy()
    recs.loc[rows, "alamat"] = pd.Series(key[rows]).map(street).to_numpy()


def _reverify(
    recs: pd.DataFrame, view: pd.DataFrame, rates: dict, share: float, rng: np.random.Generator
) -> None:
    """The agency re-verifies a share of its living persons' records: identity typed again (with
    the source's usual noise), address, village and KK brought up to date. The record id stays."""
    person = view.set_index("person_id", drop=False)
    alive = recs["person_id"].map(person["alive"]).fillna(False).astype(bool).to_numpy()
    pick = recs["active"].to_numpy() & alive & (rng.random(len(recs)) < share)
    if not pick.any():
        return
    who = person.loc[recs.loc[pick, "person_id"].to_numpy()].reset_index(drop=True)
    redone = apply_noise(who, rates, rng)
    for column in redone.columns:
        recs.loc[pick, column] = redone[column].to_numpy()
    for column in ("kode_desa", "alamat", "no_kk"):
        recs.loc[pick, column] = who[column].to_numpy()


def update(
    reg: Register,
    view: pd.DataFrame,
    month: str,
    first: bool,
    rng: np.random.Generator,
    reverified: float = 0.0,
) -> None:
    """Enrol, drop, bury and re-address for one month, by the register's declared rates."""
    spec = reg.spec
    unit = "family_id" if spec["unit"] == "family" else "person_id"
    p = pd.Series(coverage_probability(view, spec["coverage"]), index=view.index)
    p_unit = p.groupby(view[unit].to_numpy()).max()

    recs = reg.records
    has_active = pd.Series(False, index=view.index)
    if len(recs):
        active_people = recs.loc[recs["active"], "person_id"].unique()
        has_active = view["person_id"].isin(active_people)
    listed_before = pd.Series(has_active.groupby(view[unit].to_numpy()).any()).reindex(
        p_unit.index, fill_value=False
    )

    draw = pd.Series(rng.random(len(p_unit)), index=p_unit.index)
    if first:
        listed = draw < p_unit
        leaving = pd.Series(False, index=p_unit.index)
    else:
        leaving = listed_before & (draw < spec["exit"] * (1 - p_unit))
        joining = ~listed_before & (draw < spec["enrol"] * p_unit)
        listed = (listed_before & ~leaving) | joining
    newly = listed & ~listed_before

    if len(recs):
        person = view.set_index("person_id", drop=False)
        rec_unit = recs["person_id"].map(person[unit])
        recs.loc[recs["active"] & rec_unit.isin(leaving[leaving].index), "active"] = False
        dead = ~recs["person_id"].map(person["alive"]).fillna(False).astype(bool).to_numpy()
        buried = recs["active"].to_numpy() & dead & (rng.random(len(recs)) < spec["dead_removal"])
        recs.loc[buried, "active"] = False
        # Movers: the record learns the new address only when the agency refreshes it.
        current = recs["person_id"].map(person["kode_desa"])
        stale = recs["active"] & current.notna() & (recs["kode_desa"] != current)
        refresh = stale & (rng.random(len(recs)) < spec["address_refresh"])
        recs.loc[refresh, "kode_desa"] = current[refresh]
        recs.loc[refresh, "alamat"] = recs.loc[refresh, "person_id"].map(person["alamat"])
        if reverified > 0:
            _reverify(recs, view, spec.get("noise", {}), reverified, rng)

    alive_unrecorded = view["alive"] & ~has_active
    in_new_unit = view[unit].isin(newly[newly].index)
    # Members who join an already-listed family (births, marriages) appear when the list is updated.
    joins_listed = view[unit].isin(listed[listed & ~newly].index) & (
        rng.random(len(view)) < spec["address_refresh"]
    )
    if spec["unit"] == "person":
        joins_listed = pd.Series(False, index=view.index)
    who = view[alive_unrecorded & (in_new_unit | joins_listed)]
    if len(who):
        reg.records = pd.concat([recs, _new_records(reg, who, month, rng)], ignore_index=True)
