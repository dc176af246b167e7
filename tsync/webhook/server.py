"""The `serve-webhook` HTTP server: signed Tripleseat deliveries, manual sync and health.

Routes:
- POST <path> (default /webhooks/tripleseat): verify the signature, store one
  inbox entry per event and reply 200 once the entries are committed. The
  inbox worker syncs them later, so the reply never waits on Tripleseat or Revel.
- GET /api/sync/tripleseat?event_id=X or ?hours_back=N: run the engine in the
  request thread behind `Authorization: Bearer <TSYNC_API_TOKEN>`.
- GET /healthz: inbox depth and the age of the oldest pending delivery.

The server is the stdlib's ThreadingHTTPServer. It reads with a socket
timeout, caps bodies and decodes chunked bodies itself. Run it behind a TLS
proxy: it speaks plain HTTP.
"""

import hashlib
import hmac
import json
import logging
import signal
import socket
import sqlite3
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from tsync.config import Settings
from tsync.errors import ApiError, ConfigError, TsyncError
from tsync.logs import log_context, new_run_id
from tsync.notify import Notifier
from tsync.store import Store
from tsync.webhook.body import BodyError, read_body
from tsync.webhook.payload import Notification, PayloadError, parse_notification
from tsync.webhook.signature import DEFAULT_TOLERANCE, SCHEMES, SIGNATURE_HEADER, SignatureError, verify
from tsync.webhook.worker import InboxWorker, close_engine

logger = logging.getLogger(__name__)

DEFAULT_PATH = "/webhooks/tripleseat"
SYNC_PATH = "/api/sync/tripleseat"
HEALTH_PATH = "/healthz"
MAX_BODY = 1024 * 1024  # bytes
READ_TIMEOUT = 10.0  # seconds a client may stay silent while sending a request
MAX_HOURS_BACK = 24 * 366

MISSING_SECRET_MESSAGE = (
    "TRIPLESEAT_WEBHOOK_SECRET is missing: set the webhook signing key, "
    "or start with --no-signature-check for local testing"
)


class Reply:
    """An HTTP response and the facts the request's log line reports."""

    def __init__(self, status: int, document: dict, *, outcome: str, trigger: str | None = None,
                 event_ids: tuple[int, ...] = (), headers: dict[str, str] | None = None):
        self.status = status
        self.document = document
        self.outcome = outcome
        self.trigger = trigger
        self.event_ids = event_ids
        self.headers = headers or {}


def error_reply(status: int, message: str, *, outcome: str, **facts) -> Reply:
    return Reply(status, {"error": message}, outcome=outcome, **facts)


