"""The person-linkage model: named comparisons and blocking rules, built into Splink settings.

NIK is often missing or wrong (BPK/KPK audits), so no rule depends on NIK alone: blocking also uses
region + birth date, name + birth date and the family card.
"""

from __future__ import annotations

import math
from pathlib import Path

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on

from dtsen_pipeline.lib import paths
from dtsen_pipeline.linkage.config import ENGINES

UNIQUE_ID = "record_key"
MODEL_VERSION = "person-v7"  # v2: NIKs differing but each matching its birth date; v3: shared NIKs;
# v4: trusted birth dates, partial dates, names in another order; v5: a shared word only (a marga);
# v6: short forms, every NIK level trained or fixed, a kabupaten no longer a veto; v7: two
# self-consistent NIKs beyond a typo (Dukcapil's own apart), a date slip the NIK corrects, a word
# left out on one card and birth date (twins?)

# Jaro-Winkler similarity of two normalised names: at or above NAME_CLOSE nearly the same spelling;
# at or above NAME_AGREES the same name spelt differently. NAME_AGREES is the model's lower name level
# and also the least name agreement that corroborates a pair (``names_agree``, read by
# linkage/evidence.py): one number, so the two cannot drift apart. Changing either changes the
# model: a new MODEL_VERSION.
NAME_CLOSE = 0.95
NAME_AGREES = 0.88

# Columns compared with term-frequency adjustment (their tables must exist before predict_between).
TF_COLUMNS = ("nama_normal",)

# Columns the model reads from intermediate.int_identitas.
INPUT_COLUMNS = (
    UNIQUE_ID,
    "source",
    "nik",
    "nik_matches_birth",
    "no_kk",
    "nama_normal",
    "nama_urut",
    "tanggal_lahir_pasti",
    "tahun_lahir_pasti",
    "jenis_kelamin",
    "kode_desa",
    "kode_kab",
)


# Day and month swapped between two exact dates of the same year.
_SWAPPED = (
    "day(tanggal_lahir_pasti_l) = month(tanggal_lahir_pasti_r) "
    "and month(tanggal_lahir_pasti_l) = day(tanggal_lahir_pasti_r) "
    "and year(tanggal_lahir_pasti_l) = year(tanggal_lahir_pasti_r)"
)

# One NIK, and exactly one record's birth date (and sex) is the one the NIK encodes while the other
# date differs in one part only (day, month or year: a slipped or transposed digit, 1971 / 1917):
# the NIK says which date is right, so the pair is one person with a date slip, not a NIK shared by
# two people (whose dates, a head's and a member's, differ in more than one part).
SLIP_THE_NIK_CORRECTS = (
    "coalesce(nik_matches_birth_l, false) <> coalesce(nik_matches_birth_r, false) and ("
    "cast(year(tanggal_lahir_pasti_l) = year(tanggal_lahir_pasti_r) as int) "
    "+ cast(month(tanggal_lahir_pasti_l) = month(tanggal_lahir_pasti_r) as int) "
    "+ cast(day(tanggal_lahir_pasti_l) = day(tanggal_lahir_pasti_r) as int)) = 2"
)

# Both records carry a NIK that encodes their own birth date and sex (so each is a structurally
# valid NIK, and neither is a relative's borrowed one).
_BOTH_SELF_CONSISTENT = "nik_matches_birth_l and nik_matches_birth_r"
# Two such NIKs whose date parts (DDMMYY, +40 for women) differ: the records differ in birth date or
# sex just as their NIKs do, one digit apart or not (a man and a woman born the same day: 13 / 53).
_NIK_DATES_DIFFER = "substr(nik_l, 7, 6) <> substr(nik_r, 7, 6)"
# The civil registry: it issues the NIK and keeps one record per person (two of its records with two
# NIKs are two people: the levels below, and clustering.registry_apart).
CIVIL_REGISTRY = "dukcapil"
_BOTH_DUKCAPIL = f"source_l = '{CIVIL_REGISTRY}' and source_r = '{CIVIL_REGISTRY}'"

