"""The Dinsos operators' work lists (`dtsen worklists`): a release's correction-loop marts as XLSX
and CSV files per kabupaten and per field worker, in Indonesian, with what a visit needs.

Read from the release's **identified** database (the head of family's name and No. KK; the street
address and village from the family's golden record), written only under ``paths.worklists_dir()``
(``<data root>/identitas/daftar_kerja/<YYYY-MM>/<kode_kab>/``): owner-only folders (0700) and
files (0600), outside the immutable release. Per kabupaten, one workbook with one sheet per list,
and per field worker one workbook with the lists kept per worker; beside each workbook, each sheet
as a semicolon-separated CSV in UTF-8 with a BOM (what Excel in an Indonesian locale opens as
columns). Sheet names and headers are in ``config/daftar_kerja.yaml``; a code's Indonesian label is
the release's own, from its code lists (``kode_*``, held by the identified database), else from the
dbt seeds those lists are built from (``seeds/kode_label.csv``, ``verifikasi_prioritas.csv``).
Nothing personal is logged or put in an error message: kabupaten codes, worker ids, counts and
the marts' codes only.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator

from dtsen_pipeline.lib import paths, spreadsheets
from dtsen_pipeline.lib.settings import ConfigError, Settings, Text, read_yaml, shown, validate
from dtsen_pipeline.publish import query_limits, releases

LABELS_FILE = "daftar_kerja.yaml"
SEEDS = paths.DBT_PROJECT_DIR / "seeds"
SEED = SEEDS / "verifikasi_prioritas.csv"
CODE_LABELS = SEEDS / "kode_label.csv"
MARTS_DIR = paths.DBT_PROJECT_DIR / "models" / "marts"

# The head of family's name and No. KK, the street address and the village, for every list's family.
_KELUARGA = """
keluarga as (
    select k.dtsen_kk_id, k.no_kk, k.alamat, k.kode_desa, k.nama_desa, i.nama as nama_kepala
    from dtsen_keluarga as k
    left join dtsen_individu as i on k.kepala_dtsen_id = i.dtsen_id
)"""


@dataclass(frozen=True)
class Sheet:
    """One list: its key in the labels file, its columns (keys), whether it is split per worker,
    and the query giving ``_kab`` then the columns, in the list's order."""

    key: str
    columns: tuple[str, ...]
    per_worker: bool
    sql: str


