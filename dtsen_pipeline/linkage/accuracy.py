"""Linkage accuracy without ground truth: a clerical sample of pairs, labelled by people, gives
estimated precision and recall with 95% intervals (``dtsen review sample`` / ``dtsen review estimate``).

A real month has no truth, so the figures ``dtsen evaluate`` gives on generated data must come from
labels. The design, and why:

**What is measured.** The same thing as ``dtsen evaluate``: pairwise, over the published persons. A
pair of records is *linked* when both carry one dtsen_id (whether Splink scored the pair or the two
were joined through other records), and *a match* when a clerk says they are one person.
precision = matched linked pairs / linked pairs; recall = matched linked pairs / matching pairs.

**The population sampled** (U) is every pair that could be linked or missed and that we can list:
(1) every candidate pair of the month's blocking rules, scored with the month's saved model
(``models/<version>_<month>.json``) by Splink's ``predict`` with no threshold, so pairs the model
scored below the predict threshold (0.5), which are where missed links hide, are in it; and (2)
every linked pair, including pairs inside a person never compared directly (joined through other
records: their own stratum, "never compared"); of the registers' records only, as ``dtsen evaluate``
(the correction sources' proposals, objections and visits attach to a person by one pair, apart).
The number of linked pairs is known exactly from the clusters, so precision has no blind spot.
Recall's does: **two records of one person that share no blocking rule and were not linked are in
no list**, so no sample can find them; the estimate is of recall over U. On generated worlds the
truth check (``evaluate.truth_check``) counts them: 0 of 8,303 true pairs at 2,000 persons (default
profile), 16 of 8,200 (hard); 12 of 78,597 at 20,000 persons (hard); ``make bench`` reports them
at its sizes.

**Strata** cross the linkage decision (linked or not, known for every pair of U) with bands of
Splink's match weight (below -20, -20 to -10, -10 to -5, -5 to 0, 0 to 5, 5 to 10, 10 to 20, 20 or
more bits). Linked strata carry the false links, unlinked strata the missed ones, so precision
reads only the first and recall's missed part only the second; the weight bands separate the few
uncertain pairs (near 0 bits, the review band) from the great mass of certain ones.

**Allocation** of the n pairs: a quarter evenly across strata (a band smaller than its share is
taken whole: a census, exact), so every band is checked, the uncertain ones near 0 bits (where the
errors are) closely; three quarters in proportion to each stratum's size, because a large band
whose error rate is too small to show in its sample can still hide many pairs (about 2.5 x size /
sample of them at 95%), and only more labels there narrow that. (Half evenly gave wider intervals
on the same worlds: at 100,000 persons, 2,000 labels and no error in the large bands, a lower limit
near 0.988 for precision and 0.983 for recall, against 0.989 and 0.987.) Within a stratum pairs
are drawn by a seeded hash of their keys (the same sample for the same seed).

**Estimator.** Horvitz-Thompson per stratum: each labelled pair stands for population/sample pairs
of its stratum (its inclusion weight); matched linked pairs TP and matched unlinked pairs FN are
summed over strata; precision = TP / linked pairs (known), recall = TP / (TP + FN).

**Interval** (95%): each stratum's match rate has a Jeffreys posterior, Beta(matches + 1/2,
non-matches + 1/2), the prior whose intervals keep their coverage for rates near 0 and 1 (Brown,
Cai and DasGupta 2001), which is where every stratum here sits: a band with no error in its sample
still allows a few, so precision and recall of 1.0 never come with an interval of zero width (a
bootstrap would give one). The pairs not sampled (population - sample) take that rate; labelled
pairs count as they are (a stratum taken whole is exact). 20,000 draws with a fixed seed give
precision, recall and F1 per draw; the interval runs from the 2.5th to the 97.5th percentile. A
stratum whose sample is all of one kind (every pair a match, or none) keeps that rate for the limit
it favours, as the Jeffreys interval of one proportion does (lower limit 0 when nothing was seen):
without it the small positive error rates of the many error-free strata add up, and the upper
limit would fall below the estimate itself.

**What 2,000 labels say** (20,000 persons, one month, ``evaluate.truth_check``): hard profile,
precision 0.9955 [0.9876, 0.9957] (true 0.9951), recall 0.9991 [0.9860, 0.9996] (true 0.9994);
default profile, precision 0.9998 [0.9929, 0.9998] (true 0.9998), recall 1.0 [0.9893, 1.0] (true
1.0). The lower limits are set by the large bands with no error in their sample (the relatives on
one family card, scored far below 0 bits): labels alone cannot rule out about 2.5 x size / sample
errors there; more labels in those bands are the only way to raise them.

**Files.** The sample for clerks, ``<review>/accuracy_<month>.csv``, holds both records' NIK,
names, birth dates and family card so a person can judge the pair: it lives in the review folder
(owner-only, like ``decisions.csv``) and is written owner-read/write (0600). The design beside it,
``accuracy_<month>.design.json``, keeps the strata's sizes and the sampled pairs, so the estimate
does not depend on cells a clerk may edit. A clerk fills the ``label`` column: 1 or match, 0 or
non-match. Logs, Dagster metadata and the release manifest get counts and estimates only; every
problem in a labelled file is named by file, row and reason, never by a cell's contents.

**Where it shows.** When ``accuracy_<month>.csv`` is labelled, the person_linkage asset shows the
estimates in its metadata and the month's release manifest carries them (``linkage_accuracy``). If
the linkage changed after the sample was drawn (other linked pairs), the estimate is refused as out
of date: draw a new sample.

Tests and the bench label the sample from the generator's truth and set the estimate beside the
true figures with ``dtsen_pipeline.lab.evaluate.label_from_truth`` and ``truth_check``: truth stays in
evaluate.py, which the pipeline never calls.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from splink import DuckDBAPI, Linker

from dtsen_pipeline.ingest.sources import correction_sources
from dtsen_pipeline.lib import paths, spreadsheets, warehouse
from dtsen_pipeline.linkage import model, review_files

SEED = 7
DRAWS = 20_000
# Bands of Splink's match weight (bits), lower bounds; see the module docstring.
WEIGHT_EDGES = (-20, -10, -5, 0, 5, 10, 20)
# Share of the sample spread evenly over the strata; the rest goes in proportion to their sizes.
EVEN_SHARE = 0.25
NEVER_COMPARED = "never compared (joined through other records)"
# Identity the clerk needs to judge a pair, per record (from intermediate.int_identitas).
CLERK_COLUMNS = (
    "source",
    "nik",
    "no_kk",
    "nama_normal",
    "nama_ayah",
    "tanggal_lahir_raw",
    "jenis_kelamin",
    "tempat_lahir",
    "hubungan_kk",
    "kode_desa",
    "kode_kab",
)
KEY_COLUMNS = ("record_key_l", "record_key_r")
LABELS = {"1": 1, "match": 1, "0": 0, "non-match": 0}


# The registers' records only: the correction sources' (proposals, objections, visits) attach to a
# person by one pair and are never the population of person linkage, as in ``dtsen evaluate``.
REGISTERS_ONLY = "source not in (select unnest(?::varchar[]))"


def f1(precision, recall):
    """F1: the harmonic mean of precision and recall (numbers or numpy arrays alike). The caller
    says what a zero or missing figure gives (no estimate here, 0.0 in ``dtsen evaluate``)."""
    return 2 * precision * recall / (precision + recall)


class SampleOutOfDateError(ValueError):
    """The month's linkage changed after its sample was drawn: the strata no longer describe it."""


