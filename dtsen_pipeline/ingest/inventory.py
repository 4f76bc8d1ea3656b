"""Every entry of a landing month accounted for, and no file read before its delivery is over.

**Which files a source reads**: the entries directly in ``landing/<source>/<YYYY-MM>/`` whose name
matches its ``file_glob``, the extension in any case (``.CSV`` is ``.csv``; the rest of the name
as written), and that are not a transfer in progress (below).

**The inventory** (``landing_inventory``) lists every entry under ``landing/*/<YYYY-MM>/``, in
subfolders too, with what became of it: ``read`` by a source, ``in transfer`` (not read yet), or
``not read``, with the reason: no source matches its name, its folder is no registered source
(no config/sources/<folder>.yaml), or it lies in a subfolder (only the month folder's own files
are read); or ``declared not read``: the source's YAML names it under ``not_read`` with a reason
(DTKS's household file beside its member file), listed but not warned of. A file read can
still be refused by the loader (a link, a duplicate): the raw asset says so.

**Settling** (what file-transfer tools call a read lock): a file is read only once the sender is
done with it. A name that marks a transfer in progress (``.part``, ``.partial``, ``.tmp``,
``.temp``, ``.crdownload``, ``.download``, ``.filepart``, ``.!ut``; rsync's ``.name.XXXXXX``;
an office lock ``~$name`` or ``.~lock.name#``) whose final name is the source's, and a file
modified less than ``DTSEN_LANDING_SETTLE_SECONDS`` ago (default 5), make the source's month wait,
re-checking, up to ``DTSEN_LANDING_MAX_WAIT_SECONDS`` (default 120); then the month is refused
(``NotSettled``: the file, its age or its marker, and the remedy), nothing of it loaded.
The loader also refuses a file whose size or modification time changed while it was read.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import NamedTuple

from dtsen_pipeline.ingest.sources import SourceSpec
from dtsen_pipeline.lib import paths
from dtsen_pipeline.lib.landing_names import final_name, matches_glob
from dtsen_pipeline.lib.printable import printable

MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
SETTLE_ENV = "DTSEN_LANDING_SETTLE_SECONDS"
MAX_WAIT_ENV = "DTSEN_LANDING_MAX_WAIT_SECONDS"
DEFAULT_SETTLE_SECONDS = 5.0
DEFAULT_MAX_WAIT_SECONDS = 120.0


# A file the source's YAML declares it does not read (``not_read``): listed, not warned of.
DECLARED = "declared not read"


class NotSettled(Exception):
    """A file of the month is still being written or transferred; the message names it."""


class Entry(NamedTuple):
    path: str  # under the landing folder: <folder>/<month>/<name>, as stored (shown with printable)
    kind: str  # file | folder | link | other
    status: str  # read | in transfer | not read
    source: str  # the source that reads it (or would, once transferred), else ""
    reason: str  # why it is not read; "" when read


def _seconds(var: str, default: float) -> float:
    value = os.environ.get(var, "").strip()
    try:
        seconds = float(value) if value else default
    except ValueError:
        raise ValueError(f"{var}={value!r}: expected a number of seconds") from None
    if seconds < 0:
        raise ValueError(f"{var}={value!r}: expected 0 or more seconds")
    return seconds


def settle_seconds() -> float:
    return _seconds(SETTLE_ENV, DEFAULT_SETTLE_SECONDS)


def max_wait_seconds() -> float:
    return _seconds(MAX_WAIT_ENV, DEFAULT_MAX_WAIT_SECONDS)


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir(), key=lambda p: p.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def in_transfer(spec: SourceSpec, month: str) -> list[Path]:
    """Entries of the source's month folder that mark a transfer of one of its files."""
    return [
        p
        for p in _entries(paths.landing_dir() / spec.name / month)
        if (final := final_name(p.name)) is not None and matches_glob(spec.file_glob, final)
    ]


def _pending(spec: SourceSpec, month: str, seconds: float) -> list[str]:
    """Why the source's month cannot be read yet, one line per file; [] when it can."""
    now, problems = time.time(), []
    for p in in_transfer(spec, month):
        problems.append(
            f"{printable(p)}: a transfer in progress (its name marks a partial or locked file); "
            f"{spec.name} {month} is read once it has its final name "
            f"({printable(final_name(p.name) or '')}), or remove it if the transfer was abandoned"
        )
    for p in spec.landing_files(month) if seconds > 0 else []:
        try:
            age = now - p.lstat().st_mtime
        except FileNotFoundError:
            continue  # renamed meanwhile: the next look sees its new name
        if age < seconds:
            when = f"{age:.1f} s ago" if age >= 0 else f"{-age:.0f} s in the future (a clock?)"
            problems.append(
                f"{printable(p)}: modified {when}, less than the {seconds:g} s a delivered file "
                f"must be left alone ({SETTLE_ENV}); it may still be being written"
            )
    return problems