SHEETS = (
    Sheet(
        "kunjungan",
        (
            "peringkat_kabupaten",
            "id_petugas",
            "peran_petugas",
            "peringkat_petugas",
            "penugasan",
            "alasan_utama",
            "no_kk",
            "nama_kepala",
            "alamat",
            "nama_desa",
            "kode_desa",
            "desil",
            "alasan",
            "skor",
            "umur_usulan_hari",
            "sasaran",
        ),
        True,
        """select v.kode_kab as _kab, v.*, k.no_kk, k.nama_kepala, k.alamat, k.nama_desa, k.kode_desa
        from dtsen_daftar_verifikasi as v left join keluarga as k on v.dtsen_kk_id = k.dtsen_kk_id
        order by v.kode_kab, v.peringkat_kabupaten""",
    ),
    Sheet(
        "salah_sasaran",
        (
            "peringkat_kabupaten",
            "program",
            "status_sasaran",
            "desil",
            "no_kk",
            "nama_kepala",
            "alamat",
            "nama_desa",
            "kode_desa",
            "id_petugas",
        ),
        False,
        """select s.kode_kab as _kab, v.peringkat_kabupaten, s.programme as program,
            s.status as status_sasaran, s.desil, k.no_kk, k.nama_kepala, k.alamat, k.nama_desa, k.kode_desa,
            v.id_petugas
        from dtsen_program_sasaran as s
        left join keluarga as k on s.dtsen_kk_id = k.dtsen_kk_id
        left join dtsen_daftar_verifikasi as v on s.dtsen_kk_id = v.sasaran
        where s.status in ('inclusion_error', 'exclusion_error')
        order by s.kode_kab, v.peringkat_kabupaten nulls last, s.programme, s.dtsen_kk_id""",
    ),
    Sheet(
        "usulan_lewat_batas",
        (
            "sumber",
            "id_usulan",
            "tanggal_terima",
            "jenis",
            "alasan_usulan",
            "status_usulan",
            "umur_hari",
            "batas_layanan_hari",
            "id_petugas",
            "no_kk",
            "nama_kepala",
            "alamat",
            "nama_desa",
            "kode_desa",
        ),
        False,
        """select u.kode_kab as _kab, u.source as sumber, u.id_usulan, u.tanggal_terima, u.jenis,
            u.alasan as alasan_usulan, u.status as status_usulan, u.umur_hari,
            u.batas_layanan_hari, u.id_petugas, k.no_kk, k.nama_kepala, k.alamat, k.nama_desa, k.kode_desa
        from dtsen_usulan as u left join keluarga as k on u.dtsen_kk_id = k.dtsen_kk_id
        where u.terbuka and u.lewat_batas
        order by u.kode_kab, u.umur_hari desc, u.source, u.id_usulan""",
    ),
    Sheet(
        "graduasi",
        (
            "id_petugas",
            "status_keluarga",
            "peringkat_hampir",
            "desil",
            "bulan_graduasi",
            "kunjungan_terakhir",
            "no_kk",
            "nama_kepala",
            "alamat",
            "nama_desa",
            "kode_desa",
            "graduasi_petugas",
            "target_per_tahun",
            "sisa_target",
        ),
        True,
        """select g.kode_kab as _kab, g.*, k.no_kk, k.nama_kepala, k.alamat, k.nama_desa, k.kode_desa
        from dtsen_graduasi_pendamping as g
        left join keluarga as k on g.dtsen_kk_id = k.dtsen_kk_id
        order by g.kode_kab, g.id_petugas,
            case g.status_keluarga when 'graduasi' then 0 when 'hampir_graduasi' then 1 else 2 end,
            g.peringkat_hampir nulls last, g.desil desc nulls last, g.dtsen_kk_id""",
    ),
)

# Column -> the kind of code it holds. `alasan` is a list of kind:detail reasons
# (dtsen_daftar_verifikasi), each kind labelled from `alasan`.
LABELLED = {
    "alasan_utama": "alasan",
    "alasan": "alasan",
    "penugasan": "penugasan",
    "status_sasaran": "status_sasaran",
    "sumber": "sumber",
    "status_usulan": "status_usulan",
    "status_keluarga": "status_keluarga",
}
# Kind -> the release's code list labelling it (dbt_project/models/reference/kode/) and the mart
# column it labels there. `sumber` (dtsen_usulan.source, a receipt source) has no code list in the
# release: its labels are the labels file's `sumber`.
CODE_LISTS = {
    "alasan": ("kode_alasan_verifikasi", "dtsen_daftar_verifikasi", "alasan_utama"),
    "penugasan": ("kode_penugasan", "dtsen_daftar_verifikasi", "penugasan"),
    "status_sasaran": ("kode_status_sasaran", "dtsen_program_sasaran", "status"),
    "status_usulan": ("kode_status_usulan", "dtsen_usulan", "status"),
    "status_keluarga": ("kode_status_graduasi", "dtsen_graduasi_pendamping", "status_keluarga"),
}
_SHEET_NAME_BAD = re.compile(r"[:\\/?*\[\]]")


def _sheet_name(value: str) -> str:
    if len(value) > 31 or _SHEET_NAME_BAD.search(value):
        raise ValueError(
            f"{value!r} is not an Excel sheet name: at most 31 characters, none of : \\ / ? * [ ]"
        )
    return value


class _LabelsFile(Settings):
    lembar: dict[str, Annotated[Text, AfterValidator(_sheet_name)]]
    kolom: dict[str, Text]
    sumber: dict[str, Text]


