"""The server profile setup-test records (SPEC 3: servers differ): how renames behave, how
precise and how right the server's clock is. Judging it is pure; saving it is one call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sftp_watcher.errors import StateError
from sftp_watcher.onboarding.folders import Observations
from sftp_watcher.onboarding.report import Check
from sftp_watcher.state.store import Store

MAX_SKEW_SECONDS = 60.0

NAME = "server profile"


def build_profile(seen: Observations, *, server_version: str | None) -> dict[str, Any] | None:
    """The profile as stored, or None when the probe did not get far enough to measure it."""
    if seen.mtime is None or seen.written_at is None or seen.rename_onto_existing is None:
        return None
    return {
        "server_version": server_version,
        "posix_rename": seen.posix_rename,
        "rename_onto_existing": seen.rename_onto_existing,
        "mtime_precision": "seconds" if seen.mtime.is_integer() else "sub-second",
        "clock_skew_seconds": round(seen.mtime - seen.written_at.timestamp(), 1),
    }


def judge_profile(profile: dict[str, Any], *, saved_problem: str | None) -> Check:
    """Pass, or warn for a clock more than a minute off or a profile that was not saved."""
    skew = float(profile["clock_skew_seconds"])
    detail = (
        f"posix-rename {'offered' if profile['posix_rename'] else 'not offered'}; "
        f"rename onto an existing name {profile['rename_onto_existing']}; "
        f"mtime precision {profile['mtime_precision']}; clock skew {skew:+.0f} s"
    )
    problems, fixes = [], []
    if abs(skew) > MAX_SKEW_SECONDS:
        problems.append(
            f"the server's clock is {abs(skew):.0f} s off; "
            "min_file_age_seconds is measured with the server's mtimes"
        )
        fixes.append(
            "Ask the customer to synchronise the server's clock (NTP); until then keep "
            f"min_file_age_seconds above {abs(skew):.0f}."
        )
    if saved_problem is not None:
        problems.append(f"not saved: {saved_problem}")
        fixes.append("Check state_url (the service works without the profile).")
    if problems:
        return Check.warning(NAME, f"{detail}. " + "; ".join(problems), " ".join(fixes))
    return Check.passed(NAME, f"{detail}; saved to the state database")


def save_profile(
    state_url: str, customer_id: str, profile: dict[str, Any], *, now: datetime
) -> str | None:
    """Store the profile; returns what went wrong instead of raising (it is not essential)."""
    try:
        store = Store.open(state_url)
    except StateError as exc:
        return _scrub(str(exc), state_url)
    except OSError as exc:  # the SQLite file's folder cannot be created
        return f"cannot open the state database: {exc.strerror or exc}"
    try:
        store.save_profile(customer_id, profile, now=now)
    except StateError as exc:
        return _scrub(str(exc), state_url)
    finally:
        store.close()
    return None


def _scrub(text: str, state_url: str) -> str:
    # A driver's error may quote the URL; its password must not reach the report.
    try:
        password = make_url(state_url).password
    except (ArgumentError, ValueError):
        return text
    return text.replace(str(password), "***") if password else text