def sample_path(month: str) -> Path:
    """The clerks' file for ``month``: drawn by ``dtsen review sample``, labelled in place."""
    return paths.review_dir() / f"accuracy_{month}.csv"


def design_path(month: str) -> Path:
    return paths.review_dir() / f"accuracy_{month}.design.json"


def _band(lower: float | None) -> str:
    if lower is None:
        return f"below {WEIGHT_EDGES[0]}"
    i = WEIGHT_EDGES.index(lower)
    return f"{lower} or more" if i == len(WEIGHT_EDGES) - 1 else f"{lower} to {WEIGHT_EDGES[i + 1]}"


def _stratum_sql() -> str:
    """The stratum of a pair of ``population``: linked or not, crossed with its weight band."""
    cases = f"when match_weight < {WEIGHT_EDGES[0]} then 'weight {_band(None)}' " + " ".join(
        f"when match_weight < {hi} then 'weight {_band(lo)}'"
        for lo, hi in zip(WEIGHT_EDGES, WEIGHT_EDGES[1:])
    )
    last = f"'weight {_band(WEIGHT_EDGES[-1])}'"
    return (
        "(case when linked then 'linked, ' else 'not linked, ' end) || "
        f"(case when match_weight is null then '{NEVER_COMPARED}' {cases} else {last} end)"
    )


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only (the file holds identity)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file made with another mode is tightened too
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def _model_file(month: str) -> Path:
    path = paths.models_dir() / f"{model.MODEL_VERSION}_{month}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"no linkage model for {month} at {path}: run `dtsen run --month {month}` first"
        )
    return path


