"""What an import does besides loading the rows (seed 000, the import options)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path


class TagMode(StrEnum):
    ADD = "add"  # "Add to existing customer labels"
    REPLACE = "replace"  # "Replace all existing customer labels"


class TicketPriority(StrEnum):
    LOW = "low"  # seed 000: "By default, tickets created from the file will have Low priority"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


@dataclass(frozen=True)
class ImportOptions:
    default_country: str | None = None
    mapping: dict[str, str] | None = None  # custom template: file header -> template field
    create_tickets: bool = False
    ticket_priority: TicketPriority = TicketPriority.LOW
    tag_mode: TagMode = TagMode.ADD
    close_open_tickets: bool = False
    save_assigned_user: bool = False
    overwrite_duplicates: bool = False
    delete_other_accounts: bool = False
    workers: int | None = None  # validation processes; None: automatic by file size

    def as_record(self) -> dict[str, object]:
        """The options as stored on the import batch."""
        data = asdict(self)
        data.pop("workers")
        return {k: (str(v) if isinstance(v, StrEnum | Path) else v) for k, v in data.items()}
