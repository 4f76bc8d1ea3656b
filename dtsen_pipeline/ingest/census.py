"""The file's own record count, taken without the loader's parser, for reconciliation.

DuckDB's CSV reader is fast but, in strict mode, stops silently at a quote that is never closed:
counting what it returned cannot see what it did not. So every file is counted a second time by
a pass that shares nothing with its reader:

- CSV: a byte-level, quote-aware scan (a quote opens a field only at the field's start, ``""``
  inside a quoted field is a quote; blank lines are not records, as in DuckDB). It streams the
  file in chunks (memory stays flat) and yields each record's start line as an engineer finds
  it in an editor, and DuckDB's own line number (which counts blank lines but not line breaks
  inside quotes) so the parser's rejects can be placed. A quote still open at the end of the
  file is reported with the line where it opened.
- XLSX: the ``<row>`` elements of the sheet's XML in the zip, below the header, that hold a value
  or a formula; a formula cell without a cached value is reported (calamine reads it as empty).
- Parquet: the footer's row count, or the lengths of the member lists for an unnested column.

``Census.breaks`` holds a ``Break`` (ordinal, engine line, line) wherever a record's lines stop
following the previous record's by one: a plain file has one entry, however long it is.

A stray quote that a later quoted field closes makes one "record" of every line between them, and
the parser and the quote-aware scan agree on it. So the CSV census also counts without quotes:
every line that is not a record's start (the lines the breaks leave between records) is looked
at on its own, and one that holds at least the header's number of delimiters looks like a whole
record. The record holding it is a ``Swallow``: its lines, kept whole, are each counted as a
record (``Census.counted``) and quarantined one by one by the loader. A plain file has no such
lines, and the pass does not run.
"""

from __future__ import annotations

import bisect
import codecs
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from xml.etree import ElementTree

from dtsen_pipeline.ingest.sources import SourceSpec

CHUNK_BYTES = 4 << 20
_QUOTE = 0x22
_NEWLINE_BYTES = (0x0A, 0x0D)
_CSV_TOKENS = re.compile(rb'"|\r\n|\r|\n')
_LINE_BREAKS = re.compile(rb"\r\n|\r|\n")


class Break(NamedTuple):
    """Where a record's lines stop following the previous record's by one."""

    ordinal: int  # the record's number in the file (1 = the first after the header)
    logical: int  # DuckDB's line number for it (blank lines counted, line breaks inside quotes not)
    line: int  # the line it starts on in an editor (XLSX: the sheet's row)


class Swallow(NamedTuple):
    """A record that holds lines looking like whole records: a quote opened on ``start`` closes
    on ``end``."""

    start: int
    end: int
    whole: int  # lines after the first holding at least the header's delimiters
    delimiters: int  # the header's delimiters
    lines: list[tuple[int, str]]  # (line, text) of each of its non-blank lines, whole


class Formula(NamedTuple):
    """An XLSX formula cell without a cached value."""

    row: int
    column: int  # 0-based index among the sheet's columns
    cell: str  # its reference, e.g. C7


@dataclass
class Census:
    records: int | None  # None: the file's structure could not be counted
    breaks: list[Break] = field(default_factory=list)
    open_quote_line: int | None = None  # CSV: a quote opened here is never closed
    nul_bytes: int = 0  # CSV: NUL bytes anywhere in the file
    formulas: list[Formula] = field(default_factory=list)  # XLSX
    problem: str = ""  # why records is None
    swallowed: list[Swallow] = field(default_factory=list)  # CSV

    @property
    def counted(self) -> int | None:
        """The records, each line of a swallowing record counted as one."""
        if self.records is None:
            return None
        return self.records + sum(len(s.lines) - 1 for s in self.swallowed)


def take_census(spec: SourceSpec, path: Path) -> Census:
    try:
        if spec.format == "csv":
            return _csv_census(path, spec.csv.delimiter, spec.csv.encoding)
        if spec.format == "xlsx":
            return _xlsx_census(path, spec.xlsx.sheet, spec.xlsx.header_row)
        return _parquet_census(path, spec.parquet.unnest)
    except (
        Exception
    ) as exc:  # a file too broken to count is reported, never raised: the loader decides
        return Census(None, problem=f"{type(exc).__name__}")


# ---------------------------------------------------------------- CSV


