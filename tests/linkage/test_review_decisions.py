"""Clerical review decisions are checked row by row, and accepted pairs cannot build a giant person
(issue 15, point 4): every bad row of data/review/decisions.csv is reported at once by row and
reason, never by its contents; accepted pairs may not grow a person beyond
person.max_records_per_person; and the gate fails a release holding such a person anyway."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from dtsen_pipeline.linkage import config as linkage_config
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.decisions import DecisionsTooLargeError, read_decisions
from dtsen_pipeline.linkage.run import link_month
from dtsen_pipeline.quality.suites import suite_specs
from dtsen_pipeline.quality.validate import validate_suite
from tests.conftest import MONTHS

KNOWN = pa.chunked_array(
    [
        [
            "dtks:0000000001",
            "dtks:0000000002",
            "dtks:0000000003",
            "dtks:0000000004",
            "dukcapil:DK000000001",
            "dukcapil:DK000000002",
        ]
    ]
)
A_NIK = "3175014101900001"  # pasted in the wrong cell: it must never reach the message

BAD = f"""record_key_l,record_key_r,decision
dtks:0000000001,dukcapil:DK000000001,accept
dukcapil:DK000000001,dtks:0000000001,reject
dtks:0000000002,dtks:0000000002,accept
dtks:0000000002,{A_NIK},accept
,dtks:0000000003,accept
"=HYPERLINK(""http://x"")",dtks:0000000003,accept
dtks:0000000003,+62812,accept
dtks:0000000003,-1,accept
dtks:0000000003,dtks:0000000004,@SUM(A1)
dtks:0000000003,dtks:0000000004,"\taccept"
dtks:0000000003,dtks:0000000004,"\raccept"
dtks:0000000003,dtks:0000000004,accept
dtks:0000000004,dtks:0000000003,Accept
dtks:0000000002,dukcapil:DK000000002,Budi
dtks:0000000002
"""


def test_every_bad_row_is_named_by_line_and_reason_at_once(tmp_path):
    path = tmp_path / "decisions.csv"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        read_decisions(path, known_keys=KNOWN)
    message = str(err.value)
    assert "\n" not in message  # the CLI shows a failure's first line: all of it must be there
    expected = {
        "contradicts (accept and reject) the pair of row 2: row 3",
        "record_key_l and record_key_r are the same record: row 4",
        "record_key_r is not the record key (source:source_record_id) of a record of this month: row 5",
        "record_key_l is empty: row 6",
        "column record_key_l starts with a formula character (=, +, -, @, tab or CR): row 7",
        "column record_key_r starts with a formula character (=, +, -, @, tab or CR): rows 8, 9",
        "column decision starts with a formula character (=, +, -, @, tab or CR): rows 10, 11, 12",
        "repeats the pair of row 13: row 14",
        "decision must be accept or reject: row 15",
        "3 fields expected, as in the header: row 16",
    }
    for part in expected:
        assert part in message, part
    assert message.startswith(f"{path}: 13 problems, no decision was applied")
    for content in (A_NIK, "HYPERLINK", "62812", "SUM", "Budi"):
        assert content not in message


def test_a_file_with_another_delimiter_is_named(tmp_path):
    path = tmp_path / "decisions.csv"
    path.write_text("record_key_l;record_key_r;decision\ndtks:0000000001;dtks:0000000002;accept\n")
    with pytest.raises(
        ValueError,
        match=r"decisions.csv: 1 problem, .*separated by commas \(it looks ';'-separated\)"
        r": row 1$",
    ):
        read_decisions(path, known_keys=KNOWN)


def test_a_clean_file_is_read_with_its_lines(tmp_path):
    path = tmp_path / "decisions.csv"
    path.write_text(
        "\ufeffrecord_key_l,record_key_r,decision,note\n"
        "dtks:0000000001, dukcapil:DK000000001 ,ACCEPT,same person\n\n"
        "dtks:0000000002,dtks:0000000003,reject,\n",
        encoding="utf-8",
    )
    table = read_decisions(path, known_keys=KNOWN)
    assert table.to_pylist() == [
        {
            "record_key_l": "dtks:0000000001",
            "record_key_r": "dukcapil:DK000000001",
            "decision": "accept",
            "line": 2,
        },
        {
            "record_key_l": "dtks:0000000002",
            "record_key_r": "dtks:0000000003",
            "decision": "reject",
            "line": 4,
        },
    ]


def test_max_records_per_person_defaults_when_absent(tmp_path):
    import shutil

    shutil.copytree(linkage_config.paths.CONFIG_DIR, tmp_path / "config")
    text = (tmp_path / "config" / "linkage.yaml").read_text()
    assert "max_records_per_person: 20" in text
    (tmp_path / "config" / "linkage.yaml").write_text(
        text.replace("max_records_per_person:", "# was:")
    )
    assert linkage_config.load_rules(tmp_path / "config").max_records_per_person == 20
    bad = text.replace("max_records_per_person: 20", "max_records_per_person: 1")
    (tmp_path / "config" / "linkage.yaml").write_text(bad)
    with pytest.raises(ValueError, match="person.max_records_per_person: must be at least 2"):
        linkage_config.load_rules(tmp_path / "config")


@pytest.fixture(scope="module")
def month_identities(first_month_run, data_root):
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        return con.sql(
            f"select {', '.join(model.INPUT_COLUMNS)} from intermediate.int_identitas "
            "where extract_month = ? order by record_key",
            params=[MONTHS[0]],
        ).to_arrow_table()


def test_accepted_pairs_may_not_chain_residents_into_one_person(
    month_identities, data_root, tmp_path
):
    """The tester's attack: 300 accepted pairs chaining 301 residents (and their other records)."""
    keys = [
        k for k in month_identities.column("record_key").to_pylist() if k.startswith("dukcapil:")
    ][:301]
    decisions = pa.table(
        {"record_key_l": keys[:-1], "record_key_r": keys[1:], "decision": ["accept"] * 300}
    )
    reuse = sorted((data_root / "warehouse" / "models").glob(f"{model.MODEL_VERSION}_*.json"))[0]
    with pytest.raises(DecisionsTooLargeError) as err:
        link_month(month_identities, tmp_path / "m.json", decisions=decisions, reuse_model=reuse)
    message = str(err.value)
    assert (
        "accepted pairs would make 1 person of more than person.max_records_per_person (20) records"
        in message
    )
    assert "accepted on rows " + ", ".join(str(n) for n in range(2, 302)) in message
    assert not (tmp_path / "m.json").exists()
    # Within the cap, accepted pairs link as before.
    ok = link_month(
        month_identities, tmp_path / "m2.json", decisions=decisions.slice(0, 2), reuse_model=reuse
    )
    clusters = dict(
        zip(
            ok.clusters.column("record_key").to_pylist(),
            ok.clusters.column("cluster_id").to_pylist(),
        )
    )
    assert clusters[keys[0]] == clusters[keys[1]] == clusters[keys[2]]


