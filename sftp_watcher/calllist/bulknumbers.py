"""The plain-digit numbers of a whole tel column, proven valid at once (numpy + ``digitdfa``).

Only *accepts*, and only where phonenumbers would accept the same digits unchanged:
a single-region country code, no national prefix to strip, no leading zero. Every
cell it leaves out goes through phonenumbers itself (``numbers.NumberJudge``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from operator import itemgetter

import numpy as np
import numpy.typing as npt
import phonenumbers
from phonenumbers import PhoneMetadata

from sftp_watcher.calllist.digitdfa import MAX_DEPTH, Component, DigitAutomaton, Unsupported, build

_WIDTH = 2 + 3 + MAX_DEPTH  # "00", the longest country code, the longest national number
_ZERO, _NINE, _PLUS = ord("0"), ord("9"), ord("+")
_TYPES = (
    "fixed_line",
    "mobile",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


def _component(desc: phonenumbers.PhoneNumberDesc | None) -> Component | None:
    """phonenumbers' ``_is_number_matching_desc`` rule: possible lengths, then the pattern."""
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = desc.possible_length or ()
    if lengths and not any(n > 0 for n in lengths):
        return None  # "-1": the type does not exist in this region
    return Component(desc.national_number_pattern, frozenset(n for n in lengths if n > 0))


@functools.cache  # bounded: there are some 250 country codes, a few kB each
def automaton(country_code: int) -> DigitAutomaton | None:
    """Accepts a national number of this code that phonenumbers finds valid as written."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if len(regions) != 1:
        return None  # shared codes (+1, +44, +7) pick their region per number
    meta = PhoneMetadata.metadata_for_region_or_calling_code(country_code, regions[0])
    # A national prefix at the start would be stripped by parse(): not the plain case.
    prefix = None if meta is None else meta.national_prefix_for_parsing
    return _valid_numbers(country_code, regions[0], prefix or None)


@functools.cache  # bounded: some 250 regions, a few kB each
def _valid_numbers(
    country_code: int, region: str, forbidden_prefix: str | None = None
) -> DigitAutomaton | None:
    """phonenumbers' ``_number_type_helper(...) != UNKNOWN`` for one region's metadata."""
    meta = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    general = None if meta is None else _component(meta.general_desc)
    if meta is None or general is None:
        return None
    names = [n for n in _TYPES if n != "mobile" or not meta.same_mobile_and_fixed_line_pattern]
    types = [c for c in (_component(getattr(meta, name)) for name in names) if c is not None]
    if not types:
        return None
    try:
        return build(general, types, forbidden_prefix)
    except Unsupported:
        return None


def bulk_digits(
    values: Sequence[str], country_codes: Sequence[int], home_code: int
) -> tuple[list[str], list[int]]:
    """Per cell, ``cc + national number`` when proven valid, else ""; and the indexes of
    the cells left to phonenumbers (neither proven nor empty).

    A cell qualifies when it is exactly an optional ``+`` or ``00`` and digits. Cells
    are taken by length, so that each group is one fixed-width byte matrix. A cell
    without ``+`` or ``00`` is proven only with ``home_code`` first: other digits may be
    a bare national number of the home region, which phonenumbers must tell apart.
    """
    count = len(values)
    lengths = np.fromiter(map(len, values), dtype=np.intp, count=count)
    found = np.zeros(count, dtype=np.bool_)
    prefixed: list[tuple[npt.NDArray[np.intp], int]] = []
    for size in np.flatnonzero(np.bincount(lengths)).tolist():
        if not 3 <= size <= _WIDTH:
            continue
        rows = np.flatnonzero(lengths == size)
        cells = values if rows.size == count else _take(values, rows)
        # One byte a character: anything beyond latin-1 becomes "?", which is no digit.
        text = "".join(cells).encode("latin-1", errors="replace")
        matrix = np.frombuffer(text, dtype=np.uint8).reshape(rows.size, size)
        plus = matrix[:, 0] == _PLUS
        double_zero = ~plus & (matrix[:, 0] == _ZERO) & (matrix[:, 1] == _ZERO)
        for offset, chosen in ((0, ~plus & ~double_zero), (1, plus), (2, double_zero)):
            if chosen.any():
                body = matrix[:, offset:] if chosen.all() else matrix[chosen, offset:]
                proven = _proven(body, country_codes if offset else [home_code])
                found[rows[chosen][proven]] = True
                if offset:
                    prefixed.append((rows[chosen][proven], offset))
    if found.all():
        digits = list(values)
    else:
        digits = np.where(found, np.array(values, dtype=object), "").tolist()
    for rows, offset in prefixed:
        for row in rows.tolist():
            digits[row] = digits[row][offset:]
    pending: list[int] = np.flatnonzero(~found & (lengths > 0)).tolist()
    return digits, pending


def _take(values: Sequence[str], rows: npt.NDArray[np.intp]) -> Sequence[str]:
    if rows.size == 1:
        return [values[int(rows[0])]]
    taken: tuple[str, ...] = itemgetter(*rows.tolist())(values)
    return taken


def _proven(body: npt.NDArray[np.uint8], country_codes: Sequence[int]) -> npt.NDArray[np.bool_]:
    """Rows of characters (all of one length) that are valid numbers exactly as written."""
    digits = body - np.uint8(_ZERO)  # anything but 0-9 wraps round to more than 9
    candidate_base = np.all(digits <= 9, axis=1)
    proven = np.zeros(len(body), dtype=np.bool_)
    for code in country_codes:
        machine = automaton(code)
        prefix = [int(c) for c in str(code)]
        if machine is None or not 2 <= body.shape[1] - len(prefix) <= MAX_DEPTH:
            continue
        candidate = candidate_base.copy()
        for position, digit in enumerate(prefix):
            candidate &= digits[:, position] == digit
        candidate &= digits[:, len(prefix)] != 0  # a leading zero is kept apart by parse()
        rows = np.flatnonzero(candidate)
        if rows.size:
            block = digits[rows, len(prefix) :].T.astype(np.intp)
            proven[rows] = machine.run_all(block)
    return proven


@functools.cache  # bounded: the metadata holds some 40 distinct prefix patterns
def _prefix_free(pattern: str) -> DigitAutomaton | None:
    """Accepts the digit strings that ``pattern`` does not match at the start (re.match)."""
    anything = Component(rf"\d{{0,{MAX_DEPTH}}}")
    try:
        return build(anything, [anything], pattern)
    except Unsupported:
        return None


def _kept_as_written(national: str, meta: PhoneMetadata) -> bool:
    """parse() would neither strip a national prefix from these digits nor keep a zero apart."""
    if not 2 <= len(national) <= MAX_DEPTH or national[0] == "0":
        return False
    prefix = meta.national_prefix_for_parsing
    free = _prefix_free(prefix) if prefix else None
    return not prefix or (free is not None and free.passes(national))


def bare_home_number(body: str, home_region: str) -> bool:
    """True only when ``body`` (ASCII digits) is certainly a valid national number of
    ``home_region`` written without its country code, as parse(body, home_region) reads it
    (no international prefix, no country code, no national prefix to strip)."""
    meta = PhoneMetadata.metadata_for_region(home_region)
    if meta is None or body.startswith(str(meta.country_code)):
        return False
    machine = automaton(meta.country_code)
    idd = meta.international_prefix
    no_idd = _prefix_free(idd) if idd else None
    if machine is None or (idd and (no_idd is None or not no_idd.passes(body))):
        return False
    return _kept_as_written(body, meta) and machine.passes(body)