@dataclass(frozen=True)
class Labels:
    """Sheet names and column headers (config/daftar_kerja.yaml), and code labels: per kind, code
    -> label, and where they were read (a release's code list, or a seed)."""

    path: Path
    sheets: dict[str, str]
    headers: dict[str, str]
    codes: dict[str, dict[str, str]]
    origin: dict[str, str]

    def code(self, kind: str, value: str) -> str:
        label = self.codes[kind].get(value)
        if label is None:
            raise ConfigError(
                f"{kind}: no label for {value!r}, a code of this release, in {self.origin[kind]}: "
                f"add one ({_fix(kind)})"
            )
        return label


def _fix(kind: str) -> str:
    if kind == "sumber":
        return f"config/{LABELS_FILE} sumber"
    if kind == "alasan":
        return f"dbt_project/seeds/{SEED.name}"
    return (
        f"dbt_project/seeds/{CODE_LABELS.name}, daftar {CODE_LISTS[kind][0].removeprefix('kode_')}"
    )


def _labels_problems(doc: object) -> list[tuple[str, str]]:
    """Every sheet and column the lists use must be named; sheet names differ."""
    if not isinstance(doc, dict):
        return []
    problems = []
    wanted = {
        "lembar": [s.key for s in SHEETS],
        "kolom": sorted({c for s in SHEETS for c in s.columns}),
    }
    for part, keys in wanted.items():
        given = doc.get(part)
        if isinstance(given, dict):
            problems += [(part, f"{key!r} is missing") for key in keys if key not in given]
            problems += [
                (part, f"{key!r} is not used by the work lists (used: {', '.join(keys)})")
                for key in given
                if key not in keys
            ]
    names = list(doc["lembar"].values()) if isinstance(doc.get("lembar"), dict) else []
    if len({str(n).lower() for n in names}) < len(names):
        problems.append(("lembar", "two sheets have the same name"))
    return problems


def labels_path(config_dir: Path | None = None) -> Path:
    """The labels file of ``config_dir`` (default: the configuration in force), else the
    package's own (a configuration folder copied before the work lists existed has none)."""
    path = Path(config_dir or paths.config_dir()) / LABELS_FILE
    return path if path.exists() else paths.CONFIG_DIR / LABELS_FILE


def _seed_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def seed_codes(seeds: Path = SEEDS) -> dict[str, dict[str, str | None]]:
    """Kind -> code -> label as the code lists read them from the dbt seeds (models/reference/kode/:
    kode_alasan_verifikasi from verifikasi_prioritas.csv, the others from kode_label.csv); an
    empty label is None."""
    out: dict[str, dict[str, str | None]] = {
        "alasan": {r["alasan"]: r.get("label") or None for r in _seed_rows(seeds / SEED.name)}
    }
    rows = _seed_rows(seeds / CODE_LABELS.name)
    for kind, (table, _, _) in CODE_LISTS.items():
        if kind != "alasan":
            daftar = table.removeprefix("kode_")
            out[kind] = {r["kode"]: r["label"] or None for r in rows if r["daftar"] == daftar}
    return out


def _release_codes(con) -> dict[str, dict[str, str]] | None:
    """Kind -> code -> label from the release's code lists, or None if the database lacks one."""
    tables = {t for (t,) in con.execute("select table_name from duckdb_tables()").fetchall()}
    if not {t for t, _, _ in CODE_LISTS.values()} <= tables:
        return None
    return {
        kind: {
            str(k): lab
            for k, lab in con.execute(
                f"select cast(kode as varchar), label from {table}"
            ).fetchall()
            if lab
        }
        for kind, (table, _, _) in CODE_LISTS.items()
    }


