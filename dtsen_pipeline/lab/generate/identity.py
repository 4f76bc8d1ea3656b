"""NIK and No. KK by the real rule.

NIK: ``PP KK CC DDMMYY SSSS``: kecamatan of first registration, birth date with 40 added to the day
for women, a serial from 0001 unique within the first 12 digits. No. KK: issuing kecamatan, issue
date DDMMYY, serial.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def date_part(dates: pd.Series, female: np.ndarray) -> pd.Series:
    d = pd.to_datetime(dates)
    day = d.dt.day.to_numpy() + np.where(female, 40, 0)
    return (
        pd.Series(day, index=d.index).astype(str).str.zfill(2)
        + d.dt.month.astype(str).str.zfill(2)
        + (d.dt.year % 100).astype(str).str.zfill(2)
    )


def kecamatan_prefix(kode_desa: pd.Series) -> pd.Series:
    """``32.76.01.1001`` -> ``327601``."""
    return kode_desa.str.slice(0, 8).str.replace(".", "", regex=False)


def with_serial(prefix: pd.Series, taken: pd.Series | None = None) -> pd.Series:
    """Append serials after the highest already taken for each 12-digit prefix."""
    prefix = pd.Series(prefix.to_numpy(), dtype=object)
    serial = prefix.groupby(prefix).cumcount() + 1
    if taken is not None and len(taken):
        highest = (
            taken.str.slice(12, 16).astype(int).groupby(taken.str.slice(0, 12).to_numpy()).max()
        )
        serial = serial + prefix.map(highest).fillna(0).astype(int)
    return prefix + serial.astype(str).str.zfill(4)


def make_nik(
    kode_desa: pd.Series, birth: pd.Series, female: np.ndarray, existing: pd.Series | None = None
) -> pd.Series:
    return with_serial(
        kecamatan_prefix(kode_desa).reset_index(drop=True)
        + date_part(birth.reset_index(drop=True), female),
        existing,
    )


def make_no_kk(
    kode_desa: pd.Series, issued: pd.Series, existing: pd.Series | None = None
) -> pd.Series:
    return with_serial(
        kecamatan_prefix(kode_desa).reset_index(drop=True)
        + date_part(issued.reset_index(drop=True), np.zeros(len(issued), bool)),
        existing,
    )
