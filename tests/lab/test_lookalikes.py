"""The lookalikes profile (issue 30): twins, namesakes and the 01-07 / 31-12 placeholder days at
declared rates, in the truth; the default profile plants none."""

import numpy as np
import pandas as pd
import pytest

from dtsen_pipeline.lab.generate import generate, lookalikes, profile

PERSONS = 3000


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("lookalikes")
    generate(persons=PERSONS, start="2025-01", months=1, seed=5, out=out, profile_name="lookalikes")
    truth = out / "truth" / "2025-01"
    return pd.read_parquet(truth / "persons.parquet"), pd.read_parquet(truth / "records.parquet")


def _twins(persons: pd.DataFrame) -> pd.DataFrame:
    pairs = persons.merge(persons, on=["family_id", "tanggal_lahir"])
    return pairs[pairs["person_id_x"] < pairs["person_id_y"]]


def test_twins_share_a_family_and_birth_date_and_same_sex_twins_adjacent_serials(world):
    persons, _ = world
    twins = _twins(persons)
    # 5% of families with 2+ children (about a third of ~1,000 families): some tens of pairs.
    assert 5 <= len(twins) <= 60
    same_sex = twins[twins["female_x"] == twins["female_y"]]
    assert len(same_sex)
    for a, b in zip(same_sex["nik_x"], same_sex["nik_y"], strict=True):
        assert a[:12] == b[:12] and abs(int(a[12:]) - int(b[12:])) == 1
    # About half named as the other with a word added ("MEGAWATI" / "MEGAWATI NURHAYATI").
    added = [
        a.startswith(b + " ") or b.startswith(a + " ")
        for a, b in zip(twins["nama_x"], twins["nama_y"], strict=True)
    ]
    assert 0 < sum(added) < len(added)


def test_namesakes_share_name_birth_date_and_kabupaten_not_family(world):
    persons, _ = world
    persons = persons.assign(kab=persons["kode_desa"].str.slice(0, 5))
    pairs = persons.merge(persons, on=["nama", "tanggal_lahir", "kab"])
    pairs = pairs[(pairs["person_id_x"] < pairs["person_id_y"])]
    pairs = pairs[pairs["family_id_x"] != pairs["family_id_y"]]
    assert 10 <= len(pairs) <= 100  # 2% of 3,000 persons, where a partner exists
    assert (pairs["nik_x"] != pairs["nik_y"]).all()


def test_placeholder_days_are_written_and_recorded(world):
    _, records = world
    marked = records[records["errors"].str.contains("dob_day_placeholder")]
    assert len(marked) > 20
    assert set(marked["source"]) <= {"dtks", "p3ke", "pbi_jk", "regsosek"}


def test_the_default_profile_plants_nothing():
    for name in ("default", "hard"):
        population = profile(name)["population"]
        assert population.get("twins", 0.0) == 0 and population.get("namesakes", 0.0) == 0
    birth = pd.Series(pd.to_datetime(["1990-01-02", "1991-05-05"]))
    nama = np.array(["A", "B"], dtype=object)
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    out = lookalikes.plant_twins(0.0, np.array([0, 0]), np.array([True, True]), birth, nama, rng)
    assert out[0] is birth and out[1] is nama and rng.bit_generator.state == state


def test_the_cli_offers_every_generator_profile():
    """`dtsen generate --profile` lists the profiles without importing the generator: the two lists
    must not drift apart (a profile missing from the CLI is reachable from Python only)."""
    from dtsen_pipeline import cli
    from dtsen_pipeline.lab.generate.world import PROFILES

    assert tuple(PROFILES) == cli.GENERATOR_PROFILES
