"""The upload page's door into the pipeline (ARCHITECTURE "Doors"): judges a preview with
the same judge as every channel, stages a confirmed file in the spool and hands it to the
same ``Pipeline``; lists a customer's uploads. Route handlers decide nothing of this.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from sftp_watcher.calllist import Rules, judge
from sftp_watcher.config import CustomerConfig, LocalSourceConfig, Settings
from sftp_watcher.errors import NotFound, WatcherError
from sftp_watcher.notify import subject_for
from sftp_watcher.notify.summary import notice_for
from sftp_watcher.phonon import Trigger
from sftp_watcher.pipeline import Handover, Pipeline, utc_now
from sftp_watcher.sources.local import LocalSource
from sftp_watcher.sources.names import claim_name
from sftp_watcher.state.models import FINAL_STATES, Channel, Upload, UploadState
from sftp_watcher.state.store import Store
from sftp_watcher.web.preview import (
    Preview,
    PreviewFolder,
    base_name,
    judged_name,
    new_token,
    parse_start_time,
)

log = structlog.get_logger("sftp_watcher.web")

CHANNEL = Channel.WEB.value
RECENT_UPLOADS = 50
# Door upload ids are deterministic (the door contract): a confirmation replayed, or
# resumed after a crash, names the same upload.
NAMESPACE = uuid.UUID("4f2b8a51-7d0e-5c3b-9a61-3e0c2d9b7f14")


def upload_id_for(token: str) -> str:
    return uuid.uuid5(NAMESPACE, f"web:{token}").hex


@dataclass
class WebDoor:
    settings: Settings
    store: Store
    trigger: Trigger
    handover: Handover | None = None
    clock: Callable[[], datetime] = utc_now
    workers: int = 2
    _pool: ThreadPoolExecutor = field(init=False)
    _running: set[str] = field(default_factory=set, init=False)
    _locks: dict[str, threading.Lock] = field(default_factory=dict, init=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="web-upload")

    # -- where things are --------------------------------------------------------------

    def folder(self, customer: CustomerConfig) -> Path:
        return self.settings.spool_dir() / CHANNEL / customer.id

    def _source(self, customer: CustomerConfig) -> LocalSource:
        root = self.folder(customer)
        for name in ("Upload", "Success", "Failure"):
            (root / name).mkdir(parents=True, exist_ok=True)
        return LocalSource(customer.id, LocalSourceConfig(path=root, watch=False))

    def _previews(self, customer: CustomerConfig) -> PreviewFolder:
        return PreviewFolder(self.folder(customer) / "Previews")

    # -- preview -----------------------------------------------------------------------

    def preview(
        self,
        customer: CustomerConfig,
        email: str,
        *,
        flow_id: str,
        start_time: str,
        filename: str,
        data: bytes,
    ) -> Preview:
        """Judge the file as the pipeline will, and keep it under a fresh token."""
        if customer.flow(flow_id) is None:
            raise NotFound("flow")  # another customer's flow: as if it did not exist
        original = base_name(filename)
        rules = Rules.for_customer(self.settings, customer)
        start = parse_start_time(start_time, rules.timezone)
        name = judged_name(customer.user_id, flow_id, start, original)
        now = self.clock()
        report = judge(name, data, rules, now)
        preview = Preview.of(
            new_token(),
            report,
            customer_id=customer.id,
            email=email,
            flow_id=flow_id,
            original_name=original,
            judged_name=name,
            size=len(data),
            uploaded_at=now.astimezone(UTC).isoformat(),
            start_time=start.isoformat() if start else None,
        )
        self._previews(customer).save(preview, data)
        log.info(
            "web.preview",
            channel=CHANNEL,
            customer=customer.id,
            file=original,
            flow_id=flow_id,
            outcome=preview.outcome,
            rows_total=preview.rows_total,
            rows_rejected=preview.rows_rejected,
        )
        return preview

    def load_preview(self, customer: CustomerConfig, token: str) -> Preview | None:
        return self._previews(customer).load(token)

    # -- schedule ----------------------------------------------------------------------

    def schedule(self, customer: CustomerConfig, token: str) -> str | None:
        """Hand a previewed file to the pipeline, once: a second confirmation (double
        click, back button, replay) finds the same upload. None: no such preview."""
        upload_id = upload_id_for(token)
        with self._lock(f"stage:{customer.id}"):
            upload = self.store.get(upload_id)
            if upload is None:
                upload = self._enter(customer, token, upload_id)
            elif upload.customer_id != customer.id:
                return None
        if upload is None:
            return None
        self._start(customer, upload)
        return upload_id

    def _enter(self, customer: CustomerConfig, token: str, upload_id: str) -> Upload | None:
        preview = self.load_preview(customer, token)
        if preview is None:
            return None
        source = self._source(customer)
        staged = self.folder(customer) / "Upload" / claim_name(upload_id, preview.original_name)
        spooled = self._previews(customer).data_path(token)
        if not staged.exists():
            # Staged under the claim name before it is recorded: a crash in between
            # leaves it there, and the confirmation replayed records it.
            try:
                spooled.rename(staged)
            except FileNotFoundError:
                return None
        upload = self._pipeline(customer, source).enter(
            upload_id,
            preview.original_name,
            size=preview.size,
            uploaded_at=datetime.fromisoformat(preview.uploaded_at),
            judged_name=preview.judged_name,
            sender=preview.email,
        )
        log.info(
            "web.scheduled",
            channel=CHANNEL,
            customer=customer.id,
            upload_id=upload_id,
            file=preview.original_name,
            flow_id=preview.flow_id,
        )
        return upload

    def _pipeline(self, customer: CustomerConfig, source: LocalSource) -> Pipeline:
        return Pipeline(
            self.settings,
            customer,
            source,
            self.store,
            self.trigger,
            clock=self.clock,
            handover=self.handover,
            channel=CHANNEL,
        )

    def _start(self, customer: CustomerConfig, upload: Upload) -> None:
        """Run the upload in a worker thread (never in the request), unless it is done
        or already running."""
        if UploadState(upload.state) in FINAL_STATES:
            return
        with self._guard:
            if upload.id in self._running:
                return
            self._running.add(upload.id)
        self._pool.submit(self._run, customer, upload.id)

    def _run(self, customer: CustomerConfig, upload_id: str) -> None:
        try:
            with self._lock(f"run:{customer.id}"):
                upload = self.store.get(upload_id)
                if upload is not None:
                    self._pipeline(customer, self._source(customer)).run(upload)
        except Exception as exc:  # a worker thread must not end in silence
            log.error(
                "web.upload_failed",
                channel=CHANNEL,
                customer=customer.id,
                upload_id=upload_id,
                error=f"{exc.__class__.__name__}: {exc}",
                exc_info=not isinstance(exc, WatcherError | OSError),
            )
        finally:
            with self._guard:
                self._running.discard(upload_id)

    def resume(self) -> int:
        """Start the web uploads a stopped process left unfinished; returns how many."""
        started = 0
        for customer in self.settings.customers:
            for upload in self.store.unfinished(customer.id, channels=(Channel.WEB,)):
                self._start(customer, upload)
                started += 1
        return started

    def _lock(self, name: str) -> threading.Lock:
        """``stage:<customer>``: one confirmation at a time is staged and recorded;
        ``run:<customer>``: one upload at a time moves in the spool (free names, renames).
        Apart, so that a confirmation never waits for a run."""
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    # -- reading -----------------------------------------------------------------------

    def upload(self, customer: CustomerConfig, upload_id: str) -> Upload | None:
        """The customer's upload; another customer's is None, as one that does not exist."""
        if len(upload_id) > 64:
            return None
        upload = self.store.get(upload_id)
        return upload if upload is not None and upload.customer_id == customer.id else None

    def outcome(self, customer: CustomerConfig, upload: Upload) -> str:
        """A finished upload's outcome, as the account holder's email subject states it."""
        if upload.state == UploadState.ABANDONED.value:
            return f"Upload abandoned: {upload.original_name} — {upload.reason or 'file vanished'}"
        timezone = self.settings.customer_timezone(customer)
        return subject_for(notice_for(upload, customer, timezone=timezone, now=self.clock()))

    @staticmethod
    def outcome_word(upload: Upload) -> str:
        if UploadState(upload.state) not in FINAL_STATES:
            return "processing"
        if upload.state == UploadState.ABANDONED.value:
            return "abandoned"
        return "success" if upload.destination == "success" else "failure"

    def recent(self, customer: CustomerConfig) -> list[Upload]:
        return self.store.recent(customer_id=customer.id, limit=RECENT_UPLOADS)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