def population(month: str):
    """A scratch DuckDB holding ``population`` (a, b, match_weight, linked, stratum): every
    candidate pair of the month's blocking rules scored with its saved model, and every linked pair
    (module docstring). The caller closes the connection."""
    model_file = _model_file(month)
    with warehouse.connect(read_only=True) as con:
        identities = con.sql(
            f"select {', '.join(model.INPUT_COLUMNS)} from intermediate.int_identitas "
            f"where extract_month = ? and {REGISTERS_ONLY}",
            params=[month, list(correction_sources())],
        ).to_arrow_table()
        clusters = con.sql(
            "select record_key, dtsen_id from linkage.person_clusters "
            f"where extract_month = ? and {REGISTERS_ONLY}",
            params=[month, list(correction_sources())],
        ).to_arrow_table()
    if clusters.num_rows == 0:
        raise LookupError(f"no linkage results for {month}: run `dtsen run --month {month}` first")
    settings = json.loads(model_file.read_text(encoding="utf-8"))
    # Keys, weight and probability only: at a million persons the candidate pairs are tens of millions.
    settings.update(
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=[],
    )
    con = warehouse.scratch()
    try:
        db_api = DuckDBAPI(connection=con)
        sdf = db_api.register(identities, dataset_display_name="identitas")
        scored = Linker(sdf, settings, log_level=logging.ERROR).inference.predict()
        con.register("clusters_in", clusters)
        key = model.UNIQUE_ID
        con.execute(f"""
            create temp table population as
            with candidates as (
                -- Splink scores each pair once (the rules after the first skip pairs an earlier one found).
                select least({key}_l, {key}_r) as a, greatest({key}_l, {key}_r) as b, match_weight
                from {scored.physical_name} where {key}_l <> {key}_r),
            linked as (
                select x.record_key as a, y.record_key as b from clusters_in x
                join clusters_in y on x.dtsen_id = y.dtsen_id and x.record_key < y.record_key),
            u as (
                select coalesce(c.a, l.a) as a, coalesce(c.b, l.b) as b, c.match_weight, l.a is not null as linked
                from candidates c full join linked l on c.a = l.a and c.b = l.b)
            select *, {_stratum_sql()} as stratum from u""")
        return con
    except BaseException:
        con.close()
        raise


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Sample sizes per stratum: ``EVEN_SHARE`` of ``n`` evenly (a stratum smaller than its share is
    taken whole), the rest in proportion to size; never more than a stratum holds. The same sizes
    give the same allocation (strata taken in order of share, then name)."""
    alloc = {s: 0 for s in sizes}
    n = min(n, sum(sizes.values()))

    def spread(budget: int, share) -> int:
        # Hand out ``budget`` by ``share`` among strata with room, again until it is spent or all are full.
        while budget > 0:
            open_ = [s for s in sizes if alloc[s] < sizes[s]]
            if not open_:
                break
            weights = {s: share(s) for s in open_}
            total = sum(weights.values())
            given = 0
            for s in sorted(open_, key=lambda s: (-weights[s], s)):
                take = min(
                    sizes[s] - alloc[s], max(1, round(budget * weights[s] / total)), budget - given
                )
                alloc[s] += take
                given += take
                if given >= budget:
                    break
            budget -= given
            if given == 0:
                break
        return budget

    even = round(n * EVEN_SHARE)
    left = spread(even, lambda s: 1)
    spread(n - even + left, lambda s: sizes[s] - alloc[s])
    return alloc


@dataclass
class Sample:
    """What ``draw_sample`` wrote (counts and paths only)."""

    path: Path
    design: Path
    pairs: int
    strata: dict[str, dict[str, int]]  # stratum -> population, sampled
    linked_pairs: int
    candidate_pairs: int


def _safe_cell(value) -> str:
    return spreadsheets.safe_cell("" if value is None else str(value))


@contextlib.contextmanager
def scored_population(month: str, scored=None):
    """``population(month)`` for one use, closed after it; or ``scored``, a population the caller
    made and closes (the bench scores the month once for its sample and its truth check)."""
    if scored is not None:
        yield scored
        return
    con = population(month)
    try:
        yield con
    finally:
        con.close()


def draw_sample(
    month: str,
    n: int,
    *,
    out: Path | None = None,
    seed: int = SEED,
    replace: bool = False,
    scored=None,
) -> Sample:
    """Draw ``n`` pairs of ``month`` (module docstring) into a CSV for clerical labelling, with
    both records' identity, and the design beside the month's default sample file. ``scored``:
    see ``scored_population``."""
    if n < 1:
        raise ValueError(f"the sample size must be at least 1, not {n}")
    out = out or sample_path(month)
    design_file = design_path(month)
    for path in (out, design_file):
        if path.exists() and not replace:
            raise FileExistsError(
                f"{path} exists (a sample of {month}, perhaps labelled already); move it away or "
                "draw again with --replace"
            )
    paths.make_private(paths.review_dir())
    with scored_population(month, scored) as con:
        sizes = dict(
            con.execute("select stratum, count(*) from population group by 1 order by 1").fetchall()
        )
        alloc = allocate(sizes, n)
        con.register("alloc_in", pa.table({"stratum": list(alloc), "n": list(alloc.values())}))
        # Each stratum's first n pairs in the seeded md5 order: a top-n per stratum (min_by keeps a
        # heap of the largest allocation), not a sort of every candidate pair, which at 3M persons
        # (tens of millions of pairs) took longer than the month's linkage.
        con.execute(
            f"""
            create temp table sample as
            select pick.a, pick.b, stratum, pick.match_weight from (
                select stratum, list_slice(
                    min_by({{'a': p.a, 'b': p.b, 'match_weight': p.match_weight}},
                           md5(? || '|' || p.a || '|' || p.b), {max(alloc.values(), default=1)}),
                    1, any_value(alloc_in.n)) as picks
                from population p join alloc_in using (stratum) group by stratum) s,
            unnest(s.picks) as t(pick)""",
            [str(seed)],
        )
        linked_pairs, candidates = con.execute(
            "select count(*) filter (where linked), count(*) filter (where match_weight is not null) "
            "from population"
        ).fetchone()
        pairs = con.execute(
            "select a, b, stratum, match_weight from sample order by md5(? || a || b)", [str(seed)]
        ).fetchall()
    keys = sorted({k for a, b, _, _ in pairs for k in (a, b)})
    with warehouse.connect(read_only=True) as con:
        con.register("keys_in", pa.table({"record_key": keys}))
        records = {
            row[0]: row[1:]
            for row in con.execute(
                f"select record_key, {', '.join(CLERK_COLUMNS)} from intermediate.int_identitas "
                "where extract_month = ? and record_key in (select record_key from keys_in)",
                [month],
            ).fetchall()
        }
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        [*KEY_COLUMNS, "stratum", "match_weight", "label"]
        + [f"{c}_{side}" for side in ("l", "r") for c in CLERK_COLUMNS]
    )
    for a, b, stratum, weight in pairs:
        writer.writerow(
            [a, b, stratum, "" if weight is None else round(weight, 2), ""]
            + [
                _safe_cell(v)
                for key in (a, b)
                for v in records.get(key, ("",) * len(CLERK_COLUMNS))
            ]
        )
    write_private(out, buf.getvalue())
    strata = {s: {"population": sizes[s], "sampled": alloc[s]} for s in sorted(sizes)}
    design = {
        "month": month,
        "drawn_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "model": _model_file(month).name,
        "linked_pairs": int(linked_pairs),
        "candidate_pairs": int(candidates),
        "strata": strata,
        "pairs": [[a, b, stratum] for a, b, stratum, _ in pairs],
    }
    write_private(design_file, json.dumps(design, indent=1))
    return Sample(out, design_file, len(pairs), strata, int(linked_pairs), int(candidates))


def read_design(month: str) -> dict:
    path = design_path(month)
    if not path.exists():
        raise FileNotFoundError(
            f"no sample drawn for {month} ({path}): run `dtsen review sample --month {month} --n 2000`"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def read_labels(path: Path, design: dict) -> dict[tuple[str, str], int] | None:
    """The labels of ``path`` by pair (lower key, higher key): 1 a match, 0 not; None when no row
    is labelled yet. Every row is checked against the design (a pair of the sample, once, with a
    label 1, 0, match or non-match) and all problems are reported at once by file, row and reason,
    never by a cell's contents (the file holds NIKs and names)."""
    if not path.exists():
        raise FileNotFoundError(f"no labelled sample at {path}")
    problems = review_files.Problems(path, "no estimate was made")
    needed = (*KEY_COLUMNS, "label")
    header, at, parsed = review_files.read_rows(path, needed, problems)
    sampled = {(min(a, b), max(a, b)) for a, b, _ in design["pairs"]}
    labels: dict[tuple[str, str], int] = {}
    first_row: dict[tuple[str, str], int] = {}
    empty: list[int] = []
    for line, row in parsed:
        if len(row) != len(header):
            problems.add(f"{len(header)} fields expected, as in the header", line)
            continue
        a, b, label = (row[at[c]].strip() for c in needed)
        pair = (min(a, b), max(a, b))
        if pair not in sampled:
            problems.add(f"the pair is not one of the sample drawn for {design['month']}", line)
            continue
        if pair in first_row:
            problems.add(f"repeats the pair of row {first_row[pair]}", line)
            continue
        first_row[pair] = line
        if not label:
            empty.append(line)
        elif label.lower() not in LABELS:
            problems.add("label must be 1 or match, 0 or non-match", line)
        else:
            labels[pair] = LABELS[label.lower()]
    if not labels and not problems:
        return None  # drawn, not labelled yet
    for row in empty:
        problems.add("label is empty", row)
    absent = len(sampled - set(first_row))
    if absent:
        problems.add(
            f"{absent} pair{'s' if absent > 1 else ''} of the sample have no row (keep every row)"
        )
    if problems:
        raise problems.error()
    return labels


