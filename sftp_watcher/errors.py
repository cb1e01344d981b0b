"""The one exception tree of sftp-watcher.

Library errors (paramiko, socket, httpx, SQLAlchemy, smtplib) are translated into
these at the adapter that meets them, with ``raise ... from exc``; nothing above
an adapter catches a library's own exception.

    WatcherError
    ├── ConfigError               bad configuration; carries every problem by key path
    ├── FileRejected              a call-list file breaks a file rule (SPEC 2, 4)
    │   ├── RecordLimit           more than max_rows records: reading stopped there
    │   └── FileNameError         the name does not follow the grammar of SPEC 2
    ├── SourceError               SFTP server or local folder
    │   ├── SourceUnavailable     cannot connect / connection lost (retryable)
    │   │   └── ConnectFailed     connecting failed at a named step (DNS, refused, ...)
    │   ├── AuthenticationFailed  credentials rejected
    │   ├── HostKeyMismatch       server key differs from the pinned one (possible attack)
    │   ├── UnknownHostKey        server key neither pinned nor in known_hosts
    │   ├── RemoteFileNotFound    "no such file": the only reliable error text
    │   └── RemoteOperationFailed permission denied and every other failure
    ├── PhononError               the outbound API
    │   ├── PhononTemporaryError  timeouts, connection errors, 429/5xx, code 500 (retryable)
    │   └── PhononRejected        any other answer: a permanent failure of that batch
    ├── MailError                 sending the account holder's email (retried later)
    ├── MailboxError              the email channel's IMAP mailbox (retried with backoff)
    │   └── MailboxLoginFailed    the IMAP server refused the credentials
    ├── StateError                the state database
    │   └── InvalidTransition     an upload asked to move where its state machine forbids
    │       └── UploadTakenOver   another process moved the upload on first
    ├── ShutdownRequested         SIGTERM arrived; finish the file in hand and stop
    └── WebError                  the upload page refuses a request (a bad form, a wrong type)
        ├── UploadTooLarge        a body over max_file_bytes, not read further
        └── NotFound              no such flow, upload or preview for this user (or another's)
"""

from __future__ import annotations

from collections.abc import Sequence


class WatcherError(Exception):
    """Root of every error sftp-watcher raises on purpose."""


class ConfigError(WatcherError):
    """The configuration cannot be used; ``problems`` lists each one by key path."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in self.problems))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[tuple[str, ...]]]:
        # Pickled (a sweep process's error, sftp_watcher.processes) by its problems.
        return type(self), (self.problems,)


class FileRejected(WatcherError):
    """A whole file is rejected; ``reason`` is written for the customer."""

    def __init__(self, reason: str, *, file: str | None = None) -> None:
        self.reason = reason
        self.file = file
        super().__init__(reason)


class RecordLimit(FileRejected):
    """More records than one upload may hold, found while reading (SPEC 4: reading stops).

    The reader knows neither the limit's name nor the other members: the caller words it.
    """

    def __init__(self, member: str | None) -> None:
        super().__init__("too many records", file=member)


class FileNameError(FileRejected):
    """The file name does not follow ``C<UserID>_<FlowID>[_upload_<DDMMYYYYHHMMSS>]``."""


class SourceError(WatcherError):
    """Something went wrong talking to an SFTP server or a local folder."""

    def __init__(
        self, message: str, *, customer: str | None = None, path: str | None = None
    ) -> None:
        self.customer = customer
        self.path = path
        super().__init__(message)


class SourceUnavailable(SourceError):
    """The server cannot be reached or the connection dropped; worth retrying later."""


class ConnectFailed(SourceUnavailable):
    """Opening the connection failed; ``reason`` names the step so setup-test can say what to fix.

    ``reason`` is one of ``dns`` (name does not resolve), ``refused`` (nothing listens),
    ``timeout`` (no answer: firewall, wrong host), ``unreachable`` (no route),
    ``not_ssh`` (something answered, but not an SSH server) and ``handshake`` (an SSH
    server, but no algorithm both sides accept).
    """

    def __init__(
        self, message: str, *, reason: str, customer: str | None = None, path: str | None = None
    ) -> None:
        self.reason = reason
        super().__init__(message, customer=customer, path=path)


class AuthenticationFailed(SourceError):
    """The server rejected our password or key."""


class HostKeyMismatch(SourceError):
    """The server presented a key other than the pinned one: refuse, it may be an attack."""


class UnknownHostKey(SourceError):
    """The server's key is neither pinned nor in known_hosts; ``key_line`` is what to pin."""

    def __init__(self, message: str, *, key_line: str, customer: str | None = None) -> None:
        self.key_line = key_line
        super().__init__(message, customer=customer)


class RemoteFileNotFound(SourceError):
    """The path does not exist (the one error every SFTP server reports reliably)."""


class RemoteOperationFailed(SourceError):
    """Permission denied, failure, or anything else a server may answer."""


class PhononError(WatcherError):
    """The Phonon outbound API did not accept a batch.

    ``maybe_received``: retrying gave up after an attempt whose request may have reached
    Phonon although no answer came back (only ever set on a ``PhononTemporaryError``).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        maybe_received: bool = False,
    ) -> None:
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after
        self.maybe_received = maybe_received
        super().__init__(message)


class PhononTemporaryError(PhononError):
    """Timeout, connection error, HTTP 429/5xx or body code 500: retry with backoff."""


class PhononRejected(PhononError):
    """A permanent answer: this batch will not be accepted as it is."""


class MailError(WatcherError):
    """The email could not be handed to the mail server; it stays queued."""


class MailboxError(WatcherError):
    """The IMAP mailbox of the email channel could not be read or changed."""


class MailboxLoginFailed(MailboxError):
    """The IMAP server refused the login (the password is never part of the message)."""


class StateError(WatcherError):
    """The state database failed or is unreachable."""


class InvalidTransition(StateError):
    """An upload was asked to move to a state its state machine does not allow from here."""


class UploadTakenOver(InvalidTransition):
    """The upload's record had already moved past the step being recorded: another
    process is (or was) working on it, so this one leaves it alone."""


class UploadHung(WatcherError):
    """An upload stayed in hand past ``upload_deadline_seconds``. Its thread cannot be
    stopped, so the process reports it and ends with ``exit_code`` (``sftp_watcher.hangwatch``);
    a command whose sweep process ended so raises it."""

    exit_code = 4


class ShutdownRequested(WatcherError):
    """SIGTERM arrived: the file in hand is finished, nothing new is started."""


class WebError(WatcherError):
    """The upload page refuses a request; ``reason`` is written for the signed-in user."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class UploadTooLarge(WebError):
    """A body over ``max_file_bytes`` (SPEC 12); it is not read further."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the file is larger than the limit of {limit:,} bytes")


class NotFound(WebError):
    """No such flow, upload or preview for the signed-in user: another customer's is the
    same answer as one that does not exist (SPEC 12)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"no such {what}")
