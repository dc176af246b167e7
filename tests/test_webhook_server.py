import email
import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from email import policy as email_policy
from pathlib import Path

import pytest
import requests
from aiosmtpd.controller import Controller

from tsync.config import SmtpSettings, settings_from_values
from tsync.errors import ConfigError, TransientError
from tsync.models import EventResult, RunResult
from tsync.notify import Notifier
from tsync.store import Store
from tsync.webhook.server import WebhookServer
from tsync.webhook.signature import sign

SECRET = "whsec_test_signing_key"
TOKEN = "manual-sync-token"
REPO_ROOT = Path(__file__).resolve().parents[1]
FAST_WORKER = {"backoff": (0.01,), "poll_interval": 0.02, "max_attempts": 3}


def settings_values(db_path: Path) -> dict[str, str]:
    return {
        "REVEL_API_URL": "http://127.0.0.1:9",
        "TRIPLESEAT_API_URL": "http://127.0.0.1:9",
        "TRIPLESEAT_CLIENT_ID": "client",
        "TRIPLESEAT_CLIENT_SECRET": "client-secret",
        "REVEL_API_KEY": "key",
        "REVEL_API_SECRET": "api-secret",
        "REVEL_LOCATION_ID": "1",
        "REVEL_ESTABLISHMENT_ID": "7",
        "TSYNC_TIMEZONE": "America/New_York",
        "TSYNC_DB": str(db_path),
        "TRIPLESEAT_WEBHOOK_SECRET": SECRET,
        "TSYNC_API_TOKEN": TOKEN,
    }


class EngineRecorder:
    """Replaces build_engine in tests: every engine it builds records its calls here.

    `outcomes[event_id]` is a list consumed one call at a time: an EventResult
    status ("injected", "failed", "retryable") or an exception to raise.
    """

    def __init__(self):
        self.calls: list[tuple] = []
        self.outcomes: dict[int, list] = {}
        self.lock = threading.Lock()
        self.engines_built = 0

    def factory(self):
        with self.lock:
            self.engines_built += 1
        return FakeEngine(self)

    def result(self, method: str, event_id: int, run_id: str, mode: str = "single") -> RunResult:
        with self.lock:
            self.calls.append((method, event_id, run_id))
            planned = self.outcomes.get(event_id) or []
            outcome = planned.pop(0) if planned else "injected"
        if isinstance(outcome, Exception):
            raise outcome
        if outcome == "injected":
            event = EventResult(event_id, "Gala", "injected", revel_order_id=900 + event_id)
        elif outcome == "retryable":
            event = EventResult(event_id, "Gala", "failed", reason="Revel timed out", retryable=True)
        else:
            event = EventResult(event_id, "Gala", outcome, reason=f"{outcome} on purpose")
        return RunResult(run_id, mode, events=[event])

    def calls_to(self, method: str) -> list[tuple]:
        with self.lock:
            return [call for call in self.calls if call[0] == method]


class FakeEngine:
    def __init__(self, recorder: EngineRecorder):
        self.recorder = recorder

    def run_event(self, event_id, *, run_id=None, dry_run=False):
        return self.recorder.result("run_event", event_id, run_id)

    def run_recent(self, hours_back, *, run_id=None, dry_run=False, progress=None):
        with self.recorder.lock:
            self.recorder.calls.append(("run_recent", hours_back, run_id))
        return RunResult(run_id, "recent", events=[EventResult(11, "Brunch", "skipped", reason="STATUS - TENTATIVE")])

    def cancel_event(self, event_id, *, run_id, reason):
        assert reason == "deleted in Tripleseat"
        return self.recorder.result("cancel_event", event_id, run_id)


class MailInbox:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"

    def subjects(self):
        # The stdlib folds a long Subject onto a continuation line, which unfolds with a leading space.
        return [email.message_from_bytes(e.content, policy=email_policy.default)["Subject"].strip() for e in self.envelopes]

    def bodies(self):
        return [email.message_from_bytes(e.content, policy=email_policy.default).get_content() for e in self.envelopes]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "tsync.db"


@pytest.fixture
def settings(db_path):
    return settings_from_values(settings_values(db_path))


@pytest.fixture
def recorder():
    return EngineRecorder()


@pytest.fixture
def servers():
    started: list[WebhookServer] = []
    yield started
    for server in started:
        server.shutdown()


@pytest.fixture
def start(settings, db_path, recorder, servers):
    """Start a WebhookServer on port 0 with the fake engine and a real ledger file."""

    def start_server(**options) -> WebhookServer:
        options.setdefault("settings", settings)
        options.setdefault("engine_factory", recorder.factory)
        options.setdefault("store", Store(db_path))
        options.setdefault("worker_options", FAST_WORKER)
        options.setdefault("notifier", Notifier(None, "off"))
        server = WebhookServer(options.pop("settings"), port=0, **options)
        server.start()
        servers.append(server)
        return server

    return start_server


@pytest.fixture
def tsync_logs(caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("tsync"), "propagate", True)
    caplog.set_level(logging.DEBUG, logger="tsync")
    return caplog


