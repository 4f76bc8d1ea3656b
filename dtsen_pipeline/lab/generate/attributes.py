"""Socio-economic attributes driven by a latent welfare level, covering the PMT variable families.

Each categorical attribute is an ordered scale: a noisy copy of welfare is cut into categories, so
better-off families tend to have better floors, water, lighting and assets, and a proxy means test
can recover their decile without being handed it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Ordered from poorest to best-off; cut points on a standard-normal scale.
ORDINAL = {
    "jenis_lantai": (["tanah", "bambu", "kayu_papan", "semen", "keramik"], [-1.3, -0.9, -0.3, 0.5]),
    "jenis_dinding": (
        ["bambu_rumbia", "kayu", "tembok_tanpa_plester", "tembok"],
        [-1.1, -0.4, 0.2],
    ),
    "jenis_atap": (["ijuk_rumbia", "seng", "asbes", "genteng", "beton"], [-1.5, -0.2, 0.3, 1.4]),
    "sumber_air_minum": (
        ["sungai_hujan", "sumur_tak_terlindung", "sumur_terlindung", "ledeng", "air_kemasan"],
        [-1.4, -0.6, 0.3, 1.0],
    ),
    "fasilitas_bab": (
        ["tidak_ada", "bersama", "sendiri_tanpa_septik", "sendiri_septik"],
        [-1.3, -0.6, 0.1],
    ),
    "sumber_penerangan": (
        ["bukan_listrik", "listrik_450va", "listrik_900va", "listrik_1300va_plus"],
        [-1.8, -0.5, 0.6],
    ),
    "bahan_bakar_masak": (
        ["kayu_arang", "minyak_tanah", "lpg_3kg", "lpg_besar_listrik"],
        [-0.8, -0.5, 1.0],
    ),
}
ASSETS = {
    "punya_kulkas": -0.2,
    "punya_motor": -0.9,
    "punya_mobil": 1.6,
    "punya_tv": -1.0,
    "punya_hp": -1.5,
    "punya_emas": 0.8,
    "punya_lahan": 0.3,
}
EDUCATION = ["tidak_sekolah", "sd", "smp", "sma", "diploma_s1_plus"]


def ordinal(latent: np.ndarray, labels: list[str], cuts: list[float]) -> np.ndarray:
    return np.array(labels, dtype=object)[np.searchsorted(cuts, latent)]


def family_attributes(
    welfare: np.ndarray, size: np.ndarray, rural: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    n = len(welfare)
    cols = {
        name: ordinal(welfare + rng.normal(0, 0.6, n), labels, cuts)
        for name, (labels, cuts) in ORDINAL.items()
    }
    cols["status_rumah"] = np.where(
        rng.random(n) < 0.8, "milik_sendiri", np.where(rng.random(n) < 0.5, "sewa", "bebas_sewa")
    )
    cols["luas_lantai_m2"] = np.round(
        np.exp(2.3 + 0.35 * welfare + rng.normal(0, 0.25, n)) * np.sqrt(size), 0
    )
    for asset, threshold in ASSETS.items():
        cols[asset] = welfare + rng.normal(0, 0.8, n) > threshold
    cols["ternak_sapi"] = np.where(rural, rng.poisson(np.clip(0.3 + 0.3 * welfare, 0.05, None)), 0)
    cols["ternak_kambing"] = np.where(
        rural, rng.poisson(np.clip(0.8 + 0.2 * welfare, 0.1, None)), 0
    )
    cols["ternak_unggas"] = np.where(rural, rng.poisson(4.0, n), rng.poisson(0.5, n))
    return pd.DataFrame(cols)


def person_attributes(
    age: np.ndarray, welfare: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    n = len(age)
    edu = ordinal(
        welfare + rng.normal(0, 0.9, n) - np.where(age > 55, 0.6, 0.0),
        EDUCATION,
        [-1.6, -0.6, 0.1, 1.1],
    )
    # Children have the schooling their age allows.
    edu = np.where(age < 7, "belum_sekolah", edu)
    edu = np.where((age >= 7) & (age < 13) & (edu != "tidak_sekolah"), "sd", edu)
    edu = np.where((age >= 13) & (age < 16) & np.isin(edu, ["sma", "diploma_s1_plus"]), "smp", edu)
    working_age = (age >= 15) & (age < 65)
    job = ordinal(
        welfare + rng.normal(0, 1.0, n), ["tidak_bekerja", "informal", "formal"], [-1.0, 0.4]
    )
    job = np.where(working_age, job, np.where(age < 15, "anak", "lansia"))
    job = np.where(working_age & (age < 22) & (rng.random(n) < 0.5), "sekolah", job)
    sector = np.where(
        job == "informal",
        rng.choice(
            ["petani", "nelayan", "buruh_harian", "pedagang_kecil", "ojek", "pekerja_rumah_tangga"],
            n,
        ),
        "",
    )
    return pd.DataFrame(
        {
            "pendidikan": edu,
            "pekerjaan": job,
            "sektor_informal": sector,
            "disabilitas": rng.random(n) < 0.02 + 0.002 * np.clip(age - 50, 0, None),
            "penyakit_kronis": rng.random(n) < 0.03 + 0.004 * np.clip(age - 40, 0, None),
        }
    )
