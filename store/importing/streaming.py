"""Validation that streams: valid chunks handed over in file order while the rest of the file
is still being validated, for an importer that writes them into a transaction it rolls back
if any row turns out to be at fault (store.importing.importer, PostgreSQL).

The checks, their order and the problem limit are those of pipeline.validate_file; what
differs is that valid chunks leave before the whole file is read. Two places to run it:

- a thread (small files: nothing to start);
- a worker process (big files): validation is pure CPU work under the GIL, and in a thread
  it would compete with the importer's own Python work (building and encoding the rows it
  copies to the server), which sits between two of the server's batches. In a process the
  two run on separate cores; the chunks come back pickled, and a receiving thread unpickles
  them while the importer waits on the server. The worker is ``python -m
  store.importing.streaming`` talking over its stdin/stdout pipes (not multiprocessing: its
  "spawn" re-imports the caller's main module, which a script without a ``__main__`` guard
  does not survive, and "fork" copies a process that has threads and open connections).
"""

from __future__ import annotations

import functools
import gc
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.importing.fields import Field
from store.importing.mapping import HeaderPlan, plan_headers
from store.importing.pipeline import (
    MAX_PROBLEMS,
    ValidationContext,
    _chunks,
    _make_validator,
    _validate_chunk,
    first_of_each_document,
)
from store.importing.problems import ImportProblem, ImportRejected
from store.importing.readers import Table, open_table
from store.importing.records import ContactRecord

POLL_SECONDS = 0.1
# Files at least this big are validated in a worker process (a few hundred milliseconds to
# start one); smaller ones in a thread.
PROCESS_MIN_BYTES = 4 << 20


@dataclass
class FileValidation:
    """Validates ``table`` chunk by chunk (pure: no database, no I/O but the file's)."""

    table: Table
    plan: HeaderPlan
    context: ValidationContext
    rows: int = 0
    problems: list[ImportProblem] = field(default_factory=list)

    def chunks(self) -> Iterator[list[ContactRecord]]:
        """The valid records of each chunk; empty lists once a problem was found (the rest
        is still validated, up to MAX_PROBLEMS, so that every problem is reported)."""
        validator = _make_validator(self.plan, self.context)
        seen: dict[tuple[str, str], int] = {}
        label = self.plan.label(Field.DOCUMENT_NUMBER)
        for chunk in _chunks(self.table.rows):
            records, found = _validate_chunk(validator, chunk)
            self.rows += len(chunk)
            kept = first_of_each_document(records, seen, label, found)
            if found:
                found.sort(key=lambda p: p.row)
                self.problems.extend(found)
            yield [] if self.problems else kept
            if len(self.problems) >= MAX_PROBLEMS:
                return


# Messages from the validating side: ("plan", extra columns) first, then ("chunk", records,
# rows, fraction read, rejected) and ("end", problems, rows); or ("error", description).
Message = tuple[Any, ...]


def _run(path: Path, mapping: dict[str, str] | None, context: ValidationContext, put: Any) -> None:
    """Validate ``path``, handing every message to ``put`` (thread or worker process)."""
    try:
        table = open_table(path)
        plan = plan_headers(table.header, mapping)
        if not put(("plan", [header for _, header in plan.extras])):
            return
        validation = FileValidation(table, plan, context)
        for kept in validation.chunks():
            if not put(("chunk", kept, validation.rows, table.done(), bool(validation.problems))):
                return
        put(("end", validation.problems, validation.rows))
    except ImportRejected as exc:
        put(("end", exc.problems, exc.rows_read))
    except BaseException as exc:  # reported to the importer, which raises it
        put(("error", f"{type(exc).__name__}: {exc}"))


# The fields of a record that repeat across a file (types, names, places, phone kinds and
# zones, tags, the additional data's keys and values).
_REPEATING = tuple(
    ContactRecord._fields.index(name)
    for name in (
        "customer_type", "document_type", "first_surname", "second_surname", "first_name",
        "middle_name", "city", "region", "postal_code", "assigned_user",
    )
)  # fmt: skip
_PHONES = ContactRecord._fields.index("phones")
_EXTRA = ContactRecord._fields.index("additional_data")


def _shared(records: list[ContactRecord]) -> list[tuple[Any, ...]]:
    """The records as plain tuples, equal repeating strings as one object per chunk: pickle
    writes an object it has seen as a reference, which the importer reads back without
    building the string again (a third fewer bytes; about 1.2 us a row less on each side)."""
    seen: dict[str, str] = {}
    one = seen.setdefault
    out = []
    for record in records:
        fields: list[Any] = list(record)
        for i in _REPEATING:
            fields[i] = one(fields[i], fields[i])
        fields[_PHONES] = tuple((one(k, k), e164, one(z, z)) for k, e164, z in fields[_PHONES])
        extra = fields[_EXTRA]
        if extra:
            fields[_EXTRA] = {one(k, k): one(v, v) for k, v in extra.items()}
        out.append(tuple(fields))
    return out


