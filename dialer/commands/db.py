"""`dialer db upgrade [--database URL]`: create or migrate the campaign-records schema."""

from __future__ import annotations

import argparse
import os

DATABASE_ENV = "DIALER_DATABASE_URL"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "db",
        help="manage the database schema",
        description="Manage the campaign-records database (SQLite file or PostgreSQL).",
    )
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade",
        help="create the schema or migrate it to the newest version",
        description="Create the schema in an empty database, or apply the missing migrations.",
    )
    upgrade.add_argument(
        "--database",
        metavar="URL",
        default=None,
        help=f"sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB "
        f"(default: ${DATABASE_ENV}, else sqlite+aiosqlite:///dialer.db)",
    )
    upgrade.set_defaults(handler=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from dialer.cli import UserError
    from store.db import DEFAULT_DATABASE_URL, DatabaseURLError, current_revision, upgrade

    url: str = args.database or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE_URL
    try:
        upgrade(url)
        revision = asyncio.run(current_revision(url))
    except DatabaseURLError as exc:
        raise UserError(str(exc)) from exc
    except (SQLAlchemyError, OSError) as exc:
        raise UserError(f"cannot migrate {url}: {exc}") from exc
    print(f"database {url} is at migration {revision}")
    return 0
