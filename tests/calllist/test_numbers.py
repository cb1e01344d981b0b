"""Number cells: the bulk path gives phonenumbers' own judgement, bare numbers read as national."""

from __future__ import annotations

import random
import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sftp_watcher.calllist.numbers import NumberJudge

REGIONS = ["IN", "DE", "AE", "SG", "BR", "FR", "GB", "US", "AU", "ZA"]
# Home regions of the equivalence tests: national numbers of 10 (IN, US), 9 (AU, AE, ZA,
# FR), 8 (SG), 10 to 11 (GB) and 5 to 15 (DE) digits; shared codes (US, GB, AU) have no
# automaton, so phonenumbers alone judges them; BR, CN, MX, AR strip national prefixes.
HOME_REGIONS = ["IN", "DE", "AE", "SG", "FR", "ZA", "GB", "US", "AU"]
HOME_REGIONS += ["BR", "CN", "NG", "MX", "AR", "ID", "EG"]


def _international(body: str) -> str | None:
    try:
        number = phonenumbers.parse("+" + body, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return f"{number.country_code}{phonenumbers.national_significant_number(number)}"


def _national(body: str, home_region: str) -> str | None:
    try:
        number = phonenumbers.parse(body, home_region, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        return None
    if number.country_code_source != phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.national_significant_number(number)


def reference(value: str, home_region: str = "IN", default_cc: str | None = None) -> str | None:
    """The contract spelled out slowly (SPEC 5): strip separators, one + or 00; without
    them, home country code first, then the home region's national reading, then any code."""
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
    if body == compact:  # written without + or 00
        home_cc = str(phonenumbers.country_code_for_region(home_region))
        if body.startswith(home_cc) and _international(body) is not None:
            return _international(body)
        national = _national(body, home_region)
        if national is not None:
            return None if default_cc is None else _international(default_cc + national)
    return _international(body)


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


@st.composite
def bare_national(draw, region: str):
    """National numbers of ``region`` as a customer without the country code writes them:
    example numbers with random tails, random digits of the region's lengths, with or
    without the national prefix, sometimes with separators."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    kind = draw(st.sampled_from(["mobile", "fixed", "random"]))
    if kind == "random":
        lengths = [n for n in meta.general_desc.possible_length if n > 0]
        size = draw(st.sampled_from(lengths))
        nsn = draw(st.text("123456789", min_size=1, max_size=1)) + draw(
            st.text("0123456789", min_size=size - 1, max_size=size - 1)
        )
    else:
        kind_type = phonenumbers.PhoneNumberType
        example = phonenumbers.example_number_for_type(
            region, kind_type.MOBILE if kind == "mobile" else kind_type.FIXED_LINE
        )
        nsn = phonenumbers.national_significant_number(example)
        keep = draw(st.integers(1, len(nsn)))
        nsn = nsn[:keep] + draw(
            st.text("0123456789", min_size=len(nsn) - keep, max_size=len(nsn) - keep)
        )
    prefix = meta.national_prefix or ""
    value = (draw(st.sampled_from(["", prefix])) if prefix else "") + nsn
    if draw(st.booleans()):
        at = draw(st.integers(0, len(value)))
        value = value[:at] + draw(st.sampled_from([" ", "-", "."])) + value[at:]
    return value


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(HOME_REGIONS),
    st.sampled_from([None, "home"]),
    st.data(),
)
def test_column_judgement_equals_the_reference(home_region, default, data):
    """Bulk path or not, a cell is accepted exactly as the slow reading of the contract says,
    for numbers with country codes and bare national numbers of the home region alike."""
    default_cc = None if default is None else str(phonenumbers.country_code_for_region(home_region))
    values = data.draw(
        st.lists(st.one_of(numbers_like(), bare_national(home_region)), min_size=1, max_size=20)
    )
    judge = NumberJudge(home_region, default_cc)
    digits, problems = judge.column(values)
    for index, value in enumerate(values):
        expected = reference(value, home_region, default_cc)
        if expected is not None:
            assert digits[index] == expected and index not in problems
        else:
            assert digits[index] == "" and index in problems


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(HOME_REGIONS), st.booleans(), st.data())
def test_bare_national_numbers_are_never_read_as_another_country(home_region, completing, data):
    """A valid national number of the home region without + or 00 is rejected as missing its
    country code, or completed with it: never dialled as whatever country its first digits name."""
    value = data.draw(bare_national(home_region))
    body = re.sub(r"[ \-.]", "", value)
    national = _national(body, home_region)
    home_cc = str(phonenumbers.country_code_for_region(home_region))
    if national is None or (body.startswith(home_cc) and _international(body)):
        return  # not a valid national number, or the home country code written as digits
    judge = NumberJudge(home_region, home_cc if completing else None)
    digits, problems = judge.column([value])
    if completing:
        assert digits == [home_cc + national] and not problems
    else:
        assert digits == [""]
        assert "has no country code" in problems[0] and f"e.g. {home_cc}{national}" in problems[0]


def test_home_country_code_written_as_digits_is_taken_as_written():
    for default in (None, "91"):
        assert NumberJudge("IN", default).column(["919812345678"]) == (["919812345678"], {})
        assert NumberJudge("IN", default).judge("91 98123 45678") == ("919812345678", None)


@pytest.mark.parametrize("bare", ["6858366258", "9513500049", "6499962283"])
def test_bare_indian_mobiles_that_read_as_foreign_numbers_are_indian(bare):
    """Samoa, Myanmar, New Zealand with a country code first; Indian mobiles as written."""
    assert reference("+" + bare) is not None  # the trap: a valid foreign number with a +
    digits, reason = NumberJudge("IN", None).judge(bare)
    assert digits == "" and reason == (
        f"{bare} has no country code: write it with the country code first, e.g. 91{bare}"
    )
    assert NumberJudge("IN", "91").column([bare]) == ([f"91{bare}"], {})
    assert NumberJudge("IN", None).judge("+" + bare)[0] == reference("+" + bare)


def test_no_random_indian_mobile_is_dialled_abroad():
    """Among 2,000 random valid Indian mobiles written bare, none is accepted as written."""
    rng = random.Random(15)
    bare = [f"{rng.choice('6789')}{rng.randrange(10**8, 10**9)}" for _ in range(2_000)]
    bare = [b for b in bare if _national(b, "IN") == b]
    assert sum(reference("+" + b) is not None for b in bare) > 50  # the sample holds the trap
    digits, problems = NumberJudge("IN", None).column(bare)
    assert not any(digits) and len(problems) == len(bare)
    completed, problems = NumberJudge("IN", "91").column(bare)
    assert completed == [f"91{b}" for b in bare] and not problems


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
