"""`dialer import FILE --campaign ID`: load contacts from a .csv or spreadsheet (seed 000).

Every row is validated before anything is written; on any fault the command lists them all
as ``row N, column X: ...`` and exits 1 with the database unchanged.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.importing import ImportOptions, ImportReport

PROBLEMS_SHOWN = 200


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "import",
        help="import contacts into a campaign from .xlsx or .csv",
        description="Import contacts (customers and accounts) into a campaign. Row 1 holds the "
        "headers of the standard template (see `dialer template`) or of a custom template "
        "given with --mapping.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help=".xlsx, .xls, .ods or .csv")
    parser.add_argument("--campaign", type=int, required=True, metavar="ID", help="campaign id")
    parser.add_argument("--database", metavar="URL", help="database URL (default: from settings)")
    parser.add_argument(
        "--default-country", metavar="CC", help="ISO country for numbers written without +code"
    )
    parser.add_argument(
        "--mapping", type=Path, metavar="FILE", help="custom template: JSON/TOML header -> field"
    )
    parser.add_argument(
        "--tags",
        choices=("add", "replace"),
        default="add",
        help="add to or replace a contact's tags",
    )
    parser.add_argument(
        "--overwrite-duplicates",
        action="store_true",
        help="replace the data of contacts already in the database (default: leave them)",
    )
    parser.add_argument("--create-tickets", action="store_true", help="open a ticket per record")
    parser.add_argument(
        "--ticket-priority", choices=("low", "medium", "high", "urgent"), default="low"
    )
    parser.add_argument(
        "--close-open-tickets", action="store_true", help="close the campaign's open tickets first"
    )
    parser.add_argument(
        "--save-assigned-user", action="store_true", help="keep the ASSIGNED USER column"
    )
    parser.add_argument(
        "--delete-other-accounts",
        action="store_true",
        help="delete each customer's accounts that are not in the file",
    )
    parser.add_argument("--workers", type=int, metavar="N", help="validation processes")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def default_database_url() -> str:
    import importlib

    try:
        settings = importlib.import_module("dialer.settings").load_settings()
    except (ImportError, AttributeError):
        return "sqlite+aiosqlite:///./var/dialer.sqlite3"
    database = getattr(settings, "database", None)
    url = getattr(database, "url", None) if database is not None else None
    return str(url or getattr(settings, "database_url", "sqlite+aiosqlite:///./var/dialer.sqlite3"))


class ProgressBar:
    """A plain-text bar on stderr, redrawn at most ten times a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._last = 0.0
        self._phase = ""

    def __call__(self, phase: str, rows: int, fraction: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if phase == self._phase and now - self._last < 0.1 and fraction < 1.0:
            return
        if phase != self._phase and self._phase:
            sys.stderr.write("\n")
        self._phase, self._last = phase, now
        filled = int(30 * fraction)
        bar = "#" * filled + "-" * (30 - filled)
        sys.stderr.write(f"\r{phase:<10} [{bar}] {fraction:6.1%} {rows:>10,} rows")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self._phase:
            sys.stderr.write("\n")
            sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from dialer.cli import UserError
    from store.importing import ImportOptions, ImportRejected, TagMode, TicketPriority
    from store.importing.mapping import load_mapping

    try:
        mapping = load_mapping(args.mapping) if args.mapping else None
        options = ImportOptions(
            default_country=args.default_country,
            mapping=mapping,
            create_tickets=args.create_tickets,
            ticket_priority=TicketPriority(args.ticket_priority),
            tag_mode=TagMode(args.tags),
            close_open_tickets=args.close_open_tickets,
            save_assigned_user=args.save_assigned_user,
            overwrite_duplicates=args.overwrite_duplicates,
            delete_other_accounts=args.delete_other_accounts,
            workers=args.workers,
        )
    except ImportRejected as exc:
        raise UserError(str(exc.problems[0])) from exc
    progress = ProgressBar(not args.quiet)
    url = args.database or default_database_url()
    try:
        report = asyncio.run(_import(url, args.file, args.campaign, options, progress))
    except ImportRejected as exc:
        progress.finish()
        for problem in exc.problems[:PROBLEMS_SHOWN]:
            print(_problem_line(problem), file=sys.stderr)
        hidden = len(exc.problems) - PROBLEMS_SHOWN
        if hidden > 0:
            print(f"... and {hidden} more", file=sys.stderr)
        print(
            f"dialer import: {len(exc.problems)} problem(s) in {args.file.name}; "
            "nothing was imported",
            file=sys.stderr,
        )
        return 1
    except ValueError as exc:  # bad option values: unknown country, unknown campaign
        progress.finish()
        raise UserError(str(exc)) from exc
    except SQLAlchemyError as exc:  # e.g. a database without the schema: no traceback
        progress.finish()
        reason = getattr(exc, "orig", None) or exc
        raise UserError(f"database error at {url}: {reason}") from exc
    progress.finish()
    for line in report.lines():
        print(line)
    return 0


def _problem_line(problem: object) -> str:
    text = str(problem)
    return text.removeprefix("row 0: ")


async def _import(
    url: str, path: Path, campaign_id: int, options: ImportOptions, progress: ProgressBar
) -> ImportReport:
    from store.db import Database
    from store.importing.importer import import_file

    database = Database.open(url)
    try:
        return await import_file(database.sessions, path, campaign_id, options, progress=progress)
    finally:
        await database.close()
