"""``dialer serve``: run the dialer against the Asterisk named in the settings."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the engine, FastAGI and the API against a real Asterisk",
        description="Run the dialer: the engine over AMI, the FastAGI server for answered "
        "calls, and the HTTP API. Settings come from --config (TOML) and DIALER_* variables.",
    )
    p.add_argument("--config", type=Path, default=None, help="settings file (TOML)")
    p.add_argument(
        "--owner",
        default="dialer-1",
        help="this process's name for contact leases and attempts: one per running process, "
        "the same across its restarts (a restart settles the calls its last run left open)",
    )
    p.set_defaults(handler=run)


def run(args: Any) -> int:
    from dialer.cli import UserError
    from dialer.service import serve
    from dialer.settings import SettingsError, load_settings
    from store.db import OwnerInUse
    from store.process_lock import DatabaseInUse

    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        raise UserError(str(exc)) from None
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(settings, owner=args.owner))
    except (OwnerInUse, DatabaseInUse) as exc:
        raise UserError(str(exc)) from None
    return 0