@pytest.fixture
def smtp():
    inbox = MailInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, SmtpSettings("127.0.0.1", port, None, None, "none", "tsync@venue.example", ("ops@venue.example",))
    controller.stop()


def payload(trigger="STATUS_CHANGE_EVENT", event_id=48213377, **event_fields) -> bytes:
    event = {"id": event_id, "status": "CLOSED", "updated_at": "06/15/2026 9:12 AM", **event_fields}
    return json.dumps({"webhook_trigger_type": trigger, "event": event}).encode("utf-8")


def post(server: WebhookServer, body: bytes, *, header: str | None = "sign", timestamp=None, **kwargs) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if header == "sign":
        header = sign(body, SECRET, timestamp=timestamp)
    if header is not None:
        headers["X-Signature"] = header
    return requests.post(server.url, data=body, headers=headers, timeout=5, **kwargs)


def raw_request(server: WebhookServer, request: bytes, *, pause_after: float = 0.0) -> tuple[int, dict]:
    """Send raw bytes and return the status code and JSON document of the response."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(request)
        if pause_after:
            time.sleep(pause_after)
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    head, _, document = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(document)


def read_response(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read a response until the server closes; return the status, the headers (names lower-cased) and the body.

    A server that closes with part of the request unread makes the kernel send a
    reset after the response, which is taken as the end of the response.
    """
    response = b""
    try:
        while chunk := connection.recv(65536):
            response += chunk
    except ConnectionResetError:
        pass
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ", 2)[1]), headers, body


