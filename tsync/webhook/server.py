"""The `serve-webhook` HTTP server: signed Tripleseat deliveries, manual sync and health.

Routes:
- POST <path> (default /webhooks/tripleseat): verify the signature, store one
  inbox entry per event and reply 200 once the entries are committed. The
  inbox worker syncs them later, so the reply never waits on Tripleseat or Revel.
- GET /api/sync/tripleseat?event_id=X or ?hours_back=N: run the engine in the
  request thread behind `Authorization: Bearer <TSYNC_API_TOKEN>`.
- GET or HEAD /healthz: inbox depth and the age of the oldest pending delivery.

The server is the stdlib's ThreadingHTTPServer with one thread per
connection. It reads with a timeout per read and a deadline for the whole
request, caps bodies, decodes chunked bodies itself and answers 503 beyond
`max_connections` connections at once. Run it behind a TLS proxy: it speaks
plain HTTP.
"""

import hashlib
import hmac
import io
import json
import logging
import re
import signal
import socket
import sqlite3
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import SplitResult, parse_qs, urlsplit

from tsync.config import Settings
from tsync.errors import ApiError, ConfigError, TsyncError
from tsync.logs import log_context, new_run_id
from tsync.notify import Notifier
from tsync.store import Store
from tsync.webhook.body import BodyError, DeadlineExceeded, SocketReader, read_body
from tsync.webhook.payload import MAX_EVENT_ID, Notification, PayloadError, parse_notification
from tsync.webhook.signature import DEFAULT_TOLERANCE, SCHEMES, SIGNATURE_HEADER, SignatureError, verify
from tsync.webhook.worker import InboxWorker, close_engine

logger = logging.getLogger(__name__)

DEFAULT_PATH = "/webhooks/tripleseat"
SYNC_PATH = "/api/sync/tripleseat"
HEALTH_PATH = "/healthz"
MAX_BODY = 1024 * 1024  # bytes
READ_TIMEOUT = 10.0  # seconds a client may stay silent while sending a request
REQUEST_TIMEOUT_FACTOR = 3  # the whole request must arrive within this many read timeouts by default
MAX_CONNECTIONS = 64  # connections handled at once; more get 503 without being read
BUSY_LOG_INTERVAL = 60.0  # seconds between log lines about connections rejected with 503
MAX_HOURS_BACK = 24 * 366
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_./:%~+-]{1,200}")

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
        request_timeout: float | None = None,
        max_connections: int = MAX_CONNECTIONS,
        worker_options: dict | None = None,
    ):
        """Configure the server; nothing listens until `start()`.

        `read_timeout` is how long a client may stay silent while it sends
        its request, and `request_timeout` (default REQUEST_TIMEOUT_FACTOR
        times `read_timeout`) is how long the whole request, headers and
        body, may take. `max_connections` caps the requests handled at once.
        """
        if request_timeout is None:
            request_timeout = REQUEST_TIMEOUT_FACTOR * read_timeout
        if read_timeout <= 0 or request_timeout <= 0:
            raise ConfigError(f"read_timeout {read_timeout} and request_timeout {request_timeout} must be positive seconds")
        if max_connections < 1:
            raise ConfigError(f"max_connections {max_connections} is not valid: allow at least 1 connection")
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
        self.request_timeout = request_timeout
        self.max_connections = max_connections
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

        # Readers of requests still arriving, so that shutdown can shorten their deadlines.
        self._readers: set[SocketReader] = set()
        self._readers_lock = threading.Lock()
        self._stopping = False
        self._busy_rejections = 0
        self._busy_logged_at: float | None = None

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
            httpd = server_class((self.host, self.requested_port), self)
        except OSError as error:
            raise ConfigError(
                f"cannot listen on {self.host}:{self.requested_port}: {error.strerror or error} "
                "(choose another --port or --host, or stop the process using it)"
            ) from None
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
        """Stop accepting connections, finish the requests in flight, stop the worker, then close the ledger.

        A client that is still sending its request gets at most `read_timeout`
        more seconds to complete it. A request already being handled, such as
        a manual sync, runs to the end and gets its full response.
        """
        if self._stopped:
            return
        self._stopped = True
        if self._httpd is not None:
            self._httpd.shutdown()  # ends the accept loop
            self._httpd.server_close()  # closes the listening socket, so new connections are refused
            self._thread.join()
            self._cut_short_slow_requests()
            in_flight = self._httpd.handler_count()
            if in_flight:
                logger.info("waiting for %d request(s) in flight to finish", in_flight)
            self._httpd.join_handlers()
        # The worker and the ledger outlive every handler, because handlers enqueue into the ledger and wake the worker.
        self.worker.stop()
        if self._owns_store:
            self.store.close()
        logger.info("webhook server stopped")

    @property
    def stopping(self) -> bool:
        """Whether shutdown has begun; requests still arriving then get at most `read_timeout` more seconds."""
        return self._stopping

    def _cut_short_slow_requests(self) -> None:
        deadline = time.monotonic() + self.read_timeout
        with self._readers_lock:
            self._stopping = True
            for reader in self._readers:
                reader.shorten(deadline)

    def open_reader(self, connection: socket.socket) -> SocketReader:
        """Return the reader of a new connection, with its request deadline, and track it until `close_reader`."""
        reader = SocketReader(connection, self.read_timeout, time.monotonic() + self.request_timeout)
        with self._readers_lock:
            if self._stopping:
                reader.shorten(time.monotonic() + self.read_timeout)
            self._readers.add(reader)
        return reader

    def close_reader(self, reader: SocketReader) -> None:
        with self._readers_lock:
            self._readers.discard(reader)

    def reject_busy(self, connection: socket.socket) -> None:
        """Send a 503 reply on a connection beyond `max_connections` without parsing its request.

        This runs in the accept loop, so the socket is switched to
        non-blocking mode: the short reply fits in the empty send buffer of a
        new connection, and a send that would block is dropped instead.
        """
        correlation_id = new_run_id("hook")
        message = f"the server is busy with {self.max_connections} requests: send the request again later"
        document = json.dumps({"error": message}).encode("utf-8") + b"\n"
        head = (
            "HTTP/1.1 503 Service Unavailable\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(document)}\r\n"
            f"X-Correlation-Id: {correlation_id}\r\n"
            "Connection: close\r\n\r\n"
        )
        try:
            connection.setblocking(False)
            connection.send(head.encode("ascii") + document)
            # Closing a socket with unread input sends a reset, which can make the client drop
            # the reply, so the part of the request that has already arrived is read first.
            connection.recv(65536)
        except OSError:
            pass
        self._log_busy()

    def _log_busy(self) -> None:
        # Only the accept loop calls this, so the counters need no lock.
        self._busy_rejections += 1
        now = time.monotonic()
        if self._busy_logged_at is not None and now - self._busy_logged_at < BUSY_LOG_INTERVAL:
            return
        logger.warning(
            "rejected %d connection(s) with 503: %d requests were already in progress, the maximum (max_connections)",
            self._busy_rejections, self.max_connections,
        )
        self._busy_rejections = 0
        self._busy_logged_at = now

    def __enter__(self) -> "WebhookServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    # routing

    def route(self, handler: "_Handler", method: str, target: SplitResult) -> Reply:
        allowed = {self.path: ("POST",), SYNC_PATH: ("GET",), HEALTH_PATH: ("GET", "HEAD")}.get(target.path)
        if allowed is None:
            return error_reply(404, f"path {target.path[:100]!r} not found: webhooks go to {self.path}", outcome="not found")
        if method not in allowed:
            return Reply(405, {"error": f"method {method} is not allowed on {target.path}: use {' or '.join(allowed)}"},
                         outcome="method not allowed", headers={"Allow": ", ".join(allowed)})

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
        # one event within a minute share a dedupe key. The store treats the later one as a repeat
        # only while the earlier one is pending (waiting or being synced), so a change that arrives
        # during that sync is left to the scheduled `tsync recent` run.
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


