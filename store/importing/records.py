"""A validated row, ready to be written: plain values only, so batches pickle cheaply."""

from __future__ import annotations

from typing import NamedTuple


class ContactRecord(NamedTuple):
    row: int
    customer_type: str
    document_type: str
    document_number: str
    first_surname: str
    second_surname: str
    first_name: str
    middle_name: str
    birth_date: str  # ISO date or ""
    phones: tuple[tuple[str, str, str], ...]  # (kind, e164, timezone)
    email: str
    social: str
    address: str
    city: str
    region: str
    postal_code: str
    account_number: str
    tags: tuple[str, ...]  # canonical names of existing tags
    assigned_user: str  # canonical user name or ""
    additional_data: dict[str, str]

    @property
    def document_key(self) -> tuple[str, str]:
        return (self.document_type, self.document_number)

    @property
    def full_name(self) -> str:
        parts = (self.first_name, self.middle_name, self.first_surname, self.second_surname)
        return " ".join(p for p in parts if p)
