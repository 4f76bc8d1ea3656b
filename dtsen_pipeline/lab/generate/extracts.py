"""One writer per agency: its register (or events) written in the agency's own file layout.

Every writer hands its rows to ``MonthContext.emit``, which writes the file and records the ground
truth (which true person each record is) beside the landing folder, never inside it. The layouts
are documented per source in docs/sources/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xlsxwriter

from dtsen_pipeline.lab.generate import names, regions
from dtsen_pipeline.lab.generate.population import World
from dtsen_pipeline.lab.generate.registers import Register, apply_noise, record_errors

HUB_LABEL = {1: "KEPALA KELUARGA", 2: "ISTRI/SUAMI", 3: "ANAK", 6: "ORANG TUA"}
BULAN = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
]


@dataclass
class MonthContext:
    month: str
    landing: Path
    world: World
    view: pd.DataFrame  # person view: persons with their family's current attributes
    registers: dict[str, Register]
    profile: dict
    rng: np.random.Generator
    first: bool
    state: dict = field(default_factory=dict)  # writer memory across months (deltas)
    truth: list[pd.DataFrame] = field(default_factory=list)
    files: dict[str, list[Path]] = field(default_factory=dict)
    seed: int = 0  # the world's seed and the month's index: the correction sources' own draws
    index: int = 0

    @property
    def yyyymm(self) -> str:
        return self.month.replace("-", "")

    def records(self, source: str) -> pd.DataFrame:
        """Active records with the true person's current attributes (suffix ``_true``)."""
        recs = self.registers[source].active()
        return recs.merge(
            self.view, on="person_id", how="left", suffixes=("", "_true")
        ).sort_values("rec_no")

    def path(self, source: str, filename: str) -> Path:
        path = self.landing / source / self.month / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def emit(self, source: str, path: Path, record_ids, person_ids, errors) -> None:
        """``errors``: each record's error kinds as written (registers.record_errors), for the truth."""
        self.files.setdefault(source, []).append(path)
        self.truth.append(
            pd.DataFrame(
                {
                    "source": source,
                    "source_record_id": pd.Series(record_ids, dtype=str).to_numpy(),
                    "person_id": np.asarray(person_ids, dtype=np.int64),
                    "errors": np.asarray(errors, dtype=object),
                }
            )
        )


# Date text from the register's ISO form, which may be a placeholder year or an impossible date.
def dmy(iso: pd.Series, sep: str = "-") -> pd.Series:
    iso = iso.astype(str)
    full = iso.str.len() == 10
    return iso.where(
        ~full, iso.str.slice(8, 10) + sep + iso.str.slice(5, 7) + sep + iso.str.slice(0, 4)
    )


def compact(iso: pd.Series) -> pd.Series:
    return iso.astype(str).str.replace("-", "", regex=False)


def flat(code: pd.Series) -> pd.Series:
    return regions.flat(code.astype(str))


def _write_csv(df: pd.DataFrame, path: Path, sep: str = ",", encoding: str = "utf-8") -> None:
    df.to_csv(path, sep=sep, index=False, encoding=encoding, errors="replace")


def _write_xlsx(df: pd.DataFrame, path: Path, sheet: str, title_rows: list[str] = ()) -> None:
    """A spreadsheet as an office would keep it: optional title rows above the header, real date
    cells, text where text was typed. Timestamps fixed so the same seed gives the same file."""
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    wb.set_properties({"created": datetime(2025, 1, 1)})
    ws = wb.add_worksheet(sheet)
    date_format = wb.add_format({"num_format": "dd/mm/yyyy"})
    row = 0
    for line in title_rows:
        ws.write_string(row, 0, line) if line else None
        row += 1
    ws.write_row(row, 0, list(df.columns))
    for values in df.itertuples(index=False, name=None):
        row += 1
        for col, v in enumerate(values):
            if isinstance(v, datetime):
                ws.write_datetime(row, col, v, date_format)
            elif v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            elif isinstance(v, str):
                ws.write_string(row, col, v)
            else:
                ws.write_number(row, col, v)
    wb.close()


