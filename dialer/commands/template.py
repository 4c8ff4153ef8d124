"""`dialer template [--format xlsx|csv] OUT`: write the contact import template (seed 000)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "template",
        help="write the contact import template",
        description="Write the standard import template: the headers `dialer import` expects "
        "and one example row.",
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="file to write (.xlsx or .csv)")
    parser.add_argument(
        "--format",
        choices=("xlsx", "csv"),
        default=None,
        help="default: from OUT's suffix, else xlsx",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dialer.cli import UserError
    from store.importing.template import write_template

    out: Path = args.out
    fmt: str = args.format or (out.suffix.lstrip(".").lower() if out.suffix else "xlsx")
    if fmt not in ("xlsx", "csv"):
        raise UserError(f"cannot write a template as {out.suffix!r}; use --format xlsx or csv")
    if not out.parent.is_dir():
        raise UserError(f"no such directory: {out.parent}")
    try:
        write_template(out, fmt)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from exc
    print(f"wrote the import template to {out}")
    return 0
