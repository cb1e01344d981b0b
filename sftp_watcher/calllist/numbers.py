"""Phone-number cells (SPEC 5): normalise, insist on the country code, judge as phonenumbers does.

``phonenumbers.parse`` + ``is_valid_number`` costs ~20 µs a number, too slow for a
200,000-row file with ten numbers a row. The common case (plain digits of the home
country) is instead matched in bulk by one regex compiled from phonenumbers' own
metadata. That regex only ever *accepts*, and only numbers phonenumbers would accept
the same way (single-region country code, no national prefix or leading zero to strip);
everything it does not match goes through phonenumbers itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata
from phonenumbers.phonenumber import CountryCodeSource

from sftp_watcher.calllist.bulknumbers import (
    automaton,
    bare_home_number,
    bulk_digits,
    invalid_with_plus,
)

# Spaces (also the non-breaking ones spreadsheets paste), dashes, dots and brackets.
_SEPARATORS = str.maketrans("", "", " \t\u00a0\u202f-.()")
_SCIENTIFIC = re.compile(r"[0-9](?:[.,][0-9]+)?[eE]\+?[0-9]+")
_MAX_NSN = 17  # phonenumbers' _MAX_LENGTH_FOR_NSN
_CACHE_SIZE = 16_384


@functools.lru_cache(maxsize=_CACHE_SIZE)
def international_digits(body: str) -> str | None:
    """``cc + national number`` if ``+body`` is a valid number for phonenumbers, else None."""
    try:
        number = phonenumbers.parse("+" + body, None)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return f"{number.country_code}{phonenumbers.national_significant_number(number)}"


def _desc_regex(desc: phonenumbers.PhoneNumberDesc | None) -> str | None:
    """The regex form of phonenumbers' ``_is_number_matching_desc``, anchored at the end."""
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = desc.possible_length or ()
    if lengths and not any(n > 0 for n in lengths):
        return None  # "-1": the type does not exist in this region
    guard = ""
    if lengths:
        guard = "(?=(?:" + "|".join(f"[0-9]{{{n}}}" for n in lengths if n > 0) + ")$)"
    return f"{guard}(?:{desc.national_number_pattern})$"