def load_labels(config_dir: Path | None = None, con=None, release: str | None = None) -> Labels:
    """The labels file, and the code labels of the release open on ``con`` (its code lists), else
    of the dbt seeds."""
    path = labels_path(config_dir)
    raw = read_yaml(path)
    doc = validate(_LabelsFile, raw, path, problems=_labels_problems(raw))
    found = _release_codes(con) if con is not None else None
    if found is not None:
        codes = found
        origin = {k: f"code list {t} of release {release}" for k, (t, _, _) in CODE_LISTS.items()}
    else:
        codes = {k: {c: v for c, v in m.items() if v} for k, m in seed_codes().items()}
        origin = {
            k: f"dbt_project/seeds/{SEED.name if k == 'alasan' else CODE_LABELS.name}"
            for k in CODE_LISTS
        }
    codes["sumber"] = dict(doc.sumber)
    origin["sumber"] = f"{shown(path)} sumber"
    return Labels(path, dict(doc.lembar), dict(doc.kolom), codes, origin)


def _accepted_values(model: str, column: str) -> list[str]:
    """The codes a mart's column may hold, by its dbt ``accepted_values`` test (none if untested)."""
    doc = read_yaml(MARTS_DIR / f"{model}.yml")
    for m in doc.get("models", []):
        for c in m.get("columns", []) if m.get("name") == model else []:
            for test in c.get("data_tests", []) if c.get("name") == column else []:
                if isinstance(test, dict) and "accepted_values" in test:
                    return [str(v) for v in test["accepted_values"]["arguments"]["values"]]
    return []


def seed_problems(seeds: Path = SEEDS) -> list[str]:
    """Codes the work lists show with no label in the dbt seeds the code lists are built from: each
    code of a list's seed rows with an empty label, and each code a mart's ``accepted_values`` test
    allows that its list does not label (dbt tests those values, not that they are labelled). The
    reasons of dtsen_daftar_verifikasi come from verifikasi_prioritas.csv (a dbt relationships
    test), so each is labelled when its row is."""
    problems = []
    codes = seed_codes(seeds)
    for kind, (table, model, column) in CODE_LISTS.items():
        seed = SEED.name if kind == "alasan" else CODE_LABELS.name
        where = f"dbt_project/seeds/{seed}" + ("" if kind == "alasan" else f" ({table})")
        wanted = [
            *codes[kind],
            *(v for v in _accepted_values(model, column) if v not in codes[kind]),
        ]
        problems += [
            f"{where}: no label for {code!r} (shown as {model}.{column} in the work lists)"
            for code in wanted
            if not codes[kind].get(code)
        ]
    return problems


# --- reading the release ------------------------------------------------------------------------


def _reasons(value: str | None, labels: Labels) -> str | None:
    """``inclusion_error:PKH; inclusion_error:SEMBAKO; desil_lompat:2->6`` as
    ``Kesalahan inklusi: PKH, SEMBAKO; Desil melompat: 2 ke 6``."""
    if not value:
        return value
    kinds: dict[str, list[str]] = {}  # each kind once, its details together, in the mart's order
    for item in value.split("; "):
        kind, _, detail = item.partition(":")
        details = kinds.setdefault(labels.code("alasan", kind), [])
        if detail:
            details.append(labels.codes["sumber"].get(detail, detail).replace("->", " ke "))
    return "; ".join(f"{k}: {', '.join(d)}" if d else k for k, d in kinds.items())


def _labelled(row: dict, labels: Labels) -> dict:
    for column, kind in LABELLED.items():
        if row.get(column) is None:
            continue
        row[column] = (
            _reasons(row[column], labels)
            if column == "alasan"
            else labels.code(kind, str(row[column]))
        )
    return row


def _read(con, sheet: Sheet, labels: Labels, kabupaten: Iterable[str] | None) -> list[dict]:
    """The sheet's rows (``_kab`` and its columns, codes labelled), of those kabupaten or all."""
    kabs = sorted(kabupaten) if kabupaten else None
    cur = con.execute(
        f"with {_KELUARGA}, rows as ({sheet.sql}) "
        "select * from rows where ?::varchar[] is null or list_contains(?::varchar[], _kab)",
        [kabs, kabs],
    )
    names = [d[0] for d in cur.description]
    keep = ["_kab", *sheet.columns]
    return [_labelled({n: r[names.index(n)] for n in keep}, labels) for r in cur.fetchall()]


