"""setup-test's checks beyond the SFTP account: each flow against Phonon (an empty call list,
so no call is placed) and, when asked, a test email to the account holder.
"""

from __future__ import annotations

from datetime import datetime

from sftp_watcher.config import CustomerConfig, FlowConfig, Settings
from sftp_watcher.errors import MailError
from sftp_watcher.notify import make_sender, render_test_email
from sftp_watcher.onboarding.report import Check
from sftp_watcher.phonon import FlowCheck, PhononClient

DRY_RUN = "phonon.dry_run is on: nothing is sent to Phonon"


def check_flows(settings: Settings, customer: CustomerConfig) -> list[Check]:
    """One check per configured flow; 302 Empty Call List proves id, secret and IP are right."""
    if settings.phonon.dry_run:
        return [
            Check.skipped(f"flow {flow.id}", f"{DRY_RUN}; {flow_variables(flow)}")
            for flow in customer.flows
        ]
    with PhononClient(settings.phonon) as client:
        return [_flow(flow, client.check_flow(flow)) for flow in customer.flows]


def _flow(flow: FlowConfig, result: FlowCheck) -> Check:
    name = f"flow {flow.id}"
    what = (
        f"{flow.type} flow on the {flow.host} host, api-version {flow.api_version}, "
        f"{flow_variables(flow)}"
    )
    if result.skipped:
        return Check.skipped(name, f"{result.message}; {flow_variables(flow)}")
    if result.ok:
        return Check.passed(
            name,
            f"{what}: Phonon answered {result.message} — security id, flow id and "
            "IP whitelisting are right",
        )
    return Check.failed(name, f"{what}: Phonon answered {result.message}", result.fix)


def flow_variables(flow: FlowConfig) -> str:
    """The flow's variables as setup-test lists them (SPEC 5)."""
    if flow.variables is None:
        return "variables not declared (every header but tel1..tel10 and starttime is one)"
    return f"variables: {', '.join(flow.variables) or 'none'}"


def check_test_email(
    settings: Settings, customer: CustomerConfig, *, send: bool, now: datetime
) -> Check:
    """Without ``send`` no mail server is contacted."""
    name = "test email"
    if not send:
        return Check.skipped(name, "not sent (rerun with --send-test-email to send one)")
    if not customer.emails:
        return Check.warning(
            name, "no address to send to", "Add the account holder's address(es) under emails."
        )
    sender = settings.email.from_
    message = render_test_email(customer.id, customer.emails, sender=sender, now=now)
    email = settings.email
    via = (
        f"{email.file_dir} (email.backend: file)"
        if email.backend == "file"
        else f"mail server {email.smtp.host}:{email.smtp.port}"
    )
    try:
        make_sender(email).send(message)
    except MailError as exc:
        fix = (
            f"Check that {email.file_dir} can be written (email.file_dir)."
            if email.backend == "file"
            else f"Check email.smtp (host, port, security, username, password) and that the "
            f"mail server accepts mail from {sender} to {', '.join(customer.emails)}."
        )
        return Check.failed(name, str(exc), fix)
    return Check.passed(name, f"sent to {', '.join(customer.emails)} through {via}")
