"""Month by month: advance the world, update every register, write every extract and the truth."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import AfterValidator, model_validator

from dtsen_pipeline.lab.generate import dynamics, koreksi, registers
from dtsen_pipeline.lab.generate.extracts import WRITERS as REGISTER_WRITERS
from dtsen_pipeline.lab.generate.extracts import MonthContext
from dtsen_pipeline.lab.generate.population import build_world, person_view
from dtsen_pipeline.lib.settings import NonNegative, Settings, Share, Text, read_yaml, validate

# The nine agencies' writers first, then the correction loop's, whose draws are their own: the
# agencies' files are the same with or without them for a seed.
WRITERS = {**REGISTER_WRITERS, **koreksi.WRITERS}
EVENT_SOURCES = ("phk", *koreksi.WRITERS)  # events of the month, not registers
PROFILE_PATH = Path(__file__).with_name("profile.yaml")
# A named profile is a file of overrides beside the default (profile_<name>.yaml), merged over it.
PROFILES = {
    "default": None,
    "hard": Path(__file__).with_name("profile_hard.yaml"),
    "lookalikes": Path(__file__).with_name("profile_lookalikes.yaml"),
}
TRUTH_COLUMNS = [
    "source",
    "source_record_id",
    "person_id",
    "family_id",
    "household_id",
    "desil",
    "errors",
]


def _positive(value: int) -> int:
    if value < 1:
        raise ValueError(f"must be 1 or more, not {value!r}")
    return value


def _province(value: str) -> str:
    if not (len(value) == 2 and value.isdigit()):
        raise ValueError(f"{value!r} is not a two-digit province code")
    return value


# --- The schema of profile.yaml: every rate a share, every key known, every register written. ---


class _Noise(Settings):
    """Shares of a register's records written wrong, by kind (see registers.apply_noise)."""

    nik_missing: Share = 0.0
    nik_invalid: Share = 0.0
    nik_typo: Share = 0.0
    nik_shared: Share = 0.0
    name_variant: Share = 0.0
    name_blank: Share = 0.0
    # Of the records whose name allows it (two parts to flip, a letter old spelling changes...).
    name_old_spelling: Share = 0.0
    name_short_form: Share = 0.0
    name_order_flip: Share = 0.0
    name_typo: Share = 0.0
    dob_day_month_swap: Share = 0.0
    dob_placeholder: Share = 0.0
    dob_invalid: Share = 0.0
    dob_year_only: Share = 0.0
    dob_fixed_placeholder: Share = 0.0
    dob_day_placeholder: Share = 0.0  # 01-07 or 31-12 of the year
    sex_wrong: Share = 0.0
    duplicate_record: Share = 0.0
    old_kabupaten: Share = 0.0  # of families (persons, for a person register)
    parent_card: Share = 0.0  # of heads and spouses aged 18-35

    @model_validator(mode="after")
    def _one_error_per_record(self):
        # At most one kind of NIK (and of birth date) error per record: the kinds share one draw.
        for kinds in (registers.NIK_NOISE, registers.DOB_NOISE):
            total = sum(getattr(self, k) for k in kinds)
            if total > 1:
                raise ValueError(f"{' + '.join(kinds)} add up to {total:g}, more than 1")
        return self


class _Rule(Settings):
    when: Text  # a pandas expression over person columns, or "all"
    p: Share


def _rules(value: list[_Rule]) -> list[_Rule]:
    if not value:
        raise ValueError(
            "needs at least one rule (the first whose `when` holds gives the probability)"
        )
    return value


class _Register(Settings):
    unit: Literal["family", "person"]
    coverage: Annotated[list[_Rule], AfterValidator(_rules)]
    enrol: Share
    exit: Share
    dead_removal: Share
    address_refresh: Share
    noise: _Noise = _Noise()


class _Population(Settings):
    families_per_village: Annotated[int, AfterValidator(_positive)]
    required_provinces: list[Annotated[str, AfterValidator(_province)]]
    required_share: Share
    family_size_poisson: NonNegative
    parent_in_family: Share
    shared_dwelling: Share
    female_head: Share
    mononym: Share
    mononym_java: Share | None = None  # the mononym share in Java, where one name is the custom
    marga: Share = 0.0  # families carrying a family name where that is the custom
    twins: Share = 0.0  # families with 2+ children whose second is the first's twin (lookalikes.py)
    namesakes: Share = 0.0  # persons whose name and birth date another of their kabupaten shares
    muhammad: Share

    @model_validator(mode="after")
    def _room_for_required(self):
        if self.required_share * len(self.required_provinces) > 1:
            raise ValueError(
                f"required_share {self.required_share:g} for each of {len(self.required_provinces)} "
                "required provinces is more than all villages"
            )
        return self


