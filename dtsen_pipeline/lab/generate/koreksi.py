"""The correction loop's three sources: village proposals, public objections and field visits.

They are events, not registers (like the PHK reports): each month villages propose families to add,
fields to correct and persons to deactivate (``usulan_desa``), citizens object to who is or is not
listed (``sanggahan``), and field workers visit what was proposed or objected to, plus PKH families
their facilitator follows (``verifikasi_lapangan``). A declared share of proposals and objections is
wrong (profile.yaml ``koreksi``), as in life; the visit finds out, with its own small error.

Every draw comes from the writer's own generator ``[seed, month, KOREKSI_STREAM, writer]``, and these writers run
after the nine registers', so the other sources' files are the same as without them for a seed.
The truth (``truth/<month>/koreksi.parquet``) says for each proposal and objection whether its
claim is true, and for each visit whether its verdict is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dtsen_pipeline.lab.generate import regions
from dtsen_pipeline.lab.generate.extracts import (
    PMT_COLUMNS,
    MonthContext,
    _write_csv,
    _write_xlsx,
    dmy,
    flat,
)
from dtsen_pipeline.lab.generate.registers import apply_noise

KOREKSI_STREAM = 19  # the issue that asked for them: a stream of its own, apart from the world's
TRUTH_COLUMNS = [
    "source",
    "source_record_id",
    "person_id",
    "family_id",
    "jenis",
    "benar",
    "rujukan",
]
# Proposal kinds: (Jenis Usulan, Alasan) as a Dinsos form names them.
USULAN = {
    "tambah": ("TAMBAH", "KELUARGA MISKIN BELUM TERDAFTAR"),
    "ubah": ("UBAH", "PERBAIKAN DATA"),
    "meninggal": ("NONAKTIF", "MENINGGAL"),
    "pindah": ("NONAKTIF", "PINDAH"),
    "mampu": ("NONAKTIF", "SUDAH MAMPU"),
}
SANGGAHAN = {"tidak_layak": "TIDAK LAYAK TERDAFTAR", "layak": "LAYAK BELUM TERDAFTAR"}


def _rng(ctx: MonthContext, writer: str) -> np.random.Generator:
    """The writer's own draws for the month, apart from the world's and the other writers'."""
    return np.random.default_rng(
        [ctx.seed, ctx.index + 1, KOREKSI_STREAM, list(WRITERS).index(writer)]
    )


def _state(ctx: MonthContext) -> dict:
    """What the loop remembers across months: the items received, the ones visited."""
    return ctx.state.setdefault("koreksi", {})


def _families(ctx: MonthContext) -> pd.DataFrame:
    """Families with a living head (the subject of family-level items), their desil and whether
    DTKS (the programme base) lists them."""
    view = ctx.view
    heads = view[(view["hub"] == 1) & view["alive"]].drop_duplicates("family_id")
    dtks = ctx.registers["dtks"].active()
    listed = set(dtks["person_id"].map(view.set_index("person_id")["family_id"]).dropna())
    return heads.assign(in_dtks=heads["family_id"].isin(listed)).sort_values("family_id")


