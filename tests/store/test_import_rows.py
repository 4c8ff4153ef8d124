"""Row validation as seed 000 states it: every fault named by row and column."""

from __future__ import annotations

import random
from pathlib import Path

import phonenumbers
import pytest

from store.importing.fields import TEMPLATE_FIELDS
from store.importing.mapping import plan_headers
from store.importing.phones import PhoneError, PhoneNormaliser
from store.importing.problems import ImportProblem
from store.importing.readers import open_table
from store.importing.records import ContactRecord
from store.importing.validation import RowValidator, validate_rows

FIXTURES = Path(__file__).parent.parent / "fixtures" / "import"
HEADER = [f.value for f in TEMPLATE_FIELDS] + ["SEGMENT"]


def validator(users: list[str] | None = None) -> RowValidator:
    return RowValidator(plan_headers(HEADER), PhoneNormaliser("CO"), ["VIP", "Late"], users)


def row(**values: str) -> list[str]:
    base = {
        "CUSTOMER TYPE": "PERSON",
        "DOCUMENT TYPE": "CC",
        "DOCUMENT NUMBER": "1001",
        "FIRST SURNAME": "García",
        "FIRST NAME": "Ana",
        "MOBILE": "3105822141",
    }
    base.update({k.replace("_", " "): v for k, v in values.items()})
    return [base.get(h, "") for h in HEADER]


def problems_of(result: ContactRecord | list[ImportProblem]) -> list[str]:
    assert isinstance(result, list), f"expected problems, got {result}"
    return [str(p) for p in result]


def test_valid_row_becomes_a_record_with_e164_phone_and_timezone() -> None:
    record = validator().validate(7, row(PHONE="(601) 379 0123", SEGMENT="gold"))
    assert isinstance(record, ContactRecord)
    assert record.row == 7
    assert record.phones == (
        ("phone", "+576013790123", "America/Bogota"),
        ("mobile", "+573105822141", "America/Bogota"),
    )
    assert record.additional_data == {"SEGMENT": "gold"}


@pytest.mark.parametrize(
    "field", ["CUSTOMER TYPE", "DOCUMENT TYPE", "DOCUMENT NUMBER", "FIRST SURNAME", "FIRST NAME"]
)
def test_each_required_field_must_have_a_value(field: str) -> None:
    result = validator().validate(5, row(**{field.replace(" ", "_"): ""}))
    assert problems_of(result) == [f"row 5, column {field}: required value is empty"]


def test_a_row_needs_at_least_one_contact_datum() -> None:
    result = validator().validate(3, row(MOBILE=""))
    assert problems_of(result) == [
        "row 3, column PHONE/MOBILE/EMAIL/SOCIAL: at least one contact datum is needed "
        "(phone, email or social)"
    ]


@pytest.mark.parametrize(("field", "value"), [("EMAIL", "ana@example.com"), ("SOCIAL", "@ana")])
def test_email_or_social_alone_is_enough_contact(field: str, value: str) -> None:
    result = validator().validate(3, row(MOBILE="", **{field: value}))
    assert isinstance(result, ContactRecord)


def test_invalid_phone_names_the_column_and_value() -> None:
    messages = problems_of(validator().validate(9, row(PHONE="12345")))
    assert messages == [
        "row 9, column PHONE: '12345' is not a valid phone number; write it with "
        "country and area code, e.g. +573105822141"
    ]


def test_tags_must_exist_and_match_ignoring_case() -> None:
    record = validator().validate(2, row(TAGS="vip, LATE,VIP"))
    assert isinstance(record, ContactRecord)
    assert record.tags == ("VIP", "Late")
    messages = problems_of(validator().validate(2, row(TAGS="VIP, Gold")))
    assert messages == ["row 2, column TAGS: tag 'Gold' does not exist; create it first"]


def test_bad_email_and_birth_date_are_reported_together() -> None:
    messages = problems_of(validator().validate(4, row(EMAIL="ana@", BIRTH_DATE="31/31/2000")))
    assert messages == [
        "row 4, column EMAIL: 'ana@' is not an email address",
        "row 4, column BIRTH DATE: '31/31/2000' is not a date (use YYYY-MM-DD)",
    ]


def test_day_first_birth_date_is_stored_as_iso() -> None:
    record = validator().validate(4, row(BIRTH_DATE="23/04/1985"))
    assert isinstance(record, ContactRecord)
    assert record.birth_date == "1985-04-23"


def test_same_document_twice_in_a_file_names_the_first_row() -> None:
    check = validator()
    assert isinstance(check.validate(2, row()), ContactRecord)
    messages = problems_of(check.validate(8, row()))
    assert messages == [
        "row 8, column DOCUMENT NUMBER: CC 1001 is already in row 2; one row per customer"
    ]


