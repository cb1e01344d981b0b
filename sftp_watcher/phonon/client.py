"""The Phonon outbound API over HTTP (SPEC 6): sends a batch's exact bytes, retrying what is
temporary within a deadline, and checks a flow without placing a call.

httpx errors stop here: above this module only ``PhononTemporaryError`` and
``PhononRejected`` are seen. httpx loads at the first request, not with the module: its
``__init__`` also imports click when installed (about 0.8 s of a cold start together),
and a sweep that finds no file sends nothing.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

import structlog

from sftp_watcher.config import FlowConfig, PhononConfig
from sftp_watcher.errors import PhononRejected, PhononTemporaryError
from sftp_watcher.observability import metrics
from sftp_watcher.phonon.codes import NETWORK_FIX, Answer, FlowCheck, Verdict, diagnose, judge
from sftp_watcher.phonon.codes import parse_retry_after as _parse_retry_after
from sftp_watcher.phonon.requests import Batch, HostKind, empty_check_body, endpoint_url, host_kind

if TYPE_CHECKING:
    import httpx

_log = structlog.get_logger(__name__)

_HEADERS = {"Content-Type": "application/json"}
CHECK_TIMEOUT_SECONDS = 10.0  # setup-test is interactive: fail fast


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Phonon took the batch (or, code 209, part of it); what it answered."""

    code: int
    message: str
    request_id: str | None
    http_status: int
    repeated: bool  # 201 Checksum Repeated: Phonon already had these exact bytes
    attempts: int
    call_details: tuple[tuple[str, str], ...]  # (client-identifier, phonon-uuid)

    @property
    def partial(self) -> bool:
        """Code 209: only the calls in ``call_details`` were accepted; resending won't help."""
        return self.code == 209


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; a server's ``Retry-After`` wins."""

    base_seconds: float = 1.0
    cap_seconds: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, jitter: float) -> float:
        """Seconds to wait after failed ``attempt`` (1-based); ``jitter`` is uniform in [0, 1)."""
        if retry_after is not None:
            return retry_after
        return jitter * min(self.cap_seconds, self.base_seconds * 2.0 ** (attempt - 1))


