"""`dtsen query`'s results as CSV, JSON or Parquet, on stdout or in the exports folder only.

The query runs in its sandbox (lib/warehouse.py SANDBOX_CONFIG: no file is read or written from
SQL, ``copy`` included); this module writes its result from Python, streaming Arrow batches, to
stdout or to a file under ``paths.exports_dir()`` (owner-only: an identified query's result holds
identity). A name that would land anywhere else (an absolute path outside the folder, ``..``, a
symlink out of it) is refused before the query runs. A file is written under a temporary name
and renamed into place, mode 0600, so a failed query leaves nothing behind.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa

from dtsen_pipeline.lib import paths
from dtsen_pipeline.lib.settings import duplicates
from dtsen_pipeline.lib.warehouse import bigint_results

FORMATS = ("table", "csv", "json", "parquet")
BATCH_ROWS = 65_536


class ExportError(ValueError):
    """An export that cannot be written as asked; the message says why and what to do."""


def format_for(fmt: str | None, output: str | None) -> str:
    """The format asked for, else the output file's suffix (.csv, .json, .parquet), else table."""
    if fmt:
        return fmt
    if output:
        suffix = Path(output).suffix.lower().lstrip(".")
        if suffix in FORMATS[1:]:
            return suffix
        raise ExportError(
            f"--output {output!r}: give --format csv, json or parquet (or a name ending in "
            ".csv, .json or .parquet)"
        )
    return "table"


def output_path(name: str) -> Path:
    """Where ``--output name`` writes: ``name`` under the exports folder. Refused when it would
    land outside that folder (an absolute path elsewhere, ``..``, a symlink pointing out)."""
    root = paths.exports_dir()
    given = Path(name).expanduser()
    target = (given if given.is_absolute() else root / given).resolve()
    if not target.is_relative_to(root.resolve()) or target == root.resolve():
        raise ExportError(
            f"--output {name!r} is outside the exports folder {root}: dtsen query writes only "
            "there (DTSEN_EXPORTS_DIR moves it); give a file name such as persons.csv or "
            "kabupaten/persons.csv"
        )
    if target.is_dir():
        raise ExportError(f"--output {name!r} is a folder under {root}; give a file name")
    return target


def _check_columns(rel: duckdb.DuckDBPyRelation, fmt: str) -> None:
    repeated = duplicates(rel.columns)
    if repeated:
        raise ExportError(
            f"columns {repeated} repeat: {fmt} needs one name per column; name each (`as ...`)"
        )


def _batches(rel: duckdb.DuckDBPyRelation) -> pa.RecordBatchReader:
    return rel.to_arrow_reader(BATCH_ROWS)


def _json_value(value: Any) -> Any:
    """A Python value from Arrow as JSON holds it: integers exact, dates in ISO form."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value if value is None or isinstance(value, bool | int | str) else str(value)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(_json_value(value), ensure_ascii=False)
    return value


def _rows(reader: pa.RecordBatchReader) -> Iterator[dict]:
    for batch in reader:
        yield from batch.to_pylist()


def _write_csv(reader: pa.RecordBatchReader, out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(reader.schema.names)
    n = 0
    for row in _rows(reader):
        writer.writerow([_csv_value(v) for v in row.values()])
        n += 1
    return n


def _write_json(reader: pa.RecordBatchReader, out: IO[str]) -> int:
    """A JSON array of objects, one per row, written as the rows come."""
    n = 0
    out.write("[")
    for row in _rows(reader):
        out.write(("," if n else "") + "\n" + json.dumps(_json_value(row), ensure_ascii=False))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def _write_parquet(reader: pa.RecordBatchReader, path: Path) -> int:
    import pyarrow.parquet as pq

    n = 0
    with pq.ParquetWriter(str(path), reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            n += batch.num_rows
    return n


def to_stdout(rel: duckdb.DuckDBPyRelation, fmt: str) -> int:
    """Write ``rel`` (csv or json) on stdout; the number of rows."""
    if fmt == "parquet":
        raise ExportError("parquet is a binary file: give --output FILE (under the exports folder)")
    _check_columns(rel, fmt)
    reader = _batches(bigint_results(rel))
    write = _write_csv if fmt == "csv" else _write_json
    n = write(reader, sys.stdout)
    sys.stdout.flush()
    return n


def to_file(rel: duckdb.DuckDBPyRelation, fmt: str, target: Path) -> int:
    """Write ``rel`` to ``target`` (from output_path) in ``fmt``; the number of rows. The folder is
    made owner-only, the file is mode 0600 and appears only once complete."""
    _check_columns(rel, fmt)
    paths.make_private(paths.exports_dir())
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    reader = _batches(bigint_results(rel))

    def write(tmp: Path) -> int:
        if fmt == "parquet":
            return _write_parquet(reader, tmp)
        with tmp.open("w", encoding="utf-8", newline="") as out:
            return (_write_csv if fmt == "csv" else _write_json)(reader, out)

    return paths.write_private(target, write)