def raw_exchange(server: WebhookServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(request)
        return read_response(connection)


def trickle(server: WebhookServer, head: bytes, *, seconds: float, started: threading.Event | None = None):
    """Send `head`, then one byte every 50 ms for up to `seconds` or until the server replies.

    Returns the status, the JSON document, and whether the reply came while bytes were still being sent.
    """
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(head)
        if started is not None:
            started.set()
        replied = False
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            readable, _, _ = select.select([connection], [], [], 0.05)
            if readable:
                replied = True
                break
            try:
                connection.sendall(b"x")
            except OSError:
                replied = True
                break
        status, _, body = read_response(connection)
    return status, json.loads(body), replied


# deliveries


def test_delivery_signed_runs_engine_once(start, recorder):
    server = start()
    response = post(server, payload())

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert response.json()["event_ids"] == [48213377]
    assert wait_for(lambda: server.store.deliveries()[0]["state"] == "done")
    correlation_id = response.headers["X-Correlation-Id"]
    assert recorder.calls_to("run_event") == [("run_event", 48213377, correlation_id)]
    assert server.store.deliveries()[0]["correlation_id"] == correlation_id


def test_delivery_repeated_five_times_processed_once(start, recorder):
    server = start()
    body = payload()
    header = sign(body, SECRET)

    statuses = [post(server, body, header=header).json()["status"] for _ in range(5)]

    assert statuses == ["accepted", "duplicate", "duplicate", "duplicate", "duplicate"]
    assert wait_for(lambda: server.store.deliveries()[0]["state"] == "done")
    assert len(server.store.deliveries()) == 1
    assert len(recorder.calls_to("run_event")) == 1


def test_delivery_concurrent_processed_once(start, recorder):
    server = start()
    body = payload()
    header = sign(body, SECRET)
    barrier = threading.Barrier(10)
    statuses = []

    def send():
        barrier.wait()
        response = post(server, body, header=header)
        statuses.append((response.status_code, response.json()["status"]))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(statuses) == 10
    assert all(code == 200 for code, _ in statuses)
    assert sorted(status for _, status in statuses) == ["accepted"] + ["duplicate"] * 9
    assert wait_for(lambda: server.store.deliveries()[0]["state"] == "done")
    assert len(server.store.deliveries()) == 1
    assert len(recorder.calls_to("run_event")) == 1


def test_delivery_same_updated_at_is_duplicate(start):
    # Without the worker the first delivery stays pending, and a key only blocks a repeat while it is pending.
    server = start(start_worker=False)
    first = payload(name="Gala")
    second = payload(name="Gala dinner")  # other bytes, same trigger, event and updated_at

    assert post(server, first).json()["status"] == "accepted"
    assert post(server, second).json()["status"] == "duplicate"
    assert post(server, payload(updated_at="06/15/2026 9:30 AM")).json()["status"] == "accepted"


def test_delivery_without_updated_at_dedupes_on_body(start):
    server = start()
    body = json.dumps({"webhook_trigger_type": "UPDATE_EVENT", "event": {"id": 5}}).encode()
    other = json.dumps({"webhook_trigger_type": "UPDATE_EVENT", "event": {"id": 5, "name": "x"}}).encode()

    assert post(server, body).json()["status"] == "accepted"
    assert post(server, body).json()["status"] == "duplicate"
    assert post(server, other).json()["status"] == "accepted"


def test_delivery_string_id_accepted(start, recorder):
    server = start()
    body = json.dumps({"webhook_trigger_type": "CREATE_EVENT", "event": {"id": " 4521 "}}).encode()

    assert post(server, body).status_code == 200
    assert wait_for(lambda: recorder.calls_to("run_event"))
    assert recorder.calls_to("run_event")[0][1] == 4521


# signatures


def test_reserialised_body_rejected(start):
    server = start()
    body = payload()
    header = sign(body, SECRET)
    reserialised = json.dumps(json.loads(body), indent=1).encode()

    response = post(server, reserialised, header=header)

    assert response.status_code == 401
    assert "does not match" in response.json()["error"]
    assert server.store.deliveries() == []


def test_non_ascii_body_verifies(start, recorder):
    server = start()
    body = json.dumps(
        {"webhook_trigger_type": "UPDATE_EVENT", "event": {"id": 77, "name": "Café Zoë", "updated_at": "x"}},
        ensure_ascii=False,
    ).encode("utf-8")
    assert "Zoë".encode() in body

    response = post(server, body)

    assert response.status_code == 200
    assert wait_for(lambda: recorder.calls_to("run_event"))


def test_expired_timestamp_rejected(start):
    server = start()
    response = post(server, payload(), timestamp=int(time.time()) - 301)

    assert response.status_code == 401
    assert "tolerance" in response.json()["error"]
    assert server.store.deliveries() == []


def test_missing_or_wrong_signature_rejected(start):
    server = start()
    body = payload()

    assert post(server, body, header=None).status_code == 401
    assert post(server, body, header=sign(body, "other-secret")).status_code == 401
    assert post(server, body, header="garbage").status_code == 401
    assert server.store.deliveries() == []


def test_pinned_scheme_rejects_others(start):
    server = start(signature_scheme="hex")
    body = payload()

    assert post(server, body).status_code == 401
    assert post(server, body, header=sign(body, SECRET, scheme="hex")).status_code == 200


def test_missing_secret_refuses_start(settings, db_path):
    unsigned = settings.with_overrides(webhook_secret=None)
    with pytest.raises(ConfigError, match="TRIPLESEAT_WEBHOOK_SECRET is missing"):
        WebhookServer(unsigned, port=0, store=Store(db_path), engine_factory=EngineRecorder().factory)


def test_allow_unsigned_accepts_and_warns(start, settings, tsync_logs):
    server = start(settings=settings.with_overrides(webhook_secret=None), allow_unsigned=True)

    response = post(server, payload(), header=None)

    assert response.status_code == 200
    warnings = [r.getMessage() for r in tsync_logs.records if r.levelno == logging.WARNING]
    assert any("signature check is off" in message for message in warnings)
    assert any("without a signature check" in message for message in warnings)


def test_first_verified_scheme_logged_once(start, tsync_logs):
    server = start()
    post(server, payload(event_id=1))
    post(server, payload(event_id=2))

    lines = [r.getMessage() for r in tsync_logs.records if "pin it with --signature-scheme" in r.getMessage()]
    assert lines == ["first delivery verified with signature scheme t_v1: pin it with --signature-scheme t_v1"]


@pytest.mark.parametrize("stamp", [b"\xb2", b"9" * 13])
def test_odd_timestamp_rejected(start, stamp):
    server = start()
    body = payload()
    request = (
        b"POST /webhooks/tripleseat HTTP/1.1\r\nHost: x\r\nX-Signature: t=" + stamp + b",v1=" + b"0" * 64 +
        b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )

    status, document = raw_request(server, request)

    assert status == 401
    assert "malformed: timestamp t" in document["error"]
    assert server.store.deliveries() == []


# bodies


def test_chunked_body_decoded(start, recorder):
    server = start()
    body = payload()
    pieces = iter([body[:10], body[10:40], body[40:]])

    response = post(server, pieces, header=sign(body, SECRET))

    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 200
    assert wait_for(lambda: recorder.calls_to("run_event"))


def test_chunked_extensions_and_trailers(start):
    server = start()
    body = payload()
    head = (
        "POST /webhooks/tripleseat HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        f"X-Signature: {sign(body, SECRET)}\r\n\r\n"
    ).encode()
    chunks = b"%x;name=value\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: yes\r\n\r\n" % (
        20, body[:20], len(body) - 20, body[20:],
    )

    status, document = raw_request(server, head + chunks)

    assert status == 200
    assert document["status"] == "accepted"


def test_chunked_malformed_size_rejected(start):
    server = start()
    request = b"POST /webhooks/tripleseat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"

    status, document = raw_request(server, request)

    assert status == 400
    assert "not hexadecimal" in document["error"]


def test_oversized_body_rejected(start):
    server = start(max_body=1024)
    body = payload(name="x" * 2000)

    response = post(server, body)

    assert response.status_code == 413
    assert "limit of 1024 bytes" in response.json()["error"]
    assert server.store.deliveries() == []


def test_oversized_chunked_body_rejected(start):
    server = start(max_body=1024)
    body = payload(name="x" * 2000)

    response = post(server, iter([body[:600], body[600:1200], body[1200:]]), header=sign(body, SECRET))

    assert response.status_code == 413
    assert server.store.deliveries() == []


def test_missing_length_rejected(start):
    server = start()
    status, document = raw_request(server, b"POST /webhooks/tripleseat HTTP/1.1\r\nHost: x\r\nX-Signature: t=1,v1=00\r\n\r\n")

    assert status == 411
    assert "Content-Length is missing" in document["error"]


def test_unsupported_transfer_encoding(start):
    server = start()
    status, _ = raw_request(server, b"POST /webhooks/tripleseat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")

    assert status == 501


def test_slow_client_times_out(start):
    server = start(read_timeout=0.2)
    request = b"POST /webhooks/tripleseat HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"webhook"

    status, document = raw_request(server, request)

    assert status == 408
    assert "timed out" in document["error"]


def test_trickling_client_hits_deadline(start):
    server = start(read_timeout=0.3, request_timeout=0.6)
    head = b"POST /webhooks/tripleseat HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"

    status, document, replied_while_sending = trickle(server, head, seconds=3)

    assert status == 408
    assert "not complete after 0.6 s" in document["error"]
    assert replied_while_sending


@pytest.mark.parametrize("length, status, message", [
    (b"9" * 5000, 413, "Content-Length of 5000 digits"),
    (b"9" * 20, 413, "larger than the limit"),
    (b"-5", 400, "not a whole number"),
    (b"+5", 400, "not a whole number"),
    (b"\xb2", 400, "not a whole number"),
    (b"5, 5", 400, "not a whole number"),
])
def test_odd_content_length_rejected(start, length, status, message):
    server = start()
    request = b"POST /webhooks/tripleseat HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}"

    code, headers, body = raw_exchange(server, request)

    assert code == status
    assert message in json.loads(body)["error"]
    assert headers["connection"] == "close"


def test_chunk_framing_over_wire_cap_rejected(start):
    server = start(max_body=1024)
    # 40 bytes of data in 40 chunks, each with a long extension: over 4 KiB on the wire.
    chunks = (b"1;" + b"e" * 100 + b"\r\nx\r\n") * 40 + b"0\r\n\r\n"
    request = b"POST /webhooks/tripleseat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks

    status, _, body = raw_exchange(server, request)

    assert status == 413
    assert "more than 2048 bytes on the wire" in json.loads(body)["error"]


def test_client_reset_logged_without_error(start, tsync_logs):
    server = start()
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    connection.sendall(b"POST /webhooks/tripleseat HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"webhook")
    time.sleep(0.1)
    # A zero linger time makes close() send a reset instead of a normal close.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()

    assert wait_for(lambda: any("closed the connection" in r.getMessage() for r in tsync_logs.records))
    assert [r for r in tsync_logs.records if r.levelno >= logging.ERROR] == []


def test_empty_body_rejected(start):
    server = start()
    response = post(server, b"")

    assert response.status_code == 400
    assert "empty" in response.json()["error"]


@pytest.mark.parametrize("body, message", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"\xff\xfe{}", "not valid UTF-8"),
    (b'{"event": {"id": 1}}', "webhook_trigger_type is missing"),
])
def test_malformed_payload_rejected(start, body, message):
    server = start()
    response = post(server, body)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert server.store.deliveries() == []