class _Gompertz(Settings):
    a: float
    b: float


class _Dynamics(Settings):
    death_gompertz: _Gompertz
    fertility_annual: Share
    family_move: Share
    move_within_kabupaten: Share
    marriage_annual: Share
    new_kk_new_dwelling: Share
    layoff_formal: Share
    layoff_welfare_drop: NonNegative
    recovery_bottom: Share
    recovery_welfare_gain: NonNegative
    reverified: Share = 0.0


class _Reports(Settings):
    reported: Share
    noise: _Noise = _Noise()


class _Items(Settings):
    """Proposals or objections: how many a month, of which kinds, how many wrong, typed how."""

    per_1000_families: NonNegative
    kinds: dict[str, Share]
    wrong: Share
    birth_date_given: Share = 1.0
    noise: _Noise = _Noise()

    @model_validator(mode="after")
    def _kinds_add_up(self):
        total = sum(self.kinds.values())
        if abs(total - 1) > 1e-9:
            raise ValueError(f"kinds add up to {total:g}, not 1")
        return self


class _Visits(Settings):
    pkh_facilitators_per_kabupaten: Annotated[int, AfterValidator(_positive)]
    tksk_per_kabupaten: Annotated[int, AfterValidator(_positive)]
    visited_per_month: Share
    routine_per_facilitator: Annotated[int, AfterValidator(_positive)]
    not_found: Share
    verdict_wrong: Share
    noise: _Noise = _Noise()


class _Koreksi(Settings):
    usulan_desa: _Items
    sanggahan: _Items
    verifikasi_lapangan: _Visits

    @model_validator(mode="after")
    def _known_kinds(self):
        for name, known in (("usulan_desa", koreksi.USULAN), ("sanggahan", koreksi.SANGGAHAN)):
            unknown = sorted(set(getattr(self, name).kinds) ^ set(known))
            if unknown:
                raise ValueError(f"{name}.kinds must name exactly {sorted(known)}")
        return self


class _Profile(Settings):
    population: _Population
    dynamics: _Dynamics
    sources: dict[str, _Register]
    phk: _Reports
    koreksi: _Koreksi


def _merged(base, over):
    """``over`` laid on ``base``: mappings merge key by key, anything else is replaced. Copies
    throughout, so a YAML anchor shared by two registers is not changed for both."""
    if isinstance(base, dict) and isinstance(over, dict):
        return {**copy.deepcopy(base), **{k: _merged(base.get(k), v) for k, v in over.items()}}
    return copy.deepcopy(over)


def load_profile(path: Path = PROFILE_PATH, overrides: Path | None = None) -> dict:
    """``path`` (with ``overrides`` merged over it) checked against the schema; returned as the
    mapping the generator reads. Problems name the overrides file when there is one."""
    doc = read_yaml(path)
    if overrides is not None:
        over = read_yaml(overrides)
        if not isinstance(over, dict):
            validate(_Profile, over, overrides)  # says what is wrong with it
        doc, path = _merged(doc, over), overrides
    # Every register the extract writers read must be declared, and nothing else (PHK reports are events).
    registered = [s for s in WRITERS if s not in EVENT_SOURCES]
    listed = (
        doc.get("sources") if isinstance(doc, dict) and isinstance(doc.get("sources"), dict) else {}
    )
    problems = [
        (f"sources.{s}", "no extract writer for this source (generate/extracts.py WRITERS)")
        for s in listed
        if s not in registered
    ]
    problems += [
        ("sources", f"register {s!r} is missing") for s in registered if listed and s not in listed
    ]
    validate(_Profile, doc, path, problems=problems)
    return doc


@cache
def profile(name: str = "default") -> dict:
    if name not in PROFILES:
        raise ValueError(f"no generator profile {name!r} (profiles: {', '.join(PROFILES)})")
    return load_profile(PROFILE_PATH, PROFILES[name])


@dataclass(frozen=True)
class MonthWritten:
    month: str
    files: dict[str, list[Path]]
    truth: Path
    records: dict[str, int]