# m of the two "beyond a typo" NIK levels (fixed; u is trained by random sampling, where most pairs
# of two people reach them: 0.8, and 0.1 for two Dukcapil records, on a 10,000-person hard world).
# One person's two records reach them only when both NIKs were
# mistyped where a NIK stays valid and self-consistent (2-5% of records carry a one-digit NIK typo,
# about half of them there: ~1e-4 of pairs at most) or the person was issued a second NIK, which
# the registry's own rules forbid. Dukcapil issues NIKs and deduplicates its own register, so two
# of its records with two NIKs are two people ten times more surely.
NIK_APART_M = 1e-4
NIK_APART_DUKCAPIL_M = 1e-5


def _beyond_a_typo():
    """Two NIKs more than one digit change or adjacent swap apart, or encoding other dates."""
    return cll.Or(
        cll.Not(cll.DamerauLevenshteinLevel("nik", 1)), cll.CustomLevel(_NIK_DATES_DIFFER)
    )


def _nik_apart_levels() -> list:
    """The NIK levels of two different NIKs, each carrying its own record's birth date and sex."""
    return [
        # Two NIKs, each carrying its own record's birth date and sex, that differ beyond one
        # typo (more than one digit changed or one adjacent pair swapped) or in the birth date
        # and sex they encode (then the records differ there too): by the registry's own rules
        # two people. Strong evidence by design, not left to EM (which learned -6
        # bits, too little to outweigh a namesake's name, birth date and region): m fixed
        # (NIK_APART_M), strongest when both records are Dukcapil's.
        cll.And(
            cll.CustomLevel(f"{_BOTH_SELF_CONSISTENT} and {_BOTH_DUKCAPIL}"),
            _beyond_a_typo(),
        ).configure(
            label_for_charts="different beyond a typo, both Dukcapil, each its own birth date",
            m_probability=NIK_APART_DUKCAPIL_M,
            fix_m_probability=True,
        ),
        cll.And(
            cll.CustomLevel(_BOTH_SELF_CONSISTENT),
            _beyond_a_typo(),
        ).configure(
            label_for_charts="different beyond a typo, each agrees with its own birth date",
            m_probability=NIK_APART_M,
            fix_m_probability=True,
        ),
        # One digit apart outside the date part, each carrying its own birth date and sex: two
        # people born the same day in one kecamatan (the serial counts them: n and n+1, twins
        # among them, whom linkage/evidence.py keeps apart), or in two kecamatan a digit apart,
        # or one person with a region or serial typo. Fixed at -6 bits, what person-v6 trained
        # for its one "different NIKs" level: trained alone, EM sees how rare such pairs are
        # among random ones (u ~1e-5) but not that the birth-date and region comparisons
        # already count the shared day and kecamatan, and learned +8.6 bits, which merged 49
        # pairs of such neighbours on a 10,000-person default world.
        cll.CustomLevel(_BOTH_SELF_CONSISTENT).configure(
            label_for_charts="one typo apart, each agrees with its own birth date",
            m_probability=0.01,
            u_probability=0.64,
            fix_m_probability=True,
            fix_u_probability=True,
        ),
    ]


