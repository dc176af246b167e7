"""The inbox worker: one thread that turns stored webhook deliveries into engine runs.

Deliveries are processed one at a time in the order they arrived. The inbox
lives in the ledger file, so deliveries acknowledged before a crash or a stop
are picked up again when the next worker starts.
"""

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Callable

from tsync.logs import log_context
from tsync.models import RunResult
from tsync.store import Store
from tsync.webhook.payload import CANCEL_TRIGGERS

logger = logging.getLogger(__name__)

DEFAULT_BACKOFF = (30.0, 120.0, 480.0, 1800.0)  # seconds before attempt 2, 3, 4, 5; the last value repeats
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_POLL_INTERVAL = 5.0  # seconds between inbox checks when no enqueue wakes the worker
DELETED_REASON = "deleted in Tripleseat"


# How long one attempt owns a delivery. A worker that dies mid-attempt leaves the
# delivery pending, and it is taken again once this has passed.
LEASE_SECONDS = 300

class InboxWorker:
    """Drains the inbox in a background thread, retrying transient failures with exponential backoff.

    `engine_factory()` builds the engine the worker thread uses. Engines are
    not shared between threads, so the worker builds its own and rebuilds it
    after an exception.
    """

    def __init__(
        self,
        store: Store,
        engine_factory: Callable[[], object],
        notifier=None,
        *,
        backoff: tuple[float, ...] = DEFAULT_BACKOFF,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ):
        if not backoff:
            raise ValueError("backoff needs at least one delay")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.store = store
        self.engine_factory = engine_factory
        self.notifier = notifier
        self.backoff = tuple(backoff)
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval

        self._engine = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tsync-inbox-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Make the worker check the inbox now instead of at its next poll."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the delivery in hand, waiting up to `timeout` seconds (None waits until done)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("inbox worker still busy after %s s; its delivery stays pending and is retried on the next start", timeout)
            else:
                self._thread = None

    def drain(self) -> int:
        """Process every delivery that is due now in the calling thread; return how many were processed."""
        processed = 0
        while self.process_next():
            processed += 1
        return processed

    def process_next(self, now: float | None = None) -> bool:
        """Process the oldest due delivery, if any; return whether there was one."""
        delivery = self.store.next_delivery(now)
        if delivery is None:
            return False
        attempt = self.store.begin_delivery(delivery["id"], LEASE_SECONDS, now)
        if attempt is None:
            # Another worker on the same ledger took it between the read and the lease.
            return True
        self._process(delivery, attempt)
        return True

    def _run(self) -> None:
        try:
            status = self.store.inbox_status()
            logger.info("inbox worker started: %d pending deliveries", status["depth"])
        except Exception:
            logger.exception("inbox worker could not read the inbox at start")
        while not self._stop.is_set():
            try:
                processed = self.process_next()
            except Exception:
                # A store failure such as a locked or unreadable ledger: keep the thread alive and retry.
                logger.exception("inbox worker could not read the inbox; retrying in %s s", self.poll_interval)
                processed = False
            if not processed:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
        self._close_engine()
        logger.info("inbox worker stopped")

    def _process(self, delivery: dict, attempt: int) -> None:
        delivery_id = delivery["id"]
        trigger = delivery["trigger"]
        event_id = delivery["event_id"]
        correlation_id = delivery["correlation_id"]
        # The runs table keys runs by id, so each attempt runs under its own id that starts with the delivery's.
        run_id = correlation_id if attempt == 1 else f"{correlation_id}-{attempt}"

        with log_context(run_id=correlation_id, event_id=event_id):
            if attempt > self.max_attempts:
                # Earlier attempts ended the process before they could finish.
                error = delivery.get("last_error") or "earlier attempts stopped before finishing"
                self.store.finish_delivery(delivery_id, "dead", error)
                logger.error("%s delivery %d used all %d attempts, giving up: %s", trigger, delivery_id, self.max_attempts, error)
                self._alert_dead(delivery, self.max_attempts, error)
                return
            logger.info("processing %s delivery %d, attempt %d of %d", trigger, delivery_id, attempt, self.max_attempts)
            try:
                result = self._run_engine(trigger, event_id, run_id)
            except Exception as error:
                logger.exception("engine failed on %s delivery %d", trigger, delivery_id)
                self._close_engine()
                self._schedule_retry(delivery, attempt, f"{type(error).__name__}: {error}")
                return

            # Retryable covers transient failures and events that another sync has claimed.
            retryable = [event for event in result.events if event.retryable]
            if retryable:
                self._schedule_retry(delivery, attempt, _failure_reasons(retryable))
                return

            permanent = [event for event in result.events if event.status == "failed"]
            error = _failure_reasons(permanent) if permanent else None
            self.store.finish_delivery(delivery_id, "done", error)
            logger.info("%s delivery %d done: %s", trigger, delivery_id, _summary_text(result))

            if self.notifier is not None:
                self.notifier.run_finished(result, context=f"webhook {trigger}")

    def _run_engine(self, trigger: str, event_id: int, run_id: str) -> RunResult:
        if self._engine is None:
            self._engine = self.engine_factory()
        if trigger in CANCEL_TRIGGERS:
            return self._engine.cancel_event(event_id, run_id=run_id, reason=DELETED_REASON)
        return self._engine.run_event(event_id, run_id=run_id)

    def _schedule_retry(self, delivery: dict, attempt: int, error: str) -> None:
        delivery_id = delivery["id"]
        if attempt >= self.max_attempts:
            self.store.finish_delivery(delivery_id, "dead", error)
            logger.error("%s delivery %d failed %d times, giving up: %s", delivery["trigger"], delivery_id, attempt, error)
            self._alert_dead(delivery, attempt, error)
            return

        delay = self.backoff[min(attempt - 1, len(self.backoff) - 1)]
        self.store.retry_delivery(delivery_id, time.time() + delay, error)
        logger.warning(
            "%s delivery %d attempt %d of %d failed, retrying in %s s: %s",
            delivery["trigger"], delivery_id, attempt, self.max_attempts, _format_seconds(delay), error,
        )

    def _alert_dead(self, delivery: dict, attempts: int, error: str) -> None:
        if self.notifier is None:
            return
        event_id = delivery["event_id"]
        received = datetime.fromtimestamp(delivery["received_at"], timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        body = (
            f"The {delivery['trigger']} webhook delivery for Tripleseat event {event_id} failed "
            f"{attempts} times, so tsync stopped retrying it.\n"
            f"\n"
            f"Event: {event_id}\n"
            f"Reason: {error}\n"
            f"Received: {received}\n"
            f"Correlation id: {delivery['correlation_id']} (search the tsync log for it)\n"
            f"\n"
            f"Once the cause is fixed, sync the event by hand with: tsync event {event_id}\n"
        )
        subject = f"webhook delivery for event {event_id} failed {attempts} times"
        self.notifier.alert(subject, body, correlation_id=delivery["correlation_id"])

    def _close_engine(self) -> None:
        engine, self._engine = self._engine, None
        close_engine(engine)


def _failure_reasons(events) -> str:
    return "; ".join(f"event {event.id}: {event.reason or 'failed'}" for event in events)


def _summary_text(result: RunResult) -> str:
    return ", ".join(f"{count} {name}" for name, count in result.summary.items())


def _format_seconds(seconds: float) -> str:
    return f"{seconds:g}"


def close_engine(engine) -> None:
    """Close an engine's HTTP sessions, logging instead of raising when that fails."""
    close = getattr(engine, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            logger.exception("closing the engine failed")
