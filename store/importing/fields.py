"""The fields of the import template (seed 000, "How to import accounts correctly?").

The standard template names each field by its header; a custom template maps its own headers
onto these fields. Any other column is kept as the customer's additional data.
"""

from __future__ import annotations

from enum import StrEnum


class Field(StrEnum):
    CUSTOMER_TYPE = "CUSTOMER TYPE"
    DOCUMENT_TYPE = "DOCUMENT TYPE"
    DOCUMENT_NUMBER = "DOCUMENT NUMBER"
    FIRST_SURNAME = "FIRST SURNAME"
    SECOND_SURNAME = "SECOND SURNAME"
    FIRST_NAME = "FIRST NAME"
    MIDDLE_NAME = "MIDDLE NAME"
    BIRTH_DATE = "BIRTH DATE"
    PHONE = "PHONE"
    MOBILE = "MOBILE"
    EMAIL = "EMAIL"
    SOCIAL = "SOCIAL"
    ADDRESS = "ADDRESS"
    CITY = "CITY"
    REGION = "REGION"
    POSTAL_CODE = "POSTAL CODE"
    ACCOUNT_NUMBER = "ACCOUNT NUMBER"
    TAGS = "TAGS"
    ASSIGNED_USER = "ASSIGNED USER"


# The standard template's column order; also the order `dialer template` writes.
TEMPLATE_FIELDS: tuple[Field, ...] = tuple(Field)

# Seed 000: "The required data are CUSTOMER TYPE, DOCUMENT TYPE, DOCUMENT NUMBER,
# FIRST SURNAME, FIRST NAME."
REQUIRED_FIELDS: tuple[Field, ...] = (
    Field.CUSTOMER_TYPE,
    Field.DOCUMENT_TYPE,
    Field.DOCUMENT_NUMBER,
    Field.FIRST_SURNAME,
    Field.FIRST_NAME,
)

# Seed 000: "at least one contact data, either phone number, email or social media accounts."
CONTACT_FIELDS: tuple[Field, ...] = (Field.PHONE, Field.MOBILE, Field.EMAIL, Field.SOCIAL)

PHONE_FIELDS: tuple[Field, ...] = (Field.PHONE, Field.MOBILE)

# One example row for the template, so users see the expected shapes.
TEMPLATE_EXAMPLE: dict[Field, str] = {
    Field.CUSTOMER_TYPE: "PERSON",
    Field.DOCUMENT_TYPE: "CC",
    Field.DOCUMENT_NUMBER: "1020304050",
    Field.FIRST_SURNAME: "García",
    Field.SECOND_SURNAME: "López",
    Field.FIRST_NAME: "Ana",
    Field.MIDDLE_NAME: "María",
    Field.BIRTH_DATE: "1985-04-23",
    Field.PHONE: "+576053790123",
    Field.MOBILE: "+573105822141",
    Field.EMAIL: "ana.garcia@example.com",
    Field.SOCIAL: "@anagarcia",
    Field.ADDRESS: "Calle 10 # 5-51",
    Field.CITY: "Barranquilla",
    Field.REGION: "Atlántico",
    Field.POSTAL_CODE: "080001",
    Field.ACCOUNT_NUMBER: "ACC-0001",
    Field.TAGS: "TAG1, TAG2",
    Field.ASSIGNED_USER: "agent1",
}


def normalise_header(text: str) -> str:
    """Headers match whatever their case and spacing: ' first  name' is FIRST NAME."""
    return " ".join(text.replace("_", " ").split()).upper()
