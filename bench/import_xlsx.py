"""Import rate of a generated 100,000-row .xlsx (written with openpyxl write-only, not timed)
into PostgreSQL. Prints ``import_xlsx_rows_per_s``.

    .venv/bin/python bench/import_xlsx.py [--rows N] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_csv import DEFAULT_URL, HEADER, generate_rows, run_import


def write_xlsx(path: Path, count: int) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("accounts")
    sheet.append(HEADER)
    for row in generate_rows(count):
        sheet.append(row)
    book.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database", default=DEFAULT_URL)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contacts.xlsx"
        write_xlsx(path, args.rows)
        asyncio.run(run_import(path, args.database, args.rows, "import_xlsx"))


if __name__ == "__main__":
    main()
