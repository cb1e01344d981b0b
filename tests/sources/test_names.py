"""Claim names, free archive names and temporary names (SPEC 2, 3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sftp_watcher.config import LocalSourceConfig
from sftp_watcher.sources.base import Folder
from sftp_watcher.sources.local import LocalSource
from sftp_watcher.sources.names import (
    CLAIM_PREFIX,
    CUT_MARK,
    MAX_NAME_BYTES,
    candidate_names,
    claim_name,
    free_name,
    free_pair,
    is_temporary_name,
    parse_claim_name,
)

UPLOAD_PATTERN = re.compile(r"^C\d+_[A-Za-z0-9]+(_upload_\d{14})?\.(csv|zip)$", re.IGNORECASE)
NOW = datetime(2026, 2, 8, 15, 42, 7, tzinfo=UTC)

upload_ids = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=36)
originals = st.text(min_size=1, max_size=80).filter(lambda n: "/" not in n)


@given(upload_ids, originals)
def test_claim_name_round_trips_and_never_looks_like_an_upload(
    upload_id: str, original: str
) -> None:
    name = claim_name(upload_id, original)
    assert name.startswith(".")
    assert is_temporary_name(name)
    assert not UPLOAD_PATTERN.match(name)
    assert len(name.encode()) <= MAX_NAME_BYTES
    parsed = parse_claim_name(name)
    assert parsed is not None
    assert parsed[0] == upload_id
    if len(name.encode()) < MAX_NAME_BYTES - 4:
        assert parsed[1] == original


@given(st.text(min_size=1, max_size=255).filter(lambda n: "/" not in n))
def test_claim_names_stay_within_255_bytes_and_a_cut_name_is_marked(original: str) -> None:
    """SPEC 3: however long the original; a cut one never passes for an upload name."""
    upload_id = "f" * 32
    name = claim_name(upload_id, original)
    assert len(name.encode()) <= MAX_NAME_BYTES
    parsed = parse_claim_name(name)
    assert parsed is not None
    assert parsed[0] == upload_id
    assert parsed[1] == original or parsed[1].endswith(CUT_MARK)


def test_a_240_byte_name_gets_a_claim_name_of_at_most_255_bytes() -> None:
    original = "C1_" + "é" * 116 + ".csv"  # 3 + 232 + 4 = 239 bytes
    name = claim_name("a" * 32, original)
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert name != claim_name("b" * 32, original)


def test_claim_name_of_a_real_upload() -> None:
    name = claim_name("0f3c-11", "C129113_o9vJavuB_upload_08022020211200.CSV")
    assert name == f"{CLAIM_PREFIX}0f3c-11.C129113_o9vJavuB_upload_08022020211200.CSV.inprogress"


def test_claim_names_differ_per_upload_id() -> None:
    assert claim_name("a1", "C1_x.csv") != claim_name("a2", "C1_x.csv")


@pytest.mark.parametrize("upload_id", ["", "a.b", "a/b", "a b"])
def test_claim_name_refuses_an_ambiguous_upload_id(upload_id: str) -> None:
    with pytest.raises(ValueError, match="upload id"):
        claim_name(upload_id, "C1_x.csv")


@pytest.mark.parametrize(
    "name",
    ["C1_x.csv", ".hidden", ".sftp-watcher-claim.C1_x.csv", ".sftp-watcher-claim..x.inprogress"],
)
def test_other_names_are_not_claims(name: str) -> None:
    assert parse_claim_name(name) is None


@pytest.mark.parametrize(
    ("name", "temporary"),
    [
        ("C1_x.csv", False),
        ("C1_x.csv.filepart", True),
        ("C1_x.csv.PART", True),
        ("x.partial", True),
        ("x.tmp", True),
        ("x.crdownload", True),
        (".~lock.x.csv#", True),
        ("partial.csv", False),
    ],
)
def test_temporary_names(name: str, temporary: bool) -> None:
    assert is_temporary_name(name) is temporary


def test_candidates_put_the_utc_stamp_before_the_last_extension() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    names = candidate_names("C1_x.errors.csv", NOW.astimezone(ist))
    assert [next(names) for _ in range(4)] == [
        "C1_x.errors.csv",
        "C1_x.errors_20260208154207.csv",
        "C1_x.errors_20260208154207_2.csv",
        "C1_x.errors_20260208154207_3.csv",
    ]


@pytest.mark.parametrize(
    ("desired", "second"), [("README", "README_20260208154207"), (".env", ".env_20260208154207")]
)
def test_candidates_for_names_without_an_extension(desired: str, second: str) -> None:
    names = candidate_names(desired, NOW)
    assert [next(names), next(names)] == [desired, second]


def test_candidates_need_an_aware_clock() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next(candidate_names("x.csv", datetime(2026, 2, 8)))


def test_free_name_skips_every_taken_name(tmp_path: Path) -> None:
    for folder in ("Upload", "Success", "Failure"):
        (tmp_path / folder).mkdir()
    source = LocalSource("acme", LocalSourceConfig(path=tmp_path))
    success = tmp_path / "Success"
    assert free_name(source, Folder.SUCCESS, "C1_x.csv", NOW) == "C1_x.csv"
    (success / "C1_x.csv").write_text("1")
    assert free_name(source, Folder.SUCCESS, "C1_x.csv", NOW) == "C1_x_20260208154207.csv"
    (success / "C1_x_20260208154207.csv").write_text("2")
    (success / "C1_x_20260208154207_2.csv").write_text("3")
    assert free_name(source, Folder.SUCCESS, "C1_x.csv", NOW) == "C1_x_20260208154207_3.csv"
    assert free_name(source, Folder.FAILURE, "C1_x.csv", NOW) == "C1_x.csv"


def test_free_pair_keeps_the_errors_file_beside_its_file(tmp_path: Path) -> None:
    """SPEC 3: Success/ holding only `<name>.errors.csv` (another upload's report) means
    `<name>` is not free either: the suffix applies to the pair."""
    for folder in ("Upload", "Success", "Failure"):
        (tmp_path / folder).mkdir()
    source = LocalSource("acme", LocalSourceConfig(path=tmp_path))
    assert free_pair(source, Folder.SUCCESS, "C1_x.csv", NOW) == "C1_x.csv"
    (tmp_path / "Success" / "C1_x.csv.errors.csv").write_text("someone else's report")
    assert free_pair(source, Folder.SUCCESS, "C1_x.csv", NOW) == "C1_x_20260208154207.csv"