def _limits(rate: np.ndarray, y: int, n: int, linked: bool) -> tuple[np.ndarray, np.ndarray]:
    """A stratum's match-rate draws for the lower and the upper limit of precision, recall and F1
    (all three rise with the match rate of a linked stratum and fall with that of an unlinked one).
    A stratum at a bound (no match, or all matches, in its sample) stays at that bound for the limit
    it favours, as the Jeffreys interval of one proportion puts its lower limit at 0 for no success
    and its upper limit at 1 for all (Brown, Cai and DasGupta 2001): otherwise the posteriors of
    many strata with no error, each above 0, would add up to an upper limit below what was seen."""
    low, high = rate, rate
    if linked:
        high = np.ones_like(rate) if y == n else rate
        low = np.zeros_like(rate) if y == 0 else rate
    else:
        high = np.zeros_like(rate) if y == 0 else rate
        low = np.ones_like(rate) if y == n else rate
    return low, high


def _interval(low: np.ndarray, high: np.ndarray, point: float | None) -> list[float] | None:
    """The 2.5th percentile of the lower-limit draws and the 97.5th of the upper-limit draws; held
    to include the point estimate (a safeguard: the limits above put it inside)."""
    if point is None:
        return None
    lo, hi = np.nanpercentile(low, 2.5), np.nanpercentile(high, 97.5)
    return [round(float(min(lo, point)), 5), round(float(max(hi, point)), 5)]