def _kabupaten_only(errors) -> np.ndarray:
    """Records of a source that carries only the kabupaten code: a kind of its own, since region
    then says less (what the linkage must do without)."""
    errors = pd.Series(np.asarray(errors, dtype=object), dtype=object).fillna("")
    return (errors + np.where(errors == "", "", ",") + "kabupaten_only").to_numpy(dtype=object)


def dukcapil(ctx: MonthContext) -> None:
    r = ctx.records("dukcapil")
    ids = "DK" + r["rec_no"].astype(str).str.zfill(9)
    df = pd.DataFrame(
        {
            "ID_REC": ids,
            "NIK": r["nik"],
            "NO_KK": r["no_kk_true"].fillna(r["no_kk"]),
            "NAMA_LGKP": r["nama"].str.upper(),
            "TMPT_LHR": r["tempat_lahir"],
            "TGL_LHR": r["tanggal_lahir"],
            "JENIS_KLMIN": np.where(r["jenis_kelamin"] == "P", "PEREMPUAN", "LAKI-LAKI"),
            "STAT_HBKEL": r["hub"].map(HUB_LABEL),
            "KODE_WILAYAH": flat(r["kode_desa"]),
            "ALAMAT": r["alamat"].str.upper(),
        }
    )
    path = ctx.path("dukcapil", f"dukcapil_penduduk_{ctx.month}.csv")
    _write_csv(df, path)
    ctx.emit(
        "dukcapil", path, ids, r["person_id"], record_errors(r, kk=False)
    )  # writes the true KK


def dtks(ctx: MonthContext) -> None:
    r = ctx.records("dtks")
    region = r["kode_desa"].str.split(".", expand=True)
    # A DTKS household (ruta) groups the KKs of one dwelling; its id follows its first record.
    idbdt = "BDT" + r.groupby("household_id")["rec_no"].transform("min").astype(str).str.zfill(8)
    art_ids = r["rec_no"].astype(str).str.zfill(10)
    art = pd.DataFrame(
        {
            "IDARTBDT": art_ids,
            "IDBDT": idbdt,
            "NIK": r["nik"],
            "NOKK": r["no_kk"],
            "NAMA": r["nama"].str.upper(),
            "JNSKEL": np.where(r["jenis_kelamin"] == "P", "2", "1"),
            "TGLLAHIR": dmy(r["tanggal_lahir"]),
            "HUB_KRT": r["hub"],
            "KDPROP": region[0],
            "KDKAB": region[1],
            "KDKEC": region[2],
            "KDDESA": region[3],
            "PENDIDIKAN": r["pendidikan"].str.upper(),
            "PEKERJAAN": r["pekerjaan"].str.upper(),
            "DISABILITAS": r["disabilitas"].astype(int),
            "PENYAKIT_KRONIS": r["penyakit_kronis"].astype(int),
        }
    )
    path = ctx.path("dtks", f"DTKS_ART_{ctx.yyyymm}.csv")
    _write_csv(art, path, sep=";")
    ctx.emit("dtks", path, art_ids, r["person_id"], record_errors(r))
    fam = ctx.world.families.set_index("family_id")
    first = r.assign(IDBDT=idbdt).drop_duplicates("IDBDT")
    attrs = fam.loc[first["family_id"], PMT_COLUMNS].reset_index(drop=True)
    ruta = pd.concat(
        [
            pd.DataFrame(
                {
                    "IDBDT": first["IDBDT"].to_numpy(),
                    "KDPROP": region.loc[first.index, 0].to_numpy(),
                    "KDKAB": region.loc[first.index, 1].to_numpy(),
                    "KDKEC": region.loc[first.index, 2].to_numpy(),
                    "KDDESA": region.loc[first.index, 3].to_numpy(),
                    "ALAMAT": first["alamat"].str.upper().to_numpy(),
                }
            ),
            attrs.rename(columns=str.upper),
        ],
        axis=1,
    )
    path = ctx.path("dtks", f"DTKS_RUTA_{ctx.yyyymm}.csv")
    _write_csv(ruta, path, sep=";")
    ctx.files["dtks"].append(path)


