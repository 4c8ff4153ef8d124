"""Phone numbers to E.164 with the number's timezone (seed 000, "Phone Numbers": give the
country code and area code, e.g. +573105822141).

phonenumbers costs ~20-50 us a number, most of it in ``parse``; a million-row import would
spend most of its time there. So clean inputs (digits, optionally after '+', with no leading
zero and nothing a national prefix could strip) skip ``parse`` and go straight to the
validity check; anything else, or anything the fast path rejects, takes the full ``parse``
route, so the fast path can only accept what ``parse`` would accept. Results are also cached
by the input's digits.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberFormat
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

_KEEP = frozenset("+0123456789")
_PUNCTUATION = frozenset(" -.()/\u00a0")
_CACHE_LIMIT = 200_000


class PhoneError(ValueError):
    """Not a phone number we can dial; the message says why."""


def zone_for(e164: str) -> str:
    """The IANA timezone of a number by its longest known prefix ("" when the prefix data
    names none, or several for one prefix are equally likely we take the first)."""
    for length in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
        zones = TIMEZONE_DATA.get(e164[1 : 1 + length])
        if zones:
            return "" if zones[0] == "Etc/Unknown" else str(zones[0])
    return ""


_TYPE_DESCS = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line", "mobile",
)  # fmt: skip
Desc = tuple[frozenset[int], re.Pattern[str]]


def _desc(desc: object) -> Desc | None:
    pattern = getattr(desc, "national_number_pattern", None)
    if not pattern:
        return None
    lengths = frozenset(getattr(desc, "possible_length", ()) or ())
    return lengths, re.compile(pattern)


def _matches(national: str, desc: Desc) -> bool:
    lengths, pattern = desc
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


class RegionCheck:
    """``phonenumbers.is_valid_number`` for one region, with the metadata's patterns compiled
    once: valid means the general pattern and at least one number type's pattern match,
    exactly the test ``number_type(...) != UNKNOWN`` makes."""

    def __init__(self, region: str) -> None:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        assert metadata is not None
        self.general = _desc(metadata.general_desc)
        self.types = [d for name in _TYPE_DESCS if (d := _desc(getattr(metadata, name)))]

    def is_valid(self, national: str) -> bool:
        if self.general is None or not _matches(national, self.general):
            return False
        return any(_matches(national, d) for d in self.types)


_region_checks: dict[int, RegionCheck | None] = {}


def _check_for(code: int) -> RegionCheck | None:
    """A fast check for country codes with a single region (not +1, +7, +44 ...)."""
    if code not in _region_checks:
        regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
        _region_checks[code] = RegionCheck(regions[0]) if len(regions) == 1 else None
    return _region_checks[code]


class PhoneNormaliser:
    """``normalise(text) -> (e164, timezone)``. Numbers starting with '+' or '00' are
    international; others are tried in ``default_country`` first (ISO 3166 code such as
    "CO"), then as country code + number, the way seed 000 writes "573105822141"."""

    def __init__(self, default_country: str | None = None) -> None:
        self._national_prefix: re.Pattern[str] | None = None
        self._country_code = 0
        if default_country is not None:
            default_country = default_country.upper()
            if default_country not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"unknown country code {default_country!r} (use e.g. CO, ES, US)")
            metadata = phonenumbers.PhoneMetadata.metadata_for_region(default_country)
            assert metadata is not None
            self._country_code = metadata.country_code or 0
            if metadata.national_prefix_for_parsing:
                self._national_prefix = re.compile(metadata.national_prefix_for_parsing)
        self.default_country = default_country
        self._cache: dict[str, tuple[str, str] | str] = {}

    def normalise(self, text: str) -> tuple[str, str]:
        key = "".join(ch for ch in text if ch in _KEEP)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._fast(text, key) or self._parse(text, key)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = hit
        if isinstance(hit, str):
            raise PhoneError(hit)
        return hit

    def _fast(self, text: str, key: str) -> tuple[str, str] | None:
        if not all(ch in _KEEP or ch in _PUNCTUATION for ch in text) or "+" in key[1:]:
            return None
        if key.startswith("+"):
            digits = key[1:]
            for n in (1, 2, 3):
                if int(digits[:n] or 0) in COUNTRY_CODE_TO_REGION_CODE:
                    break
            else:
                return None
            code, national = int(digits[:n]), digits[n:]
            regions = COUNTRY_CODE_TO_REGION_CODE[code]
            metadata = phonenumbers.PhoneMetadata.metadata_for_region(regions[0])
            pattern = metadata.national_prefix_for_parsing if metadata else None
            if pattern and re.match(pattern, national):
                return None
        elif self._country_code:
            code, national = self._country_code, key
            if self._national_prefix is not None and self._national_prefix.match(national):
                return None
        else:
            return None
        if not national or national[0] == "0" or len(national) > 17:
            return None
        check = _check_for(code)
        if check is not None:
            if not check.is_valid(national):
                return None
        elif not phonenumbers.is_valid_number(
            PhoneNumber(country_code=code, national_number=int(national))
        ):
            return None
        e164 = f"+{code}{national}"
        return e164, zone_for(e164)

    def _parse(self, text: str, key: str) -> tuple[str, str] | str:
        if any(ch.isalpha() for ch in text):
            return f"{text!r} is not a phone number"
        digits = key.lstrip("+")
        if len(digits) < 5:
            return f"{text!r} is too short for a phone number"
        if key.startswith("+"):
            candidates = [key]
        elif digits.startswith("00"):
            candidates = ["+" + digits[2:]]
        else:
            candidates = [digits] if self.default_country else []
            candidates.append("+" + digits)
        for candidate in candidates:
            region = None if candidate.startswith("+") else self.default_country
            try:
                number = phonenumbers.parse(candidate, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
                return e164, zone_for(e164)
        hint = "" if self.default_country else " (or give a default country)"
        return (
            f"{text!r} is not a valid phone number; write it with country and area code, "
            f"e.g. +573105822141{hint}"
        )