# triggers


def test_unknown_trigger_ignored(start, recorder):
    server = start()
    body = json.dumps({"webhook_trigger_type": "CREATE_LEAD", "lead": {"id": 3}}).encode()

    response = post(server, body)

    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "trigger": "CREATE_LEAD"}
    assert server.store.deliveries() == []
    assert recorder.calls == []


@pytest.mark.parametrize("document, message", [
    ({"webhook_trigger_type": "UPDATE_EVENT"}, "event.id is missing"),
    ({"webhook_trigger_type": "UPDATE_EVENT", "event": {"id": "abc"}}, "not a valid Tripleseat id"),
    ({"webhook_trigger_type": "UPDATE_EVENT", "event": {"id": True}}, "not a valid Tripleseat id"),
    ({"webhook_trigger_type": "UPDATE_EVENT", "event": {"id": -4}}, "not a valid Tripleseat id"),
    ({"webhook_trigger_type": "DOCUMENT_SIGNED", "document": {"id": 4}}, "event id is missing"),
    ({"webhook_trigger_type": "STATUS_CHANGE_BOOKING", "booking": {"id": 4}}, "booking.event_ids is missing"),
    ({"webhook_trigger_type": "STATUS_CHANGE_BOOKING", "booking": {"event_ids": []}}, "booking.event_ids is missing"),
])
def test_relevant_trigger_without_id(start, document, message):
    server = start()
    response = post(server, json.dumps(document).encode())

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert server.store.deliveries() == []


@pytest.mark.parametrize("event_id", [
    2**63, "9" * 5000, "9223372036854775808", 5.5, "5.0", "\u00b2", "\u0661", [1], {"id": 1}, 0.0, False,
])
def test_event_id_out_of_range_rejected(start, event_id):
    server = start()
    body = json.dumps({"webhook_trigger_type": "UPDATE_EVENT", "event": {"id": event_id}}).encode()

    response = post(server, body)

    assert response.status_code == 400
    assert response.json()["error"].startswith("event.id ")
    assert "not a valid Tripleseat id" in response.json()["error"]
    assert "\n" not in response.json()["error"]
    assert server.store.deliveries() == []