def nik_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="nik",
        comparison_levels=[
            cll.NullLevel("nik"),
            # The same NIK means more when it also carries both records' birth date and sex: a
            # NIK shared by family members (the head's, recorded for a member) does not.
            cll.And(
                cll.ExactMatchLevel("nik"),
                cll.CustomLevel("nik_matches_birth_l and nik_matches_birth_r"),
            ).configure(label_for_charts="exact, agrees with both birth dates"),
            # Both birth dates exact and different (not a placeholder, a year alone or a day/month
            # swap, which say nothing against the NIK): one NIK recorded for two people (a member
            # carrying the head's NIK), not one person. Training cannot learn this level (EM
            # sessions block on birth date or on NIK, and random pairs never share a NIK), so it
            # is fixed as mild evidence against: the names and birth dates decide.
            cll.And(
                cll.ExactMatchLevel("nik"),
                cll.CustomLevel(
                    "tanggal_lahir_pasti_l is not null and tanggal_lahir_pasti_r is not null "
                    f"and tanggal_lahir_pasti_l <> tanggal_lahir_pasti_r and not ({_SWAPPED}) "
                    f"and not ({SLIP_THE_NIK_CORRECTS})"
                ),
            ).configure(
                label_for_charts="exact, birth dates differ (a shared NIK)",
                m_probability=0.00001,
                u_probability=0.00004,
                fix_m_probability=True,
                fix_u_probability=True,
            ),
            cll.ExactMatchLevel("nik").configure(
                label_for_charts="exact, a birth date missing or unchecked"
            ),
            # One typo or adjacent transposition, but not in the serial (people registered in the
            # same kecamatan with the same birth date differ only there), and not a difference each
            # record's own birth date explains (siblings born on the same day of different years).
            cll.And(
                cll.DamerauLevenshteinLevel("nik", 1),
                cll.CustomLevel("substr(nik_l, 13, 4) = substr(nik_r, 13, 4)"),
                # Nor the day's +40 alone: a man's and a woman's NIK of one day and kecamatan
                # (a record whose sex was typed wrong then looks like the other's typo).
                cll.CustomLevel(
                    "abs(cast(substr(nik_l, 7, 2) as int) - cast(substr(nik_r, 7, 2) as int)) <> 40"
                ),
                cll.CustomLevel(
                    "not (coalesce(nik_matches_birth_l, false) "
                    "and coalesce(nik_matches_birth_r, false))"
                ),
            ).configure(
                label_for_charts="one typo outside the serial",
                # Random sampling (2M pairs) never draws two people whose NIKs differ by one typo
                # outside the serial, so u cannot be estimated: fixed below the exact NIK's (about
                # 1e-5), where the level weighs about as much as a close name (~12 bits), less than
                # an exact NIK. m is trained.
                u_probability=0.000005,
                fix_u_probability=True,
            ),
            *_nik_apart_levels(),
            cll.ElseLevel(),
        ],
    )


def birth_date_comparison() -> cl.CustomComparison:
    """Exact dates first; a date known only to the year (a year alone, or the 01-01 placeholder
    registers type for an unknown day) still agrees or disagrees on its year. Staging keeps an
    exact date only when it has no issue (tanggal_lahir_pasti) and a year only when it is not a
    placeholder year (tahun_lahir_pasti; dbt var placeholder_birth_years)."""
    return cl.CustomComparison(
        output_column_name="tanggal_lahir",
        comparison_levels=[
            cll.CustomLevel(
                "(tanggal_lahir_pasti_l is null or tanggal_lahir_pasti_r is null) "
                "and (tahun_lahir_pasti_l is null or tahun_lahir_pasti_r is null)"
            ).configure(is_null_level=True, label_for_charts="a birth date or year missing"),
            cll.ExactMatchLevel("tanggal_lahir_pasti").configure(label_for_charts="exact"),
            cll.CustomLevel(_SWAPPED, label_for_charts="day and month swapped"),
            cll.CustomLevel(
                "year(tanggal_lahir_pasti_l) = year(tanggal_lahir_pasti_r)",
                label_for_charts="same year, different day",
            ),
            cll.CustomLevel(
                "tahun_lahir_pasti_l = tahun_lahir_pasti_r",
                label_for_charts="same year, one date partial (year only or 01-01)",
            ),
            cll.ElseLevel(),
        ],
    )


# The engines Splink runs the model on (config/linkage.yaml, engine). Every level's SQL is the
# same on both but the two word-list name levels below, written once per dialect: Splink checks a
# level's SQL with the engine's parser, and DuckDB's list lambdas are not Spark SQL.
DIALECTS = ENGINES


def _words(side: str, dialect: str) -> str:
    split = "string_split" if dialect == "duckdb" else "split"  # Spark: a regex; ' ' is literal
    return f"{split}(nama_normal_{side}, ' ')"


def _distinct_words(side: str, other: str, dialect: str) -> str:
    """The words of one side's name that the other side's name does not have (a list)."""
    if dialect == "duckdb":
        return (
            f"list_filter({_words(side, dialect)}, "
            f"lambda w: not list_contains({_words(other, dialect)}, w))"
        )
    return f"filter({_words(side, dialect)}, w -> not array_contains({_words(other, dialect)}, w))"