def _linked_now(month: str, con, design: dict, labels: dict, stratum_of: dict) -> int:
    """The month's linked pairs (registers only) in the warehouse now. Raises SampleOutOfDateError
    when the linkage changed after the sample was drawn: another count of linked pairs, or a
    sampled pair now on the other side (linked or not) of its stratum."""
    # A cursor of its own: the caller's connection may hold a result it has not fetched to the end.
    con = con.cursor()
    con.register("sampled_in", pa.table({"a": [a for a, _ in labels], "b": [b for _, b in labels]}))
    try:
        linked_now = con.execute(
            f"""
            with c as (select dtsen_id, count(*) as n from linkage.person_clusters
                       where extract_month = ? and {REGISTERS_ONLY} group by 1)
            select sum(n * (n - 1) / 2) from c""",
            [month, list(correction_sources())],
        ).fetchone()[0]
        linked_sampled = {
            (a, b)
            for a, b in con.execute(
                """
                select s.a, s.b from sampled_in s
                join linkage.person_clusters x on x.record_key = s.a and x.extract_month = ?
                join linkage.person_clusters y on y.record_key = s.b and y.extract_month = ?
                where x.dtsen_id = y.dtsen_id""",
                [month, month],
            ).fetchall()
        }
    finally:
        con.close()
    linked_now = int(linked_now or 0)
    moved = sum(
        (pair in linked_sampled) != stratum_of[pair].startswith("linked") for pair in labels
    )
    if linked_now != design["linked_pairs"] or moved:
        raise SampleOutOfDateError(
            f"the linkage of {month} changed after its sample was drawn ({design['linked_pairs']:,} linked "
            f"pairs then, {linked_now:,} now; {moved} sampled pairs changed side): draw a new sample "
            f"(`dtsen review sample --month {month} --n 2000 --replace`)"
        )
    return linked_now


