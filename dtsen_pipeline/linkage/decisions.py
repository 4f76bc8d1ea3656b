"""Reviewers' decisions on pairs (``review/decisions.csv``): read and checked, then applied.

A reviewer accepts or rejects a pair the clerical review table showed (linkage.review_pairs). The
file is checked row by row against the month's records before any scoring (``read_decisions``);
``link_month`` then normalises the decisions (``normalise_decisions``), settles accepts that
contradict a reject through other accepts (``resolve_decisions``: the reject wins, reported by
row), removes rejected pairs and adds accepted ones (``decision_edges``, with last month's carried
links), keeps every rejected pair in two persons after clustering
(``clustering.keep_rejected_apart``) and refuses a person that accepted pairs grew beyond
person.max_records_per_person (``check_accepted_sizes``).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from dtsen_pipeline.lib.warehouse import table_exists
from dtsen_pipeline.linkage import model, review_files
from dtsen_pipeline.linkage.clustering import Groups
from dtsen_pipeline.linkage.workspace import Workspace


class DecisionsTooLargeError(ValueError):
    """Reviewers' accepted pairs would make a person of more records than the declared maximum."""


class Decision(NamedTuple):
    """One reviewer's row of decisions.csv, as checked; ``line``: its row in the file."""

    record_key_l: str
    record_key_r: str
    decision: str  # accept | reject
    line: int


DECISION_COLUMNS = Decision._fields[:3]  # the file's columns; ``line`` is where a row stands
_KEY_SHAPE = re.compile(r"[a-z0-9_]+:\S+")  # source:source_record_id


def _known(keys: set[str], known_keys) -> set[str]:
    """Those of ``keys`` that are in ``known_keys`` (an Arrow array, e.g. the month's record_key
    column, tested in one vectorised pass; or any collection); all well-formed ones if None."""
    if known_keys is None:
        return {k for k in keys if _KEY_SHAPE.fullmatch(k)}
    if isinstance(known_keys, (pa.Array, pa.ChunkedArray)):
        candidates = pa.array(sorted(keys), pa.string())
        value_set = (
            known_keys.combine_chunks() if isinstance(known_keys, pa.ChunkedArray) else known_keys
        )
        return set(
            candidates.filter(
                pc.is_in(candidates, value_set=value_set.cast(pa.string()))
            ).to_pylist()
        )
    return {k for k in keys if k in known_keys}


def read_decisions(
    path: Path,
    known_keys: pa.Array | pa.ChunkedArray | Collection[str] | None = None,
    other_months: Callable[[set[str]], set[str]] | None = None,
) -> pa.Table | None:
    """Reviewers' decisions, if any, one row per pair: record_key_l, record_key_r, decision
    (accept|reject, lower case) and its row in the file (``line``). Every row is checked (keys of this month's
    records, ``known_keys``; no self-pair, repeated or contradictory pair, formula or empty cell) and
    all problems are reported at once, by row and column, never by a cell's contents: a reviewer
    fixes the file in one pass, and a NIK pasted in the wrong cell never reaches a log.

    The file is one for every month. A row naming a record that is not of this month but of
    another linked month (``other_months``: given keys, those that are; ``records_of_other_months``)
    is kept for that month: not applied now, not an error. Its rows are in the table's metadata
    (``rows_of_other_months``)."""
    if not path.exists():
        return None
    problems = review_files.Problems(path, "no decision was applied")
    header, at, parsed = review_files.read_rows(path, DECISION_COLUMNS, problems)
    named = {
        row[at[c]].strip()
        for _, row in parsed
        if len(row) == len(header)
        for c in ("record_key_l", "record_key_r")
    }
    known = _known(named, known_keys)
    unknown = {k for k in named - known if _KEY_SHAPE.fullmatch(k)}
    elsewhere = other_months(unknown) if other_months is not None and unknown else set()
    of_what = "this month" + (" or of another linked month" if other_months is not None else "")
    aside: list[int] = []  # rows naming a record of another month only: kept for that month
    rows: list[Decision] = []
    seen: dict[tuple[str, str], Decision] = {}  # (lower key, higher key) -> its first row
    for line, row in parsed:
        if len(row) != len(header):
            problems.add(f"{len(header)} fields expected, as in the header", line)
            continue
        formulas = {
            column
            for column, cell in zip(header, row)
            if cell.lstrip(" ").startswith(review_files.FORMULA_START)
        }
        for column in formulas:  # reported once: the cell's other problems follow from it
            problems.add(
                f"column {column or '(unnamed)'} starts with a formula character (=, +, -, @, tab or CR)",
                line,
            )
        ok = not formulas
        left, right, decision = (row[at[c]].strip() for c in DECISION_COLUMNS)
        other_month = False
        for column, key in (("record_key_l", left), ("record_key_r", right)):
            if column in formulas:
                continue
            if not key:
                problems.add(f"{column} is empty", line)
                ok = False
            elif key in elsewhere:
                other_month = True
            elif key not in known:
                problems.add(
                    f"{column} is not the record key (source:source_record_id) of a record of {of_what}",
                    line,
                )
                ok = False
        decision = decision.lower()
        if "decision" not in formulas and decision not in ("accept", "reject"):
            problems.add("decision must be accept or reject", line)
            ok = False
        if not ok:
            continue
        if left == right:
            problems.add("record_key_l and record_key_r are the same record", line)
            continue
        pair = (min(left, right), max(left, right))
        if pair in seen:
            first = seen[pair]
            what = "repeats" if first.decision == decision else "contradicts (accept and reject)"
            problems.add(f"{what} the pair of row {first.line}", line)
            continue
        seen[pair] = Decision(left, right, decision, line)
        if other_month:
            aside.append(line)
        else:
            rows.append(seen[pair])
    if problems:
        raise problems.error()
    return pa.table(
        {
            "record_key_l": pa.array([r.record_key_l for r in rows], pa.string()),
            "record_key_r": pa.array([r.record_key_r for r in rows], pa.string()),
            "decision": pa.array([r.decision for r in rows], pa.string()),
            "line": pa.array([r.line for r in rows], pa.int64()),
        },
        # The file its rows are in, for messages by row; the rows kept for other months.
        metadata={FILE_METADATA: str(path), OTHER_MONTHS_METADATA: ",".join(map(str, aside))},
    )


