"""Corroboration and evidence: what a scored pair's comparisons say beyond its probability.

Splink takes its comparisons as independent, so the household's evidence (same family card, same
village, a shared marga) can outweigh birth years apart. ``corroborate`` caps below the cluster
threshold (so it goes to clerical review instead of linking) every scored pair that agrees on no
identity field (``corroborated_sql``) or looks like two relatives (``relatives_sql``), and gives
each pair the evidence a reviewer reads (``evidence_sql``): each comparison's level, by label, never
the compared values. Name agreement is the model's own (``model.names_agree``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from splink import Linker

from dtsen_pipeline.lib.warehouse import quote_ident, quote_literal
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.config import rules, uncorroborated_max
from dtsen_pipeline.linkage.workspace import Workspace

if TYPE_CHECKING:
    from splink.internals.splink_dataframe import SplinkDataFrame


def twins_sql() -> str:
    """True for a pair on one family card with one exact birth date that is two people: two NIKs
    of one kecamatan, each carrying its own record's birth date and sex (so they differ only in the
    serial, n and n+1, or a woman's day, +40) under names that are not the same, however alike
    ("MEGAWATI" / "MEGAWATI NURHAYATI"); or no NIK to tell but the sexes differ and the names are
    unalike. One person whose NIK was mistyped keeps an exact name, or the typo falls in the
    region (another kecamatan): not twins."""
    return (
        "coalesce(no_kk_l = no_kk_r and tanggal_lahir_pasti_l = tanggal_lahir_pasti_r, false) and ("
        "coalesce(nik_l <> nik_r and nik_matches_birth_l and nik_matches_birth_r "
        "and substr(nik_l, 1, 6) = substr(nik_r, 1, 6) and nama_normal_l <> nama_normal_r, false) "
        f"or coalesce(jenis_kelamin_l <> jenis_kelamin_r and ({model.names_unalike()}), false))"
    )


def relatives_sql() -> str:
    """True for a scored pair that looks like two members of one family rather than one person: on
    the same family card and either born years apart (person.relatives_years_apart), even with one
    NIK (a member recorded with the head's) unless the NIK says one date is a slip of the other
    (``model.SLIP_THE_NIK_CORRECTS``: 1990 typed 1909), or with unalike names and two NIKs each
    carrying its own record's birth date and sex (siblings), or twins (``twins_sql``)."""
    return (
        "coalesce(no_kk_l = no_kk_r, false) and ("
        "(coalesce(abs(tahun_lahir_pasti_l - tahun_lahir_pasti_r) "
        f">= {rules().relatives_years_apart}, false) "
        f"and not coalesce(nik_l = nik_r and {model.SLIP_THE_NIK_CORRECTS}, false)) "
        "or (coalesce(nik_l <> nik_r and nik_matches_birth_l and nik_matches_birth_r, false) "
        f"and ({model.names_unalike()})) or ({twins_sql()}))"
    )


def corroborated_sql() -> str:
    """True for a scored pair that agrees on an identity field: the same birth date, names that
    agree (``model.names_agree``), or the same NIK with names that do not say two people (a NIK is
    borrowed inside a family: the head's, recorded for a member)."""
    return (
        f"coalesce(nik_l = nik_r and not ({model.names_unalike()}), false) "
        "or coalesce(tanggal_lahir_pasti_l = tanggal_lahir_pasti_r, false) "
        f"or coalesce({model.names_agree()}, false)"
    )


def evidence_sql(model_dict: dict) -> str:
    """A JSON object naming, per comparison, the level the pair reached (labels, not values:
    evidence a reviewer can read without the pair's NIKs and names in it). ``model_dict``: the
    model's settings, as Splink's public ``linker.misc.save_model_to_json()`` returns them."""
    prefix = model_dict[
        "comparison_vector_value_column_prefix"
    ]  # gamma_ unless the settings say otherwise
    parts = []
    for name, labels in model.level_labels(model_dict).items():
        cases = " ".join(
            f"when {value} then {quote_literal(label)}" for value, label in labels.items()
        )
        parts.append(f"{quote_literal(name)}, case {quote_ident(prefix + name)} {cases} end")
    return "json_object(" + ", ".join(parts) + ")"


def corroborate(ws: Workspace, linker: Linker, parts: list[SplinkDataFrame]) -> str:
    """The relation ``scored`` (a, b, match_weight, match_probability, evidence): every scored
    pair of ``parts`` once, as (lower key, higher key), with the evidence a reviewer reads
    (``evidence_sql``); its name is returned. A pair that agrees on no identity field, or looks
    like two relatives, keeps at most ``uncorroborated_max()``: below the cluster threshold, so it
    goes to review instead of linking."""
    key = model.UNIQUE_ID
    # A pair that agrees on no identity field (NIK, birth date or name) is never linked on the
    # household's evidence alone (same family card, same village): at 1M persons such pairs
    # were most false links. It stays below the cluster threshold, so it goes to review.
    # Nor are two relatives: the same card and village and a shared marga outweigh birth years
    # apart in a model that takes its comparisons as independent.
    corroborated = f"({corroborated_sql()}) and not ({relatives_sql()})"
    evidence = evidence_sql(linker.misc.save_model_to_json())
    ws.con.execute(
        "create or replace temp table scored as "
        + " union ".join(
            f"""select least({key}_l, {key}_r) as a, greatest({key}_l, {key}_r) as b, match_weight,
                   case when {corroborated} then match_probability
                        else least(match_probability, {uncorroborated_max()}) end as match_probability,
                   {evidence} as evidence
            from {part.physical_name} where {key}_l <> {key}_r"""
            for part in parts
        )
    )
    return "scored"