PMT_COLUMNS = [
    "status_rumah",
    "luas_lantai_m2",
    "jenis_lantai",
    "jenis_dinding",
    "jenis_atap",
    "sumber_air_minum",
    "fasilitas_bab",
    "sumber_penerangan",
    "bahan_bakar_masak",
    "punya_kulkas",
    "punya_motor",
    "punya_mobil",
    "punya_tv",
    "punya_hp",
    "punya_emas",
    "punya_lahan",
    "ternak_sapi",
    "ternak_kambing",
    "ternak_unggas",
]


def regsosek(ctx: MonthContext) -> None:
    """BPS family form (Parquet): one row per family with its members nested. The first month is
    the full census; later months carry only families whose form changed (delta)."""
    r = ctx.records("regsosek")
    # A family's form changed when its members, its village or its PMT answers (dwelling, assets,
    # livestock) did: compare a vectorised fingerprint with last month's.
    g = r.assign(rec_sq=r["rec_no"].astype(float) ** 2).groupby("family_id")
    answers = ctx.world.families.set_index("family_id")[PMT_COLUMNS]
    answers = pd.Series(
        pd.util.hash_pandas_object(answers, index=False).to_numpy(), index=answers.index
    )
    signature = (
        g["rec_no"].count().astype(str)
        + "|"
        + g["rec_no"].sum().astype(str)
        + "|"
        + g["rec_sq"].sum().astype(str)
        + "|"
        + g["kode_desa"].first()
        + "|"
        + answers.reindex(g["rec_no"].count().index).astype(str)
    )
    previous = ctx.state.get("regsosek_signature", pd.Series(dtype=object))
    changed = (
        signature.index
        if ctx.first
        else signature.index[signature.ne(previous.reindex(signature.index))]
    )
    ctx.state["regsosek_signature"] = signature
    r = r[r["family_id"].isin(changed)].sort_values(["family_id", "hub", "rec_no"])
    fam = ctx.world.families.set_index("family_id")
    born = pd.to_datetime(
        r["tanggal_lahir"].where(r["tanggal_lahir"].str.len() == 10, r["tanggal_lahir"] + "-01-01"),
        errors="coerce",
    ).dt.date
    members = pa.StructArray.from_arrays(
        [
            pa.array(("RS" + r["rec_no"].astype(str).str.zfill(10)).tolist()),
            pa.array((r.groupby("family_id").cumcount() + 1).tolist(), pa.int16()),
            pa.array(r["nik"].replace("", None).tolist(), pa.string()),
            pa.array(r["nama"].tolist()),
            pa.array(np.where(r["jenis_kelamin"] == "P", 2, 1).tolist(), pa.int8()),
            pa.array(born.tolist(), pa.date32()),
            pa.array(r["hub"].tolist(), pa.int8()),
            pa.array(r["pendidikan"].tolist()),
            pa.array(r["pekerjaan"].tolist()),
            pa.array(r["disabilitas"].tolist()),
            pa.array(r["penyakit_kronis"].tolist()),
        ],
        names=[
            "id_art",
            "no_urut",
            "nik",
            "nama",
            "jenis_kelamin",
            "tanggal_lahir",
            "hubungan_kk",
            "pendidikan",
            "status_pekerjaan",
            "disabilitas",
            "penyakit_kronis",
        ],
    )
    sizes = r.groupby("family_id", sort=False).size()
    offsets = pa.array(np.r_[0, np.cumsum(sizes.to_numpy())].astype(np.int32))
    heads = r.drop_duplicates("family_id")
    attrs = fam.loc[heads["family_id"], PMT_COLUMNS]
    table = pa.table(
        {
            "id_keluarga": (
                "RK" + r.groupby("family_id", sort=False)["rec_no"].min().astype(str).str.zfill(10)
            ).tolist(),
            "kode_wilayah": heads["kode_desa"].tolist(),
            "alamat": heads["alamat"].tolist(),
            "no_kk": heads["no_kk"].tolist(),
            **{c: attrs[c].tolist() for c in PMT_COLUMNS},
            "anggota": pa.ListArray.from_arrays(offsets, members),
        }
    )
    path = ctx.path("regsosek", f"regsosek_keluarga_{ctx.month}.parquet")
    pq.write_table(table, path)
    ctx.emit(
        "regsosek",
        path,
        "RS" + r["rec_no"].astype(str).str.zfill(10),
        r["person_id"],
        record_errors(r),
    )


