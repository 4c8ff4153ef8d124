"""What an import did, for the CLI and the import batch row."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ImportReport:
    file_name: str
    batch_id: int | None = None
    rows: int = 0  # data rows read
    created: int = 0  # new contacts
    updated: int = 0  # duplicates overwritten (overwrite_duplicates)
    duplicates: int = 0  # duplicates found in the database (left unchanged unless overwritten)
    assigned: int = 0  # newly assigned to the campaign
    tickets_created: int = 0
    tickets_closed: int = 0
    accounts_deleted: int = 0
    extra_columns: list[str] = field(default_factory=list)  # stored as additional data
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"file: {self.file_name}",
            f"rows read: {self.rows}",
            f"contacts created: {self.created}",
            f"duplicates: {self.duplicates} ({self.updated} overwritten)",
            f"assigned to the campaign: {self.assigned}",
        ]
        if self.tickets_created or self.tickets_closed:
            out.append(f"tickets created: {self.tickets_created}, closed: {self.tickets_closed}")
        if self.accounts_deleted:
            out.append(f"other accounts deleted: {self.accounts_deleted}")
        if self.extra_columns:
            out.append("additional data columns: " + ", ".join(self.extra_columns))
        if self.batch_id is not None:
            out.append(f"import batch: {self.batch_id}")
        return out