def test_assigned_user_is_checked_only_when_it_is_saved() -> None:
    ignored = validator(users=None).validate(2, row(ASSIGNED_USER="nobody"))
    assert isinstance(ignored, ContactRecord) and ignored.assigned_user == ""
    saved = validator(users=["Agent1"]).validate(2, row(ASSIGNED_USER="agent1"))
    assert isinstance(saved, ContactRecord) and saved.assigned_user == "Agent1"
    messages = problems_of(validator(users=["Agent1"]).validate(2, row(ASSIGNED_USER="nobody")))
    assert messages == ["row 2, column ASSIGNED USER: no user named 'nobody'"]


def test_custom_columns_are_named_as_the_file_names_them() -> None:
    from store.importing.mapping import load_mapping

    table = open_table(FIXTURES / "custom-latin1.csv")
    plan = plan_headers(table.header, load_mapping(FIXTURES / "custom-mapping.json"))
    check = RowValidator(plan, PhoneNormaliser("CO"))
    records, problems = validate_rows(check, table.rows)
    assert problems == []
    assert [
        (r.document_number, r.first_surname, r.phones[0][1], r.additional_data) for r in records
    ] == [
        ("2001", "Muñoz", "+573105822141", {"Notas": "llamar tarde"}),
        ("2002", "Díaz", "+573125550199", {}),
    ]
    bad = check.validate(9, ["PERSON", "CC", "", "X", "Y", "3105822141", "", ""])
    assert problems_of(bad) == ["row 9, column Cedula (DOCUMENT NUMBER): required value is empty"]


def test_faulty_fixture_reports_every_fault_by_row_and_column() -> None:
    table = open_table(FIXTURES / "faulty.csv")
    check = RowValidator(plan_headers(table.header), PhoneNormaliser("CO"), ["VIP"])
    records, problems = validate_rows(check, table.rows)
    assert [r.row for r in records] == [2]
    assert [(p.row, p.column) for p in problems] == [
        (3, "DOCUMENT NUMBER"),
        (4, "PHONE"),
        (5, "PHONE/MOBILE/EMAIL/SOCIAL"),
        (6, "EMAIL"),
        (6, "BIRTH DATE"),
        (6, "TAGS"),
        (7, "DOCUMENT NUMBER"),
    ]


class TestPhones:
    def test_default_country_reads_national_numbers(self) -> None:
        assert PhoneNormaliser("CO").normalise("310-582-2141") == (
            "+573105822141",
            "America/Bogota",
        )

    def test_without_default_country_the_country_code_is_read_from_the_digits(self) -> None:
        assert PhoneNormaliser().normalise("573105822141") == ("+573105822141", "America/Bogota")

    def test_00_international_prefix_is_understood(self) -> None:
        assert PhoneNormaliser().normalise("0034 912 345 678") == ("+34912345678", "Europe/Madrid")

    def test_letters_are_not_a_phone(self) -> None:
        with pytest.raises(PhoneError, match="'call me' is not a phone number"):
            PhoneNormaliser("CO").normalise("call me")

    def test_unknown_default_country_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown country code 'XX'"):
            PhoneNormaliser("XX")

    @pytest.mark.parametrize("region", ["CO", "US", "ES", "GB", "MX", "IT", "PL", "BR"])
    def test_fast_path_agrees_with_phonenumbers(self, region: str) -> None:
        """The fast path may only accept what a full parse accepts, with the same E.164."""
        rng = random.Random(region)
        fast = PhoneNormaliser(region)
        code = phonenumbers.country_code_for_region(region)
        seeds = [
            phonenumbers.national_significant_number(example)
            for kind in (
                phonenumbers.PhoneNumberType.FIXED_LINE,
                phonenumbers.PhoneNumberType.MOBILE,
            )
            if (example := phonenumbers.example_number_for_type(region, kind)) is not None
        ]
        accepted = 0
        for _ in range(300):
            seed = rng.choice(seeds)
            digits = seed[:-4] + f"{rng.randrange(10**4):04d}"
            for text in (digits, f"+{code}{digits}", "0" + digits):
                key = "".join(ch for ch in text if ch in "+0123456789")
                quick = fast._fast(text, key)
                if quick is None:
                    continue
                accepted += 1
                parsed = phonenumbers.parse(text, region)
                assert phonenumbers.is_valid_number(parsed), text
                assert quick[0] == phonenumbers.format_number(
                    parsed, phonenumbers.PhoneNumberFormat.E164
                )
        assert accepted >= 100