def _each_shortens(side: str, other: str, dialect: str) -> str:
    """Every word only one side has is an initial, the start or the end of a word only the other
    side has (Budi S / Budi Santoso; Yudi / Wahyudi: the call name Indonesians make from the end)."""
    mine, theirs = _distinct_words(side, other, dialect), _distinct_words(other, side, dialect)
    if dialect == "duckdb":
        return (
            f"coalesce(list_bool_and(list_transform({mine}, lambda w: "
            f"list_bool_or(list_transform({theirs}, lambda v: starts_with(v, w) or ends_with(v, w))))), "
            "true)"
        )
    # DuckDB's list_bool_or of an empty list is NULL, which list_bool_and skips: true when the
    # other side has no word of its own (a word left out). Spark says so outright.
    return (
        f"(size({theirs}) = 0 or forall({mine}, w -> "
        f"exists({theirs}, v -> startswith(v, w) or endswith(v, w))))"
    )


def _share_a_word(dialect: str) -> str:
    overlap = "list_has_any" if dialect == "duckdb" else "arrays_overlap"
    return f"{overlap}({_words('l', dialect)}, {_words('r', dialect)})"


def short_form(dialect: str) -> str:
    """The same name written short: a shared word, and every other word of one name an initial, a
    start or an end of the other's (also a word left out: Siti / Siti Aminah). Both word-list
    conditions are guarded by a CASE (evaluated only where the names share a word): four times
    faster on 2M pairs of unalike names, most of what blocking yields."""
    return (
        f"case when {_share_a_word(dialect)} then {_each_shortens('l', 'r', dialect)} "
        f"or {_each_shortens('r', 'l', dialect)} else false end"
    )


def shared_word_only(dialect: str) -> str:
    """Two names sharing a word whose own words (those not shared) are not alike: a family name
    (marga) or a father's name shared by relatives, not one person's name spelt two ways."""
    size, join, jaro = (
        ("len", "array_to_string", "jaro_winkler_similarity")
        if dialect == "duckdb"
        else ("size", "array_join", "jaro_winkler")  # Spark: Splink's similarity jar
    )
    mine, theirs = _distinct_words("l", "r", dialect), _distinct_words("r", "l", dialect)
    return (
        f"case when {_share_a_word(dialect)} then {size}({mine}) > 0 and {size}({theirs}) > 0 "
        f"and {jaro}({join}({mine}, ' '), {join}({theirs}, ' ')) < {NAME_AGREES} else false end"
    )


# Two records on one family card with one exact birth date: one person, or twins.
TWINS_CANDIDATES = (
    "no_kk_l = no_kk_r and tanggal_lahir_pasti_l = tanggal_lahir_pasti_r "
    "and nama_normal_l <> nama_normal_r"
)


def word_left_out(dialect: str) -> str:
    """One name is the other with words left out ("MEGAWATI" / "MEGAWATI NURHAYATI"): one side has
    no word of its own. Guarded by a CASE, as ``short_form``."""
    size = "len" if dialect == "duckdb" else "size"
    return (
        f"case when {_share_a_word(dialect)} then {size}({_distinct_words('l', 'r', dialect)}) = 0 "
        f"or {size}({_distinct_words('r', 'l', dialect)}) = 0 else false end"
    )


def names_agree() -> str:
    """SQL (DuckDB) over a pair's name columns: the names agree as the name comparison below says,
    at one of its levels from exact to Jaro-Winkler at NAME_AGREES: at least that alike and not
    merely sharing a word, the same words in another order, or one a short form of the other. The
    least name agreement that corroborates a pair (linkage/evidence.py, which runs on DuckDB
    whichever engine scored): defined here, beside the levels, so the two cannot drift apart."""
    return (
        f"(jaro_winkler_similarity(nama_normal_l, nama_normal_r) >= {NAME_AGREES} "
        f"and not coalesce({shared_word_only('duckdb')}, false)) or nama_urut_l = nama_urut_r "
        f"or coalesce({short_form('duckdb')}, false)"
    )


def names_unalike() -> str:
    """SQL (DuckDB): two names that say two people: sharing a word only (a marga, a father's name)
    or not alike (below every agreeing level of ``names_agree``)."""
    return (
        f"coalesce({shared_word_only('duckdb')}, false) "
        f"or coalesce(jaro_winkler_similarity(nama_normal_l, nama_normal_r) < {NAME_AGREES} "
        f"and not ({names_agree()}), false)"
    )


