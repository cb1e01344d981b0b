"""One upload through its steps, driven by one dispatcher (SPEC 1, 3, 9).

``Pipeline.run`` is the only place that moves an upload from state to state. It calls
the steps (``sftp_watcher.steps``) in order; each returns what it decided, and the
dispatcher records the decisions made since the last side effect in one transaction
before the next side effect (claimed with judged, triggered with the archive names,
archived with done and the email queued), so a process killed at any moment resumes
exactly where it stopped: the same claim name, request bytes, archive name, one email.

The containment guard lives here once: whatever goes wrong with one upload that is not
a transient outage fails that upload alone to Failure/ with its email (SPEC 3).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from sftp_watcher.calllist import Rules
from sftp_watcher.config import CustomerConfig, Settings
from sftp_watcher.containment import MAX_ATTEMPTS, Guard
from sftp_watcher.crashpoints import crashpoint
from sftp_watcher.decisions import (
    Decision,
    Judged,
    Located,
    Named,
    Notified,
    Triggered,
    Vanished,
)
from sftp_watcher.errors import (
    MailError,
    RemoteFileNotFound,
    ShutdownRequested,
    SourceError,
    SourceUnavailable,
    StateError,
    UploadTakenOver,
)
from sftp_watcher.hangwatch import Watch, watching
from sftp_watcher.observability import metrics
from sftp_watcher.outcome import outcome_label
from sftp_watcher.phonon import Trigger
from sftp_watcher.sources.base import Entry, Source
from sftp_watcher.sources.names import claim_name
from sftp_watcher.state.models import (
    FINAL_STATES,
    Batch,
    BatchStatus,
    Channel,
    Upload,
    UploadState,
    snapshot,
)
from sftp_watcher.state.store import BatchMark, QueuedEmail, Store
from sftp_watcher.steps import SECRET_PLACEHOLDER, Clock, Steps

__all__ = ["SECRET_PLACEHOLDER", "Clock", "Handover", "Pipeline", "utc_now"]

log = structlog.get_logger("sftp_watcher.pipeline")

# Outages of the server or the state database: the sweep stops, the upload waits.
TRANSIENT = (SourceUnavailable, StateError, ShutdownRequested)


def utc_now() -> datetime:
    return datetime.now(UTC)


Handover = Callable[[str], AbstractContextManager[Callable[[QueuedEmail], object]]]


@dataclass
class Pipeline:
    settings: Settings
    customer: CustomerConfig
    source: Source
    store: Store
    trigger: Trigger
    clock: Clock = utc_now
    # Reserves an upload's email before it is queued, then hands it over at once.
    handover: Handover | None = None
    channel: str = Channel.SFTP.value
    # Uploads this object recorded and has not run yet: their first attempt is counted.
    _fresh: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self.rules = Rules.for_customer(self.settings, self.customer)
        self._log = log.bind(customer=self.customer.id)
        self.steps = Steps(
            self.settings,
            self.customer,
            self.source,
            self.store,
            self.trigger,
            self.clock,
            self.rules,
        )
        self.guard = Guard(self.steps, self.store, self._log)

    # -- entry points ---------------------------------------------------------------------

    def start(self, entry: Entry) -> Upload:
        """Record a new upload for a ready file in Upload/ (the claim rename comes next)."""
        upload_id = uuid.uuid4().hex
        return self._record_new(
            upload_id,
            entry.name,
            claim=claim_name(upload_id, entry.name),
            size=entry.size,
            uploaded_at=datetime.fromtimestamp(entry.mtime, UTC),
        )

    def adopt(self, upload_id: str, original: str, entry: Entry) -> Upload:
        """Take over a claim whose record is missing (e.g. a restored database)."""
        upload = self._record_new(
            upload_id,
            original,
            claim=entry.name,
            size=entry.size,
            uploaded_at=datetime.fromtimestamp(entry.mtime, UTC),
        )
        self._log.warning("upload.adopted", upload_id=upload_id, file=original)
        return upload

    def enter(
        self,
        upload_id: str,
        original_name: str,
        *,
        size: int,
        uploaded_at: datetime | None,
        judged_name: str | None = None,
        sender: str | None = None,
    ) -> Upload:
        """Record an upload a door has staged at ``Upload/<claim_name(upload_id,
        original_name)>`` of this pipeline's source, as claimed (the door's record is its
        claim). Idempotent: an ``upload_id`` recorded already is returned unchanged."""
        existing = self.store.get(upload_id)
        if existing is not None:
            return existing
        return self._record_new(
            upload_id,
            original_name,
            claim=claim_name(upload_id, original_name),
            size=size,
            uploaded_at=uploaded_at,
            state=UploadState.CLAIMED,
            judged_name=judged_name,
            sender=sender,
        )

    def _record_new(
        self,
        upload_id: str,
        original: str,
        *,
        claim: str,
        size: int,
        uploaded_at: datetime | None,
        state: UploadState = UploadState.CLAIMING,
        judged_name: str | None = None,
        sender: str | None = None,
    ) -> Upload:
        upload = self.store.create_upload(
            upload_id=upload_id,
            customer_id=self.customer.id,
            original_name=original,
            claim_name=claim,
            size=size,
            uploaded_at=uploaded_at,
            now=self.clock(),
            state=state,
            channel=Channel(self.channel),
            sender=sender,
            judged_name=judged_name,
        )
        self._fresh.add(upload_id)
        return upload

    # -- the dispatcher -----------------------------------------------------------------

    def run(self, upload: Upload) -> Upload:
        """Drive the upload to DONE (or ABANDONED), resuming at any step, under the
        containment guard: an unexpected error fails this upload alone to Failure/.

        Outages (``TRANSIENT``) propagate: the upload waits for the next sweep. Another
        error of the source leaves it for the next sweep too; the attempts counted in
        the state database fail it after ``MAX_ATTEMPTS`` runs in a row. An upload in
        hand past ``upload_deadline_seconds`` ends the process (``sftp_watcher.hangwatch``).
        """
        if upload.state in FINAL_STATES:
            return upload
        deadline = self.settings.upload_deadline()
        with watching(upload.id, self.customer.id, upload.original_name, deadline) as watch:
            return self._run(upload, watch)

    def _run(self, upload: Upload, watch: Watch) -> Upload:
        log = self._log.bind(upload_id=upload.id, file=upload.original_name)
        try:
            if upload.id in self._fresh:
                self._fresh.discard(upload.id)
            else:
                upload = self.store.begin_attempt(upload.id, now=self.clock())
                if upload.attempts > MAX_ATTEMPTS:
                    return self._fail(upload, None, log, watch)
            return self._drive(upload, watch)
        except UploadTakenOver:
            log.info("upload.taken_over")
            return self.store.get(upload.id) or upload
        except TRANSIENT:
            self.guard.forget_attempt(upload.id)
            raise
        except SourceError as exc:
            log.error("upload.failed", error=str(exc), path=exc.path, attempts=upload.attempts)
            return upload
        except Exception as exc:
            return self._fail(upload, exc, log, watch)

    def _fail(
        self,
        upload: Upload,
        exc: Exception | None,
        log: structlog.stdlib.BoundLogger,
        watch: Watch,
    ) -> Upload:
        """Fail the upload to Failure/ with its email; if that fails too, the next sweep
        tries again (the guard abandons it after ``GIVE_UP_ATTEMPTS`` runs in all)."""
        try:
            watch.enter("fail")
            failed = self.guard.fail(upload, exc)
            return failed if failed.state in FINAL_STATES else self._drive(failed, watch)
        except UploadTakenOver:
            log.info("upload.taken_over")
            return self.store.get(upload.id) or upload
        except TRANSIENT:
            raise
        except Exception as again:
            log.exception("upload.failing_failed", error=str(again))
            return upload

    def _drive(self, upload: Upload, watch: Watch) -> Upload:
        """The steps from the upload's state on: each decision applied to the snapshot
        at once, recorded before the next side effect."""
        pending: list[Decision] = []
        batches: list[Batch] | None = None
        marked: int | None = None
        resumed = True  # a step since entry decides where the file is (locate on resume)
        while True:
            state = upload.state
            if state in FINAL_STATES:
                return upload
            watch.enter(_STEPS.get(state, "notify"))
            if state is UploadState.CLAIMING:
                claimed = self.steps.claim(upload)
                if isinstance(claimed, Vanished):
                    return self._record(upload, [claimed])
                pending.append(claimed)
                upload = _applied(upload, claimed)
                continue
            if state is UploadState.CLAIMED:
                judged = self.steps.judge(upload)
                upload = self._record(upload, [*pending, judged])
                crashpoint("judge.after_record", self.customer.id)
                batches, marked = _batches_of(upload, judged), 0 if judged.bodies else None
                pending = []
                resumed = False
                continue
            if state is UploadState.JUDGED:
                if batches is None:
                    batches = self.store.batches(upload.id)
                triggered = self.steps.trigger(upload, batches, marked)
                upload = _applied(upload, triggered)
                named = self.steps.name(upload)
                upload = self._record(upload, [triggered, named])
                resumed = False
                continue
            if state is UploadState.TRIGGERED:
                where = self.steps.locate(upload) if resumed else Located(True)
                if isinstance(where, Named):
                    upload = self._record(upload, [where])
                    where = Located(True)
                try:
                    archived = self.steps.archive(upload, move=where.claimed)
                except RemoteFileNotFound:
                    if resumed:
                        raise
                    resumed = True  # the claim is gone: find out how, as a resume does
                    continue
                upload = _applied(upload, archived)
                watch.enter("notify")
                return self._finish(upload, [archived])
            # ARCHIVED (recorded alone by an earlier version): only the email is left.
            return self._finish(upload, [])

    def _finish(self, upload: Upload, pending: list[Decision]) -> Upload:
        """Queue the email and finish in one transaction, so no upload is done without
        its email; then hand the email over at once."""
        notified = self.steps.notify(upload)
        handing_over = self.handover(upload.id) if self.handover else nullcontext(None)
        with handing_over as send:
            done = self._record(upload, [*pending, notified])
            metrics.record_file(self.customer.id, outcome_label(done))
            if notified.email is not None:
                self._log.info("email.queued", upload_id=upload.id)
                crashpoint("notify.after_queue", self.customer.id)
                if send is not None:
                    try:
                        send(notified.email)
                    except (MailError, StateError) as exc:
                        # Done and queued: the outbox's flush sends it later.
                        self._log.warning("email.handover_failed", error=str(exc))
        return done

    def _record(self, upload: Upload, decisions: list[Decision]) -> Upload:
        """Record ``decisions`` (made in this order since the last record) in one
        transaction; the upload as recorded."""
        chain = [(d.state, d.detail()) for d in decisions if d.state is not None]
        values: dict[str, object] = {}
        bodies: tuple[tuple[bytes, int], ...] = ()
        mark: BatchMark | None = None
        email: QueuedEmail | None = None
        for decision in decisions:
            values |= decision.values()
            if isinstance(decision, Judged):
                bodies = decision.bodies
                # The first batch goes out next: marked as attempted here, not on its own.
                mark = BatchMark(0, BatchStatus.SENDING) if bodies else None
            elif isinstance(decision, Notified):
                email = decision.email
            elif isinstance(decision, Triggered) and decision.last is not None:
                mark = decision.last
        now = self.clock()
        if not chain:
            self.store.update(upload.id, now=now, **values)
            return snapshot(upload, **values)
        *via, (target, detail) = chain
        return self.store.advance(
            upload.id,
            target,
            now=now,
            detail=detail,
            via=via,
            batches=bodies,
            mark=mark,
            email=email,
            **values,
        )


# The step the dispatcher runs from each state (named in ``upload.hung``).
_STEPS = {
    UploadState.CLAIMING: "claim",
    UploadState.CLAIMED: "judge",
    UploadState.JUDGED: "trigger",
    UploadState.TRIGGERED: "archive",
}


def _applied(upload: Upload, decision: Decision) -> Upload:
    """The upload as it stands once ``decision`` is recorded (not recorded yet)."""
    changes = decision.values()
    if decision.state is not None:
        changes["state"] = decision.state
    return snapshot(upload, **changes)


def _batches_of(upload: Upload, judged: Judged) -> list[Batch]:
    """The batches as just recorded, none tried yet (the first is marked as being sent
    with the judgement, which the trigger step is told): not read back."""
    pending = BatchStatus.PENDING.value
    return [
        Batch(upload_id=upload.id, index=i, body=body, calls=calls, status=pending, attempts=0)
        for i, (body, calls) in enumerate(judged.bodies)
    ]