def _chunks(path: Path, encoding: str):
    """The file's bytes in chunks that end on a line break where there is one, so a CRLF pair or
    an escaped quote pair is never split; UTF-16 is re-encoded to UTF-8 (delimiters, quotes and
    line breaks are then single bytes)."""
    decoder = (
        codecs.getincrementaldecoder(encoding)(errors="replace") if encoding == "utf-16" else None
    )
    carry = b""
    with path.open("rb") as fh:
        while True:
            block = fh.read(CHUNK_BYTES)
            if decoder is not None:
                block = decoder.decode(block, final=not block).encode("utf-8")
            if not block:
                break
            data = carry + block
            cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
            if cut == len(data) and data.endswith(b"\r"):
                cut -= 1  # its \n may open the next block
            if cut <= 0:
                cut = len(data)
                while cut > 0 and data[cut - 1] == _QUOTE:
                    cut -= 1  # a line longer than a chunk: never split a run of quotes
            carry = data[cut:]
            if cut:
                yield data[:cut]
    if carry:
        yield carry


def _record_pattern(delimiter: str) -> re.Pattern:
    """One whole record from a line start, by the same rules as the byte scan: a field is quoted
    (``""`` inside is a quote; anything after the closing quote up to the delimiter belongs to it)
    or unquoted (not starting with a quote; quotes inside are text). Possessive: no backtracking,
    so a quote that does not close within the chunk fails the match at once."""
    d = re.escape(delimiter.encode())
    field = rb'(?:"(?:[^"]|"")*+"[^' + d + rb"\r\n]*+|(?:[^" + d + rb'\r\n"][^' + d + rb"\r\n]*+)?)"
    return re.compile(field + rb"(?:" + d + field + rb")*+(?:\r\n|\r|\n)")


class _CsvScan:
    """Three speeds, one set of rules: a stretch of lines without quotes is counted at C speed; a
    line with quotes is matched whole by a regular expression; only where a record does not end
    inside the chunk (a quote still open) are its quotes and line breaks walked one by one."""

    def __init__(self, delimiter: str):
        self.field_start = {ord(delimiter), *_NEWLINE_BYTES}
        self.record = _record_pattern(delimiter)
        self.line = 1  # the physical line at the scan position
        self.logical = 1  # DuckDB's line number: line breaks outside quotes, blank lines included
        self.in_quote = False
        self.quote_line = 0
        self.quote_offset = 0
        self.record_open = False
        self.records = 0  # the header included
        self.prev = 0x0A  # the byte before the scan position (start of file: a line start)
        self.breaks: list[Break] = []
        self.offset = (None, None)
        self.nul = 0

    def open_record(self):
        self.record_open = True
        self.records += 1
        ordinal = self.records - 1
        if ordinal >= 1:
            offset = (self.logical - ordinal, self.line - ordinal)
            if offset != self.offset:
                self.breaks.append(Break(ordinal, self.logical, self.line))
                self.offset = offset

    def feed(self, chunk: bytes, base: int):
        self.nul += chunk.count(b"\x00")
        pos, n, quote = 0, len(chunk), -1
        while pos < n:
            if self.in_quote or self.record_open:
                pos = self._walk(chunk, pos, base)
                continue
            if quote < pos:
                quote = chunk.find(b'"', pos)
                quote = n if quote < 0 else quote
            # Lines before the next quote: counted in bulk when they are plain.
            stop = (
                n
                if quote == n
                else max(chunk.rfind(b"\n", pos, quote), chunk.rfind(b"\r", pos, quote)) + 1
            )
            if stop - pos > 4096 and self._bulk(chunk[pos:stop]):
                pos = stop
                continue
            end = max(stop, pos + 1)
            while pos < end and not self.record_open:
                if quote < pos:
                    quote = chunk.find(b'"', pos)
                    quote = n if quote < 0 else quote
                m = self.record.match(chunk, pos)
                if m is None:
                    break  # the record ends beyond the chunk, or a quote stays open: walk it
                after = m.end()
                if after - pos == (2 if chunk[after - 2 : after] == b"\r\n" else 1):
                    self.line, self.logical = self.line + 1, self.logical + 1  # a blank line
                else:
                    self.open_record()
                    self.line += (
                        len(_LINE_BREAKS.findall(chunk, pos, after)) if quote < after else 1
                    )
                    self.logical += 1
                    self.record_open = False
                self.prev = 0x0A
                pos = after
            else:
                continue
            pos = self._walk(chunk, pos, base)

    def _walk(self, chunk: bytes, pos: int, base: int) -> int:
        """Byte by byte (quotes and line breaks), until a line break outside quotes or the chunk's end."""
        n, search = len(chunk), _CSV_TOKENS.search
        while True:
            m = search(chunk, pos)
            if m is None:
                if pos < n:
                    if not self.record_open:
                        self.open_record()
                    self.prev = chunk[n - 1]
                return n
            s = m.start()
            if s > pos:
                if not self.record_open:
                    self.open_record()
                self.prev = chunk[s - 1]
            if chunk[s] == _QUOTE:
                if self.in_quote:
                    if s + 1 < n and chunk[s + 1] == _QUOTE:
                        pos = s + 2  # "" inside a quoted field: a quote
                        continue
                    self.in_quote = False
                else:
                    if not self.record_open:
                        self.open_record()
                    if self.prev in self.field_start:
                        self.in_quote, self.quote_line, self.quote_offset = (
                            True,
                            self.line,
                            base + s,
                        )
                self.prev = _QUOTE
                pos = s + 1
            else:
                self.line += 1
                self.prev = 0x0A
                if not self.in_quote:
                    self.record_open = False
                    self.logical += 1
                    return m.end()
                pos = m.end()

    def _bulk(self, chunk: bytes) -> bool:
        """Lines without quotes, blank lines or lone CRs, ending on a line break: one record per
        line, counted at C speed (the common case)."""
        if not chunk.endswith(b"\n"):
            return False
        lines = chunk.count(b"\n")
        if b"\r" in chunk:
            if (
                chunk.count(b"\r") != lines
                or chunk.count(b"\r\n") != lines
                or b"\r\n\r\n" in chunk
                or chunk.startswith(b"\r\n")
            ):
                return False
        elif b"\n\n" in chunk or chunk.startswith(b"\n"):
            return False
        self.open_record()  # the first may follow blank lines: it places a break if so
        if self.records == 1 and lines > 1:
            # The first line was the header: open the first record to place its break.
            self.line, self.logical, lines = self.line + 1, self.logical + 1, lines - 1
            self.open_record()
        self.records += lines - 1
        self.line += lines
        self.logical += lines
        self.record_open = False
        self.prev = 0x0A
        return True