def _kabupaten_names(con) -> dict[str, str]:
    return dict(
        con.execute(
            "select kode_kab, min(nama_kabupaten) from dtsen_keluarga "
            "where kode_kab is not null group by kode_kab"
        ).fetchall()
    )


# --- writing ------------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    """A CSV cell: dates in ISO form; text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return spreadsheets.safe_cell(value) if isinstance(value, str) else str(value)


def _write_csv(path: Path, headers: list[str], rows: list[list]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        out.writerow(headers)
        out.writerows([_cell_text(v) for v in row] for row in rows)


def _width(header: str, values: Iterable) -> int:
    longest = max([len(header), *(len(_cell_text(v)) for v in values)])
    return min(max(longest + 2, 8), 60)


def _write_sheet(book, ws, headers: list[str], rows: list[list]) -> None:
    bold = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    date = book.add_format({"num_format": "dd-mm-yyyy"})
    for c, header in enumerate(headers):
        ws.set_column(c, c, _width(header, (r[c] for r in rows[:500])))
    ws.write_row(0, 0, headers, bold)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, bool):
                ws.write_boolean(r, c, value)
            elif isinstance(value, int | float | decimal.Decimal):
                ws.write_number(r, c, float(value) if isinstance(value, decimal.Decimal) else value)
            elif isinstance(value, dt.date):
                ws.write_datetime(r, c, value, date)
            else:  # text stays text: a No. KK keeps every digit, a typed formula is never run
                ws.write_string(r, c, str(value))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(rows), 1), len(headers) - 1)


def _write_book(path: Path, sheets: list[tuple[str, list[str], list[list]]], title: str) -> None:
    import xlsxwriter

    def write(tmp: Path) -> None:
        book = xlsxwriter.Workbook(
            str(tmp), {"strings_to_numbers": False, "strings_to_formulas": False}
        )
        book.set_properties({"title": title, "subject": "DTSEN: daftar kerja", "author": "dtsen"})
        for name, headers, rows in sheets:
            _write_sheet(book, book.add_worksheet(name), headers, rows)
        book.close()

    paths.write_private(path, write)


@dataclass
class Written:
    """What one kabupaten's lists hold (counts, never a value) and the files written."""

    kode_kab: str
    nama_kabupaten: str | None
    rows: dict[str, int] = field(default_factory=dict)
    workers: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _files(
    folder: Path, stem: str, sheets, labels: Labels, rows: dict[str, list[dict]]
) -> list[Path]:
    """One workbook ``stem``.xlsx with those sheets (in SHEETS' order), and a CSV per sheet."""
    content = []
    for sheet in sheets:
        headers = [labels.headers[c] for c in sheet.columns]
        content.append((sheet, headers, [[r[c] for c in sheet.columns] for r in rows[sheet.key]]))
    book = folder / f"{stem}.xlsx"
    _write_book(book, [(labels.sheets[s.key], h, r) for s, h, r in content], stem)
    written = [book]
    for sheet, headers, table in content:
        csv_path = folder / f"{stem}_{sheet.key}.csv"
        paths.write_private(csv_path, lambda tmp, h=headers, t=table: _write_csv(tmp, h, t))
        written.append(csv_path)
    return written


def _worker_rows(rows: dict[str, list[dict]], worker: str) -> dict[str, list[dict]]:
    return {
        s.key: [r for r in rows[s.key] if r["id_petugas"] == worker] for s in SHEETS if s.per_worker
    }


