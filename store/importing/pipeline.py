"""Validate a whole file before anything is written (seed 000: "If any errors are found in
the file ... Sagicc will show you the errors found").

Valid records are staged in a temporary file as pickled chunks, so a million rows cost
little memory between the validation pass and the write. Big files are validated by a pool
of worker processes, chunk by chunk (phone parsing is CPU-bound); the in-file duplicate check
needs every row, so it runs here, in file order.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO

from store.importing.fields import Field
from store.importing.mapping import HeaderPlan, plan_headers
from store.importing.phones import PhoneNormaliser
from store.importing.problems import ImportProblem, ImportRejected
from store.importing.readers import Cells, open_table
from store.importing.records import ContactRecord
from store.importing.validation import RowValidator

CHUNK_ROWS = 2_000
POOL_MIN_BYTES = 4 << 20  # below this a pool costs more to start than it saves
# Measured on 2 cores: 39.6k rows/s in-process, 41.2k with 2 workers (reading and pickling
# stay in this process), so the pool is opt-in (ImportOptions.workers).
POOL_BY_DEFAULT = False
MAX_PROBLEMS = 1_000  # a file that bad has a systematic fault; stop listing and say so

Progress = Callable[[str, int, float], None]  # (phase, rows, fraction done)


class StagedRecords:
    """Validated records parked on disk in chunks, read back in file order."""

    def __init__(self) -> None:
        # Lives until close(): between validation and the write, so no `with` block fits.
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="dialer-import-")  # noqa: SIM115
        self.count = 0

    def add(self, records: list[ContactRecord]) -> None:
        if records:
            pickle.dump(records, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self.count += len(records)

    def chunks(self) -> Iterator[list[ContactRecord]]:
        self._file.seek(0)
        while True:
            try:
                chunk: list[ContactRecord] = pickle.load(self._file)
            except EOFError:
                return
            yield chunk

    def close(self) -> None:
        self._file.close()


@dataclass
class ValidatedFile:
    plan: HeaderPlan
    staged: StagedRecords
    rows: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    truncated: bool = False

    @property
    def extra_columns(self) -> list[str]:
        return [header for _, header in self.plan.extras]


@dataclass(frozen=True)
class ValidationContext:
    """What a validator needs from the database, picklable for worker processes."""

    default_country: str | None
    known_tags: tuple[str, ...]
    known_users: tuple[str, ...] | None


_worker_validator: RowValidator | None = None


def _start_worker(plan: HeaderPlan, context: ValidationContext) -> None:
    global _worker_validator
    _worker_validator = _make_validator(plan, context)


def _validate_in_worker(
    rows: list[tuple[int, Cells]],
) -> tuple[list[ContactRecord], list[ImportProblem]]:
    assert _worker_validator is not None
    return _validate_chunk(_worker_validator, rows)


def _make_validator(plan: HeaderPlan, context: ValidationContext) -> RowValidator:
    phones = PhoneNormaliser(context.default_country)
    return RowValidator(
        plan, phones, context.known_tags, context.known_users, in_file_duplicates=False
    )


def _validate_chunk(
    validator: RowValidator, rows: list[tuple[int, Cells]]
) -> tuple[list[ContactRecord], list[ImportProblem]]:
    records: list[ContactRecord] = []
    problems: list[ImportProblem] = []
    for number, cells in rows:
        result = validator.validate(number, cells)
        if isinstance(result, list):
            problems.extend(result)
        else:
            records.append(result)
    return records, problems


def _chunks(rows: Iterable[tuple[int, Cells]]) -> Iterator[list[tuple[int, Cells]]]:
    it = iter(rows)
    while chunk := list(islice(it, CHUNK_ROWS)):
        yield chunk


def first_of_each_document(
    records: list[ContactRecord],
    seen: dict[tuple[str, str], int],
    label: str,
    problems: list[ImportProblem],
) -> list[ContactRecord]:
    """The records whose document was not in an earlier row (``seen``: document -> first
    row, kept across chunks); each repeat is a problem naming the first row (seed 000: one
    row per customer)."""
    kept: list[ContactRecord] = []
    for record in records:
        first = seen.setdefault(record.document_key, record.row)
        if first != record.row:
            kind, number = record.document_key
            message = f"{kind} {number} is already in row {first}; one row per customer"
            problems.append(ImportProblem(record.row, label, message))
        else:
            kept.append(record)
    return kept


def validate_file(
    path: Path,
    context: ValidationContext,
    mapping: dict[str, str] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ValidatedFile:
    """Read and validate every row. Raises ImportRejected (nothing staged) when the headers
    or any row are at fault; otherwise returns the staged records."""
    table = open_table(path)
    plan = plan_headers(table.header, mapping)
    if workers is None:
        big = path.stat().st_size >= POOL_MIN_BYTES
        workers = min(2, os.cpu_count() or 1) if big and POOL_BY_DEFAULT else 1
    result = ValidatedFile(plan, StagedRecords())
    seen: dict[tuple[str, str], int] = {}
    label = plan.label(Field.DOCUMENT_NUMBER)

    def take(records: list[ContactRecord], problems: list[ImportProblem], rows: int) -> None:
        result.rows += rows
        kept = first_of_each_document(records, seen, label, problems)
        if problems:
            problems.sort(key=lambda p: p.row)
            result.problems.extend(problems)
        elif not result.problems:
            result.staged.add(kept)
        if progress is not None:
            progress("validating", result.rows, table.done())

    try:
        if workers <= 1:
            validator = _make_validator(plan, context)
            for chunk in _chunks(table.rows):
                take(*_validate_chunk(validator, chunk), len(chunk))
                if len(result.problems) >= MAX_PROBLEMS:
                    result.truncated = True
                    break
        else:
            with ProcessPoolExecutor(
                workers, initializer=_start_worker, initargs=(plan, context)
            ) as pool:
                pending: list[
                    tuple[Future[tuple[list[ContactRecord], list[ImportProblem]]], int]
                ] = []
                for chunk in _chunks(table.rows):
                    pending.append((pool.submit(_validate_in_worker, chunk), len(chunk)))
                    # Keep a few chunks in flight per worker, and results in file order.
                    while len(pending) > workers * 3:
                        future, size = pending.pop(0)
                        take(*future.result(), size)
                    if len(result.problems) >= MAX_PROBLEMS:
                        result.truncated = True
                        for future, _ in pending:
                            future.cancel()
                        pending.clear()
                        break
                for future, size in pending:
                    take(*future.result(), size)
    except BaseException:
        result.staged.close()
        raise
    if result.problems:
        result.staged.close()
        raise ImportRejected(result.problems, result.rows)
    return result