def _csv_census(path: Path, delimiter: str, encoding: str) -> Census:
    scan = _CsvScan(delimiter)
    base = 0
    for chunk in _chunks(path, encoding):
        # A byte-order mark is not content: skip it, keeping offsets in the file's bytes.
        skip = 3 if base == 0 and chunk.startswith(b"\xef\xbb\xbf") else 0
        scan.feed(chunk[skip:], base + skip)
        base += len(chunk)
    records = max(scan.records - 1, 0)
    if not scan.in_quote:
        census = Census(records, scan.breaks, nul_bytes=scan.nul)
        last_line = scan.line - 1 if scan.prev == 0x0A else scan.line  # after a final line break
        census.swallowed = _swallowed(path, encoding, delimiter, census, last_line)
        return census
    # A quote never closed swallows the rest of the file into one value: count what follows its
    # line as an editor shows it (non-blank lines), so a whole-file quarantine states the file's size.
    tail = _non_blank_lines_after(path, encoding, scan.quote_offset)
    return Census(records + tail, scan.breaks, open_quote_line=scan.quote_line, nul_bytes=scan.nul)


def _lines(path: Path, encoding: str):
    """(first line number, lines) per chunk: the file's physical lines, split without quotes."""
    number, partial = 1, b""
    for chunk in _chunks(path, encoding):
        data = partial + chunk
        parts = data.splitlines()  # bytes: \r\n, \r and \n only, as the scan counts them
        partial = parts.pop() if parts and not data.endswith((b"\n", b"\r")) else b""
        yield number, parts
        number += len(parts)
    yield number, [partial] if partial else []


def _gaps(census: Census, last_line: int) -> list[tuple[int, int, int]]:
    """(start line of a record, first and last line after it before the next record's start)
    wherever a record is followed by lines that start no record: its own lines, or blank ones."""
    gaps, breaks = [], census.breaks
    if not breaks:
        return [(1, 2, last_line)] if last_line >= 2 else []
    if breaks[0].line > 2:
        gaps.append((1, 2, breaks[0].line - 1))
    ends = [(b.ordinal - 1, b.line) for b in breaks[1:]] + [(census.records, last_line + 1)]
    for b, (last, next_start) in zip(breaks, ends):
        start = b.line + last - b.ordinal
        if next_start - 1 > start:
            gaps.append((start, start + 1, next_start - 1))
    return gaps


def _swallowed(
    path: Path, encoding: str, delimiter: str, census: Census, last_line: int
) -> list[Swallow]:
    """The records whose lines after the first hold, counted without quotes, a whole record's
    delimiters (at least the header's); their non-blank lines, whole."""
    gaps = _gaps(census, last_line)
    if not gaps:
        return []
    d, header, flagged, at = delimiter.encode(), None, {}, 0
    for first, lines in _lines(path, encoding):
        if header is None and lines:
            header = lines[0].count(d)
        last = first + len(lines) - 1
        while at < len(gaps) and gaps[at][2] < first:
            at += 1  # gaps are in line order: those ended before this chunk are done
        for start, lo, hi in gaps[at : bisect.bisect_right(gaps, last, key=lambda g: g[1])]:
            for n in range(max(lo, first), min(hi, last) + 1):
                if header and lines[n - first].count(d) >= header:
                    flagged.setdefault(start, [hi, 0, header])[1] += 1
    if not flagged:
        return []
    kept: dict[int, list[tuple[int, str]]] = {s: [] for s in flagged}
    text = "utf-8" if encoding == "utf-16" else encoding
    for first, lines in _lines(path, encoding):
        for start, (end, _, _) in flagged.items():
            for n in range(max(start, first), min(end, first + len(lines) - 1) + 1):
                if lines[n - first]:
                    kept[start].append((n, lines[n - first].decode(text, errors="replace")))
    return [
        Swallow(start, kept[start][-1][0], whole, header, kept[start])
        for start, (end, whole, header) in sorted(flagged.items())
    ]


