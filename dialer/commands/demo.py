"""``dialer demo``: run a simulated shift on the embedded default (SQLite, simulated Asterisk)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run a simulated shift: predictive campaign, simulated Asterisk, SQLite",
        description="Run a predictive campaign for a shift against the simulated Asterisk, "
        "with simulated agents, on a fresh SQLite database; show it live; sum it up from the "
        "database.",
    )
    p.add_argument("--agents", type=int, default=20, help="simulated agents (default 20)")
    p.add_argument("--contacts", type=int, default=3000, help="contacts to import (default 3000)")
    p.add_argument(
        "--minutes",
        type=float,
        default=60.0,
        help="length of the shift in simulated minutes (default 60)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=25.0,
        help="simulated seconds per wall-clock second (default 25)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the simulated world")
    p.add_argument(
        "--database",
        type=Path,
        default=Path("var/demo.sqlite3"),
        help="SQLite file to (re)create (default var/demo.sqlite3)",
    )
    p.add_argument("--no-live", action="store_true", help="no live view, only the summary")
    p.set_defaults(handler=run)


def run(args: Any) -> int:
    from dialer.cli import UserError
    from dialer.demo import DemoOptions, run_demo

    if args.agents < 1 or args.contacts < 1:
        raise UserError("--agents and --contacts must be at least 1")
    if args.speed <= 0 or args.minutes <= 0:
        raise UserError("--speed and --minutes must be positive")
    opts = DemoOptions(
        agents=args.agents,
        contacts=args.contacts,
        shift_minutes=args.minutes,
        speed=args.speed,
        seed=args.seed,
        database=args.database,
        live=not args.no_live and sys.stdout.isatty(),
    )
    summary = asyncio.run(run_demo(opts))
    print("\n".join(summary.lines()))
    return 0