def _labelled_strata(design: dict, labels: dict, stratum_of: dict) -> list[dict]:
    """Each stratum of the design: its population, the pairs labelled in it and their matches."""
    strata = []
    for name, spec in design["strata"].items():
        found = [labels[p] for p, s in stratum_of.items() if s == name]
        strata.append(
            {
                "stratum": name,
                "linked": name.startswith("linked"),
                "population": spec["population"],
                "labelled": len(found),
                "matches": sum(found),
            }
        )
    return strata


@dataclass(frozen=True)
class _Figures:
    """Point estimates (None: nothing to divide by), their 95% intervals, and the estimated matched
    linked pairs (tp) and missed pairs (fn)."""

    points: dict[str, float | None]  # precision, recall, f1
    intervals: dict[str, list[float] | None]
    tp: float
    fn: float


def _figures(strata: list[dict], linked_now: int) -> _Figures:
    """Horvitz-Thompson point estimates over the strata, and intervals from the draws of each
    stratum's Jeffreys posterior (see the module docstring)."""
    rng = np.random.default_rng(SEED)
    # Draws of matched linked pairs (tp) and matched unlinked pairs (fn), for the lower limit
    # ("low": every figure at its worst) and the upper ("high"); see ``_limits``.
    draws = {k: np.zeros(DRAWS) for k in ("tp_low", "fn_low", "tp_high", "fn_high")}
    tp = fn = 0.0
    for s in strata:
        n, y, size = s["labelled"], s["matches"], s["population"]
        if n == 0:
            continue  # an empty stratum (none sampled) has no pair to stand for
        low, high = _limits(rng.beta(y + 0.5, n - y + 0.5, DRAWS), y, n, s["linked"])
        point = size * y / n
        side = "tp" if s["linked"] else "fn"
        draws[f"{side}_low"] += y + low * (size - n)
        draws[f"{side}_high"] += y + high * (size - n)
        if s["linked"]:
            tp += point
        else:
            fn += point
    precision = tp / linked_now if linked_now else None
    recall = tp / (tp + fn) if tp + fn else None
    f1_point = f1(precision, recall) if precision and recall else None
    figures = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for limit in ("low", "high"):
            tp_d, fn_d = draws[f"tp_{limit}"], draws[f"fn_{limit}"]
            p_d = tp_d / linked_now if linked_now else np.full(DRAWS, np.nan)
            r_d = tp_d / (tp_d + fn_d)
            figures[limit] = {"precision": p_d, "recall": r_d, "f1": f1(p_d, r_d)}
    points = {"precision": precision, "recall": recall, "f1": f1_point}
    intervals = {
        figure: _interval(figures["low"][figure], figures["high"][figure], point)
        for figure, point in points.items()
    }
    return _Figures(points, intervals, tp, fn)


