"""Phone numbers to E.164 with the number's timezone (seed 000, "Phone Numbers": give the
country code and area code, e.g. +573105822141).

phonenumbers costs ~20-50 us a number, most of it in ``parse``; a million-row import would
spend most of its time there. So clean inputs (digits, optionally after '+', with no leading
zero and nothing a national prefix could strip) skip ``parse`` and go straight to the
validity check; anything else, or anything the fast path rejects, takes the full ``parse``
route, so the fast path can only accept what ``parse`` would accept. The validity check is
one regular expression per region and number length (the region's general pattern as a
lookahead, then its number types' patterns as alternatives), and the timezone one walk down
a prefix set. Results are also cached by the input text.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberFormat
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

_CACHE_LIMIT = 200_000
# The fast path's inputs: digits, '+' and punctuation (space - . ( ) / no-break space) only.
_CLEAN = re.compile(r"[0-9+ \-.()/\u00a0]*")
# What a number's key drops: everything but digits and '+'.
_NOT_KEPT = re.compile(r"[^0-9+]+")
_CODES = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)


class PhoneError(ValueError):
    """Not a phone number we can dial; the message says why."""


# Every leading part of every prefix the timezone data knows: walking a number's digits up
# this set finds its longest known prefix without trying each length.
_ZONE_LEADS = frozenset(key[:n] for key in TIMEZONE_DATA for n in range(1, len(key) + 1))


def zone_for(e164: str) -> str:
    """The IANA timezone of a number by its longest known prefix ("" when the prefix data
    names none, or several for one prefix are equally likely we take the first)."""
    digits = e164[1 : 1 + TIMEZONE_LONGEST_PREFIX]
    zones = None
    for length in range(1, len(digits) + 1):
        lead = digits[:length]
        if lead not in _ZONE_LEADS:
            break
        zones = TIMEZONE_DATA.get(lead) or zones
    if not zones:
        return ""
    return "" if zones[0] == "Etc/Unknown" else str(zones[0])


_code_zones: dict[int, str | None] = {}


def _code_zone(code: int) -> str | None:
    """The zone of every number of the country code when the prefix data has nothing longer
    than the code itself (the walk of zone_for stops there whatever follows), else None."""
    if code not in _code_zones:
        lead = str(code)
        constant = not any(lead + digit in _ZONE_LEADS for digit in "0123456789")
        _code_zones[code] = zone_for("+" + lead) if constant else None
    return _code_zones[code]


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


def _fits(length: int, desc: Desc) -> bool:
    return not desc[0] or length in desc[0]


class RegionCheck:
    """``phonenumbers.is_valid_number`` for one region, with the metadata's patterns compiled
    once: valid means the general pattern and at least one number type's pattern match,
    exactly the test ``number_type(...) != UNKNOWN`` makes. Per number length, the patterns
    whose possible lengths allow it are joined into one expression: the general pattern as a
    lookahead anchored at the end, then the number types' patterns as alternatives (the
    metadata's patterns use no capturing groups or backreferences, so joining them changes
    nothing they match)."""

    def __init__(self, region: str) -> None:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        assert metadata is not None
        self.general = _desc(metadata.general_desc)
        self.types = [d for name in _TYPE_DESCS if (d := _desc(getattr(metadata, name)))]
        self._by_length: dict[int, re.Pattern[str] | None] = {}

    def _for_length(self, length: int) -> re.Pattern[str] | None:
        if self.general is None or not _fits(length, self.general):
            return None
        types = [d[1].pattern for d in self.types if _fits(length, d)]
        if not types:
            return None
        alternatives = "|".join(f"(?:{p})" for p in types)
        return re.compile(f"(?=(?:{self.general[1].pattern})\\Z)(?:{alternatives})")

    def is_valid(self, national: str) -> bool:
        length = len(national)
        try:
            pattern = self._by_length[length]
        except KeyError:
            pattern = self._by_length[length] = self._for_length(length)
        return pattern is not None and pattern.fullmatch(national) is not None


_region_checks: dict[int, RegionCheck | None] = {}


def _check_for(code: int) -> RegionCheck | None:
    """A fast check for country codes with a single region (not +1, +7, +44 ...)."""
    if code not in _region_checks:
        regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
        # Non-geographic codes (+800, +882 ...: region "001") have no region metadata; the
        # full is_valid_number handles them.
        single = len(regions) == 1 and phonenumbers.PhoneMetadata.metadata_for_region(regions[0])
        _region_checks[code] = RegionCheck(regions[0]) if single else None
    return _region_checks[code]


_national_prefixes: dict[int, re.Pattern[str] | None] = {}


def _international_prefix(code: int) -> re.Pattern[str] | None:
    """The national prefix for parsing of the country code's main region, compiled once."""
    if code not in _national_prefixes:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(
            COUNTRY_CODE_TO_REGION_CODE[code][0]
        )
        pattern = metadata.national_prefix_for_parsing if metadata else None
        _national_prefixes[code] = re.compile(pattern) if pattern else None
    return _national_prefixes[code]


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
        hit = self._cache.get(text)
        if hit is None:
            key = _NOT_KEPT.sub("", text)
            hit = self._fast(text, key) or self._parse(text, key)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[text] = hit
        if isinstance(hit, str):
            raise PhoneError(hit)
        return hit

    def _fast(self, text: str, key: str) -> tuple[str, str] | None:
        if _CLEAN.fullmatch(text) is None or "+" in key[1:]:
            return None
        if key.startswith("+"):
            digits = key[1:]
            # The country code: 1 to 3 digits, never a leading 0 (parse refuses those).
            for n in (1, 2, 3):
                if digits[:n] in _CODES:
                    break
            else:
                return None
            code, national = int(digits[:n]), digits[n:]
            prefix = _international_prefix(code)
            if prefix is not None and prefix.match(national):
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
        zone = _code_zone(code)
        return e164, zone_for(e164) if zone is None else zone

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
