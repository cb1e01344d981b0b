"""``sftp-watcher setup-test``: every onboarding check of one customer, in order, carrying on
after a failure wherever the later checks still make sense.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime

from sftp_watcher.config import CustomerConfig, LocalSourceConfig, Settings, SftpSourceConfig
from sftp_watcher.onboarding.connection import CONNECTION_CHECKS, check_connection
from sftp_watcher.onboarding.folders import FolderSpec, Observations, check_folder, probe_folder
from sftp_watcher.onboarding.mailbox import check_mailbox
from sftp_watcher.onboarding.profile import NAME as PROFILE
from sftp_watcher.onboarding.profile import build_profile, judge_profile, save_profile
from sftp_watcher.onboarding.remote import LocalRemote, Remote, SftpRemote
from sftp_watcher.onboarding.report import Check, SetupReport, Status
from sftp_watcher.onboarding.services import check_flows, check_test_email
from sftp_watcher.sources.base import Folder
from sftp_watcher.sources.local import folder_path

_LABELS = {Folder.UPLOAD: "Upload/", Folder.SUCCESS: "Success/", Folder.FAILURE: "Failure/"}


def run_setup_test(
    settings: Settings,
    customer_id: str,
    *,
    create_folders: bool = False,
    send_test_email: bool = False,
    now: datetime | None = None,
) -> SetupReport:
    """Run every check; ``ConfigError`` for an unknown customer (the CLI's exit 2)."""
    customer = settings.customer(customer_id)
    moment = now or datetime.now(UTC)
    checks = [check_configuration(customer)]
    checks += _source_checks(settings, customer, create_folders=create_folders, now=moment)
    checks += check_mailbox(settings, customer, create_folders=create_folders, now=moment)
    checks += check_flows(settings, customer)
    checks.append(check_test_email(settings, customer, send=send_test_email, now=moment))
    return SetupReport.of(customer.id, checks)


def check_configuration(customer: CustomerConfig) -> Check:
    """What the configuration says, and what it lacks that is not an error (no emails)."""
    source = customer.source
    parts = []
    warnings, fixes = [], []
    if isinstance(source, SftpSourceConfig):
        methods = [m for m, v in (("key", source.private_key), ("password", source.password)) if v]
        parts.append(
            f"SFTP {source.username}@{source.host}:{source.port} ({' and '.join(methods)} login)"
        )
        if source.host_key is not None:
            parts.append("host key pinned")
        elif source.known_hosts is not None:
            parts.append(f"host key from {source.known_hosts}")
            if not source.known_hosts.is_file():
                warnings.append(f"known_hosts {source.known_hosts} is not a readable file")
                fixes.append("Correct source.known_hosts, or pin the key with host_key.")
        else:
            parts.append("no host key pinned yet (the host key check shows the line to pin)")
    else:
        parts.append(f"local folders under {source.path}")
    parts.append(f"flows {', '.join(f.id for f in customer.flows)}")
    if customer.emails:
        parts.append(f"emails to {', '.join(customer.emails)}")
    else:
        warnings.append("no emails: nobody will be told about uploads")
        fixes.append("Add the account holder's address(es) under emails.")
    detail = "; ".join(parts)
    if warnings:
        return Check.warning("configuration", f"{detail}. " + "; ".join(warnings), " ".join(fixes))
    return Check.passed("configuration", detail)


def _source_checks(
    settings: Settings, customer: CustomerConfig, *, create_folders: bool, now: datetime
) -> list[Check]:
    source = customer.source
    if isinstance(source, LocalSourceConfig):
        local: Remote = LocalRemote(customer=customer.id)
        specs = [FolderSpec(_LABELS[f], str(folder_path(source, f))) for f in Folder]
        checks = [Check.skipped(n, "local folders: no SFTP server") for n in CONNECTION_CHECKS]
        folder_checks, _ = _folder_checks(local, specs, create=create_folders, sftp=False)
        return [*checks, *folder_checks, Check.skipped(PROFILE, "local folders: no SFTP server")]

    specs = [
        FolderSpec(_LABELS[Folder.UPLOAD], source.upload_dir),
        FolderSpec(_LABELS[Folder.SUCCESS], source.success_dir),
        FolderSpec(_LABELS[Folder.FAILURE], source.failure_dir),
    ]
    with ExitStack() as stack:
        connection = check_connection(source, customer=customer.id, stack=stack)
        checks = list(connection.checks)
        if connection.sftp is None:
            reason = connection.unusable_because
            names = [f"folder {s.label}" for s in specs] + [f"permissions {s.label}" for s in specs]
            skipped = [Check.skipped(n, reason, connection.fix) for n in [*names, PROFILE]]
            return [*checks, *skipped]
        where = f"{source.host}:{source.port}"
        remote = SftpRemote(connection.sftp, where=where, customer=customer.id)
        folder_checks, seen = _folder_checks(remote, specs, create=create_folders, sftp=True)
    checks += folder_checks
    profile = build_profile(seen, server_version=connection.server_version)
    if profile is None:
        checks.append(Check.skipped(PROFILE, "the probe in Upload/ did not get far enough"))
    else:
        problem = save_profile(settings.state_url, customer.id, profile, now=now)
        checks.append(judge_profile(profile, saved_problem=problem))
    return checks


def _folder_checks(
    remote: Remote, specs: list[FolderSpec], *, create: bool, sftp: bool
) -> tuple[list[Check], Observations]:
    """Folder checks, then a probe in each usable folder; the Upload/ probe profiles the server."""
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731 - the probe's timing
    folders = [check_folder(remote, spec, create=create) for spec in specs]
    probes: list[Check] = []
    seen = Observations()
    for spec, folder in zip(specs, folders, strict=True):
        name = f"permissions {spec.label}"
        if folder.status is Status.FAIL:
            probes.append(Check.skipped(name, f"{spec.label} is not usable"))
            continue
        first = spec is specs[0]
        # A local folder is ours to handle and LocalSource never renames onto a name.
        probe = probe_folder(
            remote, spec, clock=clock, try_overwrite=sftp, try_posix_rename=sftp and first
        )
        probes.append(probe.check)
        if first:
            seen = probe.seen
    return [*folders, *probes], seen