def estimate(month: str, con, labels_path: Path | None = None) -> dict | None:
    """Estimated precision, recall and F1 of ``month``'s linkage with 95% intervals, from its
    labelled sample (``labels_path``, default ``accuracy_<month>.csv``) and the linkage in the
    warehouse ``con``; None when the sample is drawn but not labelled. Counts and figures only."""
    design = read_design(month)
    labels_path = labels_path or sample_path(month)
    labels = read_labels(labels_path, design)
    if labels is None:
        return None
    stratum_of = {(min(a, b), max(a, b)): s for a, b, s in design["pairs"]}
    linked_now = _linked_now(month, con, design, labels, stratum_of)
    strata = _labelled_strata(design, labels, stratum_of)
    result = _figures(strata, linked_now)
    point = {k: None if v is None else round(v, 5) for k, v in result.points.items()}
    return {
        "month": month,
        "labelled_pairs": len(labels),
        "matches_labelled": sum(labels.values()),
        "linked_pairs": linked_now,
        "candidate_pairs": design["candidate_pairs"],
        "precision": point["precision"],
        "precision_95": result.intervals["precision"],
        "recall": point["recall"],
        "recall_95": result.intervals["recall"],
        "f1": point["f1"],
        "f1_95": result.intervals["f1"],
        "estimated_matched_linked_pairs": round(result.tp),
        "estimated_missed_pairs": round(result.fn),
        "strata": strata,
        "method": "stratified Horvitz-Thompson; 95% intervals from Jeffreys posteriors per stratum "
        "(dtsen_pipeline/linkage/accuracy.py)",
        "cannot_see": "matching pairs that share no blocking rule and were not linked",
        "sample_drawn_at": design["drawn_at"],
    }


def summary(month: str, con) -> dict:
    """The month's labels-based accuracy for the UI and the manifest: ``status`` and, when labelled,
    the estimates (counts and figures only, never a record key, NIK or name)."""
    if not design_path(month).exists():
        return {"status": f"no sample drawn (dtsen review sample --month {month} --n 2000)"}
    try:
        result = estimate(month, con)
    except (ValueError, FileNotFoundError) as exc:
        return {"status": f"not estimated: {exc}"}
    except KeyError:  # a design file edited by hand: its counts cannot be trusted
        return {
            "status": f"not estimated: {design_path(month)} is not a design drawn by dtsen review sample"
        }
    if result is None:
        return {"status": f"sample drawn, not labelled yet ({sample_path(month)})"}
    return {"status": "estimated from labels", **result}
