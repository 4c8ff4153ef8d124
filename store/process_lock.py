"""The single-process rule for SQLite.

SQLite silently ignores ``FOR UPDATE SKIP LOCKED``, so two dialer processes on one SQLite file
could claim the same assignment and dial a contact twice. One process holds an exclusive OS lock
on ``<database file>.lock`` for as long as it runs; a second one fails at once with a clear
error. The OS drops the lock when the process dies, so a crash leaves nothing to clean up.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path


class DatabaseInUse(RuntimeError):
    """Another process holds the SQLite database."""


@dataclass
class ProcessLock:
    path: Path
    _fd: int | None

    @classmethod
    def acquire(cls, database_file: Path) -> ProcessLock:
        path = database_file.with_name(database_file.name + ".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseInUse(
                f"the SQLite database {database_file} is in use by another dialer process "
                f"(pid {holder}, lock {path}); on SQLite only one dialer process may run: stop "
                "it, or use PostgreSQL to run several"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