FILE_METADATA = "file"
OTHER_MONTHS_METADATA = "rows_of_other_months"


def rows_of_other_months(decisions: pa.Table | None) -> list[int]:
    """The file's rows ``read_decisions`` kept for other months (a record they name is not of
    this month but of another linked month): not applied this month."""
    metadata = (decisions.schema.metadata or {}) if decisions is not None else {}
    rows = metadata.get(OTHER_MONTHS_METADATA.encode(), b"").decode()
    return [int(r) for r in rows.split(",") if r]


def other_months_message(source: str, rows: list[int]) -> str:
    """One line for the rows kept for other months: by file and row, never a record's values."""
    many = len(rows) > 1
    return (
        f"{source}: the decision{'s' if many else ''} on row{'s' if many else ''} "
        f"{', '.join(map(str, rows))} name{'' if many else 's'} a record of another month, not "
        "of this one (a delta source's record of an earlier month): kept in the file for "
        f"{'their' if many else 'its'} month, not applied to this one"
    )


def records_of_other_months(con, month: str, keys: set[str]) -> set[str]:
    """Those of ``keys`` that are records of a linked month other than ``month``
    (linkage.person_clusters): what ``read_decisions`` keeps for those months."""
    if not keys or not table_exists(con, "linkage", "person_clusters"):
        return set()
    con.register("decision_keys", pa.table({"k": pa.array(sorted(keys), pa.string())}))
    try:
        found = con.execute(
            "select distinct record_key from linkage.person_clusters "
            "where extract_month <> ? and record_key in (select k from decision_keys)",
            [month],
        ).fetchall()
    finally:
        con.unregister("decision_keys")
    return {key for (key,) in found}


def decisions_file(decisions: pa.Table | None) -> str:
    """The file ``decisions`` were read from (``read_decisions`` records it), for a message that
    names rows; "the decisions" for a table built in code."""
    metadata = (decisions.schema.metadata or {}) if decisions is not None else {}
    return metadata.get(FILE_METADATA.encode(), b"the decisions").decode()


def normalise_decisions(ws: Workspace, decisions: pa.Table | None) -> str:
    """Reviewers' decisions (record_key_l, record_key_r, decision, optionally ``line``) as the
    relation ``decided`` (a, b, decision, line): each pair as (lower key, higher key), the
    decision trimmed and in lower case; the name is returned."""
    if decisions is None:
        decisions = pa.table(
            {
                "record_key_l": pa.array([], pa.string()),
                "record_key_r": pa.array([], pa.string()),
                "decision": pa.array([], pa.string()),
            }
        )
    if "line" not in decisions.column_names:  # a table built in code: its rows, after a header line
        decisions = decisions.append_column(
            "line", pa.array(range(2, decisions.num_rows + 2), pa.int64())
        )
    ws.register("decisions_in", decisions)
    # Decisions name a pair in either order; normalise to (lower key, higher key).
    ws.con.execute("""
        create or replace temp table decided as
        select least(record_key_l, record_key_r) as a, greatest(record_key_l, record_key_r) as b,
               lower(trim(decision)) as decision, line
        from decisions_in""")
    return "decided"


