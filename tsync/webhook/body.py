"""Reading requests for the webhook server, with size limits and time limits.

The stdlib's BaseHTTPRequestHandler reads nothing by itself and leaves
`Transfer-Encoding: chunked` undecoded, so a chunked delivery would look
empty. This module decodes chunked bodies and enforces the limit while
decoding, before the whole body is in memory.

A socket timeout applies to each read, so a client that sends one byte
before every timeout could hold a connection forever. SocketReader adds a
deadline for the whole request on top of the per-read timeout.
"""

import io
import re
import socket
import time
from email.message import Message
from typing import BinaryIO

MAX_LINE = 1024  # bytes in a chunk-size line or a trailer line
MAX_TRAILER_LINES = 64
MAX_LENGTH_DIGITS = 19  # a Content-Length of 20 digits or more is far above any body limit
WIRE_FACTOR = 2  # a chunked body may take this many times the body limit on the wire, framing included
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class BodyError(Exception):
    """A request body that cannot be read; `status` is the HTTP status to return."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class DeadlineExceeded(TimeoutError):
    """The request was not complete by the reader's deadline, although each read was within the timeout."""


class SocketReader(io.RawIOBase):
    """The receiving side of a connection, with a timeout per read and an optional deadline for all reads.

    Wrap it in io.BufferedReader. A read that stays silent for `read_timeout`
    seconds raises TimeoutError; any read at or after `deadline` (a
    time.monotonic() value) raises DeadlineExceeded.
    """

    def __init__(self, connection: socket.socket, read_timeout: float, deadline: float | None = None):
        super().__init__()
        self._connection = connection
        self.read_timeout = read_timeout
        self.deadline = deadline

    def shorten(self, deadline: float) -> None:
        """Move the deadline earlier to `deadline`; a later value leaves it unchanged."""
        if self.deadline is None or deadline < self.deadline:
            self.deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        # The deadline may be shortened from another thread, so it is read once per call.
        deadline = self.deadline
        timeout = self.read_timeout
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded("the request was not complete by its deadline")
            timeout = min(timeout, remaining)

        self._connection.settimeout(timeout)
        try:
            return self._connection.recv_into(buffer)
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                raise DeadlineExceeded("the request was not complete by its deadline") from None
            raise


def read_body(stream: BinaryIO, headers: Message, max_bytes: int, *, max_wire_bytes: int | None = None) -> bytes:
    """Read the request body from `stream` as `headers` frame it, at most `max_bytes`.

    A chunked body may take at most `max_wire_bytes` on the wire, chunk
    framing included (default WIRE_FACTOR times `max_bytes`). Raises
    BodyError with 411 (no length), 413 (too large), 501 (unsupported
    transfer coding) or 400 (malformed or cut short). A socket timeout
    propagates as TimeoutError, a passed deadline as DeadlineExceeded.
    """
    transfer_encoding = headers.get("Transfer-Encoding")
    if transfer_encoding is not None:
        codings = [coding.strip().lower() for coding in transfer_encoding.split(",") if coding.strip()]
        if codings != ["chunked"]:
            raise BodyError(501, f"Transfer-Encoding {transfer_encoding[:40]!r} is not supported: send chunked or a Content-Length body")
        if max_wire_bytes is None:
            max_wire_bytes = WIRE_FACTOR * max_bytes
        return read_chunked(stream, max_bytes, max_wire_bytes)

    length = content_length(headers, max_bytes)
    body = stream.read(length)
    if len(body) < length:
        raise BodyError(400, f"body ended after {len(body)} of {length} bytes")
    return body


def content_length(headers: Message, max_bytes: int) -> int:
    """Return the request's Content-Length, checked against `max_bytes`, or raise BodyError."""
    lengths = headers.get_all("Content-Length") or []
    if not lengths:
        raise BodyError(411, "Content-Length is missing: send the body with a Content-Length or chunked")
    if len(set(value.strip() for value in lengths)) != 1:
        raise BodyError(400, "Content-Length is given more than once with different values")

    text = lengths[0].strip()
    # str.isdigit() alone also accepts characters such as "²" that int() rejects.
    if not (text.isascii() and text.isdigit()):
        raise BodyError(400, f"Content-Length {text[:20]!r} is not a whole number of bytes")
    # Checking the digit count first keeps int() away from a header of thousands of digits.
    digits = text.lstrip("0") or "0"
    if len(digits) > MAX_LENGTH_DIGITS:
        raise BodyError(413, f"Content-Length of {len(digits)} digits is larger than the limit of {max_bytes} bytes")

    length = int(digits)
    if length > max_bytes:
        raise BodyError(413, f"body of {length} bytes is larger than the limit of {max_bytes} bytes")
    return length


def read_chunked(stream: BinaryIO, max_bytes: int, max_wire_bytes: int) -> bytes:
    """Decode a chunked body (RFC 9112 section 7.1); chunk extensions and trailers are read and dropped.

    Many tiny chunks or long chunk extensions make the framing much larger
    than the data, so the bytes read from the wire are capped as well.
    """
    chunks: list[bytes] = []
    total = 0
    wire = _WireCount(max_wire_bytes)
    while True:
        size = _read_chunk_size(stream, wire)
        if size == 0:
            break
        if total + size > max_bytes:
            raise BodyError(413, f"chunked body is larger than the limit of {max_bytes} bytes")
        wire.add(size)

        chunk = stream.read(size)
        if len(chunk) < size:
            raise BodyError(400, "chunked body ended inside a chunk")
        chunks.append(chunk)
        total += size

        if wire.line(stream.readline(MAX_LINE)) not in (b"\r\n", b"\n"):
            raise BodyError(400, "chunked body is malformed: a chunk is not followed by CRLF")

    _skip_trailers(stream, wire)
    return b"".join(chunks)


class _WireCount:
    """Bytes of a chunked body read from the wire so far, against a cap."""

    def __init__(self, limit: int):
        self.limit = limit
        self.count = 0

    def add(self, size: int) -> None:
        self.count += size
        if self.count > self.limit:
            raise BodyError(413, f"chunked body takes more than {self.limit} bytes on the wire with its chunk framing")

    def line(self, line: bytes) -> bytes:
        self.add(len(line))
        return line


def _read_chunk_size(stream: BinaryIO, wire: _WireCount) -> int:
    line = wire.line(stream.readline(MAX_LINE + 1))
    if not line:
        raise BodyError(400, "chunked body ended before the last chunk")
    if len(line) > MAX_LINE or not line.endswith(b"\n"):
        raise BodyError(400, "chunked body is malformed: a chunk-size line is too long")

    size_text = line.split(b";", 1)[0].strip()
    if not _CHUNK_SIZE.fullmatch(size_text):
        raise BodyError(400, f"chunked body is malformed: chunk size {size_text[:20]!r} is not hexadecimal")
    return int(size_text, 16)


def _skip_trailers(stream: BinaryIO, wire: _WireCount) -> None:
    for _ in range(MAX_TRAILER_LINES):
        line = wire.line(stream.readline(MAX_LINE + 1))
        # An empty read means the client closed its side right after the last chunk, which is tolerated.
        if line in (b"\r\n", b"\n", b""):
            return
        if len(line) > MAX_LINE:
            raise BodyError(400, "chunked body is malformed: a trailer line is too long")
    raise BodyError(400, f"chunked body has more than {MAX_TRAILER_LINES} trailer lines")