def test_the_gate_fails_a_person_with_more_records_than_the_cap(
    first_month_run, data_root, tmp_path, monkeypatch
):
    """Second line of defence: whatever made it (a chain of false links or of accepted pairs), a
    person with more source records than person.max_records_per_person fails dtsen_individu's gate."""
    monkeypatch.setenv("DTSEN_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv(
        "DTSEN_PUBLISH_DIR", str(tmp_path / "publish")
    )  # no earlier release to compare with
    with duckdb.connect() as con:
        con.execute("attach ? as wh (read_only)", [str(data_root / "warehouse" / "dtsen.duckdb")])
        con.execute("create schema marts; create schema reference")
        for view in ("marts.dtsen_individu", "marts.dtsen_keluarga", "reference.ref_wilayah"):
            con.execute(f"create view {view} as select * from wh.{view}")
        con.execute("create table marts.dtsen_crosswalk as select * from wh.marts.dtsen_crosswalk")
        spec = suite_specs()["dtsen_individu"]
        label = "no person has more source records than person.max_records_per_person"
        month = con.execute("select max(extract_month) from marts.dtsen_individu").fetchone()[0]
        clean = {
            o.label: o for o in validate_suite(con, spec, month, previous_release=None).outcomes
        }[label]
        assert clean.success and clean.unexpected_count == 0

        # One person gains 21 records (as 300 chained accepts would give them hundreds).
        con.execute("""insert into marts.dtsen_crosswalk
                       select extract_month, 'dtks', 'X' || n, dtsen_id
                       from (select * from marts.dtsen_individu order by dtsen_id limit 1), range(21) t(n)""")
        summary = validate_suite(con, spec, month, previous_release=None)
    outcome = {o.label: o for o in summary.outcomes}[label]
    assert not outcome.success and outcome.unexpected_count == 1
    assert not summary.success and spec.blocking
