"""Property tests over the judge with hostile uploads (issue 16): it always answers with a
report, in time proportional to the input, quoting customers within SPEC 4's limit.

The time bound is about pathological blow-ups (quadratic splitting, a bomb inflated whole),
not speed: it is CPU time (``time.process_time``, blind to other processes) against a
generous allowance of 2 s plus 2 µs per input byte: a 5 MB list of 200,000 rows needs
0.2 µs a byte, a 5 MB header of 580,000 cells took 7 µs a byte before it was bounded.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from sftp_watcher.calllist import Outcome, Report, Rules, judge
from sftp_watcher.config import Limits
from tests.fuzz.strategies import MARK, QUOTE_LIMIT, csv_documents, upload_names, zip_archives

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 2, 8, 10, 0, tzinfo=IST)
PERMISSIVE = Rules.permissive()
CUSTOMER = Rules(
    timezone=IST,
    user_id="129113",
    flow_ids=frozenset({"o9vJavuB"}),
    row_policy="strict",
    default_country_code="91",
    limits=Limits(max_rows=20, max_file_bytes=200_000, max_zip_uncompressed_bytes=400_000),
)
rules = st.sampled_from([PERMISSIVE, CUSTOMER])
# The blow-up of issue 16: pandas built one column per header cell.
WIDE_HEADER = (",".join(["tel1", *(f"v{i}" for i in range(250_000))]) + "\n919876543210\n").encode()
uploads = st.one_of(
    st.tuples(upload_names("csv"), csv_documents()),
    st.tuples(upload_names("zip"), zip_archives()),
)


def judged(name: str, data: bytes, chosen: Rules) -> Report:
    """The judge's report, with its CPU time checked against the size of the input."""
    started = time.process_time()
    report = judge(name, data, chosen, NOW)
    spent = time.process_time() - started
    allowance = 2.0 + 2e-6 * (len(data) + len(name))
    assert spent <= allowance, f"{spent:.2f} s of CPU for {len(data):,} bytes"
    return report


@given(uploads, rules)
@example(("C1_ab.csv", WIDE_HEADER), PERMISSIVE)
def test_any_upload_gets_a_consistent_report(upload: tuple[str, bytes], chosen: Rules) -> None:
    """Never raises; a rejection says why; the counts add up; no record from a rejection."""
    name, data = upload
    report = judged(name, data, chosen)

    assert isinstance(report, Report)
    assert report.file == name
    assert report.rows_total == report.rows_valid + report.rows_rejected
    assert len(report.row_errors) >= report.rows_rejected
    if report.outcome is Outcome.REJECTED:
        assert report.file_errors, report
        assert len(report.records) == 0
    else:
        assert not report.file_errors
        assert len(report.records) == report.rows_valid > 0
    if report.outcome is Outcome.ACCEPTED:
        assert report.rows_rejected == 0
    if chosen is CUSTOMER and report.rows_rejected:  # strict: all or nothing
        assert report.outcome is Outcome.REJECTED


@given(uploads, rules)
def test_rejected_files_before_reading_count_nothing(
    upload: tuple[str, bytes], chosen: Rules
) -> None:
    name, data = upload
    report = judged(name, data, chosen)
    if report.outcome is Outcome.REJECTED and not report.row_errors:
        assert report.rows_valid == report.rows_rejected == 0


@pytest.mark.xfail(
    reason="SPEC 4's 200-character quoting of customer values is branch numbers' change; "
    "remove this mark once it is merged",
    strict=False,
)
# Not shrunk while it is expected to fail: shrinking megabytes of input took minutes.
@settings(phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(uploads, rules)
def test_reasons_quote_at_most_200_characters_of_a_customer_value(
    upload: tuple[str, bytes], chosen: Rules
) -> None:
    name, data = upload
    report = judged(name, data, chosen)
    reasons = [*report.file_errors, *report.warnings, *(e.reason for e in report.row_errors)]
    too_long = MARK * (QUOTE_LIMIT + 1)
    assert not [r for r in reasons if too_long in r]