@pytest.mark.parametrize("event_id, stored", [(5.0, 5), (2**63 - 1, 2**63 - 1), ("0012", 12)])
def test_event_id_edge_values_accepted(start, event_id, stored):
    server = start(start_worker=False)
    body = json.dumps({"webhook_trigger_type": "UPDATE_EVENT", "event": {"id": event_id}}).encode()

    response = post(server, body)

    assert response.status_code == 200
    assert response.json()["event_ids"] == [stored]
    assert server.store.deliveries()[0]["event_id"] == stored


@pytest.mark.parametrize("body, message", [
    (b'{"webhook_trigger_type": "UPDATE_EVENT", "event": {"id": 5, "guests": ' + b"9" * 5000 + b"}}", "too many digits"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"webhook_trigger_type": "UPDATE_EVENT", "event": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001 + b"}",
     "nested too deeply"),
])
def test_hostile_json_rejected(start, body, message):
    server = start()
    response = post(server, body)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert server.store.deliveries() == []


def test_booking_over_100_events_rejected(start):
    server = start()
    body = json.dumps({"webhook_trigger_type": "CREATE_BOOKING", "booking": {"event_ids": list(range(1, 102))}}).encode()

    response = post(server, body)

    assert response.status_code == 400
    assert response.json()["error"] == (
        "booking.event_ids lists 101 ids: a delivery may name at most 100 events"
    )
    assert server.store.deliveries() == []


def test_booking_100_events_deduplicated(start):
    server = start(start_worker=False)
    event_ids = [7, 3] * 50
    body = json.dumps({"webhook_trigger_type": "CREATE_BOOKING", "booking": {"event_ids": event_ids}}).encode()

    response = post(server, body)

    assert response.status_code == 200
    assert response.json()["event_ids"] == [7, 3]
    assert [delivery["event_id"] for delivery in server.store.deliveries()] == [7, 3]


def test_booking_two_events_two_entries(start, recorder):
    server = start()
    body = json.dumps({
        "webhook_trigger_type": "STATUS_CHANGE_BOOKING",
        "booking": {"id": 9, "event_ids": [101, "102", 101]},
    }).encode()

    response = post(server, body)

    assert response.status_code == 200
    assert response.json()["event_ids"] == [101, 102]
    deliveries = server.store.deliveries()
    assert [delivery["event_id"] for delivery in deliveries] == [101, 102]
    assert len({delivery["correlation_id"] for delivery in deliveries}) == 2
    assert wait_for(lambda: len(recorder.calls_to("run_event")) == 2)
    assert post(server, body).json()["status"] == "duplicate"


def test_document_trigger_layout_event_id(start, recorder):
    server = start()
    body = json.dumps({"webhook_trigger_type": "UPDATE_EVENT_DOCUMENT", "document_layout": {"event_id": 55}}).encode()

    assert post(server, body).status_code == 200
    assert wait_for(lambda: recorder.calls_to("run_event"))
    assert recorder.calls_to("run_event")[0][1] == 55


def test_delete_triggers_cancel(start, recorder):
    server = start()
    delete_event = payload(trigger="DELETE_EVENT", event_id=31)
    delete_booking = json.dumps({"webhook_trigger_type": "DELETE_BOOKING", "booking": {"event_ids": [32, 33]}}).encode()

    assert post(server, delete_event).status_code == 200
    assert post(server, delete_booking).status_code == 200

    assert wait_for(lambda: len(recorder.calls_to("cancel_event")) == 3)
    assert [call[1] for call in recorder.calls_to("cancel_event")] == [31, 32, 33]
    assert recorder.calls_to("run_event") == []


# inbox and worker


def test_restart_processes_acknowledged_delivery(start, recorder, servers, db_path):
    first = start(start_worker=False)
    assert post(first, payload()).status_code == 200
    first.shutdown()
    servers.remove(first)
    assert recorder.calls == []
    assert Store(db_path).deliveries()[0]["state"] == "pending"

    second = start(store=Store(db_path))

    assert wait_for(lambda: second.store.deliveries()[0]["state"] == "done")
    assert len(recorder.calls_to("run_event")) == 1


def test_retry_then_success(start, recorder):
    recorder.outcomes[48213377] = [TransientError("Revel timed out"), "retryable", "injected"]
    server = start()

    response = post(server, payload())

    assert wait_for(lambda: server.store.deliveries()[0]["state"] == "done")
    delivery = server.store.deliveries()[0]
    assert delivery["attempts"] == 3
    assert delivery["last_error"] is None
    correlation_id = response.headers["X-Correlation-Id"]
    run_ids = [call[2] for call in recorder.calls_to("run_event")]
    assert run_ids == [correlation_id, f"{correlation_id}-2", f"{correlation_id}-3"]
    # The engine is rebuilt after it raised.
    assert recorder.engines_built == 2