class WebhookServer:
    """The webhook listener and its inbox worker; `start()` serves in a background thread.

    Tests start it on port 0 and read `.port`. `serve()` wraps it for the CLI
    with signal handling.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        path: str = DEFAULT_PATH,
        signature_scheme: str = "auto",
        allow_unsigned: bool = False,
        engine_factory: Callable[[], object] | None = None,
        notifier: Notifier | None = None,
        store: Store | None = None,
        start_worker: bool = True,
        signature_tolerance: float = DEFAULT_TOLERANCE,
        max_body: int = MAX_BODY,
        read_timeout: float = READ_TIMEOUT,
        worker_options: dict | None = None,
    ):
        if not settings.webhook_secret and not allow_unsigned:
            raise ConfigError(MISSING_SECRET_MESSAGE)
        if signature_scheme not in SCHEMES:
            raise ConfigError(f"signature scheme {signature_scheme!r} is not valid: use one of {', '.join(SCHEMES)}")
        if not path.startswith("/") or path in (SYNC_PATH, HEALTH_PATH):
            raise ConfigError(f"webhook path {path!r} is not valid: use an absolute path such as {DEFAULT_PATH}")

        self.settings = settings
        self.host = host
        self.requested_port = port
        self.path = path
        self.signature_scheme = signature_scheme
        self.allow_unsigned = allow_unsigned
        self.signature_tolerance = signature_tolerance
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.start_worker = start_worker

        self._owns_store = store is None
        self.store = store if store is not None else Store(settings.db_path)
        self.notifier = notifier if notifier is not None else Notifier(settings.smtp, settings.notify_policy)
        self.engine_factory = engine_factory or default_engine_factory(settings, self.store, self.notifier)
        self.worker = InboxWorker(self.store, self.engine_factory, self.notifier, **(worker_options or {}))

        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._scheme_logged = False
        self._stopped = False
        self._scheme_lock = threading.Lock()

    # lifecycle

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the webhook server is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    def start(self) -> "WebhookServer":
        """Bind the socket, start the inbox worker, then serve requests in a background thread."""
        try:
            server_class = _HttpServer6 if ":" in self.host else _HttpServer
            httpd = server_class((self.host, self.requested_port), _Handler)
        except OSError as error:
            raise ConfigError(
                f"cannot listen on {self.host}:{self.requested_port}: {error.strerror or error} "
                "(choose another --port or --host, or stop the process using it)"
            ) from None
        httpd.webhook = self
        self._httpd = httpd

        if self.start_worker:
            self.worker.start()
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.1,), name="tsync-webhook-http", daemon=True)
        self._thread.start()

        logger.info(
            "webhook server listening on %s (signature scheme %s)",
            self.url, "off" if self.allow_unsigned else self.signature_scheme,
        )
        if self.allow_unsigned:
            logger.warning("signature check is off (--no-signature-check): anyone who can reach this port can trigger syncs")
        return self

    def shutdown(self) -> None:
        """Stop accepting requests, let the worker finish its delivery in hand, then release the ledger."""
        if self._stopped:
            return
        self._stopped = True
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
        self.worker.stop()
        if self._owns_store:
            self.store.close()
        logger.info("webhook server stopped")

    def __enter__(self) -> "WebhookServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    # routing

    def route(self, handler: "_Handler", method: str) -> Reply:
        target = urlsplit(handler.path)
        allowed = {self.path: "POST", SYNC_PATH: "GET", HEALTH_PATH: "GET"}.get(target.path)
        if allowed is None:
            return error_reply(404, f"path {target.path[:100]!r} not found: webhooks go to {self.path}", outcome="not found")
        if method != allowed:
            return Reply(405, {"error": f"method {method} is not allowed on {target.path}: use {allowed}"},
                         outcome="method not allowed", headers={"Allow": allowed})

        if target.path == self.path:
            return self.receive_delivery(handler)
        if target.path == SYNC_PATH:
            return self.run_manual_sync(handler, target.query)
        return self.health()

    # POST <path>

    def receive_delivery(self, handler: "_Handler") -> Reply:
        try:
            body = read_body(handler.rfile, handler.headers, self.max_body)
        except BodyError as error:
            handler.close_connection = True
            return error_reply(error.status, str(error), outcome="body rejected")
        if not body:
            return error_reply(400, "body is empty: expected a JSON webhook payload", outcome="empty body")

        if self.allow_unsigned:
            logger.warning("accepting a delivery without a signature check (--no-signature-check)")
        else:
            try:
                matched = verify(body, handler.headers.get(SIGNATURE_HEADER), self.settings.webhook_secret,
                                 scheme=self.signature_scheme, tolerance=self.signature_tolerance)
            except SignatureError as error:
                return error_reply(401, f"signature check failed: {error}", outcome=f"rejected: {error}")
            self._log_first_scheme(matched)

        try:
            notification = parse_notification(body)
        except PayloadError as error:
            return error_reply(400, str(error), outcome="invalid payload")

        if not notification.relevant:
            return Reply(200, {"status": "ignored", "trigger": notification.trigger},
                         outcome="ignored", trigger=notification.trigger)
        return self._enqueue(notification, body, handler.correlation_id)

    def _enqueue(self, notification: Notification, body: bytes, correlation_id: str) -> Reply:
        digest = hashlib.sha256(body).hexdigest()
        several = len(notification.event_ids) > 1
        # NOTE: Tripleseat's updated_at has minute precision in captured deliveries, so two changes to
        # one event within a minute share a dedupe key. The later one is then stored as a duplicate,
        # and only the scheduled `tsync recent` run picks it up.
        version = notification.updated_at or digest

        accepted: list[int] = []
        try:
            for event_id in notification.event_ids:
                stored = self.store.enqueue_delivery(
                    # The inbox keeps body hashes unique, so a booking that names several events
                    # stores one entry per event with the event id appended.
                    body_hash=f"{digest}:{event_id}" if several else digest,
                    dedupe_key=f"{notification.trigger}:{event_id}:{version}",
                    trigger=notification.trigger,
                    event_id=event_id,
                    correlation_id=f"{correlation_id}-{event_id}" if several else correlation_id,
                )
                if stored:
                    accepted.append(event_id)
        except sqlite3.Error as error:
            logger.error("storing the delivery in the inbox failed: %s", error)
            return error_reply(503, "the inbox is unavailable: the delivery was not stored, send it again later",
                               outcome="inbox error", trigger=notification.trigger, event_ids=notification.event_ids)

        facts = {"trigger": notification.trigger, "event_ids": notification.event_ids}
        if not accepted:
            return Reply(200, {"status": "duplicate"}, outcome="duplicate", **facts)

        self.worker.wake()
        document = {"status": "accepted", "correlation_id": correlation_id, "event_ids": accepted}
        noun = "entry" if len(accepted) == 1 else "entries"
        return Reply(200, document, outcome=f"stored {len(accepted)} inbox {noun}", **facts)

    def _log_first_scheme(self, scheme: str) -> None:
        with self._scheme_lock:
            if self._scheme_logged:
                return
            self._scheme_logged = True
        logger.info("first delivery verified with signature scheme %s: pin it with --signature-scheme %s", scheme, scheme)

    # GET /api/sync/tripleseat

    def run_manual_sync(self, handler: "_Handler", query: str) -> Reply:
        token = self.settings.api_token
        if not token:
            return error_reply(404, "the manual sync endpoint is disabled: set TSYNC_API_TOKEN to enable it", outcome="disabled")
        if not _bearer_matches(handler.headers.get("Authorization"), token):
            return Reply(401, {"error": "missing or invalid bearer token: send Authorization: Bearer <TSYNC_API_TOKEN>"},
                         outcome="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="tsync"'})

        try:
            event_id, hours_back = _sync_parameters(query)
        except ValueError as error:
            return error_reply(400, str(error), outcome="invalid parameters")

        run_id = handler.correlation_id
        engine = None
        try:
            engine = self.engine_factory()
            if event_id is not None:
                context = f"manual sync event {event_id}"
                result = engine.run_event(event_id, run_id=run_id)
            else:
                context = f"manual sync hours_back={hours_back}"
                result = engine.run_recent(hours_back, run_id=run_id)
        except ConfigError as error:
            logger.error("manual sync failed: %s", error)
            return error_reply(500, f"sync failed: {error}", outcome="config error")
        except ApiError as error:
            logger.error("manual sync failed: %s", error)
            return error_reply(502, f"sync failed: {error}", outcome="api error")
        except TsyncError as error:
            logger.error("manual sync failed: %s", error)
            return error_reply(500, f"sync failed: {error}", outcome="failed")
        except Exception:
            logger.exception("manual sync failed")
            return error_reply(500, f"sync failed with an internal error: see the log for {run_id}", outcome="internal error")
        finally:
            close_engine(engine)

        self.notifier.run_finished(result, context=context)
        event_ids = (event_id,) if event_id is not None else ()
        outcome = "synced: " + ", ".join(f"{count} {name}" for name, count in result.summary.items())
        return Reply(200, result.to_dict(), outcome=outcome, event_ids=event_ids)

    # GET /healthz

    def health(self) -> Reply:
        try:
            status = self.store.inbox_status()
        except sqlite3.Error as error:
            logger.error("reading the inbox for /healthz failed: %s", error)
            return Reply(503, {"status": "error", "error": "the inbox is unavailable"}, outcome="inbox error")
        oldest = status["oldest_pending_seconds"]
        document = {
            "status": "ok",
            "inbox_depth": status["depth"],
            "oldest_pending_seconds": None if oldest is None else round(oldest, 1),
        }
        return Reply(200, document, outcome="ok")


def default_engine_factory(settings: Settings, store: Store, notifier: Notifier) -> Callable[[], object]:
    """Return a factory of engines that share the server's store and notifier."""
    from tsync.engine import build_engine  # imported here so the server's tests do not need the API clients

    return lambda: build_engine(settings, store=store, notifier=notifier)


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    path: str = DEFAULT_PATH,
    signature_scheme: str = "auto",
    allow_unsigned: bool = False,
    engine_factory: Callable[[], object] | None = None,
    notifier: Notifier | None = None,
    store: Store | None = None,
    start_worker: bool = True,
    ready: Callable[[WebhookServer], None] | None = None,
    **options,
) -> None:
    """Serve webhooks until SIGTERM or SIGINT, then stop cleanly and return.

    On a signal the server stops accepting requests and the worker finishes the
    delivery in hand. `ready(server)` is called once the socket is bound.
    Extra keyword options go to WebhookServer.
    """
    server = WebhookServer(
        settings, host=host, port=port, path=path, signature_scheme=signature_scheme,
        allow_unsigned=allow_unsigned, engine_factory=engine_factory, notifier=notifier,
        store=store, start_worker=start_worker, **options,
    )
    stop_requested = threading.Event()

    def request_stop(signum, frame):
        logger.info("received %s, stopping the webhook server", signal.Signals(signum).name)
        stop_requested.set()

    previous_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous_handlers[signum] = signal.signal(signum, request_stop)

    try:
        server.start()
        if ready is not None:
            ready(server)
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop_requested.wait(0.5):
            pass
    finally:
        server.shutdown()
        for signum, previous in previous_handlers.items():
            signal.signal(signum, previous)