def name_comparison(dialect: str = "duckdb") -> cl.CustomComparison:
    """Names: exact (weighted by how common the name is), the same words in another order (family
    name first, as some registers write it), a short form (initials, call names, a word left out),
    then, unless the names share a word and differ in all their others ("Maria Simanjuntak" and
    "Rosa Simanjuntak" share a marga, not a person: their own level), Jaro-Winkler at NAME_CLOSE
    and NAME_AGREES."""
    return cl.CustomComparison(
        output_column_name="nama_normal",
        comparison_levels=[
            cll.NullLevel("nama_normal"),
            cll.ExactMatchLevel("nama_normal", term_frequency_adjustments=True),
            cll.ExactMatchLevel("nama_urut").configure(
                label_for_charts="same words, another order"
            ),
            # Twins are named alike ("MEGAWATI" / "MEGAWATI NURHAYATI"): on one card with one birth
            # date, a name with a word left out does not count as the same name. Fixed at 0 bits
            # (m = u): EM would learn it from the many one-person pairs that write a name short and
            # make it evidence for, the twins' merge.
            cll.CustomLevel(f"{TWINS_CANDIDATES} and {word_left_out(dialect)}").configure(
                label_for_charts="a word left out, one card and birth date (twins?)",
                m_probability=0.01,
                u_probability=0.01,
                fix_m_probability=True,
                fix_u_probability=True,
            ),
            cll.CustomLevel(short_form(dialect)).configure(
                label_for_charts="a short form (initial, call name, a word left out)"
            ),
            cll.CustomLevel(shared_word_only(dialect)).configure(
                label_for_charts="a shared word only (a family name), the other words differ"
            ),
            cll.JaroWinklerLevel("nama_normal", NAME_CLOSE),
            cll.JaroWinklerLevel("nama_normal", NAME_AGREES),
            cll.ElseLevel(),
        ],
    )


def region_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="kode_desa",
        comparison_levels=[
            cll.NullLevel("kode_desa"),
            cll.ExactMatchLevel("kode_desa"),
            # Same kabupaten, another village: a move inside the kabupaten, a village re-coded
            # after a split (pemekaran) or mistyped. EM learns almost nothing here when registers
            # code villages consistently (m ~1e-9 on a generated month: a -21-bit veto, stronger
            # than another kabupaten's -5), so m is fixed: 0.02, a little under the else level's
            # trained m, leaving the level mild evidence for (u, trained, is ~0.003).
            cll.ExactMatchLevel("kode_kab").configure(
                label_for_charts="same kabupaten, another village",
                m_probability=0.02,
                fix_m_probability=True,
            ),
            # Another kabupaten: a mover (pindah) whose older records keep the old region, or a
            # register that carries only where a programme was paid. A world without movers teaches
            # EM a veto (m ~1e-13, -40 bits on a generated default month): a person who moved could
            # never link, however well NIK, name and birth date agree. Fixed at 0.03, about what EM
            # learns on the hard world (0.024), so another kabupaten costs about 5 bits.
            cll.ElseLevel().configure(m_probability=0.03, fix_m_probability=True),
        ],
    )


def family_card_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="no_kk",
        comparison_levels=[
            cll.NullLevel("no_kk"),
            cll.ExactMatchLevel("no_kk"),
            # Another family card: a child still on a parent's card in one register after
            # marrying, a card re-issued. As for region, a world where cards never lag teaches EM
            # a veto (m ~1e-25, -80 bits); fixed at 0.03 (the hard world trains 0.032): about 5 bits.
            cll.ElseLevel().configure(m_probability=0.03, fix_m_probability=True),
        ],
    )


BLOCKING_RULES = [
    block_on("nik"),
    block_on("substr(nik, 1, 6)", "tanggal_lahir_pasti"),
    block_on("nama_normal", "tanggal_lahir_pasti"),
    block_on("nama_urut", "tahun_lahir_pasti"),  # names in another order, dates known to the year
    block_on("kode_desa", "tanggal_lahir_pasti"),
    block_on("no_kk"),
]


def settings(dialect: str = "duckdb") -> SettingsCreator:
    """The model's settings, each level's SQL in ``dialect`` (one of DIALECTS)."""
    if dialect not in DIALECTS:
        raise ValueError(f"linkage engine {dialect!r} is not one of {', '.join(DIALECTS)}")
    return SettingsCreator(
        link_type="dedupe_only",  # one input holding every source: links across and within sources
        unique_id_column_name=UNIQUE_ID,
        comparisons=[
            nik_comparison(),
            name_comparison(dialect),
            birth_date_comparison(),
            cl.ExactMatch("jenis_kelamin"),
            family_card_comparison(),
            region_comparison(),
        ],
        blocking_rules_to_generate_predictions=BLOCKING_RULES,
        additional_columns_to_retain=["source"],
    )


