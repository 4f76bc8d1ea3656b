"""Charts people would rather look at than read, for Dagster metadata: bars drawn with block
characters (they render in the UI without images) and tables Dagster shows inline
(``MetadataValue.table``), from aggregates only (never a person's value)."""

from __future__ import annotations

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

BLOCKS = " ▏▎▍▌▋▊▉█"


def bar(share: float, width: int = 20) -> str:
    """A horizontal bar for a share in [0, 1], in eighths of a character."""
    share = min(max(share or 0.0, 0.0), 1.0)
    eighths = round(share * width * 8)
    return "█" * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")


def table(
    columns: list[tuple[str, str]], rows: list[tuple], descriptions: dict[str, str] | None = None
) -> MetadataValue:
    """A Dagster table from ``(name, type)`` columns (types: string, int, float, bool) and rows of
    values in that order."""
    descriptions = descriptions or {}
    schema = TableSchema(
        columns=[TableColumn(n, t, description=descriptions.get(n)) for n, t in columns]
    )
    return MetadataValue.table(
        [TableRecord(dict(zip([n for n, _ in columns], row, strict=True))) for row in rows], schema
    )


def desil_by_province(rows: list[tuple[str, str, int, int]]) -> MetadataValue:
    """For each province, the share of its ranked persons in each desil, and a bar of the share in
    desil 1-4 (PKH's range). ``rows`` are (kode_prov, nama_provinsi, desil, persons)."""
    provinces: dict[tuple[str, str], dict[int, int]] = {}
    for kode, nama, desil, persons in rows:
        # A family with no region (no member placed) is shown, not dropped, and never breaks the sort.
        key = (kode or "", nama or ("(no region)" if not kode else ""))
        by_desil = provinces.setdefault(key, {})
        by_desil[int(desil)] = by_desil.get(int(desil), 0) + int(persons or 0)
    columns = [
        ("province", "string"),
        ("persons", "int"),
        *((f"d{d}", "string") for d in range(1, 11)),
        ("desil 1-4", "string"),
        ("desil 1-4 bar", "string"),
    ]
    out = []
    for (kode, nama), by_desil in sorted(provinces.items()):
        total = sum(by_desil.values()) or 1
        shares = [by_desil.get(d, 0) / total for d in range(1, 11)]
        low = sum(shares[:4])
        out.append(
            (
                " ".join(p for p in (kode, nama) if p),
                sum(by_desil.values()),
                *(f"{s:.0%}" for s in shares),
                f"{low:.0%}",
                bar(low),
            )
        )
    return table(
        columns,
        out,
        {
            "persons": "persons in ranked families",
            "d1": "share of the province's persons in national desil 1 (poorest)",
        },
    )


# The stages of a proposal or objection, in the order an item moves through them (int_koreksi).
PROPOSAL_STAGES = ("received", "linked", "awaiting_visit", "accepted", "rejected")


def proposal_pipeline(rows: list[tuple[str, str, int, int]]) -> MetadataValue:
    """Where the proposals (usulan_desa) and objections (sanggahan) stand: one row per stage, the
    items of each source in it, a bar of its share of all items, and how many of the open ones are
    past the service level. ``rows`` are (source, status, items, open past the service level), from
    dtsen_usulan."""
    sources = sorted({source for source, *_ in rows})
    counts = {(source, status): int(n or 0) for source, status, n, _ in rows}
    late = {}
    for _, status, _, past in rows:
        late[status] = late.get(status, 0) + int(past or 0)
    total = sum(counts.values()) or 1
    stages = [*PROPOSAL_STAGES, *sorted({s for _, s, *_ in rows} - set(PROPOSAL_STAGES))]
    out = []
    for status in stages:
        items = sum(counts.get((source, status), 0) for source in sources)
        out.append(
            (
                status,
                *(counts.get((source, status), 0) for source in sources),
                items,
                f"{items / total:.0%}",
                bar(items / total),
                late.get(status, 0),
            )
        )
    return table(
        [
            ("stage", "string"),
            *((source, "int") for source in sources),
            ("all", "int"),
            ("share", "string"),
            ("bar", "string"),
            ("open past the service level", "int"),
        ],
        out,
        {
            "stage": "received, linked to a person, awaiting a field visit, then accepted or rejected",
            "open past the service level": "open items older than the dbt var usulan_batas_layanan_hari",
        },
    )