def _pick(pool: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    n = min(n, len(pool))
    return pool.iloc[np.sort(rng.choice(len(pool), n, replace=False))] if n else pool.iloc[:0]


def _draw(
    spec: dict, kinds: dict, pools: dict, n_families: int, rng: np.random.Generator
) -> pd.DataFrame:
    """This month's items: per kind its count, each wrong with the declared share, the subject drawn
    from the kind's true pool or its wrong one. Returns subjects (person view rows) with jenis, benar."""
    total = rng.binomial(n_families, spec["per_1000_families"] / 1000)
    names_ = list(kinds)
    counts = rng.multinomial(total, [spec["kinds"][k] for k in names_])
    out = []
    for kind, n in zip(names_, counts):
        wrong = rng.binomial(n, spec["wrong"])
        true_pool, wrong_pool = pools[kind]
        for pool, k, benar in ((true_pool, n - wrong, True), (wrong_pool, wrong, False)):
            picked = _pick(pool, k, rng)
            out.append(picked.assign(jenis=kind, benar=benar))
    items = pd.concat(out, ignore_index=True)
    return items.iloc[rng.permutation(len(items))].reset_index(drop=True)


def _place(kode_desa: pd.Series) -> pd.DataFrame:
    return regions.villages().set_index("kode_desa").loc[kode_desa.to_numpy()].reset_index()


def _date_cells(iso: pd.Series) -> list:
    """Excel date cells where the date is real; the typed text where it is a year or not a date."""
    valid = iso.str.match(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
    as_date = pd.to_datetime(iso.where(valid), errors="coerce")
    return [d.to_pydatetime() if pd.notna(d) else t for d, t in zip(as_date, dmy(iso))]


def _days(ctx: MonthContext, n: int, rng: np.random.Generator) -> pd.Series:
    period = pd.Period(ctx.month, freq="M")
    return pd.Series(
        period.start_time + pd.to_timedelta(rng.integers(0, period.days_in_month, n), "D")
    )


def usulan_desa(ctx: MonthContext) -> None:
    """Proposals from villages, collected by the kabupaten Dinsos and exported as one XLSX a month."""
    spec = ctx.profile["koreksi"]["usulan_desa"]
    rng = _rng(ctx, "usulan_desa")
    fams, view = _families(ctx), ctx.view
    person = view.set_index("person_id", drop=False)
    dtks = ctx.registers["dtks"].active()
    in_dtks = person.loc[dtks["person_id"].unique()]
    dead = in_dtks[~in_dtks["alive"]]
    moved = fams[fams["family_id"].isin(ctx.world.events.get("moved_families", []))]
    # A field correction is true when DTKS holds the person's birth date or sex wrong.
    miskeyed = dtks[(dtks["noise_tanggal_lahir"] != "") | (dtks["noise_jenis_kelamin"] != "")]
    pools = {
        "tambah": (
            fams[(fams["desil"] <= 4) & ~fams["in_dtks"]],
            fams[(fams["desil"] >= 7) & ~fams["in_dtks"]],
        ),
        "ubah": (
            person.loc[miskeyed["person_id"].unique()].query("alive"),
            in_dtks[in_dtks["alive"]],
        ),
        "meninggal": (dead, in_dtks[in_dtks["alive"]]),
        "pindah": (moved, fams[fams["in_dtks"] & ~fams["family_id"].isin(moved["family_id"])]),
        "mampu": (
            fams[fams["in_dtks"] & (fams["desil"] >= 7)],
            fams[fams["in_dtks"] & (fams["desil"] <= 3)],
        ),
    }
    items = _draw(spec, USULAN, pools, len(fams), rng)
    n = len(items)
    rec = apply_noise(items, spec.get("noise", {}), rng) if n else None
    ids = pd.Series([f"USL-{ctx.yyyymm}-{i:05d}" for i in range(1, n + 1)], dtype=object)
    field_ = np.where(
        items["jenis"] == "ubah",
        np.where(rng.random(n) < 0.5, "TANGGAL LAHIR", "JENIS KELAMIN"),
        "",
    )
    dob_true = pd.to_datetime(items["tanggal_lahir"]) if n else pd.Series(dtype="datetime64[ns]")
    # The new value: the truth for a true correction; a year off, or the other sex, for a wrong one.
    new_dob = np.where(items["benar"], dob_true, dob_true - pd.DateOffset(years=1)) if n else []
    new_sex = np.where(items["female"] ^ ~items["benar"].astype(bool), "P", "L") if n else []
    baru = np.select(
        [field_ == "TANGGAL LAHIR", field_ == "JENIS KELAMIN"],
        [
            pd.Series(pd.to_datetime(new_dob)).dt.strftime("%d-%m-%Y").to_numpy(dtype=object),
            new_sex,
        ],
        "",
    )
    place = (
        _place(items["kode_desa"])
        if n
        else pd.DataFrame(columns=["nama_desa", "nama_kecamatan", "nama_kabupaten"])
    )
    df = pd.DataFrame(
        {
            "No Usulan": ids.to_numpy(),
            "Tanggal Usulan": [d.to_pydatetime() for d in _days(ctx, n, rng)],
            "Jenis Usulan": [USULAN[k][0] for k in items["jenis"]],
            "Alasan": [USULAN[k][1] for k in items["jenis"]],
            "Kolom Diubah": field_,
            "Data Baru": baru,
            "NIK": rec["nik"].to_numpy() if n else [],
            "No KK": items["no_kk"].to_numpy(),
            "Nama": rec["nama"].to_numpy() if n else [],
            "Tanggal Lahir": _date_cells(pd.Series(rec["tanggal_lahir"].to_numpy())) if n else [],
            "Jenis Kelamin": rec["jenis_kelamin"].to_numpy() if n else [],
            "Alamat": items["alamat"].to_numpy(),
            "Kode Wilayah": items["kode_desa"].to_numpy(),
            "Desa/Kelurahan": place["nama_desa"].to_numpy(),
            "Kecamatan": place["nama_kecamatan"].to_numpy(),
            "Kabupaten/Kota": place["nama_kabupaten"].to_numpy(),
        }
    )
    year, month = ctx.month.split("-")
    path = ctx.path("usulan_desa", f"Usulan DTSEN {ctx.yyyymm}.xlsx")
    _write_xlsx(
        df,
        path,
        "Usulan",
        ["REKAPITULASI USULAN DESA/KELURAHAN - DTSEN", f"Periode: {month}/{year}", ""],
    )
    ctx.emit("usulan_desa", path, ids, items["person_id"], rec["errors"] if n else [])
    _remember(ctx, "usulan_desa", ids, items)


def sanggahan(ctx: MonthContext) -> None:
    """Public objections as the complaint channel exports them (CSV): the subject typed by a
    citizen, names for regions, often no NIK and no birth date; the objector's own identity too."""
    spec = ctx.profile["koreksi"]["sanggahan"]
    rng = _rng(ctx, "sanggahan")
    fams = _families(ctx)
    pools = {
        "tidak_layak": (
            fams[fams["in_dtks"] & (fams["desil"] >= 7)],
            fams[fams["in_dtks"] & (fams["desil"] <= 4)],
        ),
        "layak": (
            fams[~fams["in_dtks"] & (fams["desil"] <= 3)],
            fams[~fams["in_dtks"] & (fams["desil"] >= 6)],
        ),
    }
    items = _draw(spec, SANGGAHAN, pools, len(fams), rng)
    n = len(items)
    rec = apply_noise(items, spec.get("noise", {}), rng) if n else None
    ids = pd.Series([f"SGH-{ctx.yyyymm}-{i:05d}" for i in range(1, n + 1)], dtype=object)
    # The objector: a neighbour (another head of the same village, or any head if none).
    alive_heads = fams.reset_index(drop=True)
    objector = []
    for desa, fam in zip(items["kode_desa"], items["family_id"]):
        pool = alive_heads[(alive_heads["kode_desa"] == desa) & (alive_heads["family_id"] != fam)]
        pool = pool if len(pool) else alive_heads
        objector.append(pool.iloc[int(rng.integers(0, len(pool)))])
    objector = pd.DataFrame(objector).reset_index(drop=True)
    place = (
        _place(items["kode_desa"])
        if n
        else pd.DataFrame(columns=["nama_desa", "nama_kecamatan", "nama_kabupaten"])
    )
    dob_given = rng.random(n) < spec["birth_date_given"]
    df = pd.DataFrame(
        {
            "ID_SANGGAHAN": ids.to_numpy(),
            "TANGGAL": _days(ctx, n, rng).dt.strftime("%Y-%m-%d").to_numpy(),
            "JENIS_SANGGAHAN": [SANGGAHAN[k] for k in items["jenis"]],
            "NAMA_PELAPOR": objector["nama"].to_numpy() if n else [],
            "NIK_PELAPOR": objector["nik"].to_numpy() if n else [],
            "NAMA_TERLAPOR": rec["nama"].to_numpy() if n else [],
            "NIK_TERLAPOR": rec["nik"].to_numpy() if n else [],
            "TGL_LAHIR_TERLAPOR": np.where(
                dob_given, dmy(pd.Series(rec["tanggal_lahir"].to_numpy())), ""
            )
            if n
            else [],
            "ALAMAT_TERLAPOR": items["alamat"].to_numpy(),
            "DESA": place["nama_desa"].str.title().to_numpy(),
            "KECAMATAN": place["nama_kecamatan"].str.title().to_numpy(),
            "KABUPATEN": place["nama_kabupaten"].str.title().to_numpy(),
        }
    )
    path = ctx.path("sanggahan", f"sanggahan_{ctx.yyyymm}.csv")
    _write_csv(df, path)
    ctx.emit("sanggahan", path, ids, items["person_id"], rec["errors"] if n else [])
    _remember(ctx, "sanggahan", ids, items)


def _remember(ctx: MonthContext, source: str, ids: pd.Series, items: pd.DataFrame) -> None:
    state = _state(ctx)
    new = pd.DataFrame(
        {
            "id": ids.to_numpy(dtype=object),
            "person_id": items["person_id"].to_numpy(dtype=np.int64),
            "family_id": items["family_id"].to_numpy(dtype=np.int64),
            "jenis": items["jenis"].to_numpy(dtype=object),
            "benar": items["benar"].to_numpy(dtype=bool),
            "month": ctx.month,
        }
    )
    ctx.state.setdefault("koreksi_truth", []).append(new.assign(source=source, rujukan=""))
    state["received"] = pd.concat([state.get("received", new.iloc[:0]), new], ignore_index=True)


def workers(kabupaten: list[str], spec: dict) -> pd.DataFrame:
    """The field workers of each kabupaten: PKH facilitators and TKSK, with stable ids."""
    rows = [
        (kab, f"{prefix}-{flat(pd.Series([kab]))[0]}-{j:02d}", role)
        for kab in sorted(kabupaten)
        for prefix, role, count in (
            ("PKH", "PENDAMPING PKH", spec["pkh_facilitators_per_kabupaten"]),
            ("TKSK", "TKSK", spec["tksk_per_kabupaten"]),
        )
        for j in range(1, count + 1)
    ]
    return pd.DataFrame(rows, columns=["kode_kab", "id_petugas", "peran"])


def _assigned(
    family_id: pd.Series, kode_kab: pd.Series, crew: pd.DataFrame, role: str
) -> np.ndarray:
    """The worker of ``role`` who follows each family: the same one every month."""
    by_kab = {
        k: g["id_petugas"].to_numpy() for k, g in crew[crew["peran"] == role].groupby("kode_kab")
    }
    return np.array(
        [by_kab[k][int(f) % len(by_kab[k])] for f, k in zip(family_id, kode_kab)], dtype=object
    )


def _due(ctx: MonthContext, spec: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Items received before this month and not visited yet: a share of them is visited now (and
    remembered as visited)."""
    state = _state(ctx)
    received = state.get(
        "received",
        pd.DataFrame(columns=["id", "person_id", "family_id", "jenis", "benar", "month"]),
    )
    waiting = received[
        (received["month"] < ctx.month) & ~received["id"].isin(state.get("visited", set()))
    ]
    due = waiting[rng.random(len(waiting)) < spec["visited_per_month"]]
    state.setdefault("visited", set()).update(due["id"])
    return due


def _routine(
    ctx: MonthContext, crew: pd.DataFrame, spec: dict, rng: np.random.Generator
) -> pd.DataFrame:
    """Routine visits: each facilitator visits PKH families (listed in DTKS) of their kabupaten."""
    fams = _families(ctx)
    fams = fams.assign(kode_kab=fams["kode_desa"].str.slice(0, 5))
    fams["petugas"] = (
        _assigned(fams["family_id"], fams["kode_kab"], crew, "PENDAMPING PKH") if len(fams) else []
    )
    listed = fams[fams["in_dtks"]]
    return pd.concat(
        [
            _pick(g, spec["routine_per_facilitator"], rng)
            for _, g in listed.groupby("petugas", sort=True)
        ]
        or [listed.iloc[:0]]
    )


def _visits(due: pd.DataFrame, routine: pd.DataFrame) -> pd.DataFrame:
    """The month's visits: the items due (``rujukan`` their id), then the routine ones (no rujukan)."""
    return pd.concat(
        [
            due.assign(rujukan=due["id"]),
            pd.DataFrame(
                {
                    "person_id": routine["person_id"].to_numpy(dtype=np.int64),
                    "family_id": routine["family_id"].to_numpy(dtype=np.int64),
                    "jenis": "rutin",
                    "benar": True,
                    "rujukan": "",
                }
            ),
        ],
        ignore_index=True,
    )


def _findings(
    visits: pd.DataFrame, subject: pd.DataFrame, spec: dict, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each visit finds (HASIL), its verdict on the item (USULAN_SESUAI: YA, TIDAK or none)
    and whether that verdict is wrong."""
    n = len(visits)
    routine_visit = (visits["rujukan"] == "").to_numpy()
    # What the worker finds: the subject dead, the family gone (a true report of a move), not found
    # at the address, or found.
    moved = (visits["jenis"] == "pindah").to_numpy()
    not_found = rng.random(n) < spec["not_found"]
    hasil = np.select(
        [~subject["alive"].to_numpy(bool), moved & visits["benar"].to_numpy(bool), not_found],
        ["MENINGGAL", "PINDAH", "TIDAK DITEMUKAN"],
        "DITEMUKAN",
    )
    # The verdict on the item: right unless the worker errs (a declared share).
    errs = rng.random(n) < spec["verdict_wrong"]
    verdict = visits["benar"].to_numpy(bool) ^ errs
    # No verdict without the subject: a routine visit, or nobody found at the address.
    no_verdict = routine_visit | (hasil == "TIDAK DITEMUKAN")
    errs = errs & ~no_verdict
    sesuai = np.where(no_verdict, "", np.where(verdict, "YA", "TIDAK"))
    return hasil, sesuai, errs


def verifikasi_lapangan(ctx: MonthContext) -> None:
    """This month's field visits (CSV from the workers' app): proposals and objections received in
    earlier months (a share each month; the rest wait), and PKH families their facilitator follows
    (graduation checks). Each visit says what was found and, when found, the family's PMT answers."""
    spec = ctx.profile["koreksi"]["verifikasi_lapangan"]
    rng = _rng(ctx, "verifikasi_lapangan")
    view = ctx.view
    person = view.set_index("person_id", drop=False)
    crew = workers(list(view["kode_desa"].str.slice(0, 5).unique()), spec)
    due = _due(ctx, spec, rng)
    visits = _visits(due, _routine(ctx, crew, spec, rng))
    subject = person.loc[visits["person_id"].to_numpy()].reset_index(drop=True)
    n = len(visits)
    kab_now = subject["kode_desa"].str.slice(0, 5)
    routine_visit = (visits["rujukan"] == "").to_numpy()
    petugas = np.where(
        routine_visit,
        _assigned(subject["family_id"], kab_now, crew, "PENDAMPING PKH") if n else [],
        _assigned(subject["family_id"], kab_now, crew, "TKSK") if n else [],
    )
    hasil, sesuai, errs = _findings(visits, subject, spec, rng)
    rec = apply_noise(subject, spec.get("noise", {}), rng) if n else None
    ids = pd.Series([f"VL-{ctx.yyyymm}-{i:05d}" for i in range(1, n + 1)], dtype=object)
    found = hasil == "DITEMUKAN"
    answers = ctx.world.families.set_index("family_id").loc[
        subject["family_id"].to_numpy(), PMT_COLUMNS
    ]
    df = pd.DataFrame(
        {
            "ID_KUNJUNGAN": ids.to_numpy(),
            "TGL_KUNJUNGAN": _days(ctx, n, rng).dt.strftime("%Y-%m-%d").to_numpy(),
            "ID_PETUGAS": petugas,
            "PERAN": np.where(routine_visit, "PENDAMPING PKH", "TKSK"),
            "KODE_KAB": flat(kab_now).to_numpy() if n else [],
            "ID_RUJUKAN": visits["rujukan"].to_numpy(),
            "HASIL": hasil,
            "USULAN_SESUAI": sesuai,
            "NIK": rec["nik"].to_numpy() if n else [],
            "NO_KK": subject["no_kk"].to_numpy(),
            "NAMA": rec["nama"].str.upper().to_numpy() if n else [],
            "TGL_LAHIR": rec["tanggal_lahir"].to_numpy() if n else [],
            "JENIS_KELAMIN": rec["jenis_kelamin"].to_numpy() if n else [],
            "KODE_DESA": flat(subject["kode_desa"]).to_numpy() if n else [],
            **{
                c: pd.Series(answers[c].to_numpy(), dtype=object).where(found, None).to_numpy()
                for c in PMT_COLUMNS
            },
        }
    )
    path = ctx.path("verifikasi_lapangan", f"verifikasi_lapangan_{ctx.yyyymm}.csv")
    _write_csv(df, path)
    ctx.emit("verifikasi_lapangan", path, ids, subject["person_id"], rec["errors"] if n else [])
    ctx.state.setdefault("koreksi_truth", []).append(
        pd.DataFrame(
            {
                "id": ids.to_numpy(dtype=object),
                "person_id": subject["person_id"].to_numpy(dtype=np.int64),
                "family_id": subject["family_id"].to_numpy(dtype=np.int64),
                "jenis": np.where(routine_visit, "rutin", "kunjungan"),
                "benar": ~errs,
                "source": "verifikasi_lapangan",
                "rujukan": visits["rujukan"].to_numpy(dtype=object),
                "month": ctx.month,
            }
        )
    )


def write_truth(ctx: MonthContext, truth_dir) -> None:
    """``koreksi.parquet``: this month's proposals, objections and visits; ``benar`` says whether a
    proposal's or objection's claim is true, and whether a visit's verdict is right."""
    parts = [p for p in ctx.state.pop("koreksi_truth", []) if p["month"].eq(ctx.month).all()]
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["id", *TRUTH_COLUMNS])
    )
    frame = frame.rename(columns={"id": "source_record_id"})
    frame[TRUTH_COLUMNS].to_parquet(truth_dir / "koreksi.parquet", index=False)


WRITERS = {
    "usulan_desa": usulan_desa,
    "sanggahan": sanggahan,
    "verifikasi_lapangan": verifikasi_lapangan,
}