def _write_kabupaten(folder: Path, month: str, kab: Written, rows, labels, worker) -> None:
    """The kabupaten's workbook (unless one worker's only), each worker's, stale files removed."""
    paths.make_private(folder)
    if worker is None:
        kab.files += _files(folder, f"daftar_kerja_{kab.kode_kab}_{month}", SHEETS, labels, rows)
    for w in kab.workers if worker is None else [worker]:
        mine = _worker_rows(rows, w)
        sheets = [s for s in SHEETS if s.per_worker and (mine[s.key] or s.key == "kunjungan")]
        sub = paths.make_private(folder / "petugas")
        kab.files += _files(sub, f"daftar_kerja_{_safe(w)}_{month}", sheets, labels, mine)
    if worker is None:  # lists of an earlier run no longer in the release
        for old in [*folder.glob("*.*"), *folder.glob("petugas/*.*")]:
            if old not in kab.files and old.suffix in (".xlsx", ".csv"):
                old.unlink()


def _workers(rows: dict[str, list[dict]]) -> list[str]:
    return sorted(
        {r["id_petugas"] for s in SHEETS if s.per_worker for r in rows[s.key] if r["id_petugas"]}
    )


def _check_found(con, release: Path, kabupaten, found: list[str]) -> None:
    missing = sorted(set(kabupaten or ()) - set(found))
    if missing:
        listed = sorted(
            {
                k
                for s in SHEETS
                for (k,) in con.execute(
                    f"with {_KELUARGA} select distinct _kab from ({s.sql})"
                ).fetchall()
                if k
            }
        )
        raise LookupError(
            f"no work list for kabupaten {', '.join(missing)} in release {release.name}; "
            f"kabupaten with lists: {', '.join(listed) or 'none'}"
        )


def write_worklists(
    month: str | None = None,
    kabupaten: Iterable[str] | None = None,
    worker: str | None = None,
) -> tuple[str, Path, list[Written]]:
    """Write the work lists of ``month``'s release (its newest revision; default: `current`), of
    those kabupaten (default: every one) or of one worker only; the release's name, the month's
    folder and what each kabupaten's files hold (for one worker: that worker's rows). Raises
    FileNotFoundError (no release), LookupError (no such kabupaten or worker in the release) or
    ConfigError (a code with no label: its kind, its code and where the labels were read)."""
    release = releases.release_path(month) if month else paths.current_release().resolve()
    db = release / releases.IDENTIFIED_DB
    if not db.exists():
        raise FileNotFoundError(
            f"no identified database at {db}; run `make demo` or `dtsen run` first"
        )
    with query_limits.release_connection(db) as con:  # spills outside the release
        labels = load_labels(con=con, release=release.name)
        rows = {s.key: _read(con, s, labels, kabupaten) for s in SHEETS}
        names = _kabupaten_names(con)
        found = sorted({r["_kab"] for rs in rows.values() for r in rs if r["_kab"]})
        _check_found(con, release, kabupaten, found)
    month_dir = paths.worklists_dir() / release.name[:7]
    for folder in (paths.identity_dir(), paths.worklists_dir(), month_dir):
        paths.make_private(folder)  # before anything is written in them
    out = []
    for kab in found:
        mine = {k: [r for r in rs if r["_kab"] == kab] for k, rs in rows.items()}
        workers = _workers(mine)
        if worker is not None:
            if worker not in workers:
                continue
            mine, workers = {**mine, **_worker_rows(mine, worker)}, [worker]
        counts = {s.key: len(mine[s.key]) for s in SHEETS if worker is None or s.per_worker}
        item = Written(kab, names.get(kab), counts, workers)
        _write_kabupaten(month_dir / kab, release.name[:7], item, mine, labels, worker)
        out.append(item)
    if worker is not None and not out:
        known = _workers(rows)
        raise LookupError(
            f"no work list for worker {worker} in release {release.name}"
            + (f" (kabupaten {', '.join(sorted(kabupaten))})" if kabupaten else "")
            + f"; workers: {', '.join(known[:40]) or 'none'}{' ...' if len(known) > 40 else ''}"
        )
    return release.name, month_dir, out
