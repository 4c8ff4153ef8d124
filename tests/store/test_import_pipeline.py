"""Validating a whole file before writing: staged records, every problem, worker processes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from store.importing.pipeline import ValidationContext, validate_file
from store.importing.problems import ImportRejected

FIXTURES = Path(__file__).parent.parent / "fixtures" / "import"
CONTEXT = ValidationContext("CO", ("VIP", "LATE"), None)
HEADER = [
    "CUSTOMER TYPE",
    "DOCUMENT TYPE",
    "DOCUMENT NUMBER",
    "FIRST SURNAME",
    "FIRST NAME",
    "MOBILE",
]


def write_rows(path: Path, count: int, duplicate_at: int | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(count):
            number = 0 if i == duplicate_at else i
            writer.writerow(["PERSON", "CC", str(5000 + number), "Ruiz", "Eva", f"310{i:07d}"])
    return path


def test_valid_file_is_staged_in_file_order() -> None:
    result = validate_file(FIXTURES / "standard.csv", CONTEXT)
    records = [r for chunk in result.staged.chunks() for r in chunk]
    result.staged.close()
    assert result.rows == 3
    assert [r.document_number for r in records] == ["1001", "1002", "9003"]
    assert result.extra_columns == ["SEGMENT"]


def test_faulty_file_raises_with_every_problem_and_stages_nothing() -> None:
    with pytest.raises(ImportRejected) as caught:
        validate_file(FIXTURES / "faulty.csv", CONTEXT)
    assert caught.value.rows_read == 6
    assert [p.row for p in caught.value.problems] == [3, 4, 5, 6, 6, 6, 7]


@pytest.mark.parametrize("workers", [1, 2])
def test_duplicates_across_chunks_are_found_with_or_without_workers(
    tmp_path: Path, workers: int
) -> None:
    path = write_rows(tmp_path / "many.csv", 4_500, duplicate_at=4_400)
    with pytest.raises(ImportRejected) as caught:
        validate_file(path, CONTEXT, workers=workers)
    assert [str(p) for p in caught.value.problems] == [
        "row 4402, column DOCUMENT NUMBER: CC 5000 is already in row 2; one row per customer"
    ]


def test_workers_stage_the_same_records_as_one_process(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "many.csv", 4_500)
    single = validate_file(path, CONTEXT, workers=1)
    pooled = validate_file(path, CONTEXT, workers=2)
    assert [r for c in single.staged.chunks() for r in c] == [
        r for c in pooled.staged.chunks() for r in c
    ]
    assert pooled.staged.count == 4_500


def test_progress_reports_rows_and_reaches_the_end(tmp_path: Path) -> None:
    seen: list[tuple[str, int, float]] = []
    validate_file(
        write_rows(tmp_path / "p.csv", 4_500), CONTEXT, progress=lambda *a: seen.append(a)
    )
    assert [rows for _, rows, _ in seen] == [2_000, 4_000, 4_500]
    assert seen[-1] == ("validating", 4_500, 1.0)


def _stream(path: Path, *, process: bool) -> tuple[list[str], list[str], int]:
    from store.importing.streaming import ValidationStream

    stream = ValidationStream(path, CONTEXT, None, process=process, depth=4)
    stream.start()
    numbers: list[str] = []
    try:
        while (chunk := stream.get()) is not None:
            if not stream.rejected:
                numbers += [r.document_number for r in chunk]
    finally:
        stream.stop()
    return numbers, [str(p) for p in stream.problems], stream.rows


@pytest.mark.parametrize("process", [False, True])
def test_streamed_validation_hands_over_chunks_in_file_order(tmp_path: Path, process: bool) -> None:
    numbers, problems, rows = _stream(write_rows(tmp_path / "many.csv", 4_500), process=process)
    assert (numbers, problems, rows) == ([str(5000 + i) for i in range(4_500)], [], 4_500)


@pytest.mark.parametrize("process", [False, True])
def test_streamed_validation_reports_every_problem_and_stops_handing_over(
    tmp_path: Path, process: bool
) -> None:
    numbers, problems, rows = _stream(
        write_rows(tmp_path / "many.csv", 4_500, duplicate_at=2_100), process=process
    )
    # The first chunk (2,000 rows) was valid; the one with the duplicate and after are not.
    assert numbers == [str(5000 + i) for i in range(2_000)]
    assert problems == [
        "row 2102, column DOCUMENT NUMBER: CC 5000 is already in row 2; one row per customer"
    ]
    assert rows == 4_500


@pytest.mark.parametrize("process", [False, True])
def test_streamed_validation_rejects_a_bad_header(tmp_path: Path, process: bool) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("CUSTOMER TYPE,DOCUMENT TYPE\nPERSON,CC\n", encoding="utf-8")
    numbers, problems, _ = _stream(path, process=process)
    assert numbers == []
    assert "row 1, column DOCUMENT NUMBER: required column is missing" in problems


def _records(path: Path, *, process: bool) -> list[object]:
    from store.importing.streaming import ValidationStream

    stream = ValidationStream(path, CONTEXT, None, process=process, depth=4)
    stream.start()
    records: list[object] = []
    try:
        while (chunk := stream.get()) is not None:
            records += chunk
    finally:
        stream.stop()
    return records


def test_a_worker_process_hands_over_exactly_the_records_a_thread_validates() -> None:
    # standard.csv has phones, tags, emails and an additional-data column: every field that
    # crosses the pipe, repeating strings shared or not, comes out equal and of the same type.
    path = FIXTURES / "standard.csv"
    in_thread = _records(path, process=False)
    in_worker = _records(path, process=True)
    assert in_worker == in_thread
    assert [type(r) for r in in_worker] == [type(r) for r in in_thread]
    assert len(in_thread) == 3
