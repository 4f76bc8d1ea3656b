"""Evaluation by cause: recall per error kind and false merges inside one family, on a hand-built
clustering whose answers are worked out by hand."""

from dtsen_pipeline.lab.evaluate import _scores
from dtsen_pipeline.lib import warehouse

# record, predicted cluster, true person, true family, true household, error kinds
RECORDS = [
    ("r1", "c1", 1, 10, 100, ""),
    ("r2", "c1", 1, 10, 100, "name_order_flip"),
    ("r3", "c2", 1, 10, 100, "dob_year_only,name_order_flip"),
    ("r4", "c1", 2, 10, 100, ""),  # merged with person 1: same family
    ("r5", "c3", 2, 10, 100, "name_typo"),
    ("r6", "c4", 3, 20, 200, ""),
    ("r7", "c4", 3, 20, 200, "name_typo,kabupaten_only"),
    ("r8", "c4", 4, 30, 200, ""),  # merged with person 3: another family, same household
]


def scored():
    con = warehouse.scratch()  # in memory (its spill folder under the test's data root)
    try:
        con.execute(
            "create temp table evaluated (record_key varchar, dtsen_id varchar, person_id bigint, "
            "family_id bigint, household_id bigint, errors varchar, nik_valid boolean)"
        )
        con.executemany("insert into evaluated values (?, ?, ?, ?, ?, ?, true)", RECORDS)
        return _scores(con, "dtsen_id")
    finally:
        con.close()


def test_recall_per_error_kind_counts_pairs_involving_a_record_with_that_kind(in_data_root):
    kinds = scored()["recall_by_error_kind"]
    # Person 1 has 3 records, 2 flipped: pairs r1r2, r1r3, r2r3 involve one; only r1r2 is linked.
    assert kinds["name_order_flip"] == {
        "records": 2,
        "true_pairs": 3,
        "linked_pairs": 1,
        "recall": 0.33333,
    }
    # r3 (year only) is alone in its cluster: its two true pairs are both missed.
    assert kinds["dob_year_only"] == {
        "records": 1,
        "true_pairs": 2,
        "linked_pairs": 0,
        "recall": 0.0,
    }
    # r5 missed (person 2), r7 linked (person 3).
    assert kinds["name_typo"] == {"records": 2, "true_pairs": 2, "linked_pairs": 1, "recall": 0.5}
    assert kinds["kabupaten_only"]["recall"] == 1.0
    assert set(kinds) == {"name_order_flip", "dob_year_only", "name_typo", "kabupaten_only"}


def test_false_merges_inside_one_family_are_counted_apart(in_data_root):
    scores = scored()
    assert scores["false_merges"] == {"person_pairs": 2, "within_family": 1, "within_household": 2}
    # The pair counts the existing keys report agree: 3 + 1 + 1 true pairs linked of 3 + 1 + 1.
    assert scores["true_pairs"] == 3 + 1 + 1 and scores["true_positive_pairs"] == 1 + 1
