"""serve-webhook with the real engine against the sandbox, over real sockets."""

import json
import time
from collections import Counter

import pytest
import requests

from tsync.sandbox import SANDBOX_WEBHOOK_SECRET
from tsync.store import Store
from tsync.webhook.server import WebhookServer
from tsync.webhook.signature import sign

FAST_WORKER = {"backoff": (0.05,), "poll_interval": 0.05, "max_attempts": 3}


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def plannable_event(sandbox, settings, make_engine) -> int:
    """Return the id of an eligible seeded event whose order can be planned (a dry run creates nothing)."""
    engine = make_engine()
    for event_id, event in sandbox.tripleseat_events().items():
        if event.get("status") not in settings.eligible_statuses or not settings.venue_for(event.get("location_id")):
            continue
        if engine.run_event(event_id, dry_run=True).events[0].plan is not None:
            return event_id
    raise AssertionError("the seed has no plannable event")


def order_count(sandbox, local_id: str) -> int:
    return Counter(order["local_id"] for order in sandbox.revel_orders())[local_id]


def delivery(trigger: str, event_id: int, updated_at: str = "06/15/2026 9:12 AM") -> bytes:
    return json.dumps({"webhook_trigger_type": trigger, "event": {"id": event_id, "updated_at": updated_at}}).encode()


def post(server: WebhookServer, body: bytes, secret: str = SANDBOX_WEBHOOK_SECRET) -> requests.Response:
    return requests.post(server.url, data=body, headers={"X-Signature": sign(body, secret)}, timeout=10)


@pytest.fixture
def start(settings, notifier, make_engine):
    servers = []

    def start_server(**options) -> WebhookServer:
        server = WebhookServer(
            options.pop("settings", settings), port=0, store=Store(settings.db_path), engine_factory=make_engine,
            notifier=notifier, worker_options=FAST_WORKER, **options,
        )
        server.start()
        servers.append(server)
        return server

    yield start_server
    for server in servers:
        server.shutdown()
        server.store.close()


def finished(server: WebhookServer) -> bool:
    deliveries = server.store.deliveries()
    return bool(deliveries) and all(row["state"] != "pending" for row in deliveries)


def test_signed_delivery_creates_one_order(sandbox, settings, make_engine, start):
    event_id = plannable_event(sandbox, settings, make_engine)
    local_id = settings.local_id(event_id)
    server = start()

    body = delivery("STATUS_CHANGE_EVENT", event_id)
    assert post(server, body).json()["status"] == "accepted"
    assert post(server, body).json()["status"] == "duplicate"
    assert wait_for(lambda: finished(server))

    assert server.store.deliveries()[0]["state"] == "done"
    assert order_count(sandbox, local_id) == 1
    assert server.store.get_event(event_id)["revel_order_id"] is not None

    # A later change to the same event is a new delivery, and the engine still keeps one order.
    assert post(server, delivery("UPDATE_EVENT", event_id, "06/15/2026 9:40 AM")).json()["status"] == "accepted"
    assert wait_for(lambda: len(server.store.deliveries()) == 2)
    assert wait_for(lambda: finished(server))
    assert order_count(sandbox, local_id) == 1


def test_bad_signature_creates_nothing(sandbox, settings, make_engine, start):
    event_id = plannable_event(sandbox, settings, make_engine)
    server = start()

    response = post(server, delivery("STATUS_CHANGE_EVENT", event_id), secret="not-the-signing-key")

    assert response.status_code == 401
    assert server.store.deliveries() == []
    assert sandbox.revel_orders() == []


def test_restarted_listener_finishes_acknowledged(sandbox, settings, make_engine, start):
    event_id = plannable_event(sandbox, settings, make_engine)
    first = start(start_worker=False)
    assert post(first, delivery("CREATE_EVENT", event_id)).status_code == 200
    first.shutdown()
    assert sandbox.revel_orders() == []

    second = start()

    assert wait_for(lambda: finished(second))
    assert second.store.deliveries()[0]["state"] == "done"
    assert order_count(sandbox, settings.local_id(event_id)) == 1


def test_delete_after_sync_alerts_to_void(sandbox, settings, make_engine, start, notifier):
    event_id = plannable_event(sandbox, settings, make_engine)
    server = start()
    assert post(server, delivery("STATUS_CHANGE_EVENT", event_id)).status_code == 200
    assert wait_for(lambda: finished(server))

    assert post(server, delivery("DELETE_EVENT", event_id, "06/16/2026 8:00 AM")).status_code == 200

    assert wait_for(lambda: len(server.store.deliveries()) == 2)
    assert wait_for(lambda: finished(server))
    assert server.store.get_event(event_id)["cancelled_at"] is not None
    assert len(notifier.alerts) == 1
    subject, body, correlation_id = notifier.alerts[0]
    assert f"event {event_id}" in subject
    assert correlation_id.startswith(server.store.deliveries()[1]["correlation_id"])
    assert order_count(sandbox, settings.local_id(event_id)) == 1


def test_manual_sync_endpoint_real_engine(sandbox, settings, make_engine, start):
    event_id = plannable_event(sandbox, settings, make_engine)
    server = start(settings=settings.with_overrides(api_token="e2e-token"), start_worker=False)

    response = requests.get(
        f"http://127.0.0.1:{server.port}/api/sync/tripleseat?event_id={event_id}",
        headers={"Authorization": "Bearer e2e-token"}, timeout=30,
    )

    assert response.status_code == 200
    document = response.json()
    assert document["summary"]["injected"] == 1
    assert document["events"][0]["id"] == event_id
    assert order_count(sandbox, settings.local_id(event_id)) == 1