@functools.lru_cache(maxsize=256)
def _fast_body(country_code: int) -> str | None:
    """A regex accepting exactly the valid numbers of this code that parse needs not rewrite."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if len(regions) != 1:
        return (
            None  # shared codes (+1, +44, +7) pick their region per number: leave to phonenumbers
        )
    meta = PhoneMetadata.metadata_for_region_or_calling_code(country_code, regions[0])
    if meta is None:
        return None
    general = _desc_regex(meta.general_desc)
    # Mobile and fixed line first: nearly every number on a call list is one of them,
    # and which type matches does not matter, only that one does.
    descs = [meta.fixed_line] if meta.same_mobile_and_fixed_line_pattern else [meta.mobile]
    descs += [
        meta.fixed_line,
        meta.premium_rate,
        meta.toll_free,
        meta.shared_cost,
        meta.voip,
        meta.personal_number,
        meta.pager,
        meta.uan,
        meta.voicemail,
    ]
    types = [regex for regex in map(_desc_regex, descs) if regex is not None]
    if general is None or not types:
        return None
    # parse() would strip a national prefix or keep a leading zero: not the plain case.
    prefix = meta.national_prefix_for_parsing
    not_prefixed = f"(?!{prefix})" if prefix else ""
    body = (
        f"{country_code}{not_prefixed}(?!0)(?=[0-9]{{2,{_MAX_NSN}}}$)"
        f"(?={general})(?:{'|'.join(types)})"
    )
    try:
        compiled = re.compile(body, re.MULTILINE | re.ASCII)
    except re.error:
        return None
    return body if compiled.groups == 0 else None


@functools.lru_cache(maxsize=64)
def _fast_pattern(country_codes: frozenset[int]) -> re.Pattern[str] | None:
    bodies = [b for b in map(_fast_body, sorted(country_codes)) if b is not None]
    if not bodies:
        return None
    alternatives = "|".join(f"(?:{b})" for b in bodies)
    # Every line matches: group 1 holds the digits of a proven-valid number, else is empty,
    # so findall yields exactly one entry per line.
    return re.compile(rf"^(?:(?:\+|00)?((?:{alternatives}))|.*)$", re.MULTILINE | re.ASCII)


def fast_digits(pattern: re.Pattern[str], values: Sequence[str]) -> list[str]:
    """Per cell, the digits the bulk regex proves valid, else "" (one C-level scan)."""
    joined = "\n".join(values)
    found: list[str] = pattern.findall(joined) if joined.count("\n") == len(values) - 1 else []
    # A cell holding a line break would misalign lines and cells: judge those one by one.
    return found if len(found) == len(values) else [""] * len(values)


class NumberJudge:
    """Judges the tel cells of one file; remembers every value it has seen."""

    def __init__(self, home_region: str, default_country_code: str | None) -> None:
        self._home_region = home_region.upper()
        self._default_cc = default_country_code
        codes = {phonenumbers.country_code_for_region(self._home_region)}
        if default_country_code is not None:
            codes.add(int(default_country_code))
        self._codes = sorted(codes - {0})
        self._fast = _fast_pattern(frozenset(self._codes))
        # The bulk automata replace the bulk regex when every code has one (same judgement).
        self._bulk = all(automaton(code) is not None for code in self._codes)
        self._home_cc = phonenumbers.country_code_for_region(self._home_region)
        self._seen: dict[str, tuple[str, str | None]] = {}

    def column(self, values: Sequence[str]) -> tuple[list[str], dict[int, str]]:
        """Digits per cell ("" when empty or invalid) and the reason per invalid cell index."""
        if self._bulk:
            digits, pending = bulk_digits(values, self._codes)
        else:
            digits = fast_digits(self._fast, values) if self._fast else [""] * len(values)
            pending = [i for i, d in enumerate(digits) if not d]
        problems: dict[int, str] = {}
        for index in pending:
            number, reason = self.judge(values[index])
            digits[index] = number
            if reason is not None:
                problems[index] = reason
        return digits, problems

    def judge(self, raw: str) -> tuple[str, str | None]:
        """(digits, None) for a valid or empty cell, ("", reason) for an invalid one."""
        result = self._seen.get(raw)
        if result is None:
            result = self._seen[raw] = self._judge(raw)
        return result

    def _judge(self, raw: str) -> tuple[str, str | None]:
        value = raw.strip()
        if not value:
            return "", None
        if _SCIENTIFIC.fullmatch(value):
            return "", (
                f"{value} is in scientific notation: the spreadsheet turned the column into a "
                "number and lost digits; format the tel columns as Text and enter the numbers again"
            )
        compact = value.translate(_SEPARATORS)
        has_prefix = compact.startswith(("+", "00"))
        body = compact[1:] if compact.startswith("+") else compact[2:] if has_prefix else compact
        if not (body.isascii() and body.isdigit()):
            return "", _bad_characters(value, body)
        return self._digits(value, body, has_prefix)

    def _digits(self, value: str, body: str, has_prefix: bool) -> tuple[str, str | None]:
        """A cell of digits (``body``, after any + or 00) that the bulk path did not prove."""
        if not has_prefix and self._default_cc is None and self._certainly_bare(body):
            # The usual bad cell of a home-country list, decided without phonenumbers.
            return "", _no_country_code(value, self._home_cc, body)
        digits = international_digits(body)
        if digits is not None:
            return digits, None
        if not has_prefix:
            return self._national(value, body)
        return "", _invalid(value)

    def _certainly_bare(self, body: str) -> bool:
        """A valid home number without its country code that is no number with a ``+``."""
        return bare_home_number(body, self._home_region) and invalid_with_plus(body)

    def _national(self, value: str, body: str) -> tuple[str, str | None]:
        """A bare national number of the home region: complete it, or say the code is missing."""
        try:
            number = phonenumbers.parse(body, self._home_region, keep_raw_input=True)
        except NumberParseException:
            return "", _invalid(value)
        if (
            number.country_code_source != CountryCodeSource.FROM_DEFAULT_COUNTRY
            or not phonenumbers.is_valid_number(number)
        ):
            return "", _invalid(value)
        national = phonenumbers.national_significant_number(number)
        if self._default_cc is None:
            return "", _no_country_code(value, number.country_code, national)
        completed = international_digits(self._default_cc + national)
        if completed is None:
            return "", _invalid(value)
        return completed, None


def _bad_characters(value: str, body: str) -> str:
    if not body:
        return f"{value} has no digits: write the number with its country code, e.g. 919876543210"
    bad = sorted({c for c in body if not ("0" <= c <= "9")})
    shown = " ".join(repr(c) for c in bad)
    return (
        f"{value} contains {shown}: a number may hold only digits 0-9, a leading + or 00, "
        "and spaces, dashes, dots or brackets"
    )


def _no_country_code(value: str, country_code: int | None, national: str) -> str:
    return (
        f"{value} has no country code: write it with the country code first, "
        f"e.g. {country_code}{national}"
    )


def _invalid(value: str) -> str:
    return (
        f"{value} is not a valid phone number: check the digits and that it starts with "
        "the country code (e.g. 91 for India)"
    )
