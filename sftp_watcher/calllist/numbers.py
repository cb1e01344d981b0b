"""Phone-number cells (SPEC 5): normalise, insist on the country code, judge as phonenumbers does.

A cell without ``+`` or ``00`` is read in this order: digits that start with the home
country code and are valid that way are taken as written; else a valid national number
of the home region is national (rejected as missing its country code, or completed with
``default_country_code``), even when the same digits read with a country code first
would make a valid foreign number; else the digits are read with a country code first.

``phonenumbers.parse`` + ``is_valid_number`` costs ~20 µs a number, too slow for a
200,000-row file with ten numbers a row. The common case (plain digits of the home
country) is instead proven in bulk by automata built from phonenumbers' own metadata
(``bulknumbers``); they only ever *accept*, and everything else goes through
phonenumbers itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import phonenumbers
from phonenumbers import NumberParseException
from phonenumbers.phonenumber import CountryCodeSource

from sftp_watcher.calllist.bulknumbers import automaton, bare_home_number, bulk_digits
from sftp_watcher.calllist.text import quoted

# Spaces (also the non-breaking ones spreadsheets paste), dashes, dots and brackets.
_SEPARATORS = str.maketrans("", "", " \t\u00a0\u202f-.()")
_SCIENTIFIC = re.compile(r"[0-9](?:[.,][0-9]+)?[eE]\+?[0-9]+")
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


class NumberJudge:
    """Judges the tel cells of one file; remembers every value it has seen."""

    def __init__(self, home_region: str, default_country_code: str | None) -> None:
        self._home_region = home_region.upper()
        self._default_cc = default_country_code
        codes = {phonenumbers.country_code_for_region(self._home_region)}
        if default_country_code is not None:
            codes.add(int(default_country_code))
        self._codes = sorted(codes - {0})
        # Shared codes (+1, +44, +7) have no automaton: phonenumbers judges every cell then.
        self._bulk = all(automaton(code) is not None for code in self._codes)
        self._home_cc = phonenumbers.country_code_for_region(self._home_region)
        self._home_prefix = str(self._home_cc)
        self._seen: dict[str, tuple[str, str | None]] = {}

    def column(self, values: Sequence[str]) -> tuple[list[str], dict[int, str]]:
        """Digits per cell ("" when empty or invalid) and the reason per invalid cell index."""
        if self._bulk:
            digits, pending = bulk_digits(values, self._codes, self._home_cc)
        else:
            digits = [""] * len(values)
            pending = [i for i, value in enumerate(values) if value]
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
                f"{quoted(value)} is in scientific notation: the spreadsheet turned the column "
                "into a number and lost digits; format the tel columns as Text and enter the "
                "numbers again"
            )
        compact = value.translate(_SEPARATORS)
        has_prefix = compact.startswith(("+", "00"))
        body = compact[1:] if compact.startswith("+") else compact[2:] if has_prefix else compact
        if not (body.isascii() and body.isdigit()):
            return "", _bad_characters(value, body)
        return self._digits(value, body, has_prefix)

    def _digits(self, value: str, body: str, has_prefix: bool) -> tuple[str, str | None]:
        """A cell of digits (``body``, after any + or 00) that the bulk path did not prove."""
        if has_prefix:
            digits = international_digits(body)
            return (digits, None) if digits is not None else ("", _invalid(value))
        if body.startswith(self._home_prefix):
            # Country codes are prefix-free: a valid reading is the home country's.
            digits = international_digits(body)
            if digits is not None:
                return digits, None
        national = body if bare_home_number(body, self._home_region) else self._national(body)
        if national is not None:
            if self._default_cc is None:
                return "", _no_country_code(value, self._home_cc, national)
            completed = international_digits(self._default_cc + national)
            return (completed, None) if completed is not None else ("", _invalid(value))
        digits = international_digits(body)
        return (digits, None) if digits is not None else ("", _invalid(value))

    def _national(self, body: str) -> str | None:
        """The national number when ``body`` is a valid number of the home region as written
        there (no country code or international prefix in it), else None."""
        try:
            number = phonenumbers.parse(body, self._home_region, keep_raw_input=True)
        except NumberParseException:
            return None
        if (
            number.country_code_source != CountryCodeSource.FROM_DEFAULT_COUNTRY
            or not phonenumbers.is_valid_number(number)
        ):
            return None
        return phonenumbers.national_significant_number(number)


def _bad_characters(value: str, body: str) -> str:
    if not body:
        return (
            f"{quoted(value)} has no digits: write the number with its country code, "
            "e.g. 919876543210"
        )
    bad = sorted({c for c in body if not ("0" <= c <= "9")})
    shown = quoted(" ".join(repr(c) for c in bad))
    return (
        f"{quoted(value)} contains {shown}: a number may hold only digits 0-9, a leading + or 00, "
        "and spaces, dashes, dots or brackets"
    )


def _no_country_code(value: str, country_code: int | None, national: str) -> str:
    return (
        f"{quoted(value)} has no country code: write it with the country code first, "
        f"e.g. {country_code}{national}"
    )


def _invalid(value: str) -> str:
    return (
        f"{quoted(value)} is not a valid phone number: check the digits and that it starts with "
        "the country code (e.g. 91 for India)"
    )