def serve(settings: Settings, *, ready: Callable[[WebhookServer], None] | None = None, **options) -> None:
    """Serve webhooks until SIGTERM or SIGINT, then stop cleanly and return.

    On a signal the server stops accepting connections, finishes the requests
    in flight, and the worker finishes the delivery in hand (see
    WebhookServer.shutdown). `ready(server)` is called once the socket is bound.
    The keyword options are WebhookServer's.
    """
    server = WebhookServer(settings, **options)
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
    event_id = _positive_parameter(parameters, "event_id", maximum=MAX_EVENT_ID)
    hours_back = _positive_parameter(parameters, "hours_back", maximum=MAX_HOURS_BACK)
    if event_id is None and hours_back is None:
        raise ValueError("event_id or hours_back is missing: call ?event_id=<Tripleseat event id> or ?hours_back=<hours>")
    if event_id is not None and hours_back is not None:
        raise ValueError("event_id and hours_back were both given: pass only one of them")
    return event_id, hours_back


def _positive_parameter(parameters: dict[str, list[str]], name: str, *, maximum: int) -> int | None:
    values = parameters.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise ValueError(f"{name} is given {len(values)} times: pass it once")
    text = values[0].strip()
    digits = text.lstrip("0")
    if not text.isascii() or not text.isdigit() or not digits:
        raise ValueError(f"{name} {text[:40]!r} is not valid: expected a positive whole number")
    # Comparing the digit count first keeps int() away from a value of thousands of digits.
    if len(digits) > len(str(maximum)) or int(digits) > maximum:
        raise ValueError(f"{name} {text[:40]} is too large: use at most {maximum}")
    return int(digits)


def _request_target(raw: str) -> SplitResult | None:
    """Return the request target split into its parts, or None when it is not a valid URL."""
    try:
        return urlsplit(raw)
    except ValueError:  # such as "http://[x/", an unclosed IPv6 host in an absolute-form target
        return None