# What a trained model holds per level, carried from one engine's settings to the other's.
_CARRIED = (
    "m_probability",
    "u_probability",
    "fix_m_probability",
    "fix_u_probability",
    "tf_adjustment_column",
    "tf_adjustment_weight",
    "tf_minimum_u_value",
)


def for_dialect(model_dict: dict, dialect: str) -> dict:
    """A trained model (a settings dict, as saved) with its SQL in ``dialect``: this module's
    settings rendered for it, with the prior and each level's m, u and term-frequency settings of
    ``model_dict``. Levels are matched by comparison and position, and must carry the same label:
    a model of another version raises rather than put a weight on the wrong level. Saved models
    are kept in the DuckDB form; a Spark run renders them for Spark with this."""
    target = settings(dialect).create_settings_dict(dialect)
    trained = {c["output_column_name"]: c for c in model_dict["comparisons"]}
    if [c["output_column_name"] for c in target["comparisons"]] != list(trained):
        raise ValueError(f"the model's comparisons are not {MODEL_VERSION}'s: {list(trained)}")
    comparisons = []
    for comparison in target["comparisons"]:
        name = comparison["output_column_name"]
        levels = trained[name]["comparison_levels"]
        if len(levels) != len(comparison["comparison_levels"]):
            raise ValueError(
                f"{name}: the model has {len(levels)} levels, {MODEL_VERSION} has "
                f"{len(comparison['comparison_levels'])}"
            )
        carried = []
        for source, level in zip(levels, comparison["comparison_levels"], strict=True):
            if source.get("label_for_charts") != level.get("label_for_charts"):
                raise ValueError(
                    f"{name}: level {source.get('label_for_charts')!r} where {MODEL_VERSION} "
                    f"has {level.get('label_for_charts')!r}"
                )
            carried.append({**level, **{k: source[k] for k in _CARRIED if k in source}})
        comparisons.append({**comparison, "comparison_levels": carried})
    return {
        **target,
        "comparisons": comparisons,
        "probability_two_random_records_match": model_dict["probability_two_random_records_match"],
    }


def latest_model(month: str, *, inclusive: bool = False) -> Path | None:
    """The newest saved model of a month before ``month`` (or up to it, ``inclusive``), if any."""
    earlier = [
        p
        for p in paths.models_dir().glob(f"{MODEL_VERSION}_*.json")
        if (m := p.stem.rsplit("_", 1)[-1]) < month or (inclusive and m == month)
    ]
    return max(earlier, key=lambda p: p.stem) if earlier else None


def level_labels(model_dict: dict) -> dict[str, dict[int, str]]:
    """Per comparison (output column name), each level's comparison vector value (the ``gamma_``
    column of scored pairs) and its chart label, from the settings dict Splink's public
    ``linker.misc.save_model_to_json()`` returns (the same dict as the saved model file).

    Splink numbers a comparison's levels in their listed order: the null level -1, the others from
    the most similar (levels - 1) down to 0 (the ELSE level); a level without a label is shown by
    that number, as Splink's charts do. Splink exposes no public map from gamma value to level, so
    tests/linkage/test_evidence.py checks this numbering against pairs Splink scores."""
    out = {}
    for comparison in model_dict["comparisons"]:
        levels = comparison["comparison_levels"]
        value = sum(1 for lvl in levels if not lvl.get("is_null_level")) - 1
        labels = {}
        for lvl in levels:
            if lvl.get("is_null_level"):
                labels[-1] = lvl.get("label_for_charts") or "-1"
            else:
                labels[value] = lvl.get("label_for_charts") or str(value)
                value -= 1
        out[comparison["output_column_name"]] = labels
    return out


def untrained_levels(model_dict: dict) -> list[str]:
    """The levels a saved model holds no m or u for ("comparison: label"): Splink then scores them
    with its defaults. Training leaves a level so only when no training pair reached it (a month
    with no names in another order, say); every level that training cannot reach by design is
    fixed above with its reason."""
    return [
        f"{comparison['output_column_name']}: {level.get('label_for_charts') or level['sql_condition']}"
        for comparison in model_dict["comparisons"]
        for level in comparison["comparison_levels"]
        if not level.get("is_null_level")
        and (level.get("m_probability") is None or level.get("u_probability") is None)
    ]


