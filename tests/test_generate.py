import pandas as pd
from lokal.nik import parse_nik

from dtsen_pipeline.generate import generate


def test_same_seed_same_files(tmp_path):
    a = generate(persons=400, seed=3, out=tmp_path / "a")[0]
    b = generate(persons=400, seed=3, out=tmp_path / "b")[0]
    for source in a.files:
        assert a.files[source].read_bytes() == b.files[source].read_bytes()
    c = generate(persons=400, seed=4, out=tmp_path / "c")[0]
    assert a.files["dukcapil"].read_bytes() != c.files["dukcapil"].read_bytes()


def test_dukcapil_niks_are_valid_and_agree_with_birth_date_and_sex(tmp_path):
    written = generate(persons=800, seed=5, out=tmp_path)[0]
    df = pd.read_csv(written.files["dukcapil"], dtype=str)
    assert df["NIK"].is_unique
    for row in df.itertuples():
        info = parse_nik(row.NIK)  # an independent oracle for the NIK rule
        assert info.valid, info.errors
        assert info.birth_date == row.TGL_LHR
        assert info.gender == ("P" if row.JENIS_KLMIN == "PEREMPUAN" else "L")


def test_truth_sits_beside_landing_and_covers_every_record(tmp_path):
    written = generate(persons=600, seed=6, out=tmp_path)[0]
    truth = pd.read_parquet(written.truth)
    assert written.truth.is_relative_to(tmp_path / "truth")
    assert not any("truth" in str(p.relative_to(tmp_path)) for p in (tmp_path / "landing").rglob("*"))
    for source, path in written.files.items():
        sep = ";" if source == "dtks" else ","
        extract = pd.read_csv(path, sep=sep, dtype=str)
        assert "person_id" not in " ".join(extract.columns).lower()
        assert (truth["source"] == source).sum() == len(extract) == written.records[source]
    dtks = pd.read_csv(written.files["dtks"], sep=";", dtype=str, keep_default_na=False)
    assert (dtks["NIK"] == "").mean() > 0.02, "DTKS carries missing NIKs as the audits report"
