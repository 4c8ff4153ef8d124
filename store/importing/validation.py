"""Row validation exactly as seed 000 asks ("How to import accounts correctly?"):
required fields, at least one contact datum, phones normalised to E.164, tags that exist,
extra columns kept as additional data. A row yields a record or its problems, never both."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from store.importing.fields import PHONE_FIELDS, REQUIRED_FIELDS, Field
from store.importing.mapping import HeaderPlan
from store.importing.phones import PhoneError, PhoneNormaliser
from store.importing.problems import ImportProblem
from store.importing.records import ContactRecord

_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d")
_PHONE_KINDS = {Field.PHONE: "phone", Field.MOBILE: "mobile"}


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
        self._get = [(f, plan.columns.get(f)) for f in Field]

    def validate(self, row: int, cells: list[str]) -> ContactRecord | list[ImportProblem]:
        width = len(cells)
        v: dict[Field, str] = {
            f: (cells[i] if i is not None and i < width else "") for f, i in self._get
        }
        problems: list[ImportProblem] = []
        label = self.plan.label
        for f in REQUIRED_FIELDS:
            if not v[f]:
                problems.append(ImportProblem(row, label(f), "required value is empty"))

        phones: list[tuple[str, str, str]] = []
        for f in PHONE_FIELDS:
            if v[f]:
                try:
                    e164, tz = self.phones.normalise(v[f])
                except PhoneError as exc:
                    problems.append(ImportProblem(row, label(f), str(exc)))
                else:
                    phones.append((_PHONE_KINDS[f], e164, tz))
        email = v[Field.EMAIL]
        if email and not _EMAIL.match(email):
            problems.append(
                ImportProblem(row, label(Field.EMAIL), f"{email!r} is not an email address")
            )
        if not (v[Field.PHONE] or v[Field.MOBILE] or email or v[Field.SOCIAL]):
            columns = "/".join(
                label(f) for f in (Field.PHONE, Field.MOBILE, Field.EMAIL, Field.SOCIAL)
            )
            problems.append(
                ImportProblem(
                    row, columns, "at least one contact datum is needed (phone, email or social)"
                )
            )

        birth = v[Field.BIRTH_DATE]
        if birth:
            parsed = _parse_date(birth)
            if parsed is None:
                problems.append(
                    ImportProblem(
                        row, label(Field.BIRTH_DATE), f"{birth!r} is not a date (use YYYY-MM-DD)"
                    )
                )
            else:
                birth = parsed

        tags: list[str] = []
        if v[Field.TAGS]:
            for name in v[Field.TAGS].split(","):
                name = name.strip()
                if not name:
                    continue
                canonical = self.tags.get(name.casefold())
                if canonical is None:
                    problems.append(
                        ImportProblem(
                            row, label(Field.TAGS), f"tag {name!r} does not exist; create it first"
                        )
                    )
                elif canonical not in tags:
                    tags.append(canonical)

        user = v[Field.ASSIGNED_USER]
        if user and self.users is not None:
            canonical_user = self.users.get(user.casefold())
            if canonical_user is None:
                problems.append(
                    ImportProblem(row, label(Field.ASSIGNED_USER), f"no user named {user!r}")
                )
            else:
                user = canonical_user

        key = (v[Field.DOCUMENT_TYPE], v[Field.DOCUMENT_NUMBER])
        if key[0] and key[1] and self.in_file_duplicates:
            first = self._seen.setdefault(key, row)
            if first != row:
                problems.append(
                    ImportProblem(
                        row,
                        label(Field.DOCUMENT_NUMBER),
                        f"{key[0]} {key[1]} is already in row {first}; one row per customer",
                    )
                )
        if problems:
            return problems
        extras = {h: cells[i] for i, h in self.plan.extras if i < width and cells[i]}
        return ContactRecord(
            row=row,
            customer_type=v[Field.CUSTOMER_TYPE],
            document_type=key[0],
            document_number=key[1],
            first_surname=v[Field.FIRST_SURNAME],
            second_surname=v[Field.SECOND_SURNAME],
            first_name=v[Field.FIRST_NAME],
            middle_name=v[Field.MIDDLE_NAME],
            birth_date=birth,
            phones=tuple(phones),
            email=email,
            social=v[Field.SOCIAL],
            address=v[Field.ADDRESS],
            city=v[Field.CITY],
            region=v[Field.REGION],
            postal_code=v[Field.POSTAL_CODE],
            account_number=v[Field.ACCOUNT_NUMBER],
            tags=tuple(tags),
            assigned_user=user if self.users is not None else "",
            additional_data=extras,
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
