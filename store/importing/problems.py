"""What went wrong with an import file, always said by row and column."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One fault in the file. ``row`` is the spreadsheet row (the header is row 1);
    ``column`` is the header as written in the file (or the template field it stands for)."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        if self.column:
            return f"row {self.row}, column {self.column}: {self.message}"
        return f"row {self.row}: {self.message}"


class ImportRejected(Exception):
    """The file has faults; nothing was written. ``problems`` lists every one found."""

    def __init__(self, problems: list[ImportProblem], rows_read: int = 0) -> None:
        self.problems = problems
        self.rows_read = rows_read
        shown = "; ".join(str(p) for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"{len(problems)} problem(s) in the file: {shown}{more}")
