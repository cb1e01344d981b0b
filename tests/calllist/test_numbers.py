"""Number cells: the fast bulk path gives phonenumbers' own judgement (property-based)."""

from __future__ import annotations

import re

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from sftp_watcher.calllist.numbers import NumberJudge, _fast_body, _fast_pattern, fast_digits

REGIONS = ["IN", "DE", "AE", "SG", "BR", "FR", "GB", "US", "AU", "ZA"]
FAST_REGIONS = ["IN", "DE", "AE", "SG", "FR", "ZA"]  # single-region codes with a bulk regex


def reference(value: str) -> str | None:
    """The contract spelled out slowly: strip separators, one + or 00, phonenumbers decides."""
    compact = re.sub(r"[ \t\u00a0\u202f\-.()]", "", value.strip())
    body = (
        compact[1:]
        if compact.startswith("+")
        else compact[2:]
        if compact.startswith("00")
        else compact
    )
    if not body or not re.fullmatch(r"[0-9]+", body):
        return None
    try:
        number = phonenumbers.parse("+" + body, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return f"{number.country_code}{phonenumbers.national_significant_number(number)}"


@st.composite
def numbers_like(draw):
    """Mostly near-valid numbers of several regions, with prefixes and separators."""
    region = draw(st.sampled_from(REGIONS))
    kind = draw(st.sampled_from(["mobile", "fixed", "random"]))
    example = phonenumbers.example_number_for_type(
        region,
        phonenumbers.PhoneNumberType.MOBILE
        if kind == "mobile"
        else phonenumbers.PhoneNumberType.FIXED_LINE,
    )
    cc = str(phonenumbers.country_code_for_region(region))
    nsn = phonenumbers.national_significant_number(example) if example else "9"
    if kind == "random" or draw(st.booleans()):
        keep = draw(st.integers(0, len(nsn)))
        tail = draw(st.text("0123456789", min_size=0, max_size=len(nsn) - keep + 2))
        nsn = nsn[:keep] + tail
    prefix = draw(st.sampled_from(["", "+", "00", "+0"]))
    digits = prefix + cc + draw(st.sampled_from(["", "0"])) + nsn
    if draw(st.booleans()):
        at = draw(st.integers(0, len(digits)))
        digits = digits[:at] + draw(st.sampled_from([" ", "-", ".", "(", ")"])) + digits[at:]
    return digits


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(FAST_REGIONS), st.lists(numbers_like(), min_size=1, max_size=20))
def test_column_judgement_equals_phonenumbers(home_region, values):
    """Fast path or not, a cell is accepted exactly when phonenumbers says it is valid."""
    judge = NumberJudge(home_region, None)
    digits, problems = judge.column(values)
    for index, value in enumerate(values):
        expected = reference(value)
        if expected is not None:
            assert digits[index] == expected and index not in problems
        else:
            assert digits[index] == "" and index in problems


@settings(max_examples=400, deadline=None)
@given(region=st.sampled_from(FAST_REGIONS), data=st.data())
def test_fast_regex_accepts_only_what_phonenumbers_accepts(region, data):
    cc = phonenumbers.country_code_for_region(region)
    pattern = _fast_pattern(frozenset({cc}))
    assert pattern is not None
    values = data.draw(st.lists(numbers_like(), min_size=1, max_size=10))
    values = [str(cc) + v.lstrip("+0") for v in values]
    for value, fast in zip(values, fast_digits(pattern, values), strict=True):
        if fast:
            assert reference(value) == fast


def test_fast_regex_covers_the_plain_valid_numbers_of_the_home_region():
    """A bulk path that accepted nothing would be correct but useless."""
    pattern = _fast_pattern(frozenset({91}))
    values = ["919876543210", "+917012345678", "00918123456789", "911123456789"]
    assert fast_digits(pattern, values) == [v.lstrip("+0") for v in values]


def test_shared_country_codes_are_left_to_phonenumbers():
    assert _fast_body(1) is None and _fast_body(44) is None


def test_cells_with_line_breaks_do_not_misalign_the_bulk_scan():
    judge = NumberJudge("IN", None)
    digits, problems = judge.column(["919876543210\n919876543211", "919876543212"])
    assert digits == ["", "919876543212"]
    assert list(problems) == [0]


def test_bare_home_number_names_the_missing_country_code_unless_a_default_completes_it():
    assert NumberJudge("IN", None).judge("098765 43210") == (
        "",
        "098765 43210 has no country code: write it with the country code first, e.g. 919876543210",
    )
    assert NumberJudge("IN", "91").judge("098765 43210") == ("919876543210", None)


def test_letters_and_scientific_notation_have_their_own_reasons():
    _, letters = NumberJudge("IN", None).judge("91987654321O")
    assert letters is not None and "contains 'O'" in letters
    _, sci = NumberJudge("IN", None).judge("9.19876E+11")
    assert sci is not None and "format the tel columns as Text" in sci
