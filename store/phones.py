"""Phone numbers: E.164 and the number's timezone, via phonenumbers (seed 000: phones carry
country and area code, e.g. +573105822141)."""

from __future__ import annotations

from typing import NamedTuple

import phonenumbers
from phonenumbers import timezone as phone_timezone

from store.errors import InvalidSetting

UNKNOWN_TIMEZONE = "Etc/Unknown"


class NormalisedPhone(NamedTuple):
    e164: str
    timezone: str  # IANA name; "Etc/Unknown" when the number does not say


def normalise_phone(
    raw: str, default_country: str | None = None, *, field: str = "phone"
) -> NormalisedPhone:
    """``raw`` in E.164 with its timezone; a number without ``+`` needs ``default_country``."""
    text = raw.strip()
    if not text:
        raise InvalidSetting("phone", field, "is empty")
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else default_country)
    except phonenumbers.NumberParseException as exc:
        hint = "" if default_country or text.startswith("+") else " (no default country given)"
        raise InvalidSetting(
            "phone", field, f"{raw!r} is not a phone number{hint}: {exc}"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidSetting("phone", field, f"{raw!r} is not a valid phone number")
    zones = phone_timezone.time_zones_for_number(number)
    tz = zones[0] if zones and zones[0] != UNKNOWN_TIMEZONE else UNKNOWN_TIMEZONE
    return NormalisedPhone(
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), tz
    )