def decision_edges(ws: Workspace, scored: str, decided: str, carried: str) -> str:
    """The relation ``edges`` (record_key_l, record_key_r, match_probability) clustering reads:
    the scored pairs but those a reviewer rejected, every accepted pair and every carried link
    (both at 1.0); its name is returned."""
    ws.con.execute(f"""
        create or replace temp table edges as
        select a as record_key_l, b as record_key_r, match_probability from {scored}
        where (a, b) not in (select a, b from {decided} where decision = 'reject')
        union all
        select a, b, 1.0 from {decided} where decision = 'accept'
        union all
        select record_key_l, record_key_r, 1.0 from {carried} where record_key_l <> record_key_r""")
    return "edges"


def check_accepted_sizes(ws: Workspace, clusters: str, decided: str, limit: int) -> None:
    """Fail when a person holding a reviewer's accepted pair has more than ``limit`` records: 300
    chained accepts made one "person" of 692 records; every such row is named, so the reviewer can
    reject or remove them."""
    key = model.UNIQUE_ID
    over = ws.con.execute(
        f"""
        with sizes as (select cluster_id, count(*) as n from {clusters} group by 1 having count(*) > ?)
        select s.n, list(distinct d.line order by d.line) as lines
        from {decided} d join {clusters} c on c.{key} = d.a join sizes s on s.cluster_id = c.cluster_id
        where d.decision = 'accept'
        group by s.cluster_id, s.n order by s.n desc""",
        [limit],
    ).fetchall()
    if over:
        persons = "; ".join(
            f"{n} records, accepted on rows {', '.join(map(str, lines))}" for n, lines in over
        )
        raise DecisionsTooLargeError(
            f"accepted pairs would make {len(over)} person{'s' if len(over) > 1 else ''} of more than "
            f"person.max_records_per_person ({limit}) records (config/linkage.yaml); no decision was applied; "
            f"reject or remove those rows and run again. {persons}"
        )


@dataclass(frozen=True)
class Resolution:
    """Reviewers' decisions as applied: ``decided``, the relation (a, b, decision, line) of every
    reject and of the accepts applied; ``overridden``, the rows of accepts not applied, each
    contradicting a reject through other accepts; ``contradictions``, one message per such row,
    naming the file and rows (never a record's values)."""

    decided: str
    overridden: list[int]
    contradictions: list[str]


def _rows_between(links: dict[str, list[tuple[str, int]]], start: str, end: str) -> list[int]:
    """The rows of the applied accepts on the path from ``start`` to ``end`` (breadth first)."""
    came: dict[str, tuple[str, int] | None] = {start: None}
    todo = deque([start])
    while todo and end not in came:
        here = todo.popleft()
        for there, line in links.get(here, []):
            if there not in came:
                came[there] = (here, line)
                todo.append(there)
    rows, at = [], end
    while came.get(at) is not None:
        at, line = came[at]
        rows.append(line)
    return rows


def resolve_decisions(ws: Workspace, decided: str, source: str = "the decisions") -> Resolution:
    """Settle accepts that contradict a reject (accept A-B, accept B-C, reject A-C: the three
    cannot all hold). The rule: a reject always holds (a cannot-link, ``clustering.Groups``);
    accepts are applied in the file's row order, and one that would put a rejected pair in one
    person, through the accepts applied before it, is not applied and is reported by row
    (``source``: the file). A reject whose records only scored links join is kept apart later
    (``clustering.keep_rejected_apart``)."""
    rows = ws.con.execute(f"select a, b, decision, line from {decided} order by line").fetchall()
    rejects = {(a, b): line for a, b, decision, line in rows if decision == "reject"}
    groups = Groups(rejects)
    links: dict[str, list[tuple[str, int]]] = {}
    overridden, contradictions = [], []
    for a, b, decision, line in rows:
        if decision != "accept":
            continue
        if groups.join(a, b):
            links.setdefault(a, []).append((b, line))
            links.setdefault(b, []).append((a, line))
            continue
        side_a, side_b = groups.members(a), groups.members(b)
        against = sorted(
            (r_line, p if p in side_a else q, q if p in side_a else p)
            for (p, q), r_line in rejects.items()
            if (p in side_a and q in side_b) or (p in side_b and q in side_a)
        )
        first, end_a, end_b = against[0]
        via = sorted(_rows_between(links, a, end_a) + _rows_between(links, b, end_b))
        overridden.append(line)
        contradictions.append(
            f"{source}: the accept on row {line} was not applied: "
            + (
                f"with the accept{'s' if len(via) > 1 else ''} on row{'s' if len(via) > 1 else ''} "
                f"{', '.join(map(str, via))} "
                if via
                else ""
            )
            + f"it would put in one person the two records rejected on row"
            f"{'s' if len(against) > 1 else ''} {', '.join(str(r) for r, _, _ in against)} "
            "(a reject wins over accepts that contradict it); check these rows"
        )
    ws.register("overridden_rows", pa.table({"line": pa.array(overridden, pa.int64())}))
    ws.con.execute(f"""
        create or replace temp table decided_applied as
        select * from {decided}
        where not (decision = 'accept' and line in (select line from overridden_rows))""")
    return Resolution("decided_applied", overridden, contradictions)