def test_retry_then_dead_sends_alert(start, recorder, smtp):
    mail, smtp_settings = smtp
    recorder.outcomes[48213377] = ["retryable"] * 5
    server = start(notifier=Notifier(smtp_settings, "failures"))

    response = post(server, payload())

    assert wait_for(lambda: server.store.deliveries()[0]["state"] == "dead")
    delivery = server.store.deliveries()[0]
    assert delivery["attempts"] == 3
    assert "Revel timed out" in delivery["last_error"]
    assert len(recorder.calls_to("run_event")) == 3

    correlation_id = response.headers["X-Correlation-Id"]
    assert wait_for(lambda: len(mail.envelopes) == 1)
    assert mail.subjects() == [f"[tsync] webhook delivery for event 48213377 failed 3 times ({correlation_id})"]
    body = mail.bodies()[0]
    assert "Tripleseat event 48213377" in body
    assert "Revel timed out" in body
    assert correlation_id in body


def test_permanent_failure_final_and_reported(start, recorder, smtp):
    mail, smtp_settings = smtp
    recorder.outcomes[48213377] = ["failed"]
    server = start(notifier=Notifier(smtp_settings, "failures"))

    response = post(server, payload())

    assert wait_for(lambda: server.store.deliveries()[0]["state"] == "done")
    assert server.store.deliveries()[0]["attempts"] == 1
    assert "failed on purpose" in server.store.deliveries()[0]["last_error"]
    assert wait_for(lambda: len(mail.envelopes) == 1)
    correlation_id = response.headers["X-Correlation-Id"]
    assert mail.subjects() == [f"[tsync] 1 of 1 event failed ({correlation_id})"]
    assert "started by webhook STATUS_CHANGE_EVENT" in mail.bodies()[0]


def test_sigterm_finishes_delivery_in_hand(tmp_path, db_path):
    script = tmp_path / "serve_slowly.py"
    script.write_text(
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from tsync.config import settings_from_values\n"
        "from tsync.logs import configure_logging\n"
        "from tsync.models import EventResult, RunResult\n"
        "from tsync.webhook.server import serve\n"
        "folder = Path(sys.argv[1])\n"
        "class SlowEngine:\n"
        "    def run_event(self, event_id, *, run_id=None, dry_run=False):\n"
        "        (folder / 'started').write_text(str(event_id))\n"
        "        time.sleep(0.5)\n"
        "        (folder / 'finished').write_text(str(event_id))\n"
        "        return RunResult(run_id, 'single', events=[EventResult(event_id, 'Gala', 'injected')])\n"
        "configure_logging()\n"
        "settings = settings_from_values(json.loads(sys.argv[2]))\n"
        "serve(settings, port=0, engine_factory=SlowEngine, ready=lambda server: print(server.port, flush=True))\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), json.dumps(settings_values(db_path))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment, text=True,
    )
    try:
        port = int(process.stdout.readline())
        body = payload()
        response = requests.post(f"http://127.0.0.1:{port}/webhooks/tripleseat", data=body,
                                 headers={"X-Signature": sign(body, SECRET)}, timeout=5)
        assert response.status_code == 200
        assert wait_for(lambda: (tmp_path / "started").exists())

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert (tmp_path / "finished").exists()
    assert Store(db_path).deliveries()[0]["state"] == "done"
    assert "received SIGTERM" in process.stderr.read()


# shutdown and limits


def test_shutdown_finishes_manual_sync(start):
    started = threading.Event()
    ledger_depths = []
    responses = []

    class SlowEngine:
        def run_event(self, event_id, *, run_id=None, dry_run=False):
            started.set()
            time.sleep(0.5)
            # The server owns this ledger, so it must stay open until the request is done.
            ledger_depths.append(server.store.inbox_status()["depth"])
            return RunResult(run_id, "single", events=[EventResult(event_id, "Gala", "injected", revel_order_id=1)])

    server = start(engine_factory=SlowEngine, store=None)
    client = threading.Thread(target=lambda: responses.append(sync_get(server, "event_id=5")))
    client.start()
    assert started.wait(5)

    server.shutdown()

    assert ledger_depths == [0]  # the sync had finished, on an open ledger, when shutdown() returned
    client.join(5)
    assert responses[0].status_code == 200
    assert responses[0].json()["events"][0]["status"] == "injected"


def test_shutdown_cuts_trickling_client_short(start):
    server = start(read_timeout=0.3, request_timeout=60)
    head = b"POST /webhooks/tripleseat HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    sending = threading.Event()
    results = []
    client = threading.Thread(target=lambda: results.append(trickle(server, head, seconds=4, started=sending)))
    client.start()
    assert sending.wait(5)
    time.sleep(0.1)

    stopper = threading.Thread(target=server.shutdown)
    stopper.start()
    stopper.join(3)
    client.join(5)

    assert not stopper.is_alive()
    status, document, replied_while_sending = results[0]
    assert status == 503
    assert "stopping" in document["error"]
    assert replied_while_sending


