"""Training the model: Splink's EM, without labels, on the month's records (or a saved model reused).

``load_or_train`` is the first phase of ``link_month`` (linkage/run.py): it reuses the latest
earlier month's model, or estimates the parameters of ``model.settings()`` on this month's records
(``train``): the prior from pairs agreeing on NIK and birth date, u by random sampling, m by three EM
sessions (``em_sessions``), each capped in pairs by sampling kabupaten. Levels no training pair
reached are filled (``model.fill_untrained``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from splink import Linker, block_on
from splink.blocking_rule_library import CustomRule

from dtsen_pipeline.lib.warehouse import quote_ident
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.workspace import Progress, Workspace, quiet

U_SAMPLE_PAIRS = 2_000_000
SEED = 7
# Each EM session blocks on columns whose pairs grow with the square of the records (a birth date
# holds ~10x more records at 1M persons than at 100k, so ~100x the pairs: 202M measured at 1M). EM needs
# enough pairs to see every level, not all of them: a session with more than EM_MAX_PAIRS pairs
# keeps only the pairs of a seeded sample of kabupaten (``em_sessions``). At 100k persons no
# session reaches the cap, so the model trains on every pair there as before.
EM_MAX_PAIRS = 3_000_000
# The three EM sessions, by the columns each blocks on (see ``train``). The NIK session is never
# sampled: its pairs grow with the records, not their square (3.6M at 1M persons), and it is the
# session that trains the region comparison, which a kabupaten sample would leave untrained.
EM_SESSIONS = (("tanggal_lahir_pasti",), ("nik",), ("nama_normal", "kode_kab"))
EM_NEVER_SAMPLED = (("nik",),)


@dataclass(frozen=True)
class EmSession:
    """One EM session's blocking: its columns, the pairs they make, and the share of kabupaten
    whose records it keeps (1.0: every record)."""

    columns: tuple[str, ...]
    pairs: int
    kabupaten_share: float

    def blocking(self, dialect: str = "duckdb"):
        """The blocking rule: ``block_on`` the columns, restricted to the sampled kabupaten when
        the share is below 1 (a kabupaten is in the sample when a seeded hash of its code falls
        below the share: the same kabupaten every run, and a record without one is left out).
        Each engine has its own hash, so a Spark run samples other kabupaten than a DuckDB run."""
        if self.kabupaten_share >= 1:
            return block_on(*self.columns)
        rule = block_on(*self.columns).get_blocking_rule(dialect).blocking_rule_sql
        cut = max(1, round(self.kabupaten_share * 10_000))
        hashed = {
            "duckdb": "hash({side}.kode_kab || '{seed}') % 10000",
            "spark": "pmod(hash(concat({side}.kode_kab, '{seed}')), 10000)",
        }[dialect]
        sampled = " and ".join(
            f"{hashed.format(side=side, seed=SEED)} < {cut}" for side in ("l", "r")
        )
        return CustomRule(f"{rule} and {sampled}", sql_dialect=dialect)

    def describe(self) -> str:
        what = " and ".join(self.columns)
        if self.kabupaten_share >= 1:
            return f"{what}: {self.pairs:,} pairs, all"
        return (
            f"{what}: {self.pairs:,} pairs, over {EM_MAX_PAIRS:,}: "
            f"{self.kabupaten_share:.1%} of kabupaten sampled"
        )


def em_sessions(ws: Workspace, max_pairs: int = EM_MAX_PAIRS) -> list[EmSession]:
    """The EM sessions' blocking for this month's records. A session whose columns make more than
    ``max_pairs`` pairs samples kabupaten (except those of ``EM_NEVER_SAMPLED``): when it blocks on
    the kabupaten, its pairs fall with the share sampled; otherwise both records of a pair must be
    sampled, so with its square."""
    sessions = []
    for columns in EM_SESSIONS:
        present = " and ".join(f"{quote_ident(c)} is not null" for c in columns)
        grouped = ", ".join(quote_ident(c) for c in columns)
        [(pairs,)] = ws.con.execute(
            f"select coalesce(sum(n * (n - 1) // 2), 0) from (select count(*) as n from "
            f"{ws.records.physical_name} where {present} group by {grouped})"
        ).fetchall()
        share = 1.0
        if pairs > max_pairs and columns not in EM_NEVER_SAMPLED:
            share = max_pairs / pairs if "kode_kab" in columns else (max_pairs / pairs) ** 0.5
        sessions.append(EmSession(columns, int(pairs), share))
    return sessions


def train(
    linker: Linker,
    sessions: list[EmSession],
    dialect: str = "duckdb",
    progress: Progress = quiet,
) -> None:
    """Estimate the model's parameters by EM on the linker's records, without labels.
    ``sessions``: the EM sessions' blocking (``em_sessions``), rendered in the linker's
    ``dialect``. ``progress`` is told each stage as it starts (the run's log)."""
    progress("training: the prior, from pairs agreeing on NIK and birth date")
    linker.training.estimate_probability_two_random_records_match(
        [block_on("nik", "tanggal_lahir_pasti")], recall=0.75
    )
    progress(f"training: u probabilities from {U_SAMPLE_PAIRS:,} random pairs")
    linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=SEED)
    # Three EM sessions, so every comparison is trained by one that blocks neither on it nor on a
    # column its levels read: the birth-date session trains names, sex, card and region (not NIK:
    # its levels read the birth dates); the NIK session trains birth date, names, sex, card and
    # region; the name-and-kabupaten session trains NIK, birth date, sex and card. A level no
    # session can reach by design is fixed in model.py with its reason. A session that samples
    # kabupaten (over EM_MAX_PAIRS pairs) reads kode_kab, so the region is then trained by the
    # NIK session alone, which is never sampled.
    for number, session in enumerate(sessions, 1):
        progress(f"training: EM session {number} of {len(sessions)}, {session.describe()}")
        linker.training.estimate_parameters_using_expectation_maximisation(
            session.blocking(dialect), estimate_without_term_frequencies=True
        )


def load_or_train(
    ws: Workspace, reuse_model: Path | None, progress: Progress = quiet
) -> tuple[Linker, list[str], list[EmSession]]:
    """A linker over the month's records: with the saved model ``reuse_model`` as it is, or with
    the model's settings (model.settings()) trained on these records. Also the levels training
    left without m or u, filled by ``model.fill_untrained``, and the EM sessions (none of either
    when a model is reused)."""
    if reuse_model is not None:
        return Linker(ws.records, str(reuse_model), log_level=logging.ERROR), [], []
    sessions = em_sessions(ws)
    if ws.spark is None:
        linker = Linker(ws.records, model.settings(), log_level=logging.ERROR)
    else:
        linker = Linker(ws.spark.records, model.settings("spark"), log_level=logging.ERROR)
    train(linker, sessions, ws.dialect, progress)
    rows = ws.con.execute(f"select count(*) from {ws.records.physical_name}").fetchall()[0][0]
    # Kept in the DuckDB form whichever engine trained it (a Spark-trained model carried over).
    trained, filled = model.fill_untrained(
        model.for_dialect(linker.misc.save_model_to_json(), "duckdb"),
        min(U_SAMPLE_PAIRS, rows * (rows - 1) // 2),
    )
    return Linker(ws.records, trained, log_level=logging.ERROR), filled, sessions
