"""Noise as the audits report it, applied vectorised to a source's identity columns.

Each function takes the rows it may damage and a boolean mask of which to damage; rates come from
``noise_profile.yaml``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_TITLES_BEFORE = np.array(["H.", "Hj.", "Drs.", "Ir.", "dr."])
_TITLES_AFTER = np.array([", S.Pd", ", S.E.", ", S.H.", ", drg.", ", S.Kom"])
_OLD_SPELLING = [("u", "oe"), ("j", "dj"), ("c", "tj"), ("y", "j")]


def nik_invalid(nik: pd.Series, mask: np.ndarray, rng: np.random.Generator) -> pd.Series:
    """Structurally broken NIK: cut short, or a day part no calendar has (32-40, 72+)."""
    out = nik.copy()
    idx = np.flatnonzero(mask)
    short = rng.random(len(idx)) < 0.5
    bad_day = rng.choice(["00", "35", "38", "75", "99"], len(idx))
    broken = np.where(short, nik.iloc[idx].str.slice(0, 15).to_numpy(),
                      (nik.iloc[idx].str.slice(0, 6) + bad_day + nik.iloc[idx].str.slice(8)).to_numpy())
    out.iloc[idx] = broken
    return out


def nik_typo(nik: pd.Series, mask: np.ndarray, rng: np.random.Generator) -> pd.Series:
    """One digit replaced, or two adjacent digits swapped: still 16 digits, but someone else's."""
    out = nik.copy()
    for i in np.flatnonzero(mask):
        digits = list(out.iat[i])
        pos = int(rng.integers(0, 15))
        if rng.random() < 0.5:
            digits[pos], digits[pos + 1] = digits[pos + 1], digits[pos]
        else:
            digits[pos] = str((int(digits[pos]) + int(rng.integers(1, 10))) % 10)
        out.iat[i] = "".join(digits)
    return out


def name_variant(nama: pd.Series, mask: np.ndarray, rng: np.random.Generator) -> pd.Series:
    """The same person written another way: M./Moh., a title, a dropped name, old spelling, case."""
    out = nama.copy()
    for i in np.flatnonzero(mask):
        name = out.iat[i]
        kind = int(rng.integers(0, 6))
        if kind == 0 and name.startswith("Muhammad "):
            name = rng.choice(["M. ", "Moh ", "Muh. ", "Mohamad "]) + name[len("Muhammad "):]
        elif kind == 1:
            name = f"{rng.choice(_TITLES_BEFORE)} {name}"
        elif kind == 2:
            name = name + rng.choice(_TITLES_AFTER)
        elif kind == 3 and " " in name:
            name = name.rsplit(" ", 1)[0]
        elif kind == 4:
            new, old = _OLD_SPELLING[int(rng.integers(0, len(_OLD_SPELLING)))]
            name = name.replace(new, old, 1)
        else:
            name = name.upper()
        out.iat[i] = name
    return out


def day_month_swap(dates: pd.Series, mask: np.ndarray) -> pd.Series:
    """Day and month exchanged where the result is still a date (day <= 12)."""
    d = pd.to_datetime(dates)
    swappable = mask & (d.dt.day <= 12).to_numpy()
    swapped = pd.to_datetime(dict(year=d.dt.year, month=d.dt.day, day=d.dt.month), errors="coerce")
    return d.where(~swappable, swapped).dt.date