def _non_blank_lines_after(path: Path, encoding: str, offset: int) -> int:
    count, seen, partial = 0, 0, b""
    for chunk in _chunks(path, encoding):
        if seen + len(chunk) <= offset:
            seen += len(chunk)
            continue
        data = partial + chunk[max(offset - seen, 0) :]
        seen += len(chunk)
        lines = _LINE_BREAKS.split(data)
        partial = lines.pop()
        count += sum(1 for line in lines if line)
    # The quote's own line belongs to the record already counted.
    return count + (1 if partial else 0) - 1


# ---------------------------------------------------------------- XLSX

_ROW = re.compile(rb"<(?:\w+:)?row\b([^>]*?)/>|<(?:\w+:)?row\b([^>]*)>(.*?)</(?:\w+:)?row>", re.S)
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_HAS_VALUE = re.compile(rb"<(?:\w+:)?(?:v|t)(?:\s[^>]*)?>[^<]|<(?:\w+:)?f\b")
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)/>|<(?:\w+:)?c\b([^>]*)>(.*?)</(?:\w+:)?c>", re.S)
_CELL_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_FORMULA = re.compile(rb"<(?:\w+:)?f\b")
_CACHED = re.compile(rb"<(?:\w+:)?v(?:\s[^>]*)?>[^<]")
_NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "p": "http://schemas.openxmlformats.org/package/2006/relationships",
}


def _sheet_member(book: zipfile.ZipFile, sheet: str | None) -> str:
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    sheets = workbook.findall("m:sheets/m:sheet", _NS)
    chosen = next(s for s in sheets if sheet is None or s.get("name") == sheet)
    rid = chosen.get(f"{{{_NS['r']}}}id")
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    target = next(
        r.get("Target") for r in rels.findall("p:Relationship", _NS) if r.get("Id") == rid
    )
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _column_index(letters: bytes) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ch - 64
    return index - 1


def _xlsx_census(path: Path, sheet: str | None, header_row: int) -> Census:
    records, expected, breaks, formulas = 0, 0, [], []
    with zipfile.ZipFile(path) as book, book.open(_sheet_member(book, sheet)) as fh:
        carry = b""
        while True:
            block = fh.read(CHUNK_BYTES)
            data = carry + block
            end = 0
            for m in _ROW.finditer(data):
                attrs, content = (
                    (m.group(1), b"") if m.group(1) is not None else (m.group(2), m.group(3))
                )
                number = _ROW_NUMBER.search(attrs)
                row = int(number.group(1)) if number else expected + 1
                expected = row
                end = m.end()
                if row <= header_row or not _HAS_VALUE.search(content):
                    continue
                records += 1
                if not breaks or row - records != breaks[-1].line - breaks[-1].ordinal:
                    breaks.append(Break(records, row, row))
                if _FORMULA.search(content):
                    for c in _CELL.finditer(content):
                        if (
                            c.group(3) is not None
                            and _FORMULA.search(c.group(3))
                            and not _CACHED.search(c.group(3))
                        ):
                            ref = _CELL_REF.search(c.group(2))
                            if ref:
                                cell = ref.group(0)[3:-1].decode()  # r="C7" -> C7
                                formulas.append(Formula(row, _column_index(ref.group(1)), cell))
            carry = data[end:]
            if not block:
                break
    return Census(records, breaks, formulas=formulas)


def xlsx_rows(path: Path, sheet: str) -> int:
    """The rows of a sheet that hold a value or a formula, header or not (a sheet not read)."""
    return _xlsx_census(path, sheet, 0).records or 0


# ---------------------------------------------------------------- Parquet


def _parquet_census(path: Path, unnest: str | None) -> Census:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as pf:
        if not unnest:
            records = pf.metadata.num_rows
        else:
            # One leaf of the member column carries the list lengths: the members' data is not read.
            leaf = next(
                c.path for c in pf.schema if c.path == unnest or c.path.startswith(unnest + ".")
            )
            records = 0
            for group in range(pf.num_row_groups):
                column = pf.read_row_group(group, columns=[leaf]).column(0)
                records += pc.sum(pc.list_value_length(column)).as_py() or 0
    return Census(records, [Break(1, 1, 1)] if records else [])
