"""setup-test's folder checks: Upload/, Success/ and Failure/ exist (or are created), and a
probe file proves create, read, rename and delete in each; the probe never stays behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from sftp_watcher.errors import SourceError
from sftp_watcher.onboarding.remote import Remote
from sftp_watcher.onboarding.report import Check

PROBE_PREFIX = ".sftp-watcher-probe-"

RenameOntoExisting = Literal["fails", "replaces"]


@dataclass(frozen=True, slots=True)
class FolderSpec:
    label: str  # "Upload/"
    path: str


@dataclass(frozen=True, slots=True)
class Observations:
    """What a probe saw of the server, for its profile (None: not measured)."""

    rename_onto_existing: RenameOntoExisting | None = None
    posix_rename: bool | None = None
    mtime: float | None = None
    written_at: datetime | None = None  # our clock while the probe was written


@dataclass(frozen=True, slots=True)
class Probe:
    check: Check
    seen: Observations


def check_folder(remote: Remote, spec: FolderSpec, *, create: bool) -> Check:
    """The folder exists and is a directory; with ``create``, a missing one is made."""
    name = f"folder {spec.label}"
    try:
        kind = remote.kind(spec.path)
    except SourceError as exc:
        return Check.failed(
            name, f"cannot look at {spec.path}: {exc}", "Ask the customer to let us see it."
        )
    if kind == "dir":
        return Check.passed(name, f"{spec.path} exists")
    if kind is not None:
        return Check.failed(
            name,
            f"{spec.path} is a {kind}, not a folder",
            f"Ask the customer to move that {kind} away and create the folder {spec.path} "
            "(or rerun with --create-folders once it is gone).",
        )
    if not create:
        return Check.failed(
            name,
            f"{spec.path} does not exist on {remote.where}",
            "Create it or rerun with --create-folders.",
        )
    try:
        remote.mkdir(spec.path)
    except SourceError as exc:
        return Check.failed(
            name,
            f"{spec.path} does not exist and cannot be created: {exc}",
            f"Ask the customer to create {spec.path} or to allow us to create folders there.",
        )
    return Check.passed(name, f"{spec.path} created")


def probe_folder(
    remote: Remote,
    spec: FolderSpec,
    *,
    clock: Callable[[], datetime],
    try_overwrite: bool = True,
    try_posix_rename: bool = False,
) -> Probe:
    """Create, read back, rename, (rename onto an existing name), delete a probe file.

    Every probe name is removed afterwards, also when a step fails or the command
    is interrupted (Ctrl-C included).
    """
    base = remote.join(spec.path, f"{PROBE_PREFIX}{uuid.uuid4().hex}")
    names = (base, f"{base}-renamed", f"{base}-existing", f"{base}-posix")
    try:
        probe = _probe_steps(
            remote,
            spec,
            names,
            clock=clock,
            try_overwrite=try_overwrite,
            try_posix_rename=try_posix_rename,
        )
    finally:
        leftovers = _clean_up(remote, names)
    if leftovers:
        return Probe(
            Check.failed(
                f"permissions {spec.label}",
                f"{probe.check.detail}; could not remove the probe file(s) {', '.join(leftovers)}",
                f"Delete {', '.join(leftovers)} by hand and make sure we may delete files there.",
            ),
            probe.seen,
        )
    return probe


def _probe_steps(
    remote: Remote,
    spec: FolderSpec,
    names: tuple[str, str, str, str],
    *,
    clock: Callable[[], datetime],
    try_overwrite: bool,
    try_posix_rename: bool,
) -> Probe:
    first, renamed, existing, posix = names
    name = f"permissions {spec.label}"
    payload = f"sftp-watcher setup-test probe {uuid.uuid4()}\n".encode()
    seen = Observations()
    step = "create"
    try:
        before = clock()
        remote.write(first, payload)
        written_at = before + (clock() - before) / 2
        step = "read back"
        if remote.read(first) != payload:
            return Probe(
                Check.failed(
                    name,
                    f"{first} read back different bytes than were written",
                    "Ask the customer why the server changes files (a scanner, a converter?).",
                ),
                seen,
            )
        seen = Observations(mtime=remote.mtime(first), written_at=written_at)
        step = "rename"
        remote.rename(first, renamed)
        current = renamed
        if try_overwrite:
            step = "create a second file"
            remote.write(existing, payload + b"second\n")
            step = "rename onto an existing name"
            behaviour = _rename_onto(remote, renamed, existing)
            current = existing if behaviour == "replaces" else renamed
            seen = replace(seen, rename_onto_existing=behaviour)
        if try_posix_rename:
            step = "posix-rename"
            offered = _posix_rename(remote, current, posix)
            current = posix if offered else current
            seen = replace(seen, posix_rename=offered)
        step = "delete"
        for path in (current, existing):
            if remote.kind(path) is not None:
                remote.remove(path)
    except SourceError as exc:
        return Probe(Check.failed(name, f"{step} failed: {exc}", _fix(step, spec)), seen)
    return Probe(_verdict(name, seen), seen)


def _rename_onto(remote: Remote, source: str, target: str) -> RenameOntoExisting:
    try:
        remote.rename(source, target)
    except SourceError:
        return "fails"
    return "replaces"


def _posix_rename(remote: Remote, source: str, target: str) -> bool:
    try:
        remote.posix_rename(source, target)
    except SourceError:
        return False
    return True


def _verdict(name: str, seen: Observations) -> Check:
    done = "create, read, rename and delete work; the probe file is removed"
    if seen.rename_onto_existing == "replaces":
        return Check.warning(
            name,
            f"{done}; a rename onto an existing name silently replaces it",
            "Nothing to change: the service makes sure a name is free before it renames.",
        )
    if seen.rename_onto_existing == "fails":
        done += "; a rename onto an existing name is refused"
    return Check.passed(name, done)


def _fix(step: str, spec: FolderSpec) -> str:
    why = {
        "create": "create files",
        "read back": "read files",
        "rename": "rename files (the service claims each upload by renaming it)",
        "delete": "delete files",
    }.get(step, "create, rename and delete files")
    return f"Ask the customer to allow our SFTP user to {why} in {spec.path}."


def _clean_up(remote: Remote, names: tuple[str, ...]) -> list[str]:
    """Remove every probe name that exists; returns those that could not be removed."""
    leftovers = []
    for path in names:
        try:
            if remote.kind(path) is not None:
                remote.remove(path)
        except SourceError:
            leftovers.append(path)
    return leftovers
