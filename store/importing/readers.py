"""Streaming readers: a spreadsheet or CSV file in, a header and text rows out.

Every cell comes out as stripped text, so validation sees one shape whatever the format:
spreadsheet numbers lose their ".0" (phone and document numbers are often typed as numbers)
and dates become ISO dates.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from store.importing.problems import ImportProblem, ImportRejected

CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
SHEET_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods"})
DELIMITERS = (",", ";", "\t", "|")
_CHUNK = 1 << 20

Cells = list[str]


@dataclass
class Table:
    """The header (row 1) and a one-pass iterator of (row number, cells) for the data rows.
    Blank rows are skipped but keep their numbers, so row numbers match the spreadsheet."""

    header: Cells
    rows: Iterator[tuple[int, Cells]]
    encoding: str = ""
    delimiter: str = ""
    done: Callable[[], float] = lambda: 0.0  # fraction of the file read so far, for progress


def open_table(path: Path) -> Table:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ImportRejected([ImportProblem(0, "", f"no such file: {path}")])
    if suffix in CSV_SUFFIXES:
        return _open_csv(path)
    if suffix in SHEET_SUFFIXES:
        return _open_sheet(path)
    known = ", ".join(sorted(CSV_SUFFIXES | SHEET_SUFFIXES))
    raise ImportRejected([ImportProblem(0, "", f"unsupported file type {suffix!r} (use {known})")])


def detect_encoding(path: Path) -> str:
    """utf-8-sig when the file starts with a BOM, utf-8 when every byte decodes as UTF-8,
    otherwise cp1252 (what Excel writes on Windows; a superset of latin-1's printable range)."""
    with path.open("rb") as f:
        head = f.read(3)
        if head == codecs.BOM_UTF8:
            return "utf-8-sig"
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := f.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            f.seek(0)
            try:
                while chunk := f.read(_CHUNK):
                    chunk.decode("cp1252")
            except UnicodeDecodeError:
                return "latin-1"
            return "cp1252"
    return "utf-8"


def sniff_delimiter(header_line: str) -> str:
    """The delimiter is the candidate the header line uses most (headers rarely hold one);
    csv.Sniffer guesses wrong on short files, so it is not used."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _open_csv(path: Path) -> Table:
    encoding = detect_encoding(path)
    raw = path.open("rb")
    f = io.TextIOWrapper(raw, encoding=encoding, newline="")
    first = f.readline()
    delimiter = sniff_delimiter(first)
    f.seek(0)
    reader = csv.reader(f, delimiter=delimiter)
    try:
        header = [c.strip() for c in next(reader)]
    except StopIteration:
        f.close()
        raise ImportRejected(
            [ImportProblem(1, "", "the file is empty; row 1 must hold the headers")]
        ) from None

    def rows() -> Iterator[tuple[int, Cells]]:
        with f:
            for number, raw in enumerate(reader, start=2):
                cells = [c.strip() for c in raw]
                if any(cells):
                    yield number, cells

    size = max(path.stat().st_size, 1)

    def done() -> float:
        return 1.0 if raw.closed else min(raw.tell() / size, 1.0)

    return Table(header, rows(), encoding, delimiter, done)


def cell_text(value: object) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def _open_sheet(path: Path) -> Table:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
        it = iter(sheet.iter_rows())
        first = next(it, None)
    except CalamineError as exc:
        raise ImportRejected([ImportProblem(0, "", f"cannot read {path.name}: {exc}")]) from exc
    if first is None:
        raise ImportRejected(
            [ImportProblem(1, "", "the sheet is empty; row 1 must hold the headers")]
        )
    # calamine starts at the first used row; keep spreadsheet numbering.
    start_row = sheet.start[0] + 1 if sheet.start else 1
    header = [cell_text(c) for c in first]

    def rows() -> Iterator[tuple[int, Cells]]:
        for number, raw in enumerate(it, start=start_row + 1):
            cells = [cell_text(c) for c in raw]
            if any(cells):
                yield number, cells

    height = max(sheet.height, 1)
    position = [0]

    def counted() -> Iterator[tuple[int, Cells]]:
        for number, cells in rows():
            position[0] = number
            yield number, cells

    return Table(header, counted(), done=lambda: min(position[0] / height, 1.0))
