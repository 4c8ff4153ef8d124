"""The SQLite single-process rule, URL checks and `dialer db upgrade`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from dialer.cli import main
from store.db import (
    Database,
    DatabaseURLError,
    OwnerInUse,
    current_revision,
    owner_stopped,
    parse_database_url,
)
from store.process_lock import DatabaseInUse


def test_a_second_dialer_process_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dialer.db'}"
    first = Database.open(url)
    try:
        code = (
            "import sys; from store.db import Database\n"
            "try:\n    Database.open(sys.argv[1])\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc); sys.exit(3)\n"
        )
        other = subprocess.run(
            [sys.executable, "-c", code, url], capture_output=True, text=True, check=False
        )
        assert other.returncode == 3, other.stderr
        assert other.stdout.startswith("DatabaseInUse")
        assert "only one dialer process may run" in other.stdout
    finally:
        asyncio.run(first.close())


async def test_the_sqlite_lock_is_free_again_once_closed(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dialer.db'}"
    first = Database.open(url)
    with pytest.raises(DatabaseInUse):
        Database.open(url)
    await first.close()
    second = Database.open(url)
    await second.close()


def test_unsupported_and_in_memory_urls_are_refused() -> None:
    with pytest.raises(DatabaseURLError, match="unsupported database URL scheme 'mysql'"):
        parse_database_url("mysql://u@h/db")
    with pytest.raises(DatabaseURLError, match="must be a file"):
        parse_database_url("sqlite+aiosqlite:///:memory:")


def test_db_upgrade_creates_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    assert main(["db", "upgrade", "--database", url]) == 0
    assert "is at migration 0010" in capsys.readouterr().out
    assert asyncio.run(current_revision(url)) == "0010"


def test_db_upgrade_reports_a_bad_url_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["db", "upgrade", "--database", "oracle://x"]) == 1
    assert "error: unsupported database URL scheme 'oracle'" in capsys.readouterr().err


@pytest.mark.postgres
async def test_a_second_running_process_with_the_same_owner_name_is_refused(
    postgres_url: str,
) -> None:
    first, second = Database.open(postgres_url), Database.open(postgres_url)
    try:
        await first.hold_owner("dialer-1")
        with pytest.raises(OwnerInUse, match="another dialer process runs as 'dialer-1'"):
            await second.hold_owner("dialer-1")
        await second.hold_owner("dialer-2")  # another name is another process
    finally:
        await first.close()
        await second.close()
    restarted = Database.open(postgres_url)
    try:
        await restarted.hold_owner("dialer-1")  # free again once the first one is gone
    finally:
        await restarted.close()


@pytest.mark.postgres
async def test_an_owner_is_stopped_only_once_its_lock_is_free_and_held_meanwhile(
    postgres_url: str,
) -> None:
    running, other = Database.open(postgres_url), Database.open(postgres_url)
    try:
        await running.hold_owner("dialer-1")
        async with owner_stopped(other.engine, "dialer-1") as stopped:
            assert not stopped  # it runs, whatever Redis says
        await running.close()
        async with owner_stopped(other.engine, "dialer-1") as stopped:
            assert stopped
            restarted = Database.open(postgres_url)
            try:  # it cannot start again while its calls are settled
                with pytest.raises(OwnerInUse):
                    await restarted.hold_owner("dialer-1")
            finally:
                await restarted.close()
        again = Database.open(postgres_url)
        try:
            await again.hold_owner("dialer-1")  # let go after the block
        finally:
            await again.close()
    finally:
        await running.close()
        await other.close()


async def test_on_sqlite_the_owner_name_needs_no_lock_of_its_own(tmp_path: Path) -> None:
    db = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'dialer.db'}")
    try:
        await db.hold_owner("dialer-1")  # the file lock already admits one process only
        await db.hold_owner("dialer-1")
    finally:
        await db.close()
