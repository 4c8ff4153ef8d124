"""Import rate of a generated 1,000,000-row CSV into PostgreSQL, with validation and phone
normalisation. Prints ``import_csv_rows_per_s``.

    .venv/bin/python bench/import_csv.py [--rows N] [--database URL]

A fresh database is created from the one ``--database`` names (default: the local `test`)
and dropped afterwards (bench/bench_support.py).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HEADER = [
    "CUSTOMER TYPE", "DOCUMENT TYPE", "DOCUMENT NUMBER", "FIRST SURNAME", "SECOND SURNAME",
    "FIRST NAME", "BIRTH DATE", "PHONE", "MOBILE", "EMAIL", "ADDRESS", "CITY", "REGION",
    "POSTAL CODE", "ACCOUNT NUMBER", "TAGS", "SEGMENT",
]  # fmt: skip
MOBILE_PREFIXES = (
    "300",
    "301",
    "304",
    "310",
    "311",
    "312",
    "313",
    "314",
    "315",
    "316",
    "320",
    "321",
    "350",
)
SURNAMES = ("García", "Rodríguez", "Martínez", "López", "González", "Pérez", "Sánchez", "Ramírez")
NAMES = ("Ana", "Luis", "María", "José", "Carmen", "Jorge", "Lucía", "Andrés", "Sofía", "Diego")
CITIES = (
    ("Bogotá", "Cundinamarca", "110111"),
    ("Medellín", "Antioquia", "050001"),
    ("Cali", "Valle del Cauca", "760001"),
    ("Barranquilla", "Atlántico", "080001"),
)
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def generate_rows(count: int, seed: int = 7) -> Iterator[list[str]]:
    """Realistic rows: national mobiles (default country CO), some landlines in E.164."""
    rng = random.Random(seed)
    for i in range(count):
        city, region, postal = rng.choice(CITIES)
        mobile = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**7):07d}"
        phone = f"+57601{rng.randrange(2 * 10**6, 9 * 10**6):07d}" if i % 3 == 0 else ""
        birth = f"19{rng.randrange(40, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(9)}"
        yield [
            "PERSON", "CC", str(10_000_000 + i), rng.choice(SURNAMES), rng.choice(SURNAMES),
            rng.choice(NAMES), birth,
            phone, mobile, f"user{i}@example.com" if i % 2 else "",
            f"Calle {rng.randrange(1, 200)} # {rng.randrange(1, 99)}-{rng.randrange(1, 99)}",
            city, region, postal, f"ACC-{i}", "VIP" if i % 10 == 0 else "", rng.choice("ABC"),
        ]  # fmt: skip


def write_csv(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(generate_rows(count))


async def run_import(path: Path, url: str, rows: int, figure: str) -> None:
    from bench_support import fresh_database

    from store.importing import ImportOptions
    from store.importing.importer import import_file

    async with fresh_database(url) as (session_factory, campaign_id):
        started = time.perf_counter()
        report = await import_file(
            session_factory, path, campaign_id, ImportOptions(default_country="CO")
        )
        seconds = time.perf_counter() - started
    assert report.created == rows, report
    print(f"{figure}_rows: {rows} rows")
    print(f"{figure}_seconds: {seconds:.1f} s")
    print(f"{figure}_rows_per_s: {rows / seconds:.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default=DEFAULT_URL)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contacts.csv"
        write_csv(path, args.rows)
        asyncio.run(run_import(path, args.database, args.rows, "import_csv"))


if __name__ == "__main__":
    main()