def p3ke(ctx: MonthContext) -> None:
    r = ctx.records("p3ke")
    v = regions.villages().set_index("kode_desa")
    place = v.loc[r["kode_desa"]]
    valid = r["tanggal_lahir"].str.match(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
    as_date = pd.to_datetime(r["tanggal_lahir"].where(valid), errors="coerce")
    ids = "P3KE-" + r["rec_no"].astype(str).str.zfill(9)
    df = pd.DataFrame(
        {
            "ID Keluarga P3KE": "KEL-"
            + r.groupby("family_id")["rec_no"].transform("min").astype(str).str.zfill(9),
            "ID Anggota": ids,
            "NIK": r["nik"],
            "No KK": r["no_kk"],
            "Nama": r["nama"],
            "Jenis Kelamin": np.where(r["jenis_kelamin"] == "P", "Perempuan", "Laki-laki"),
            # Excel date cells where the date is real; text where the register holds a placeholder.
            "Tanggal Lahir": [
                d.to_pydatetime() if pd.notna(d) else t
                for d, t in zip(as_date, dmy(r["tanggal_lahir"]))
            ],
            "Hubungan Keluarga": r["hub"].map(HUB_LABEL).str.title(),
            "Desil Keluarga": np.minimum(r["desil"].fillna(4), 4).astype(int),
            "Provinsi": place["nama_provinsi"].to_numpy(),
            "Kabupaten/Kota": place["nama_kabupaten"].to_numpy(),
            "Kecamatan": place["nama_kecamatan"].to_numpy(),
            "Desa/Kelurahan": place["nama_desa"].to_numpy(),
            "Kode Wilayah": r["kode_desa"],
        }
    )
    path = ctx.path("p3ke", f"P3KE_{ctx.yyyymm}.xlsx")
    _write_xlsx(df, path, "Data P3KE")
    ctx.emit("p3ke", path, ids, r["person_id"], record_errors(r))


def pbi_jk(ctx: MonthContext) -> None:
    r = ctx.records("pbi_jk")
    ids = "0000" + r["rec_no"].astype(str).str.zfill(9)
    df = pd.DataFrame(
        {
            "NO_KARTU": ids,
            "NIK": r["nik"],
            "NOKK": r["no_kk"],
            "NAMA_PESERTA": r["nama"].str.upper(),
            "TGL_LAHIR": dmy(r["tanggal_lahir"], "/"),
            "JK": r["jenis_kelamin"],
            "HUB_KELUARGA": r["hub"].map(
                {1: "PESERTA", 2: "SUAMI/ISTRI", 3: "ANAK", 6: "FAMILI LAIN"}
            ),
            "KD_DATI2": flat(r["kode_desa"].str.slice(0, 5)),
            "STATUS_PESERTA": "AKTIF",
        }
    )
    path = ctx.path("pbi_jk", f"pbi_jk_peserta_{ctx.yyyymm}.csv")
    _write_csv(df, path)
    ctx.emit("pbi_jk", path, ids, r["person_id"], _kabupaten_only(record_errors(r, village=False)))


def bpjs_tk(ctx: MonthContext) -> None:
    r = ctx.records("bpjs_tk")
    ids = "2" + r["rec_no"].astype(str).str.zfill(10)
    formal = r["pekerjaan"] == "formal"
    df = pd.DataFrame(
        {
            "KPJ": ids,
            "NIK": r["nik"],
            "NAMA_TK": r["nama"].str.upper(),
            "TGL_LAHIR": compact(r["tanggal_lahir"]),
            "JNS_KELAMIN": r["jenis_kelamin"],
            "SEGMEN": np.where(formal, "PU", "BPU"),
            "PROGRAM": np.where(formal, "JKK,JKM,JHT", "JKK,JKM"),
            "KODE_KAB": flat(r["kode_desa"].str.slice(0, 5)),
            "TGL_KEPESERTAAN": r["enrolled_month"].str.replace("-", "", regex=False) + "01",
        }
    )
    path = ctx.path("bpjs_tk", f"bpjs_tk_peserta_{ctx.yyyymm}.csv")
    _write_csv(df, path, sep="|")
    ctx.emit(
        "bpjs_tk",
        path,
        ids,
        r["person_id"],
        _kabupaten_only(record_errors(r, kk=False, village=False)),
    )


def phk(ctx: MonthContext) -> None:
    """Kemnaker layoff reports: this month's events only (a delta), some never reported."""
    spec = ctx.profile["phk"]
    events = pd.DataFrame(
        {
            "person_id": ctx.world.events.get("laid_off", np.array([], np.int64)),
            "tgl_phk": ctx.world.events.get("phk_dates", np.array([], "datetime64[ns]")),
        }
    )
    events = events[ctx.rng.random(len(events)) < spec["reported"]]
    v = events.merge(ctx.view, on="person_id", how="left")
    rec = (
        apply_noise(v, spec["noise"], ctx.rng)
        if len(v)
        else pd.DataFrame(columns=["nik", "nama", "tanggal_lahir", "jenis_kelamin"])
    )
    n = len(v)
    ids = "PHK-" + ctx.yyyymm + "-" + pd.Series(ctx.rng.permutation(n) + 1, dtype=str).str.zfill(6)
    df = pd.DataFrame(
        {
            "ID_LAPORAN": ids.to_numpy(),
            "NIK": rec["nik"].to_numpy(),
            "NAMA": rec["nama"].to_numpy(),
            "TGL_LAHIR": dmy(pd.Series(rec["tanggal_lahir"].to_numpy(), dtype=object)).to_numpy(),
            "JENIS_KELAMIN": rec["jenis_kelamin"].to_numpy(),
            "NAMA_PERUSAHAAN": names.company_names(ctx.rng, n),
            "KODE_KAB_KOTA": v["kode_desa"].str.slice(0, 5).to_numpy(),
            "TGL_PHK": pd.to_datetime(v["tgl_phk"]).dt.strftime("%Y-%m-%d").to_numpy(),
            "ALASAN_PHK": ctx.rng.choice(
                np.array(["EFISIENSI", "PENUTUPAN PERUSAHAAN", "PENURUNAN PRODUKSI", "RELOKASI"]), n
            ),
        }
    )
    path = ctx.path("phk", f"kemnaker_phk_{ctx.yyyymm}.csv")
    _write_csv(df, path)
    ctx.emit("phk", path, ids, v["person_id"], _kabupaten_only(rec["errors"] if n else []))


def dinsos_kaltim(ctx: MonthContext) -> None:
    """Dinsos Kaltim's running list (XLSX, Indonesian headers, title rows, names not codes)."""
    r = ctx.records("dinsos_kaltim")
    v = regions.villages().set_index("kode_desa").loc[r["kode_desa"]]
    nik = r["nik"].astype(object).copy()
    # Typed into Excel as a number: 15 significant digits survive, the last becomes 0.
    as_number = (ctx.rng.random(len(r)) < 0.05) & nik.str.fullmatch(r"\d{16}").fillna(
        False
    ).to_numpy()
    nik[as_number] = [int(x[:15] + "0") for x in nik[as_number]]
    df = pd.DataFrame(
        {
            "No": np.arange(1, len(r) + 1),
            "NIK": nik.to_numpy(),
            "Nama Lengkap": r["nama"].to_numpy(),
            "Tempat/Tgl Lahir": (
                r["tempat_lahir"].str.title() + ", " + dmy(r["tanggal_lahir"])
            ).to_numpy(),
            "L/P": r["jenis_kelamin"].to_numpy(),
            "Alamat": r["alamat"].to_numpy(),
            "Desa/Kelurahan": v["nama_desa"].to_numpy(),
            "Kecamatan": v["nama_kecamatan"].to_numpy(),
            "Kabupaten/Kota": v["nama_kabupaten"].to_numpy(),
            "Jenis Pekerjaan": r["sektor_informal"].str.replace("_", " ").str.title().to_numpy(),
        }
    )
    year, month = ctx.month.split("-")
    path = ctx.path("dinsos_kaltim", f"Pekerja Rentan Kaltim {BULAN[int(month) - 1]} {year}.xlsx")
    _write_xlsx(
        df,
        path,
        "Pekerja Rentan",
        [
            "DATA PEKERJA RENTAN PROVINSI KALIMANTAN TIMUR",
            f"Keadaan: {BULAN[int(month) - 1]} {year}",
            "",
        ],
    )
    ctx.emit("dinsos_kaltim", path, df["No"], r["person_id"], record_errors(r, kk=False))


def dinsos_ntt(ctx: MonthContext) -> None:
    """Dinsos NTT: only this month's new entries (a delta), latin-1 CSV from a Windows desktop."""
    r = ctx.records("dinsos_ntt")
    r = r[r["enrolled_month"] == ctx.month]
    nama = r["nama"].astype(str)
    accented = (
        ctx.rng.random(len(r)) < 0.03
    )  # e.g. Désy, Andréas: accents a UTF-8 reader would break on
    nama = nama.where(~accented, nama.str.replace("e", "é", n=1, regex=False))
    v = regions.villages().set_index("kode_desa").loc[r["kode_desa"]]
    df = pd.DataFrame(
        {
            "NO": r["rec_no"].to_numpy(),
            "NIK": r["nik"].to_numpy(),
            "NAMA": nama.to_numpy(),
            "JENIS KELAMIN": np.where(r["jenis_kelamin"] == "P", "PEREMPUAN", "LAKI-LAKI"),
            "TEMPAT LAHIR": r["tempat_lahir"].to_numpy(),
            "TANGGAL LAHIR": dmy(r["tanggal_lahir"], "/").to_numpy(),
            "KODE DESA": r["kode_desa"].to_numpy(),
            "NAMA DESA": v["nama_desa"].to_numpy(),
            "PEKERJAAN": r["sektor_informal"].str.upper().to_numpy(),
            "KETERANGAN": "",
        }
    )
    path = ctx.path("dinsos_ntt", f"dinsos_ntt_{ctx.yyyymm}.csv")
    _write_csv(df, path, sep=";", encoding="latin-1")
    ctx.emit("dinsos_ntt", path, df["NO"], r["person_id"], record_errors(r, kk=False))


WRITERS: dict[str, Callable[[MonthContext], None]] = {
    "dukcapil": dukcapil,
    "dtks": dtks,
    "regsosek": regsosek,
    "p3ke": p3ke,
    "pbi_jk": pbi_jk,
    "bpjs_tk": bpjs_tk,
    "phk": phk,
    "dinsos_kaltim": dinsos_kaltim,
    "dinsos_ntt": dinsos_ntt,
}
