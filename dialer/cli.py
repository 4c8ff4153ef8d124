"""The `dialer` command line.

Each sub-command lives in its own module under :mod:`dialer.commands` and exposes
``register(subparsers)``; the module's ``run(args) -> int`` is set as the parser default
``handler``. Modules are imported only to build the parser, and heavy imports stay inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence

from dialer import commands


class UserError(Exception):
    """A problem the user can fix (bad file, bad option): printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dialer", description="Predictive dialer and voice campaigns for Asterisk."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except UserError as exc:
        print(f"dialer {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
