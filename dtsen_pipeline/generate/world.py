"""Month by month: advance the world, update every register, write every extract and the truth."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from dtsen_pipeline.generate import dynamics, registers
from dtsen_pipeline.generate.extracts import WRITERS, MonthContext
from dtsen_pipeline.generate.population import build_world, person_view

PROFILE_PATH = Path(__file__).with_name("profile.yaml")
TRUTH_COLUMNS = ["source", "source_record_id", "person_id", "family_id", "household_id", "desil"]


@cache
def profile() -> dict:
    return yaml.safe_load(PROFILE_PATH.read_text(encoding="utf-8"))


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
    persons = ctx.view[["person_id", "family_id", "household_id", "hub", "nik", "female", "tanggal_lahir",
                        "alive", "tanggal_meninggal", "kode_desa", "desil", "pekerjaan"]].copy()
    for name, key in (("born_this_month", "born"), ("died_this_month", "died"), ("laid_off_this_month", "laid_off"),
                      ("married_this_month", "married")):
        persons[name] = persons["person_id"].isin(ev.get(key, []))
    persons["moved_this_month"] = persons["family_id"].isin(ev.get("moved_families", []))
    persons.to_parquet(truth_dir / "persons.parquet", index=False)
    fam_cols = ["family_id", "household_id", "no_kk", "kode_desa", "welfare", "desil"]
    ctx.world.families[fam_cols].to_parquet(truth_dir / "families.parquet", index=False)
    noise_cols = ["rec_no", "person_id", "active", "duplicate", "noise_nik", "noise_nama", "noise_tanggal_lahir",
                  "noise_jenis_kelamin"]
    pd.concat([reg.records[noise_cols].assign(source=name) for name, reg in ctx.registers.items()],
              ignore_index=True).to_parquet(truth_dir / "register_noise.parquet", index=False)
    return truth_dir / "records.parquet"


def generate_world(persons: int, start: str, months: int, seed: int, landing: Path, truth: Path,
                   log: Callable[[str], None] = lambda _: None, reverified: float | None = None) -> list[MonthWritten]:
    """``reverified`` overrides the profile's dynamics.reverified (share of records re-verified a month)."""
    prof = profile()
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
        ctx = MonthContext(month, landing, world, view, regs, prof, rng, i == 0, state)
        for writer in WRITERS.values():
            writer(ctx)
        truth_path = _write_truth(ctx, truth / month)
        counts = pd.concat(ctx.truth)["source"].value_counts().to_dict()
        written.append(MonthWritten(month, ctx.files, truth_path, {s: int(counts.get(s, 0)) for s in WRITERS}))
        log(f"{month}: {int(view['alive'].sum()):,} living persons, {sum(counts.values()):,} records "
            f"in {len(WRITERS)} sources ({time.perf_counter() - started:.1f}s)")
    return written