def test_connection_over_cap_gets_503(start, tsync_logs):
    server = start(max_connections=1, read_timeout=2)
    holder = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        holder.sendall(b"POST /webhooks/tripleseat HTTP/1.1\r\n")

        status, headers, body = raw_exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        holder.close()

    assert status == 503
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert "busy" in json.loads(body)["error"]
    assert any("rejected 1 connection(s) with 503" in r.getMessage() for r in tsync_logs.records)
    # Once the held connection ends, its slot is free again.
    assert wait_for(lambda: raw_exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 200)


# manual sync


def sync_get(server: WebhookServer, query: str, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"http://127.0.0.1:{server.port}/api/sync/tripleseat?{query}", headers=headers, timeout=5)


def test_manual_sync_event(start, recorder):
    server = start()
    response = sync_get(server, "event_id=48213377")

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "mode": "single",
        "summary": {"queried": 1, "injected": 1, "skipped": 0, "failed": 0},
        "events": [{"id": 48213377, "name": "Gala", "status": "injected", "revel_order_id": 900 + 48213377}],
    }
    assert recorder.calls_to("run_event") == [("run_event", 48213377, response.headers["X-Correlation-Id"])]


def test_manual_sync_hours_back(start, recorder):
    server = start()
    response = sync_get(server, "hours_back=48")

    assert response.status_code == 200
    assert response.json()["mode"] == "recent"
    assert recorder.calls_to("run_recent")[0][1] == 48


def test_manual_sync_new_engine_per_request(start, recorder):
    server = start(start_worker=False)
    sync_get(server, "event_id=1")
    sync_get(server, "event_id=2")

    assert recorder.engines_built == 2


def test_manual_sync_requires_token(start, recorder):
    server = start()

    missing = sync_get(server, "event_id=1", token=None)
    wrong = sync_get(server, "event_id=1", token="not-the-token")
    basic = requests.get(f"http://127.0.0.1:{server.port}/api/sync/tripleseat?event_id=1",
                         headers={"Authorization": f"Basic {TOKEN}"}, timeout=5)

    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert "bearer token" in response.json()["error"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert recorder.calls == []


def test_manual_sync_disabled_without_token(start, settings, recorder):
    server = start(settings=settings.with_overrides(api_token=None))
    response = sync_get(server, "event_id=1")

    assert response.status_code == 404
    assert "set TSYNC_API_TOKEN" in response.json()["error"]
    assert recorder.calls == []


@pytest.mark.parametrize("query, message", [
    ("", "event_id or hours_back is missing"),
    ("event_id=abc", "event_id 'abc' is not valid"),
    ("event_id=0", "is not valid"),
    ("hours_back=-3", "is not valid"),
    ("hours_back=100000", "too large"),
    ("event_id=1&hours_back=2", "both given"),
    ("event_id=1&event_id=2", "given 2 times"),
    ("event_id=9223372036854775808", "too large"),
    ("event_id=" + "9" * 5000, "too large"),
])
def test_manual_sync_invalid_parameters(start, recorder, query, message):
    server = start()
    response = sync_get(server, query)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert recorder.calls == []


def test_manual_sync_engine_error(start, recorder):
    recorder.outcomes[5] = [TransientError("Tripleseat timed out after 3 attempts")]
    server = start()

    response = sync_get(server, "event_id=5")

    assert response.status_code == 502
    assert response.json() == {"error": "sync failed: Tripleseat timed out after 3 attempts"}


# health and routing


def test_healthz_counts_pending(start):
    server = start(start_worker=False)
    empty = requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5).json()
    assert empty == {"status": "ok", "inbox_depth": 0, "oldest_pending_seconds": None}

    post(server, payload(event_id=1))
    post(server, payload(event_id=2))
    health = requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5).json()

    assert health["status"] == "ok"
    assert health["inbox_depth"] == 2
    assert health["oldest_pending_seconds"] >= 0


def test_unknown_path_and_wrong_method(start):
    server = start()
    base = f"http://127.0.0.1:{server.port}"

    assert requests.get(f"{base}/nothing", timeout=5).status_code == 404
    assert requests.post(f"{base}/webhooks/other", data=b"{}", timeout=5).status_code == 404

    get_webhook = requests.get(server.url, timeout=5)
    assert get_webhook.status_code == 405
    assert get_webhook.headers["Allow"] == "POST"
    assert requests.post(f"{base}/healthz", data=b"{}", timeout=5).status_code == 405
    assert requests.delete(f"{base}/api/sync/tripleseat", timeout=5).status_code == 405