def _serve() -> None:
    """The worker process: (path, mapping, context) pickled on stdin, messages pickled on
    what was stdout (anything printed goes to stderr instead)."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    # No cyclic garbage collector in this process: validation makes no reference cycles worth
    # collecting (refcounting frees every chunk), while the documents seen so far (a million
    # keys) made each full collection walk them all: 32 us a row validating a million rows
    # with it, 19 without (and 9 -> 6 pickling).
    gc.disable()
    path, mapping, context = pickle.load(sys.stdin.buffer)

    def put(message: Message) -> bool:
        if message[0] == "chunk":  # records as plain tuples: pickled and unpickled in C
            message = (message[0], _shared(message[1]), *message[2:])
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()
        return True

    try:
        _run(path, mapping, context, put)
    except BrokenPipeError:  # the importer stopped listening
        return
    out.close()


# A ContactRecord from its plain tuple without a Python-level __new__ call.
_record = functools.partial(tuple.__new__, ContactRecord)


class ValidationFailed(RuntimeError):
    """Validation itself broke (not a fault in the file: those are ImportRejected)."""


class ValidationStream:
    """``get()`` returns the next valid chunk, in file order, or None at the end; then
    ``problems`` and ``rows`` are final. At most ``depth`` chunks wait."""

    def __init__(
        self,
        path: Path,
        context: ValidationContext,
        mapping: dict[str, str] | None,
        *,
        process: bool | None = None,
        depth: int,
    ) -> None:
        """``process``: validate in a worker process (True), a thread (False), or by the
        file's size (None: PROCESS_MIN_BYTES)."""
        self.path = path
        self.context = context
        self.mapping = mapping
        self.process = process
        self.rows = 0
        self.done = 0.0  # fraction of the file read
        self.rejected = False  # a problem was found: what is left is only read to the end
        self.problems: list[ImportProblem] = []
        self.extra_columns: list[str] = []  # the file's additional data columns
        self._local: queue.Queue[Message] = queue.Queue(depth)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._worker: subprocess.Popen[bytes] | None = None

    def _put(self, message: Message) -> bool:
        while not self._stop.is_set():
            try:
                self._local.put(message, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def start(self) -> None:
        if self.process is None:
            self.process = self.path.is_file() and self.path.stat().st_size >= PROCESS_MIN_BYTES
        if not self.process:
            target: Any = _run
            args: tuple[Any, ...] = (self.path, self.mapping, self.context, self._put)
        else:
            # The child imports this package from where this process found it.
            root = str(Path(__file__).resolve().parents[2])
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
            self._worker = subprocess.Popen(
                [sys.executable, "-m", "store.importing.streaming"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": path},
            )
            assert self._worker.stdin is not None
            with self._worker.stdin as stdin:
                pickle.dump((self.path, self.mapping, self.context), stdin)
            target, args = self._receive, (self._worker,)
        thread = threading.Thread(target=target, args=args, name="import-validation", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _receive(self, worker: subprocess.Popen[bytes]) -> None:
        """Move the worker's messages (unpickled here) to the local queue."""
        assert worker.stdout is not None
        with worker.stdout as pipe:
            while not self._stop.is_set():
                try:
                    message: Message = pickle.load(pipe)
                except (EOFError, OSError, pickle.UnpicklingError):
                    self._put(("error", f"validation process exited ({worker.wait()})"))
                    return
                if message[0] == "chunk":
                    records = list(map(_record, message[1]))
                    message = (message[0], records, *message[2:])
                if not self._put(message) or message[0] not in ("plan", "chunk"):
                    return

    def get(self) -> list[ContactRecord] | None:
        while not self._stop.is_set():
            try:
                message = self._local.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            kind = message[0]
            if kind == "plan":
                self.extra_columns = list(message[1])
                continue
            if kind == "chunk":
                _, records, self.rows, self.done, self.rejected = message
                return list(records)
            if kind == "end":
                _, self.problems, self.rows = message
                self.done = 1.0
                return None
            raise ValidationFailed(str(message[1]))
        return None

    def stop(self) -> None:
        """Stop validating (idempotent): threads end, the worker process is ended."""
        self._stop.set()
        if self._worker is not None and self._worker.poll() is None:
            self._worker.terminate()
        for thread in self._threads:
            thread.join()
        if self._worker is not None:
            self._worker.wait()


if __name__ == "__main__":
    _serve()
