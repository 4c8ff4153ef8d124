"""Row validation exactly as seed 000 asks ("How to import accounts correctly?"):
required fields, at least one contact datum, phones normalised to E.164, tags that exist,
extra columns kept as additional data. A row yields a record or its problems, never both."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from operator import itemgetter

from store.importing.fields import REQUIRED_FIELDS, Field
from store.importing.mapping import HeaderPlan
from store.importing.phones import PhoneError, PhoneNormaliser
from store.importing.problems import ImportProblem
from store.importing.records import ContactRecord

_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d")


class RowValidator:
    """Checks one row at a time against the header plan and what the database holds
    (``known_tags``, ``known_users``: names as stored; matched ignoring case)."""

    def __init__(
        self,
        plan: HeaderPlan,
        phones: PhoneNormaliser,
        known_tags: Iterable[str] = (),
        known_users: Iterable[str] | None = None,
        in_file_duplicates: bool = True,
    ) -> None:
        self.plan = plan
        self.phones = phones
        self.tags = {t.strip().casefold(): t for t in known_tags}
        self.users = None if known_users is None else {u.casefold(): u for u in known_users}
        # Off when rows are validated in chunks by several processes; the caller checks then.
        self.in_file_duplicates = in_file_duplicates
        self._seen: dict[tuple[str, str], int] = {}
        # A row is cut or padded to ``_width`` cells plus one empty cell, where every field
        # the file does not have points; one itemgetter then fetches all fields, in Field order.
        self._width = max(plan.columns.values(), default=-1) + 1
        self._fields = itemgetter(*(plan.columns.get(f, self._width) for f in Field))
        self._labels = {f: plan.label(f) for f in Field}
        self._required = [(i, f) for i, f in enumerate(Field) if f in REQUIRED_FIELDS]

    def validate(self, row: int, cells: list[str]) -> ContactRecord | list[ImportProblem]:
        width = len(cells)
        padded = (
            cells[: self._width] if width >= self._width else cells + [""] * (self._width - width)
        )
        padded.append("")
        values: tuple[str, ...] = self._fields(padded)
        (
            customer_type, document_type, document_number, first_surname, second_surname,
            first_name, middle_name, birth, phone, mobile, email, social, address, city,
            region, postal_code, account_number, tag_text, user,
        ) = values  # fmt: skip
        problems: list[ImportProblem] = []
        label = self._labels
        for i, f in self._required:
            if not values[i]:
                problems.append(ImportProblem(row, label[f], "required value is empty"))

        phones: list[tuple[str, str, str]] = []
        for f, kind, text in ((Field.PHONE, "phone", phone), (Field.MOBILE, "mobile", mobile)):
            if text:
                try:
                    e164, tz = self.phones.normalise(text)
                except PhoneError as exc:
                    problems.append(ImportProblem(row, label[f], str(exc)))
                else:
                    phones.append((kind, e164, tz))
        if email and not _EMAIL.match(email):
            problems.append(
                ImportProblem(row, label[Field.EMAIL], f"{email!r} is not an email address")
            )
        if not (phone or mobile or email or social):
            columns = "/".join(
                label[f] for f in (Field.PHONE, Field.MOBILE, Field.EMAIL, Field.SOCIAL)
            )
            problems.append(
                ImportProblem(
                    row, columns, "at least one contact datum is needed (phone, email or social)"
                )
            )

        if birth:
            parsed = _parse_date(birth)
            if parsed is None:
                problems.append(
                    ImportProblem(
                        row, label[Field.BIRTH_DATE], f"{birth!r} is not a date (use YYYY-MM-DD)"
                    )
                )
            else:
                birth = parsed

        tags: list[str] = []
        if tag_text:
            for name in tag_text.split(","):
                name = name.strip()
                if not name:
                    continue
                canonical = self.tags.get(name.casefold())
                if canonical is None:
                    problems.append(
                        ImportProblem(
                            row, label[Field.TAGS], f"tag {name!r} does not exist; create it first"
                        )
                    )
                elif canonical not in tags:
                    tags.append(canonical)

        if user and self.users is not None:
            canonical_user = self.users.get(user.casefold())
            if canonical_user is None:
                problems.append(
                    ImportProblem(row, label[Field.ASSIGNED_USER], f"no user named {user!r}")
                )
            else:
                user = canonical_user

        if document_type and document_number and self.in_file_duplicates:
            first = self._seen.setdefault((document_type, document_number), row)
            if first != row:
                problems.append(
                    ImportProblem(
                        row,
                        label[Field.DOCUMENT_NUMBER],
                        f"{document_type} {document_number} is already in row {first}; "
                        "one row per customer",
                    )
                )
        if problems:
            return problems
        extras = {h: cells[i] for i, h in self.plan.extras if i < width and cells[i]}
        return ContactRecord(
            row,
            customer_type,
            document_type,
            document_number,
            first_surname,
            second_surname,
            first_name,
            middle_name,
            birth,
            tuple(phones),
            email,
            social,
            address,
            city,
            region,
            postal_code,
            account_number,
            tuple(tags),
            user if self.users is not None else "",
            extras,
        )


def _parse_date(text: str) -> str | None:
    if len(text) == 10 and text[4] == "-":
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def validate_rows(
    validator: RowValidator, rows: Iterable[tuple[int, list[str]]]
) -> tuple[list[ContactRecord], list[ImportProblem]]:
    """Validate everything, keeping every record and every problem (for small files and
    tests; the importer streams instead)."""
    records: list[ContactRecord] = []
    problems: list[ImportProblem] = []
    for row, cells in rows:
        result = validator.validate(row, cells)
        if isinstance(result, list):
            problems.extend(result)
        else:
            records.append(result)
    return records, problems