def _bearer_matches(header: str | None, token: str) -> bool:
    scheme, _, credentials = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode("utf-8"), token.encode("utf-8"))


def _sync_parameters(query: str) -> tuple[int | None, int | None]:
    """Return (event_id, hours_back) from the query; exactly one of them is set."""
    parameters = parse_qs(query, keep_blank_values=True)
    event_id = _positive_parameter(parameters, "event_id", maximum=None)
    hours_back = _positive_parameter(parameters, "hours_back", maximum=MAX_HOURS_BACK)
    if event_id is None and hours_back is None:
        raise ValueError("event_id or hours_back is missing: call ?event_id=<Tripleseat event id> or ?hours_back=<hours>")
    if event_id is not None and hours_back is not None:
        raise ValueError("event_id and hours_back were both given: pass only one of them")
    return event_id, hours_back


def _positive_parameter(parameters: dict[str, list[str]], name: str, *, maximum: int | None) -> int | None:
    values = parameters.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise ValueError(f"{name} is given {len(values)} times: pass it once")
    text = values[0].strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} {text[:40]!r} is not valid: expected a positive whole number")
    if maximum is not None and int(text) > maximum:
        raise ValueError(f"{name} {text} is too large: use at most {maximum}")
    return int(text)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # With the stdlib's listen backlog of 5, a burst of concurrent deliveries gets refused or retried connections.
    request_queue_size = 64
    webhook: WebhookServer


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    """Adapts http.server to WebhookServer.route and writes one log line per request."""

    protocol_version = "HTTP/1.1"
    server_version = "tsync-webhook"
    sys_version = ""
    # Headers and body leave in separate writes. With Nagle's algorithm on, each
    # response then waits for the client's delayed ACK (about 40 ms on Linux).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        # StreamRequestHandler applies `timeout` to the socket, so a silent client cannot hold a thread.
        self.timeout = self.server.webhook.read_timeout
        super().setup()

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        webhook: WebhookServer = self.server.webhook
        started = time.monotonic()
        self.correlation_id = new_run_id("sync" if self.path.startswith(SYNC_PATH) else "hook")
        # Each connection carries one request, which keeps the body framing simple after an error.
        self.close_connection = True

        with log_context(run_id=self.correlation_id):
            try:
                reply = webhook.route(self, method)
            except TimeoutError:
                reply = error_reply(408, f"request timed out: the client sent nothing for {webhook.read_timeout:g} s",
                                    outcome="timed out")
            except Exception:
                logger.exception("request to %s failed", urlsplit(self.path).path)
                reply = error_reply(500, f"internal error: see the log for {self.correlation_id}", outcome="internal error")

            try:
                self._write(reply)
            except OSError as error:
                logger.warning("writing the response failed: %s", error)

            path = urlsplit(self.path).path
            elapsed_ms = (time.monotonic() - started) * 1000
            # Successful health probes arrive every few seconds, so they are logged at DEBUG only.
            level = logging.DEBUG if path == HEALTH_PATH and reply.status == 200 else logging.INFO
            logger.log(
                level, "%s %s %d %s trigger=%s events=%s %.0f ms",
                method, path, reply.status, reply.outcome, reply.trigger or "-",
                ",".join(str(event_id) for event_id in reply.event_ids) or "-", elapsed_ms,
            )

    def _write(self, reply: Reply) -> None:
        payload = json.dumps(reply.document).encode("utf-8") + b"\n"
        self.send_response(reply.status, HTTPStatus(reply.status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Correlation-Id", self.correlation_id)
        self.send_header("Connection", "close")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:
        # http.server's own access line is replaced by the one line per request in _dispatch.
        logger.debug("http.server: " + format, *args)

    def log_error(self, format: str, *args) -> None:
        logger.warning("http.server: " + format, *args)
