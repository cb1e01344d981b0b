"""The bulk number path (automata over whole columns) judges exactly as phonenumbers does."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers.phonenumber import CountryCodeSource

from sftp_watcher.calllist import Rules, judge
from sftp_watcher.calllist.bulknumbers import automaton, bare_home_number, bulk_digits
from sftp_watcher.calllist.digitdfa import Component, Unsupported, build
from sftp_watcher.calllist.numbers import NumberJudge

from .test_numbers import HOME_REGIONS, bare_national, numbers_like, reference

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 2, 8, 10, 0, tzinfo=IST)
# Single-region codes, some with a national prefix that parse() strips (BR, CN).
AUTOMATON_REGIONS = ["IN", "DE", "AE", "SG", "FR", "ZA", "BR", "CN", "NG", "MX", "AR", "ID", "EG"]


def plain_reference(value: str, home_region: str = "IN") -> str:
    """phonenumbers, one number at a time, for a cell the bulk path may take."""
    return reference(value, home_region) or ""


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(AUTOMATON_REGIONS), st.data())
def test_bulk_path_accepts_exactly_what_phonenumbers_accepts_as_written(region, data):
    """Accepted: phonenumbers agrees and the digits are the cell's. Left: never a plain
    valid number of the code that parse() would keep as written."""
    cc = phonenumbers.country_code_for_region(region)
    assert automaton(cc) is not None
    values = data.draw(st.lists(numbers_like(), min_size=1, max_size=12))
    values = [
        data.draw(st.sampled_from(["", "+", "00"])) + str(cc) + v.lstrip("+0") for v in values
    ]
    digits, pending = bulk_digits(values, [cc], cc)
    for index, (value, found) in enumerate(zip(values, digits, strict=True)):
        if found:
            assert plain_reference(value, region) == found
            assert index not in pending
        else:
            assert index in pending
            body = value.lstrip("+")[2:] if value.startswith("00") else value.lstrip("+")
            national = body[len(str(cc)) :]
            plain = body.isdigit() and 2 <= len(national) <= 17 and not national.startswith("0")
            if plain and plain_reference(value, region):
                # Valid yet left out: only when parse() would strip a national prefix.
                meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
                assert meta.national_prefix_for_parsing


def test_every_single_region_code_but_four_has_an_automaton():
    """Two tiers are enough: a bulk regex over phonenumbers' metadata proved cells of 188
    codes, all of them among these; JP, MG, SM and NF go to phonenumbers either way."""
    missing = {
        code
        for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
        if len(regions) == 1 and automaton(code) is None
    }
    assert missing == {81, 261, 378, 672}


def test_bare_cells_are_proven_only_with_the_home_country_code():
    """Without + or 00, digits naming another code may be a bare home number: not proven."""
    values = ["6858366258", "+6858366258", "919876543210", "4930123456"]
    digits, pending = bulk_digits(values, [91, 685, 49], 91)
    assert digits == ["", "6858366258", "919876543210", ""]
    assert pending == [0, 3]


def test_every_plain_indian_mobile_is_proven_without_phonenumbers():
    rng = random.Random(1)
    values = [f"91{rng.choice('6789')}{rng.randrange(10**8, 10**9)}" for _ in range(2000)]
    digits, pending = bulk_digits(values, [91], 91)
    assert [values[i] for i in pending] == [v for v in values if not plain_reference(v)]
    assert all(d == v for d, v in zip(digits, values, strict=True) if d)


def test_prefixes_are_dropped_and_empty_or_odd_cells_are_left_alone():
    values = ["+919876543210", "00919876543210", "", "919876543210 ", "९१९८७६५४३२१०", "9" * 40]
    digits, pending = bulk_digits(values, [91], 91)
    assert digits == ["919876543210", "919876543210", "", "", "", ""]
    assert pending == [3, 4, 5]  # empty cells need no judging at all


@pytest.mark.parametrize("pattern", ["1*", "[^1]", "1$", "(?=1)2", "a"])
def test_syntax_beyond_the_digit_dialect_is_refused(pattern):
    with pytest.raises(Unsupported):
        build(Component(pattern), [Component("1")], None)


def test_lengths_and_forbidden_prefixes_shape_the_automaton():
    machine = build(
        Component(r"[1-9]\d{2,3}", frozenset({3, 4})), [Component(r"\d{3}|5\d{3}")], "9"
    )
    digits, lengths = ["123", "5123", "4123", "912", "12"], []
    for value in digits:
        lengths.append(bool(machine.run_all(_column([value]))[0]))
    assert lengths == [True, True, False, False, False]


def _column(values):
    return np.array([[int(c) for c in v] for v in values], dtype=np.intp).T


def _reference_judge(monkeypatch: pytest.MonkeyPatch):
    """NumberJudge with both bulk tiers off: phonenumbers for every single cell."""
    original = NumberJudge.__init__

    def slow_init(self, home_region, default_country_code):
        original(self, home_region, default_country_code)
        self._bulk = False

    monkeypatch.setattr(NumberJudge, "__init__", slow_init)
    monkeypatch.setattr("sftp_watcher.calllist.numbers.bare_home_number", lambda *_: False)


cells = st.one_of(
    numbers_like(),
    *(bare_national(region) for region in HOME_REGIONS),
    st.sampled_from(["", " ", "9876543210", "9.19876E+11", "98765abc", "+91 98765-43210"]),
    st.integers(6_000_000_000, 9_999_999_999).map(lambda n: f"91{n}"),
    st.integers(6_000_000_000, 9_999_999_999).map(str),  # country code missing
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=25),
    st.booleans(),
    st.sampled_from(HOME_REGIONS),
)
def test_fast_and_reference_paths_give_identical_row_errors_and_records(rows, completing, home):
    """Random mixes of good, bad, bare, repeated and empty numbers over three tel columns,
    for home regions with national numbers of different lengths."""
    text = "tel1,tel2,tel3\n" + "".join(
        ",".join('"' + c.replace('"', '""') + '"' for c in row) + "\n" for row in rows
    )
    code = str(phonenumbers.country_code_for_region(home))
    rules = Rules(timezone=IST, home_region=home, default_country_code=code if completing else None)
    fast = judge("C1_abc.csv", text.encode(), rules, NOW)
    with pytest.MonkeyPatch.context() as patch:
        _reference_judge(patch)
        slow = judge("C1_abc.csv", text.encode(), rules, NOW)
    assert fast.row_errors == slow.row_errors
    assert fast.records == slow.records
    assert (fast.outcome, fast.rows_valid, fast.rows_rejected) == (
        slow.outcome,
        slow.rows_valid,
        slow.rows_rejected,
    )


bodies = st.one_of(
    st.text("0123456789", min_size=1, max_size=18),
    numbers_like().map(lambda v: "".join(c for c in v if c.isdigit()).lstrip("0") or "0"),
    st.integers(6_000_000_000, 9_999_999_999).map(str),
    # Codes shared by several regions: every region must refuse before "+body" is invalid.
    st.tuples(
        st.sampled_from(["1", "7", "44", "61", "39", "47", "262"]),
        st.text("0123456789", max_size=12),
    ).map("".join),
)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(AUTOMATON_REGIONS), bodies)
def test_bare_home_number_is_only_said_of_what_parse_reads_as_a_valid_home_number(region, body):
    if bare_home_number(body, region):
        number = phonenumbers.parse(body, region, keep_raw_input=True)
        assert number.country_code_source == CountryCodeSource.FROM_DEFAULT_COUNTRY
        assert phonenumbers.is_valid_number(number)
        assert phonenumbers.national_significant_number(number) == body


def test_bare_indian_mobiles_are_mostly_decided_without_phonenumbers():
    rng = random.Random(2)
    bodies = [f"{rng.choice('6789')}{rng.randrange(10**8, 10**9)}" for _ in range(1000)]
    decided = [b for b in bodies if bare_home_number(b, "IN")]
    assert len(decided) > 900
    judge_ = NumberJudge("IN", None)
    assert judge_.judge(decided[0])[1] == (
        f"{decided[0]} has no country code: write it with the country code first, "
        f"e.g. 91{decided[0]}"
    )