def month_range(start: str, months: int) -> list[str]:
    return [p.strftime("%Y-%m") for p in pd.period_range(start=start, periods=months, freq="M")]


def _write_truth(ctx: MonthContext, truth_dir: Path) -> Path:
    truth_dir.mkdir(parents=True, exist_ok=True)
    view = ctx.view.set_index("person_id")
    records = pd.concat(ctx.truth, ignore_index=True)
    for col in ("family_id", "household_id", "desil"):
        records[col] = records["person_id"].map(view[col])
    records[TRUTH_COLUMNS].to_parquet(truth_dir / "records.parquet", index=False)
    ev = ctx.world.events
    persons = ctx.view[
        [
            "person_id",
            "family_id",
            "household_id",
            "hub",
            "nik",
            "female",
            "tanggal_lahir",
            "alive",
            "tanggal_meninggal",
            "kode_desa",
            "desil",
            "pekerjaan",
            "nama",
        ]
    ].copy()
    for name, key in (
        ("born_this_month", "born"),
        ("died_this_month", "died"),
        ("laid_off_this_month", "laid_off"),
        ("married_this_month", "married"),
    ):
        persons[name] = persons["person_id"].isin(ev.get(key, []))
    persons["moved_this_month"] = persons["family_id"].isin(ev.get("moved_families", []))
    persons.to_parquet(truth_dir / "persons.parquet", index=False)
    fam_cols = ["family_id", "household_id", "no_kk", "kode_desa", "welfare", "desil"]
    ctx.world.families[fam_cols].to_parquet(truth_dir / "families.parquet", index=False)
    noise_cols = [
        "rec_no",
        "person_id",
        "active",
        "duplicate",
        "noise_nik",
        "noise_nama",
        "noise_tanggal_lahir",
        "noise_jenis_kelamin",
    ]
    now = ctx.view[["person_id", "kode_desa", "no_kk"]].rename(
        columns={"kode_desa": "kode_desa_true", "no_kk": "no_kk_true"}
    )
    # errors: every kind the record carries (the noise_* columns name one per field, as before).
    pd.concat(
        [
            reg.records[noise_cols].assign(
                source=name,
                errors=registers.record_errors(reg.records.merge(now, on="person_id", how="left")),
            )
            for name, reg in ctx.registers.items()
        ],
        ignore_index=True,
    ).to_parquet(truth_dir / "register_noise.parquet", index=False)
    return truth_dir / "records.parquet"


def generate_world(
    persons: int,
    start: str,
    months: int,
    seed: int,
    landing: Path,
    truth: Path,
    log: Callable[[str], None] = lambda _: None,
    reverified: float | None = None,
    profile_name: str = "default",
) -> list[MonthWritten]:
    """``reverified`` overrides the profile's dynamics.reverified (share of records re-verified a month)."""
    prof = profile(profile_name)
    share = prof["dynamics"].get("reverified", 0.0) if reverified is None else reverified
    world = None
    regs = {name: registers.Register(name, spec) for name, spec in prof["sources"].items()}
    state: dict = {}
    written = []
    for i, month in enumerate(month_range(start, months)):
        started = time.perf_counter()
        rng = np.random.default_rng([seed, i + 1])
        if world is None:
            world = build_world(persons, seed, month, prof)
            dynamics.first_month(world, month, prof["dynamics"], rng)
        else:
            dynamics.advance(world, month, prof["dynamics"], rng)
        today = pd.Period(month, freq="M").start_time.date()
        view = person_view(world, today)
        for reg in regs.values():
            registers.update(reg, view, month, i == 0, rng, share)
        ctx = MonthContext(
            month, landing, world, view, regs, prof, rng, i == 0, state, seed=seed, index=i
        )
        for writer in WRITERS.values():
            writer(ctx)
        truth_path = _write_truth(ctx, truth / month)
        koreksi.write_truth(ctx, truth / month)
        counts = pd.concat(ctx.truth)["source"].value_counts().to_dict()
        written.append(
            MonthWritten(month, ctx.files, truth_path, {s: int(counts.get(s, 0)) for s in WRITERS})
        )
        log(
            f"{month}: {int(view['alive'].sum()):,} living persons, {sum(counts.values()):,} records "
            f"in {len(WRITERS)} sources ({time.perf_counter() - started:.1f}s)"
        )
    return written