def _loggable(text: str) -> str:
    """Return `text` as it is when it is plain, else quoted and shortened, so a log line stays one clean line."""
    if _PLAIN_TEXT.fullmatch(text):
        return text
    return repr(text[:100])


class _HttpServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a cap on concurrent handlers and handler threads that shutdown can join."""

    # Handler threads are tracked and joined by join_handlers, so requests in flight finish on shutdown.
    daemon_threads = False
    block_on_close = False
    # With the stdlib's listen backlog of 5, a burst of concurrent deliveries gets refused or retried connections.
    request_queue_size = 64

    def __init__(self, address, webhook: WebhookServer):
        self.webhook = webhook
        self._slots = threading.BoundedSemaphore(webhook.max_connections)
        self._handlers: set[threading.Thread] = set()
        self._handlers_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.webhook.reject_busy(request)
            self.shutdown_request(request)
            return

        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name="tsync-webhook-request", daemon=False)
        with self._handlers_lock:
            self._handlers.add(thread)
        try:
            thread.start()
        except BaseException:
            with self._handlers_lock:
                self._handlers.discard(thread)
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._handlers_lock:
                self._handlers.discard(threading.current_thread())
            self._slots.release()

    def handler_count(self) -> int:
        with self._handlers_lock:
            return len(self._handlers)

    def join_handlers(self) -> None:
        """Wait until every handler thread has finished; call it only after the accept loop has ended."""
        with self._handlers_lock:
            threads = list(self._handlers)
        for thread in threads:
            thread.join()

    def handle_error(self, request, client_address) -> None:
        # The stdlib prints the traceback to stderr; a client that vanished mid-request is not an error.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            logger.info("client %s closed the connection: %s", client_address[0], type(error).__name__)
            return
        logger.exception("handling a request from %s failed", client_address[0])


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
        webhook: WebhookServer = self.server.webhook
        # StreamRequestHandler applies `timeout` to the socket; it bounds writes here, and reads through the reader.
        self.timeout = webhook.read_timeout
        super().setup()
        # The reader adds the deadline for the whole request, so a client cannot hold
        # the thread by sending one byte just before each read timeout.
        self.rfile.close()
        self.reader = webhook.open_reader(self.connection)
        self.rfile = io.BufferedReader(self.reader)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.webhook.close_reader(self.reader)

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

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
        target = _request_target(self.path)
        path = target.path if target is not None else self.path

        with log_context(run_id=self.correlation_id):
            reply = self._reply(webhook, method, target)
            if reply is None:
                logger.info("%s %s: the client closed the connection before the request was complete", method, _loggable(path))
                return

            try:
                self._write(reply, with_body=method != "HEAD")
            except OSError as error:
                logger.warning("writing the response failed: %s", error)

            elapsed_ms = (time.monotonic() - started) * 1000
            # Successful health probes arrive every few seconds, so they are logged at DEBUG only.
            level = logging.DEBUG if path == HEALTH_PATH and reply.status == 200 else logging.INFO
            logger.log(
                level, "%s %s %d %s trigger=%s events=%s %.0f ms",
                method, _loggable(path), reply.status, reply.outcome, _loggable(reply.trigger or "-"),
                ",".join(str(event_id) for event_id in reply.event_ids) or "-", elapsed_ms,
            )

    def _reply(self, webhook: WebhookServer, method: str, target: SplitResult | None) -> Reply | None:
        """Route the request and return its reply, or None when the client has gone."""
        if target is None:
            return error_reply(400, "request target is not a valid URL: send a path such as " + webhook.path,
                               outcome="invalid target")
        try:
            return webhook.route(self, method, target)
        except DeadlineExceeded:
            if webhook.stopping:
                return error_reply(503, "the server is stopping: send the request again", outcome="cut short by shutdown")
            return error_reply(408, f"request timed out: the request was not complete after {webhook.request_timeout:g} s",
                               outcome="timed out")
        except TimeoutError:
            return error_reply(408, f"request timed out: the client sent nothing for {webhook.read_timeout:g} s",
                               outcome="timed out")
        except ConnectionError:
            return None
        except Exception:
            logger.exception("request to %s failed", _loggable(target.path))
            return error_reply(500, f"internal error: see the log for {self.correlation_id}", outcome="internal error")

    def _write(self, reply: Reply, *, with_body: bool = True) -> None:
        """Send `reply`; a HEAD response carries the same headers, Content-Length included, and no body."""
        # A reader may have left a shorter timeout on the socket for its last read.
        self.connection.settimeout(self.server.webhook.read_timeout)
        payload = json.dumps(reply.document).encode("utf-8") + b"\n"
        self.send_response(reply.status, HTTPStatus(reply.status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Correlation-Id", self.correlation_id)
        self.send_header("Connection", "close")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:
        # http.server's own access line is replaced by the one line per request in _dispatch.
        logger.debug("http.server: " + format, *args)

    def log_error(self, format: str, *args) -> None:
        logger.warning("http.server: " + format, *args)