class Trigger(Protocol):
    """What the pipeline needs from the flow API: the real client or the dry-run recorder."""

    def send(
        self, flow: FlowConfig, batch: Batch, *, deadline: float, resumed: bool = False
    ) -> BatchResult: ...

    def check_flow(self, flow: FlowConfig) -> FlowCheck: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class PhononClient:
    """Thread-safe (one httpx connection pool); one instance serves every flow."""

    def __init__(
        self,
        config: PhononConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        policy: RetryPolicy = RetryPolicy(),
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._sleep = sleep
        self._clock = clock
        self._now = now
        self._policy = policy
        self._rng = rng or random.Random()
        self._urls: dict[str, httpx.URL] = {}  # the endpoints, parsed
        self._transport = transport
        self._http: httpx.Client | None = None  # built at the first request
        self._http_lock = threading.Lock()
        self._closed = False

    def _client(self) -> httpx.Client:
        with self._http_lock:
            if self._http is None:
                import httpx

                self._http = httpx.Client(
                    transport=self._transport,
                    timeout=httpx.Timeout(self._config.timeout_seconds),
                    follow_redirects=False,
                )
                if self._closed:
                    self._http.close()  # a closed client's requests fail as httpx's do
            return self._http

    def close(self) -> None:
        """Release the connection pool. Idempotent."""
        with self._http_lock:
            self._closed = True
            if self._http is not None:
                self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def send(
        self, flow: FlowConfig, batch: Batch, *, deadline: float, resumed: bool = False
    ) -> BatchResult:
        """POST the batch until Phonon answers for good or ``deadline`` (``clock``) is near.

        ``resumed``: an earlier process may have sent these bytes before it died, so a
        201 Checksum Repeated is expected. A 201 is success in any case: the body holds
        this upload's deterministic client identifiers, so only we can have sent it
        before; failing the batch would report as unsent calls Phonon is placing.
        """
        url = endpoint_url(flow, self._config)
        host = host_kind(flow)
        log = _log.bind(flow_id=flow.id, batch=batch.index, calls=batch.calls)
        maybe_received = resumed
        attempt = 0
        while True:
            attempt += 1
            started = self._clock()
            outcome = self._post(url, host, batch.body, self._config.timeout_seconds)
            duration_ms = round((self._clock() - started) * 1000)
            if isinstance(outcome, Answer) and outcome.verdict is not Verdict.RETRY:
                return self._settle(log, outcome, attempt, duration_ms, maybe_received)
            error = _temporary(outcome)
            maybe_received = maybe_received or _may_have_arrived(outcome)
            delay = self._policy.delay(attempt, error.retry_after, self._rng.random())
            if self._clock() + delay > deadline:
                log.warning(
                    "phonon.gave_up", attempt=attempt, error=str(error), duration_ms=duration_ms
                )
                raise PhononTemporaryError(
                    f"gave up after {attempt} attempt(s): {error}",
                    code=error.code,
                    http_status=error.http_status,
                    retry_after=error.retry_after,
                    maybe_received=maybe_received,
                ) from error
            log.warning(
                "phonon.attempt_failed",
                attempt=attempt,
                code=error.code,
                http_status=error.http_status,
                error=str(error),
                duration_ms=duration_ms,
                retry_in_ms=round(delay * 1000),
            )
            self._sleep(delay)

    def check_flow(self, flow: FlowConfig) -> FlowCheck:
        """Send an empty call list once; 302 Empty Call List proves the flow is set up right."""
        host = host_kind(flow)
        timeout = min(self._config.timeout_seconds, CHECK_TIMEOUT_SECONDS)
        url = endpoint_url(flow, self._config)
        try:
            outcome = self._post(url, host, empty_check_body(flow), timeout)
        except PhononRejected as exc:
            return FlowCheck(False, None, None, str(exc), NETWORK_FIX)
        if isinstance(outcome, Answer):
            check = diagnose(host, outcome)
        else:
            check = FlowCheck(False, None, None, f"cannot reach {url}: {outcome}", NETWORK_FIX)
        _log.info(
            "phonon.flow_checked",
            flow_id=flow.id,
            ok=check.ok,
            code=check.code,
            http_status=check.http_status,
        )
        return check

    def _settle(
        self,
        log: Any,  # structlog's bound logger, whatever the app configured
        answer: Answer,
        attempt: int,
        duration_ms: int,
        maybe_received: bool,
    ) -> BatchResult:
        fields = {
            "attempt": attempt,
            "code": answer.code,
            "http_status": answer.http_status,
            "request_id": answer.request_id,
            "duration_ms": duration_ms,
        }
        if answer.verdict is Verdict.REJECTED:
            log.error("phonon.batch_rejected", error=answer.describe(), **fields)
            raise PhononRejected(
                answer.describe(), code=answer.code, http_status=answer.http_status
            )
        repeated = answer.verdict is Verdict.REPEATED
        if repeated and not maybe_received:
            log.warning("phonon.unexpected_repeat", **fields)
        log.info("phonon.batch_sent", repeated=repeated, **fields)
        return BatchResult(
            code=answer.code if answer.code is not None else answer.http_status,
            message=answer.message,
            request_id=answer.request_id,
            http_status=answer.http_status,
            repeated=repeated,
            attempts=attempt,
            call_details=answer.call_details,
        )

    def _post(
        self, url: str, host: HostKind, body: bytes, timeout: float
    ) -> Answer | httpx.RequestError:
        """One POST: Phonon's answer judged, or the transport error to retry on."""
        import httpx

        client = self._client()
        started = time.monotonic()
        try:
            response = client.post(self._url(url), content=body, headers=_HEADERS, timeout=timeout)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PhononRejected(f"bad Phonon URL {url}: {exc}") from exc
        except httpx.RequestError as exc:
            metrics.observe_phonon_request(host, time.monotonic() - started)
            return exc
        metrics.observe_phonon_request(host, time.monotonic() - started)
        retry_after = _parse_retry_after(response.headers.get("Retry-After"), self._now())
        return judge(host, response.status_code, response.content, retry_after)

    def _url(self, url: str) -> httpx.URL:
        """``url`` parsed once: httpx parses a URL given as text at every request, which
        cost more than the rest of building the request."""
        import httpx

        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = httpx.URL(url)
        return parsed


def _may_have_arrived(outcome: Answer | httpx.RequestError) -> bool:
    """Whether Phonon may have received a request whose final answer we never saw.

    A refused or timed-out connection never carried it, and a rate limit (429) is an
    answer that it was not taken; anything else (a read timeout, a dropped connection,
    a gateway's 5xx, Phonon's own 500) may have come after Phonon had it.
    """
    import httpx

    if isinstance(outcome, Answer):
        return outcome.http_status != 429
    return not isinstance(outcome, httpx.ConnectError | httpx.ConnectTimeout)


def _temporary(outcome: Answer | httpx.RequestError) -> PhononTemporaryError:
    if isinstance(outcome, Answer):
        return PhononTemporaryError(
            outcome.describe(),
            code=outcome.code,
            http_status=outcome.http_status,
            retry_after=outcome.retry_after,
        )
    import httpx

    kind = "timed out" if isinstance(outcome, httpx.TimeoutException) else "connection failed"
    error = PhononTemporaryError(f"{kind}: {type(outcome).__name__}: {outcome}")
    error.__cause__ = outcome
    return error
