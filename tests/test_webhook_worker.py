"""The inbox worker against a real SQLite ledger: leases, attempt counting, run ids."""

import pytest

from tsync.models import EventResult, RunResult
from tsync.store import Store
from tsync.webhook.worker import InboxWorker


class CountingEngine:
    def __init__(self, calls, outcome="injected"):
        self.calls = calls
        self.outcome = outcome

    def run_event(self, event_id, *, run_id=None, dry_run=False):
        self.calls.append(run_id)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return RunResult(run_id, "single", events=[EventResult(event_id, "Dinner", self.outcome)])

    def cancel_event(self, event_id, *, run_id, reason):
        return self.run_event(event_id, run_id=run_id)


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path / "tsync.db")
    yield opened
    opened.close()


def enqueue(store, key="UPDATE_EVENT:5:a"):
    store.enqueue_delivery(body_hash=key, dedupe_key=key, trigger="UPDATE_EVENT", event_id=5, correlation_id="hook-1")


def worker_for(store, calls, outcome="injected", max_attempts=3):
    return InboxWorker(store, lambda: CountingEngine(calls, outcome), backoff=(0,), max_attempts=max_attempts, poll_interval=0.01)


def test_second_worker_skips_leased_delivery(store):
    enqueue(store)
    calls = []
    delivery = store.next_delivery()
    store.begin_delivery(delivery["id"], 60)

    processed = worker_for(store, calls).drain()

    assert processed == 0
    assert calls == []


def test_restart_after_crash_uses_new_run_id(store):
    enqueue(store)
    delivery = store.next_delivery()
    # An attempt began and the process died: the lease ran out.
    store.begin_delivery(delivery["id"], -1)
    calls = []

    worker_for(store, calls).drain()

    assert calls == ["hook-1-2"]
    assert store.get_delivery(delivery["id"])["state"] == "done"


def test_crash_loop_ends_dead(store):
    enqueue(store)
    delivery = store.next_delivery()
    for _ in range(3):
        store.begin_delivery(delivery["id"], -1)
    calls = []

    worker_for(store, calls, max_attempts=3).drain()

    assert calls == []
    assert store.get_delivery(delivery["id"])["state"] == "dead"


def test_exception_retried_then_dead(store):
    enqueue(store)
    calls = []

    worker_for(store, calls, outcome=RuntimeError("boom"), max_attempts=2).drain()

    row = store.deliveries()[0]
    assert calls == ["hook-1", "hook-1-2"]
    assert row["state"] == "dead"
    assert row["attempts"] == 2
    assert "boom" in row["last_error"]