def test_head_healthz_has_no_body(start, tsync_logs):
    server = start(start_worker=False)

    status, headers, body = raw_exchange(server, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")

    assert status == 200
    assert int(headers["content-length"]) > 0
    assert body == b""
    assert [r for r in tsync_logs.records if r.levelno >= logging.WARNING] == []


def test_head_sync_path_not_allowed(start, recorder):
    server = start()

    status, headers, body = raw_exchange(server, b"HEAD /api/sync/tripleseat?event_id=1 HTTP/1.1\r\nHost: x\r\n\r\n")

    assert status == 405
    assert headers["allow"] == "GET"
    assert body == b""
    assert recorder.calls == []


def test_invalid_request_target_rejected(start, tsync_logs):
    server = start()

    status, _, body = raw_exchange(server, b"GET http://[x/ HTTP/1.1\r\nHost: x\r\n\r\n")

    assert status == 400
    assert "request target is not a valid URL" in json.loads(body)["error"]
    assert [r for r in tsync_logs.records if r.levelno >= logging.ERROR] == []


def test_custom_path(start):
    server = start(path="/hooks/ts")
    assert server.url.endswith("/hooks/ts")

    assert post(server, payload()).status_code == 200
    assert requests.post(f"http://127.0.0.1:{server.port}/webhooks/tripleseat", data=b"{}", timeout=5).status_code == 404


# logs


def test_request_log_line_keeps_secrets_out(start, tsync_logs):
    server = start()
    body = payload(name="Jane Guest", email="jane@guest.example")
    header = sign(body, SECRET)

    post(server, body, header=header)
    sync_get(server, "event_id=7")

    messages = [record.getMessage() for record in tsync_logs.records]
    request_lines = [m for m in messages if m.startswith("POST /webhooks/tripleseat 200")]
    assert len(request_lines) == 1
    assert "trigger=STATUS_CHANGE_EVENT" in request_lines[0]
    assert "events=48213377" in request_lines[0]
    assert request_lines[0].endswith(" ms")
    for message in messages:
        assert SECRET not in message
        assert TOKEN not in message
        assert header.split("v1=")[1] not in message
        assert "Jane Guest" not in message
        assert "jane@guest.example" not in message


# CLI


def test_deliver_command_posts_signed(start, recorder, tmp_path):
    from click.testing import CliRunner

    from tsync.cli import CliState
    from tsync.cli_webhook import deliver

    server = start()
    env_file = tmp_path / "deliver.env"
    env_file.write_text(f"TRIPLESEAT_WEBHOOK_SECRET={SECRET}\n")

    result = CliRunner().invoke(deliver, ["4521", "--url", server.url, "--trigger", "update_event"],
                                obj=CliState(env_file=env_file))

    assert result.exit_code == 0, result.output
    assert result.output.startswith("HTTP 200 OK\n")
    assert '"status": "accepted"' in result.output
    assert wait_for(lambda: recorder.calls_to("run_event"))
    assert server.store.deliveries()[0]["trigger"] == "UPDATE_EVENT"


def test_deliver_command_booking_trigger(start, recorder):
    from click.testing import CliRunner

    from tsync.cli import CliState
    from tsync.cli_webhook import deliver

    server = start()
    result = CliRunner().invoke(deliver, ["88", "--url", server.url, "--trigger", "DELETE_BOOKING", "--secret", SECRET],
                                obj=CliState())

    assert result.exit_code == 0, result.output
    assert wait_for(lambda: recorder.calls_to("cancel_event"))
    assert recorder.calls_to("cancel_event")[0][1] == 88


def test_deliver_command_wrong_secret(start):
    from click.testing import CliRunner

    from tsync.cli import CliState
    from tsync.cli_webhook import deliver

    server = start()
    result = CliRunner().invoke(deliver, ["1", "--url", server.url, "--secret", "wrong"], obj=CliState())

    assert result.exit_code == 1
    assert "HTTP 401 Unauthorized" in result.output
    assert "rejected the delivery with HTTP 401" in result.output


def test_deliver_command_missing_secret(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from tsync.cli import cli

    monkeypatch.delenv("TRIPLESEAT_WEBHOOK_SECRET", raising=False)
    env_file = tmp_path / "empty.env"
    env_file.write_text("")

    result = CliRunner().invoke(cli, ["--env-file", str(env_file), "sandbox", "deliver", "1"])

    assert result.exit_code == 2
    assert result.stderr.startswith("tsync: error: TRIPLESEAT_WEBHOOK_SECRET is missing")


def test_deliver_command_unreachable(tmp_path):
    from click.testing import CliRunner

    from tsync.cli import CliState
    from tsync.cli_webhook import deliver

    url = f"http://127.0.0.1:{free_port()}/webhooks/tripleseat"
    result = CliRunner().invoke(deliver, ["1", "--url", url, "--secret", SECRET], obj=CliState())

    assert result.exit_code == 1
    assert "is `tsync serve-webhook` running there?" in result.output


def test_serve_webhook_missing_secret_exits_2(tmp_path, db_path, monkeypatch):
    from click.testing import CliRunner

    from tsync.cli import cli

    values = settings_values(db_path)
    del values["TRIPLESEAT_WEBHOOK_SECRET"]
    for name in values:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TRIPLESEAT_WEBHOOK_SECRET", raising=False)
    env_file = tmp_path / "serve.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))

    result = CliRunner().invoke(cli, ["--env-file", str(env_file), "serve-webhook", "--port", "0"])

    assert result.exit_code == 2
    assert "TRIPLESEAT_WEBHOOK_SECRET is missing" in result.output


def test_port_in_use_is_config_error(start, settings, db_path):
    server = start()
    second = WebhookServer(settings, port=server.port, store=Store(db_path), engine_factory=EngineRecorder().factory)

    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        second.start()
