"""How a delivered file's name is read: a name pattern whose extension matches in any case, and
the names file-transfer tools give a file while it is still being written."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

_TRANSFER_SUFFIXES = (
    ".part",
    ".partial",
    ".tmp",
    ".temp",
    ".crdownload",
    ".download",
    ".filepart",
    ".!ut",
)


def matches_glob(pattern: str, name: str) -> bool:
    """``name`` matches ``pattern`` (fnmatch), its extension compared in any case (``x.CSV``
    matches ``*.csv``); the rest of the name is compared as written."""
    stem, dot, ext = pattern.rpartition(".")
    if dot and ext and not any(c in ext for c in "*?["):
        n_stem, n_dot, n_ext = name.rpartition(".")
        return bool(n_dot) and n_ext.lower() == ext.lower() and fnmatchcase(n_stem, stem)
    return fnmatchcase(name, pattern)


def final_name(name: str) -> str | None:
    """The name a transfer in progress will have (``x.csv.part`` -> ``x.csv``); None if ``name``
    marks no transfer: a partial-download suffix (any case), rsync's ``.<name>.XXXXXX``, an office
    lock file (``~$<name>``, ``.~lock.<name>#``)."""
    lower = name.lower()
    for suffix in _TRANSFER_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    if name.startswith("~$") and len(name) > 2:
        return name[2:]
    if name.startswith(".~lock.") and name.endswith("#"):
        return name[len(".~lock.") : -1]
    rsync = re.fullmatch(r"\.(.+)\.[A-Za-z0-9]{6}", name)
    return rsync.group(1) if rsync else None
