"""Outcomes waiting for a database that is away, kept on this machine's disk until written.

While the database is away the engine's writer keeps the outcomes of the calls in order and
tries again (dialer/engine/records.py). Held in memory only, they would be lost if the process
stopped meanwhile (a restart during the outage, a crash, a drain that ran out of time): the
next start would find their attempts open and settle them as ``unknown``. So the first time an
outcome has to wait it is also appended here, one JSON line each, flushed to disk (fsync)
before the writer waits; so is one whose commit has not come back within ``KEEP_AFTER_S`` (a
database that hangs instead of failing). The file is emptied once every outcome it holds is
committed. A start
writes what its previous run left here before it settles that run's open attempts
(:meth:`StoreRecords.write_spooled`), so the real outcome wins over the settle's guess.

The file is per process (``--owner``), in the ``outcome_spool_dir`` directory. A line torn by a
crash mid-write is passed over with a warning naming it; the lines before and after it stand.
Writing an outcome twice is harmless: the store makes the second a no-op or a logged conflict.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from store.attempts import AttemptOutcome
from store.enums import CallOutcome

__all__ = ["OutcomeSpool", "SpoolLineError", "decode", "encode"]

log = logging.getLogger(__name__)

_TIMES: Final = ("now", "dialed_at", "answered_at", "connected_at")
_FIELDS: Final = {f.name for f in dataclasses.fields(AttemptOutcome)}


class SpoolLineError(ValueError):
    """A spool line that is not an outcome; the message names the line and what is wrong."""


def encode(outcome: AttemptOutcome) -> str:
    """One outcome as one JSON line (no newline inside): times in ISO 8601 with their offset."""
    fields: dict[str, Any] = dataclasses.asdict(outcome)
    for name in _TIMES:
        if fields[name] is not None:
            fields[name] = fields[name].isoformat()
    fields["outcome"] = str(CallOutcome(outcome.outcome))
    return json.dumps(fields, separators=(",", ":"), sort_keys=True)


def decode(line: str, where: str) -> AttemptOutcome:
    """The outcome of one line; ``where`` names the line in the error when it is not one."""
    try:
        fields = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SpoolLineError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(fields, dict):
        raise SpoolLineError(f"{where}: not a JSON object")
    unknown = set(fields) - _FIELDS
    if unknown:
        raise SpoolLineError(f"{where}: unknown fields {sorted(unknown)}")
    try:
        for name in _TIMES:
            if fields.get(name) is not None:
                fields[name] = dt.datetime.fromisoformat(fields[name])
        fields["outcome"] = CallOutcome(fields["outcome"])
        outcome = AttemptOutcome(**fields)
    except (KeyError, TypeError, ValueError) as exc:
        raise SpoolLineError(f"{where}: {exc!r}") from None
    if not isinstance(outcome.attempt_id, int) or not isinstance(outcome.now, dt.datetime):
        raise SpoolLineError(f"{where}: attempt_id and now are required")
    return outcome


class OutcomeSpool:
    """The file of one process's outcomes waiting to be written (see the module's text)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of_owner(cls, directory: Path, owner: str) -> OutcomeSpool:
        """The spool of the process named ``owner`` (--owner) in ``directory``; characters a
        file name should not hold become ``_``."""
        name = re.sub(r"[^A-Za-z0-9._-]", "_", owner)
        return cls(directory / f"{name}.outcomes.jsonl")

    async def keep(self, outcomes: Sequence[AttemptOutcome]) -> None:
        """Append these outcomes, on disk (fsync) before returning."""
        if outcomes:
            text = "".join(f"{encode(o)}\n" for o in outcomes)
            await asyncio.to_thread(self._append, text)

    def read(self) -> list[AttemptOutcome]:
        """The outcomes kept, in order; a line that is not one is logged and passed over."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out: list[AttemptOutcome] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                out.append(decode(line, f"{self.path} line {number}"))
            except SpoolLineError as exc:
                log.warning("outcome spool: %s; line passed over", exc)
        return out

    async def clear(self) -> None:
        """Every outcome kept is committed: empty the file."""
        await asyncio.to_thread(self._truncate)

    def _append(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as spool:
            spool.write(text)
            spool.flush()
            os.fsync(spool.fileno())

    def _truncate(self) -> None:
        if self.path.exists():
            with self.path.open("w", encoding="utf-8") as spool:
                spool.flush()
                os.fsync(spool.fileno())