def settled_files(
    spec: SourceSpec,
    month: str,
    log=None,
    seconds: float | None = None,
    max_wait: float | None = None,
) -> list[Path]:
    """The source's files, once none is in transfer or recently modified: waits, re-checking,
    up to ``max_wait`` seconds; NotSettled if the month is still not settled by then."""
    seconds = settle_seconds() if seconds is None else seconds
    max_wait = max_wait_seconds() if max_wait is None else max_wait
    deadline = time.monotonic() + max_wait
    while True:
        problems = _pending(spec, month, seconds)
        if not problems:
            return spec.landing_files(month)
        left = deadline - time.monotonic()
        if left <= 0:
            raise NotSettled(
                f"{spec.name} {month}: not read, after waiting {max_wait:g} s "
                f"({MAX_WAIT_ENV}): " + "; ".join(problems) + "; run the month again when the "
                "delivery is complete"
            )
        if log is not None:
            log(f"{spec.name} {month}: waiting for the delivery to settle: {problems[0]}")
        time.sleep(min(max(seconds / 4, 0.2), left, 5.0))


def inventory(month: str, specs: list[SourceSpec]) -> list[Entry]:
    """Every entry under landing/*/<month>/ (subfolders walked, links not followed)."""
    by_name = {s.name: s for s in specs}
    out: list[Entry] = []
    for folder in _entries(paths.landing_dir()):
        month_dir = folder / month
        if folder.is_symlink() and month_dir.is_dir():
            why = "the folder is a symbolic link: not followed, nothing in it is read"
            out.append(Entry(f"{folder.name}/{month}", "link", "not read", "", why))
            continue
        if not month_dir.is_dir():
            continue
        spec = by_name.get(folder.name)
        for top in _entries(month_dir):
            out += _classify(top, spec, folder.name, month)
    return out


def _kind(p: Path) -> str:
    if p.is_symlink():
        return "link"
    return "folder" if p.is_dir() else "file" if p.is_file() else "other"


def _classify(top: Path, spec: SourceSpec | None, folder: str, month: str) -> list[Entry]:
    """The month folder's entry ``top`` and, for a subfolder, everything under it."""
    rel = f"{folder}/{month}/{top.name}"
    kind = _kind(top)
    if spec is None:
        why = f"landing/{printable(folder)}/ is no registered source (no config/sources/{printable(folder)}.yaml)"
        entry = Entry(rel, kind, "not read", "", why)
    elif kind == "folder" and not matches_glob(spec.file_glob, top.name):
        entry = Entry(
            rel,
            kind,
            "not read",
            "",
            f"a subfolder: {spec.name} reads only the files directly in its month folder",
        )
    elif (final := final_name(top.name)) is not None:
        source = spec.name if matches_glob(spec.file_glob, final) else ""
        why = "a transfer in progress (a partial or lock file name)" + (
            f"; {spec.name} waits for it" if source else ""
        )
        entry = Entry(rel, kind, "in transfer", source, why)
    elif matches_glob(spec.file_glob, top.name):
        entry = Entry(rel, kind, "read", spec.name, "")
    elif declared := [why for glob, why in spec.not_read.items() if matches_glob(glob, top.name)]:
        entry = Entry(rel, kind, DECLARED, "", f"{spec.name} declares it not read: {declared[0]}")
    else:
        entry = Entry(
            rel,
            kind,
            "not read",
            "",
            f"no source matches its name ({spec.name} reads {spec.file_glob})",
        )
    out = [entry]
    if kind == "folder":
        for dirpath, dirnames, filenames in os.walk(top):  # links are not followed
            dirnames.sort()
            base = Path(dirpath)
            for name in sorted(filenames) + [d for d in dirnames if (base / d).is_symlink()]:
                p = base / name
                out.append(
                    Entry(
                        f"{folder}/{month}/{p.relative_to(top.parent).as_posix()}",
                        _kind(p),
                        "not read",
                        "",
                        f"in a subfolder ({printable(top.name)}/): only the files directly in "
                        f"landing/{printable(folder)}/{month}/ are read",
                    )
                )
    return out


def not_read(entries: list[Entry]) -> list[Entry]:
    """The entries someone should hear of: neither read nor declared by their source."""
    return [e for e in entries if e.status not in ("read", DECLARED)]


def describe(entry: Entry) -> str:
    """One line for a person: the entry's path, shown safely, and what became of it."""
    shown = "/".join(printable(part) for part in entry.path.split("/"))
    return f"landing/{shown}: {entry.status}" + (f" ({entry.reason})" if entry.reason else "")


_INVENTORY_DDL = """
create schema if not exists raw;
create table if not exists raw.landing_inventory (
    extract_month varchar, entry varchar, kind varchar, status varchar, source varchar,
    reason varchar, inventoried_at timestamp with time zone)"""


def record_inventory(con, month: str, entries: list[Entry]) -> None:
    """Replace the month's rows of ``raw.landing_inventory`` (entries as delivered, not escaped:
    a table, not a terminal) in one transaction."""
    con.execute(_INVENTORY_DDL)
    con.execute("begin")
    try:
        con.execute("delete from raw.landing_inventory where extract_month = ?", [month])
        if entries:
            con.executemany(
                "insert into raw.landing_inventory values (?, ?, ?, ?, ?, ?, now())",
                [[month, *e] for e in entries],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
