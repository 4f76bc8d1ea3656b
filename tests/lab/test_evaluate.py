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


# The truth's persons for the must-stay-apart pairs: person, family, birth date, village, name.
PERSONS = [
    (1, 10, "1990-01-02", "3201010001", "Siti Aminah"),
    (2, 10, "1990-01-02", "3201010001", "Siti Aminah Putri"),  # 1's twin: merged (c1)
    (3, 20, "1985-05-05", "3201020002", "Budi Santoso"),
    (4, 30, "1985-05-05", "3201030003", "BUDI  SANTOSO"),  # 3's namesake (same kab): merged (c4)
    # Not pairs: 5 and 6 share a name and a date but not a kabupaten; 7 is 1's sibling.
    (5, 40, "1970-07-07", "3201010001", "Agus"),
    (6, 50, "1970-07-07", "3301010001", "Agus"),
    (7, 10, "1992-03-03", "3201010001", "Siti"),
]
MORE_RECORDS = [
    ("r9", "c5", 5, 40, 400, ""),
    ("r10", "c6", 6, 50, 500, ""),
    ("r11", "c7", 7, 10, 100, ""),
]


def test_twins_and_namesakes_merged_are_their_own_figures(in_data_root, tmp_path):
    import pandas as pd

    from dtsen_pipeline.lab.evaluate import _load_apart_pairs

    persons = pd.DataFrame(
        PERSONS, columns=["person_id", "family_id", "tanggal_lahir", "kode_desa", "nama"]
    )
    persons["tanggal_lahir"] = pd.to_datetime(persons["tanggal_lahir"]).dt.date
    persons.to_parquet(tmp_path / "persons.parquet", index=False)
    con = warehouse.scratch()
    try:
        con.execute(
            "create temp table evaluated (record_key varchar, dtsen_id varchar, person_id bigint, "
            "family_id bigint, household_id bigint, errors varchar, nik_valid boolean)"
        )
        con.executemany(
            "insert into evaluated values (?, ?, ?, ?, ?, ?, true)", RECORDS + MORE_RECORDS
        )
        _load_apart_pairs(con, tmp_path / "records.parquet")
        merged = _scores(con, "dtsen_id")["must_stay_apart_merged"]
        # Apart, each person in its own record's cluster: nothing merged.
        apart = _scores(con, "record_key")["must_stay_apart_merged"]
    finally:
        con.close()
    assert merged == {
        "twins": {"pairs": 1, "merged": 1, "merged_share": 1.0},
        "namesakes": {"pairs": 1, "merged": 1, "merged_share": 1.0},
    }
    assert apart["twins"]["merged"] == 0 and apart["namesakes"]["merged"] == 0
    # Without a truth persons file there is no figure (an older truth).
    con = warehouse.scratch()
    try:
        con.execute("create temp table evaluated (record_key varchar, person_id bigint)")
        _load_apart_pairs(con, tmp_path / "elsewhere" / "records.parquet")
        from dtsen_pipeline.lab.evaluate import _must_stay_apart

        assert _must_stay_apart(con, "record_key") is None
    finally:
        con.close()


def test_true_pairs_no_blocking_rule_reaches_are_counted(in_data_root):
    from dtsen_pipeline.lab.evaluate import _blocking_coverage
    from dtsen_pipeline.linkage import model

    # record, cluster, person, nik, name, exact birth date, village, family card
    records = [
        ("a1", "c1", 1, "3201014101900001", "siti", "1990-01-01", "3201010001", "K1"),
        ("a2", "c1", 1, "3201014101900001", "siti a", None, "3201010002", None),  # one NIK
        ("b1", "c2", 2, None, "budi", "1985-05-05", "3201010001", None),
        ("b2", "c2", 2, None, "budi s", "1985-05-05", "3201010009", None),  # no rule; linked
        ("c1", "c3", 3, None, "agus", None, "3201010001", None),
        ("c2", "c4", 3, None, "agus salim", None, "3201010001", None),  # no rule; apart
        ("d1", "c5", 4, None, "rina", "1970-07-07", "3201010003", None),
        ("d2", "c5", 4, None, "rina", "1970-07-07", "3201010004", None),  # name + birth date
    ]
    import datetime

    import pyarrow as pa

    given = ("nik", "nama_normal", "tanggal_lahir_pasti", "kode_desa", "no_kk")
    con = warehouse.scratch()
    try:
        con.register(
            "evaluated",
            pa.table(
                {
                    "record_key": [r[0] for r in records],
                    "dtsen_id": [r[1] for r in records],
                    "person_id": [r[2] for r in records],
                }
            ),
        )
        identities = {c: [r[3 + given.index(c)] for r in records] for c in given}
        identities["tanggal_lahir_pasti"] = [
            datetime.date.fromisoformat(d) if d else None for d in identities["tanggal_lahir_pasti"]
        ]
        # The model's other columns, none of them agreeing in a blocking rule here.
        for column in model.INPUT_COLUMNS:
            if column not in given:
                identities[column] = [r[0] for r in records]
        identities["extract_month"] = ["2025-01"] * len(records)
        con.execute("create schema intermediate")
        con.register("identities_in", pa.table(identities))
        con.execute("create table intermediate.int_identitas as select * from identities_in")
        found = _blocking_coverage(con, "2025-01")
    finally:
        con.close()
    assert found == {
        "true_pairs": 4,
        "outside_every_rule": 2,
        "share_outside": 0.5,
        "outside_but_linked_through_others": 1,
    }
