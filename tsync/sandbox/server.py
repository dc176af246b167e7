"""HTTP plumbing shared by the simulated APIs: loopback servers, requests, responses, faults.

Each simulated API is an object with `handle(request) -> Response`; it never
touches sockets. `ApiServer` runs one such object on 127.0.0.1 (a free port)
in a `ThreadingHTTPServer`, applies the fault injector around it, and logs
each request at DEBUG with its method, path and status. Query strings are
not logged because Revel accepts credentials there.
"""

import json
import logging
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tsync.sandbox.faults import Fault, FaultInjector

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
MAX_BODY_BYTES = 10 * 1024 * 1024
SHUTDOWN_POLL_SECONDS = 0.05  # how often serve_forever checks for stop(); the default 0.5 s slows every test


class HttpError(Exception):
    """An error response that an API handler returns by raising it."""

    def __init__(self, status: int, body):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    def param(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of a query parameter, or `default` when it is absent."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self):
        """Parse the body as JSON; raise HttpError 400 when it is not."""
        try:
            return json.loads(self.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise HttpError(400, {"error": f"The request body is not valid JSON: {error}"}) from None


@dataclass
class Response:
    status: int
    body: object = None  # a dict or list is sent as JSON, a str as HTML, None as an empty body
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str]:
        """Return the body bytes and their content type."""
        if self.body is None:
            return b"", "application/json"
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), "text/html; charset=utf-8"
        return json.dumps(self.body).encode("utf-8"), "application/json"


def html_page(status: int) -> str:
    """Return an HTML page like those a login redirect or a proxy error sends instead of JSON."""
    if status < 400:
        return (
            "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>\n"
            '<form method="post" action="/login"><input name="email"><input name="password" type="password">'
            "<button>Sign in</button></form>\n</body></html>\n"
        )
    phrase = escape(_reason(status))
    return f"<!DOCTYPE html>\n<html><head><title>{status} {phrase}</title></head><body><h1>{phrase}</h1></body></html>\n"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def fault_response(fault: Fault) -> Response:
    """Build the response for a `status` or `html` fault."""
    status = fault.status
    if fault.kind == "html":
        return Response(status, html_page(status))

    body = fault.options.get("body", {"error": _reason(status)})
    headers = {}
    if fault.options.get("retry_after") is not None:
        headers["Retry-After"] = str(fault.options["retry_after"])
    return Response(status, body, headers)


class ApiServer(ThreadingHTTPServer):
    """One simulated API on a free loopback port, served from a background thread."""

    daemon_threads = True  # a request paused by a fault must not keep stop() waiting

    def __init__(self, api_name: str, app, faults: FaultInjector):
        super().__init__((LOOPBACK, 0), ApiRequestHandler)
        self.api_name = api_name
        self.app = app
        self.faults = faults
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, name=f"sandbox-{self.api_name}", daemon=True
        )
        self._thread.start()
        logger.debug("%s sandbox listening on %s", self.api_name, self.url)

    def stop(self) -> None:
        """Stop serving, end paused requests and close open keep-alive connections."""
        self.stopping.set()
        self.shutdown()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        logger.debug("%s sandbox stopped", self.api_name)

    def pause(self, seconds: float) -> None:
        """Wait `seconds`, or less when the server stops meanwhile."""
        self.stopping.wait(seconds)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (read timeout, closed socket) makes the late write fail; that is expected here.
        logger.debug("%s sandbox: connection from %s ended with an error", self.api_name, client_address[0], exc_info=True)


class ApiRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes. With Nagle's algorithm on, each
    # response then waits for the client's delayed ACK (about 40 ms on Linux).
    disable_nagle_algorithm = True
    timeout = 30  # seconds an idle keep-alive connection stays open
    server: ApiServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args) -> None:
        """Silence http.server's lines on stderr; requests are logged in _dispatch."""

    def _dispatch(self) -> None:
        server = self.server
        split = urlsplit(self.path)
        path = split.path

        try:
            body = self._read_body()
        except HttpError as error:
            self._send(Response(error.status, error.body))
            self.close_connection = True
            return
        request = Request(self.command, path, parse_qs(split.query, keep_blank_values=True), self.headers, body)

        fault = server.faults.take(server.api_name, self.command, path)
        if fault is not None:
            logger.debug("%s sandbox: applying fault %s to %s %s", server.api_name, fault.kind, self.command, path)
        if fault is not None and fault.kind == "latency":
            server.pause(fault.delay)

        if fault is not None and fault.kind in ("status", "html"):
            response = fault_response(fault)
        else:
            response = self._handle(request)

        if fault is not None and fault.kind == "drop_after":
            logger.debug("%s %s %s -> %s, connection dropped", server.api_name, self.command, path, response.status)
            self.close_connection = True
            return
        if fault is not None and fault.kind == "delay_after":
            server.pause(fault.delay)

        logger.debug("%s %s %s -> %s", server.api_name, self.command, path, response.status)
        self._send(response)

    def _handle(self, request: Request) -> Response:
        try:
            return self.server.app.handle(request)
        except HttpError as error:
            logger.debug("%s %s %s rejected: %s", self.server.api_name, request.method, request.path, error.body)
            return Response(error.status, error.body)
        except Exception:
            logger.exception("%s sandbox failed on %s %s", self.server.api_name, request.method, request.path)
            return Response(500, {"error": "Internal server error in the sandbox; see its log"})

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length_text = self.headers.get("Content-Length") or "0"
        if not length_text.isdigit():
            raise HttpError(400, {"error": f"Content-Length {length_text!r} is not a whole number"})
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise HttpError(413, {"error": f"request body of {length} bytes is over the {MAX_BODY_BYTES}-byte limit"})
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise HttpError(400, {"error": "malformed chunked request body"}) from None
            if size == 0:
                self.rfile.readline(1024)  # the empty line after the last chunk (no trailers expected)
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise HttpError(413, {"error": f"request body is over the {MAX_BODY_BYTES}-byte limit"})
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, response: Response) -> None:
        payload, content_type = response.encode()
        self.send_response(response.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
