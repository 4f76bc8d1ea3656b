"""Clerical review: uncertain pairs are listed with evidence, and decisions change the clusters."""

import random
from itertools import combinations

import duckdb
import pyarrow as pa
import pytest

from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.config import cluster_threshold
from dtsen_pipeline.linkage.decisions import read_decisions
from dtsen_pipeline.linkage.model import MODEL_VERSION
from dtsen_pipeline.linkage.run import link_month
from tests.conftest import MONTHS


@pytest.fixture(scope="module")
def identities(first_month_run, data_root):
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        return con.sql(
            f"select {', '.join(model.INPUT_COLUMNS)} from intermediate.int_identitas "
            "where extract_month = ?",
            params=[MONTHS[0]],
        ).to_arrow_table()


def clusters_of(result) -> dict[str, str]:
    return dict(
        zip(
            result.clusters.column("record_key").to_pylist(),
            result.clusters.column("cluster_id").to_pylist(),
        )
    )


def test_decisions_link_and_unlink_records(identities, tmp_path):
    before = link_month(identities, tmp_path / "m.json", charts_dir=tmp_path / "charts")
    assert (tmp_path / "charts" / "match_weights.html").exists()
    review = before.review.to_pylist()
    assert all(
        r["match_probability"] < cluster_threshold() and r["evidence"].startswith("{")
        for r in review
    )
    c = clusters_of(before)
    members: dict[str, list[str]] = {}
    for key, cluster in c.items():
        members.setdefault(cluster, []).append(key)
    # Two records that are apart, and a two-record person held together by one pair.
    apart = sorted(members.values(), key=len)[:2]
    a, b = apart[0][0], apart[1][0]
    pair = next(sorted(m) for m in members.values() if len(m) == 2)
    decisions = pa.table(
        {
            "record_key_l": [a, pair[1]],
            "record_key_r": [b, pair[0]],
            "decision": ["accept", "REJECT"],
        }
    )
    after = link_month(identities, tmp_path / "m2.json", decisions=decisions)
    c2 = clusters_of(after)
    assert c2[a] == c2[b]
    assert c2[pair[0]] != c2[pair[1]]
    assert after.decisions_applied == {"accept": 1, "reject": 1}


def test_a_malformed_decisions_file_names_the_row(tmp_path):
    path = tmp_path / "decisions.csv"
    path.write_text("record_key_l,record_key_r,decision\ndk:1,dtks:2,accept\ndk:3,dtks:4,maybe\n")
    with pytest.raises(
        ValueError, match=r"decisions.csv: 1 problem, .*decision must be accept or reject: row 3$"
    ) as err:
        read_decisions(path)
    assert "maybe" not in str(err.value)  # positions, never a cell's contents
    assert read_decisions(tmp_path / "absent.csv") is None


def test_a_saved_model_is_reused_unless_retraining(identities, tmp_path, monkeypatch):
    trained = link_month(identities, tmp_path / f"{MODEL_VERSION}_2025-01.json")
    reused = link_month(
        identities,
        tmp_path / f"{MODEL_VERSION}_2025-02.json",
        reuse_model=tmp_path / f"{MODEL_VERSION}_2025-01.json",
    )
    assert trained.trained and not reused.trained
    assert set(reused.seconds) == {"train", "predict", "cluster"}

    def partition(result):
        groups: dict[str, set[str]] = {}
        for key, cluster in clusters_of(result).items():
            groups.setdefault(cluster, set()).add(key)
        return {frozenset(g) for g in groups.values()}

    assert partition(reused) == partition(trained)

    from dtsen_pipeline.linkage.model import latest_model

    monkeypatch.setenv("DTSEN_WAREHOUSE_DIR", str(tmp_path / "wh"))
    models = tmp_path / "wh" / "models"
    models.mkdir(parents=True)
    assert latest_model("2025-03") is None
    for month in ("2025-01", "2025-02", "2025-04"):
        (models / f"{MODEL_VERSION}_{month}.json").write_text("{}")
    assert latest_model("2025-03").name == f"{MODEL_VERSION}_2025-02.json"


def test_incremental_month_agrees_with_a_full_relink(identities, tmp_path):
    """Records new this month or changed since last month are scored again; the rest keep their
    grouping. The result must agree with scoring everything."""
    from dtsen_pipeline.linkage.scoring import fingerprint_sql

    model_json = tmp_path / f"{MODEL_VERSION}_2025-01.json"
    full = link_month(identities, model_json)
    keys = identities.column("record_key").to_pylist()
    rng = random.Random(3)
    new_this_month = set(rng.sample(keys, 30))
    changed = set(rng.sample(sorted(set(keys) - new_this_month), 50))
    with duckdb.connect() as con:
        con.register("ids", identities)
        con.register("clusters", full.clusters)
        previous = con.sql(
            f"""
            select c.record_key, 'P' || c.cluster_id as dtsen_id,
                   case when c.record_key in (select unnest(?)) then 'stale' else {fingerprint_sql("i.")} end
                       as fingerprint
            from clusters c join ids i using (record_key)
            where c.record_key not in (select unnest(?))""",
            params=[sorted(changed), sorted(new_this_month)],
        ).to_arrow_table()
    incremental = link_month(
        identities, tmp_path / "inc.json", reuse_model=model_json, previous=previous
    )
    assert incremental.rescored == len(new_this_month) + len(changed)
    scored_again = link_month(identities, tmp_path / "again.json", reuse_model=model_json)

    def pairs(result):
        groups: dict[str, list[str]] = {}
        for key, cluster in clusters_of(result).items():
            groups.setdefault(cluster, []).append(key)
        return {tuple(sorted(p)) for g in groups.values() for p in combinations(g, 2)}

    a, b = pairs(incremental), pairs(scored_again)
    agreement = 2 * len(a & b) / (len(a) + len(b))
    assert agreement >= 0.99