def fill_untrained(model_dict: dict, pairs_sampled: int) -> tuple[dict, list[str]]:
    """Give every level training left without m or u a deliberate value instead of Splink's default
    (an m of 0.95 / levels, a u made up to give a set weight), and name them. A u missing means
    random sampling drew no such pair among ``pairs_sampled``: u is set to 1 / pairs_sampled, the
    most it can be. An m missing means no training pair of a match reached the level (a month with
    no names in another order, say): m is set to the smallest m trained in that comparison, the
    rarest agreement seen among matches. Both err towards less weight for a level with no evidence."""
    filled = untrained_levels(model_dict)
    for comparison in model_dict["comparisons"]:
        levels = [lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level")]
        # m set by hand (a fixed level, with its reason) is not evidence of what training saw.
        trained_m = [
            lvl["m_probability"]
            for lvl in levels
            if lvl.get("m_probability") and not lvl.get("fix_m_probability")
        ]
        # The weight of the nearest trained level above (a closer agreement). A level fixed in
        # this module is not one: its weight is set by hand for its reason and may say "against"
        # (the shared-NIK level, -2 bits), which must not drag a plain exact NIK below it.
        above = None
        for level in levels:
            u_missing = level.get("u_probability") is None
            if u_missing:
                level["u_probability"] = 1 / max(pairs_sampled, 1)
            if level.get("m_probability") is None:
                level["m_probability"] = min(trained_m) if trained_m else 1 / len(levels)
            weight = math.log2(level["m_probability"] / level["u_probability"])
            # A bound for u must not make a looser agreement weigh more than a closer one.
            if u_missing and above is not None and weight > above:
                level["u_probability"] = level["m_probability"] / 2**above
                # m / 2**above may round so that the weight comes out an ulp above: step u up.
                while math.log2(level["m_probability"] / level["u_probability"]) > above:
                    level["u_probability"] = math.nextafter(level["u_probability"], 1.0)
                weight = above
            if not (level.get("fix_m_probability") or level.get("fix_u_probability")):
                above = weight
    return model_dict, filled


def level_weights(model_dict: dict, filled: list[str] | tuple[str, ...] = ()) -> list[tuple]:
    """Per level of a saved model: (comparison, level label, m, u, weight in bits, how it was set:
    "trained", "fixed" (in this module, with its reason) or "filled" (``fill_untrained``)). What
    the UI's weights table and the chart in docs/linkage.md show; labels and parameters only."""
    rows = []
    for comparison in model_dict["comparisons"]:
        name = comparison["output_column_name"]
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            label = level.get("label_for_charts") or level["sql_condition"]
            m, u = level.get("m_probability"), level.get("u_probability")
            if f"{name}: {label}" in filled:
                how = "filled"
            elif level.get("fix_m_probability") or level.get("fix_u_probability"):
                how = "fixed"
            else:
                how = "trained"
            weight = round(math.log2(m / u), 2) if m and u else None
            rows.append((name, label, m, u, weight, how))
    return rows


def weights_chart(model_json: Path, out: Path) -> Path:
    """A bar chart (PNG) of each level's weight in a saved model, coloured by trained or fixed:
    `python -m dtsen_pipeline.linkage.model MODEL_JSON OUT.png` (the chart in docs/linkage.md)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = level_weights(json.loads(model_json.read_text()))
    # The saved JSON does not say which levels fill_untrained set: they show as trained here (the
    # linkage asset's weights table names them).
    colours = {"trained": "#4c78a8", "fixed": "#f58518"}
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1))
    labels = [f"{c}: {label if len(label) <= 50 else label[:48] + '...'}" for c, label, *_ in rows]
    weights = [w or 0.0 for *_, w, _ in rows]
    ax.barh(labels, weights, color=[colours[how] for *_, how in rows])
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("match weight (bits): log2(m / u)")
    ax.tick_params(axis="y", labelsize=7)
    for how, colour in colours.items():
        ax.bar(0, 0, color=colour, label=how)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    import sys

    weights_chart(Path(sys.argv[1]), Path(sys.argv[2]))
