import sqlite3
import time

import pytest

from tsync.errors import ConfigError
from tsync.store import MIGRATIONS, Store


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path / "tsync.db")
    yield opened
    opened.close()


def enqueue(store, body_hash="body-1", dedupe_key="UPDATE_EVENT:5:12/04/2026 9:30 AM"):
    return store.enqueue_delivery(body_hash=body_hash, dedupe_key=dedupe_key, trigger="UPDATE_EVENT",
                                  event_id=5, correlation_id="hook-1")


def test_schema_created_and_versioned(store, tmp_path):
    assert store.schema_version == len(MIGRATIONS)

    reopened = Store(tmp_path / "tsync.db")

    assert reopened.schema_version == len(MIGRATIONS)
    reopened.close()


def test_newer_schema_rejected(tmp_path):
    path = tmp_path / "tsync.db"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    connection.close()

    with pytest.raises(ConfigError, match="newer than this tsync"):
        Store(path)


def test_ledger_file_private(store):
    assert store.path.stat().st_mode & 0o777 == 0o600


def test_record_event_updates_row(store):
    store.record_event(5, "Triple Seat_5", name="Dinner", outcome="creating")
    store.record_event(5, "Triple Seat_5", revel_order_id=12)
    store.record_event(5, "Triple Seat_5", outcome="injected")

    row = store.get_event(5)
    assert row["name"] == "Dinner"
    assert row["revel_order_id"] == 12
    assert row["outcome"] == "injected"


def test_record_event_rejects_unknown_column(store):
    with pytest.raises(ValueError, match="unknown ledger columns"):
        store.record_event(5, "Triple Seat_5", colour="red")


def test_claim_exclusive_until_released(store):
    assert store.claim_event(5, "sync-a") is True
    assert store.claim_event(5, "sync-b") is False

    store.release_event(5, "sync-a")

    assert store.claim_event(5, "sync-b") is True


def test_expired_claim_taken_over(store):
    assert store.claim_event(5, "sync-a", ttl_seconds=-1) is True

    assert store.claim_event(5, "sync-b") is True


def test_claim_renewed_by_owner(store):
    store.claim_event(5, "sync-a", ttl_seconds=1)

    assert store.claim_event(5, "sync-a", ttl_seconds=600) is True
    time.sleep(1.1)
    assert store.claim_event(5, "sync-b") is False


def test_run_recorded(store):
    store.start_run("sync-1", "recent", dry_run=False)
    store.finish_run("sync-1", {"queried": 3, "injected": 1, "skipped": 1, "failed": 1})

    run = store.get_run("sync-1")
    assert (run["queried"], run["injected"], run["skipped"], run["failed"]) == (3, 1, 1, 1)
    assert run["ended_at"] is not None


def test_same_body_never_stored_twice(store):
    assert enqueue(store) is True
    delivery = store.next_delivery()
    store.begin_delivery(delivery["id"], 60)
    store.finish_delivery(delivery["id"], "done")

    assert enqueue(store) is False


def test_same_key_stored_again_after_done(store):
    assert enqueue(store, body_hash="body-1") is True
    assert enqueue(store, body_hash="body-2") is False
    delivery = store.next_delivery()
    store.begin_delivery(delivery["id"], 60)
    store.finish_delivery(delivery["id"], "done")

    assert enqueue(store, body_hash="body-3") is True


def test_begin_delivery_leases_once(store):
    enqueue(store)
    delivery = store.next_delivery()

    first = store.begin_delivery(delivery["id"], 60)
    second = store.begin_delivery(delivery["id"], 60)

    assert first == 1
    assert second is None
    assert store.next_delivery() is None


def test_lease_expiry_makes_delivery_due(store):
    enqueue(store)
    delivery = store.next_delivery()
    store.begin_delivery(delivery["id"], 60)

    later = time.time() + 61

    assert store.next_delivery(later)["id"] == delivery["id"]
    assert store.begin_delivery(delivery["id"], 60, later) == 2


def test_inbox_status_counts_pending(store):
    enqueue(store, body_hash="a", dedupe_key="k1")
    enqueue(store, body_hash="b", dedupe_key="k2")

    status = store.inbox_status()

    assert status["depth"] == 2
    assert status["oldest_pending_seconds"] >= 0


def test_token_saved_and_forgotten(store):
    store.save_token("tripleseat:abc", "tok-1", 100.0)
    store.save_token("tripleseat:abc", "tok-2", 200.0)

    assert store.get_token("tripleseat:abc") == ("tok-2", 200.0)
    store.forget_token("tripleseat:abc")
    assert store.get_token("tripleseat:abc") is None
