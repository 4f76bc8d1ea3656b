"""The proxy means test (PMT): its variables, and the calibration of its weights.

A PMT predicts a family's welfare from what an enumerator can see (floor, walls, roof, water,
sanitation, lighting, cooking fuel, assets, livestock, floor area, family size). Its weights are
estimated by regressing welfare on those proxies, as BPS does with Susenas consumption. Here the
regression runs on a synthetic world, whose latent welfare is known:

    python -m dtsen_pipeline.lab.pmt --persons 200000

writes ``dbt_project/seeds/pmt_weights.csv`` (variable, category, weight); the dbt model
``int_keluarga_pmt`` applies it. A category's weight is added when the family has that category
(the first category of each variable is the baseline, weight 0); a variable with category ``*`` is
numeric and its weight multiplies the value (``luas_lantai_log`` = ln floor area, ``anggota_log`` =
ln family members, livestock counts). ``(intercept)`` is the constant.
"""

from __future__ import annotations

import argparse
import csv

import numpy as np
import pandas as pd

from dtsen_pipeline.lib import paths

CATEGORICAL = [
    "jenis_lantai",
    "jenis_dinding",
    "jenis_atap",
    "sumber_air_minum",
    "fasilitas_bab",
    "sumber_penerangan",
    "bahan_bakar_masak",
    "status_rumah",
]
BOOLEAN = [
    "punya_kulkas",
    "punya_motor",
    "punya_mobil",
    "punya_tv",
    "punya_hp",
    "punya_emas",
    "punya_lahan",
]
NUMERIC = ["luas_lantai_log", "anggota_log", "ternak_sapi", "ternak_kambing", "ternak_unggas"]
WEIGHTS_FILE = paths.DBT_PROJECT_DIR / "seeds" / "pmt_weights.csv"


def design(families: pd.DataFrame, members: np.ndarray) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """The regression's columns, named as (variable, category) rows of the weights file."""
    cols, names = [np.ones(len(families))], [("(intercept)", "")]
    for var in CATEGORICAL:
        cats = sorted(families[var].astype(str).unique())
        for cat in cats[1:]:
            cols.append((families[var].astype(str) == cat).to_numpy(float))
            names.append((var, cat))
    for var in BOOLEAN:
        cols.append(families[var].astype(bool).to_numpy(float))
        names.append((var, "true"))
    numeric = {
        "luas_lantai_log": np.log(np.maximum(families["luas_lantai_m2"].to_numpy(float), 1)),
        "anggota_log": np.log(np.maximum(members, 1)),
    }
    for var in NUMERIC:
        cols.append(numeric[var] if var in numeric else families[var].to_numpy(float))
        names.append((var, "*"))
    return np.column_stack(cols), names


def calibrate(persons: int, seed: int = 2024) -> list[tuple[str, str, float]]:
    from dtsen_pipeline.lab.generate.population import build_world
    from dtsen_pipeline.lab.generate.world import profile

    world = build_world(persons, seed, "2025-01", profile())
    fam = world.families
    members = (
        world.persons.groupby("family_id").size().reindex(fam["family_id"]).fillna(1).to_numpy()
    )
    x, names = design(fam, members)
    coef, *_ = np.linalg.lstsq(x, fam["welfare"].to_numpy(float), rcond=None)
    return [(v, c, round(float(w), 4)) for (v, c), w in zip(names, coef)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dtsen_pipeline.lab.pmt", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--persons", type=int, default=200_000)
    args = parser.parse_args(argv)
    rows = calibrate(args.persons)
    WEIGHTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    with WEIGHTS_FILE.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["variable", "category", "weight"])
        writer.writerows(rows)
    print(f"{len(rows)} weights written to {WEIGHTS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
