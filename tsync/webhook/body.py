"""Reading request bodies for the webhook server, with a size limit.

The stdlib's BaseHTTPRequestHandler reads nothing by itself and leaves
`Transfer-Encoding: chunked` undecoded, so a chunked delivery would look
empty. This module decodes chunked bodies and enforces the limit while
decoding, before the whole body is in memory.
"""

import re
from email.message import Message
from typing import BinaryIO

MAX_LINE = 1024  # bytes in a chunk-size line or a trailer line
MAX_TRAILER_LINES = 64
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class BodyError(Exception):
    """A request body that cannot be read; `status` is the HTTP status to return."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def read_body(stream: BinaryIO, headers: Message, max_bytes: int) -> bytes:
    """Read the request body from `stream` as `headers` frame it, at most `max_bytes`.

    Raises BodyError with 411 (no length), 413 (too large), 501 (unsupported
    transfer coding) or 400 (malformed or cut short). A socket timeout
    propagates as TimeoutError.
    """
    transfer_encoding = headers.get("Transfer-Encoding")
    if transfer_encoding is not None:
        codings = [coding.strip().lower() for coding in transfer_encoding.split(",") if coding.strip()]
        if codings != ["chunked"]:
            raise BodyError(501, f"Transfer-Encoding {transfer_encoding!r} is not supported: send chunked or a Content-Length body")
        return read_chunked(stream, max_bytes)

    lengths = headers.get_all("Content-Length") or []
    if not lengths:
        raise BodyError(411, "Content-Length is missing: send the body with a Content-Length or chunked")
    if len(set(value.strip() for value in lengths)) != 1:
        raise BodyError(400, "Content-Length is given more than once with different values")
    text = lengths[0].strip()
    if not text.isascii() or not text.isdigit():
        raise BodyError(400, f"Content-Length {text[:20]!r} is not a whole number of bytes")

    length = int(text)
    if length > max_bytes:
        raise BodyError(413, f"body of {length} bytes is larger than the limit of {max_bytes} bytes")
    body = stream.read(length)
    if len(body) < length:
        raise BodyError(400, f"body ended after {len(body)} of {length} bytes")
    return body


def read_chunked(stream: BinaryIO, max_bytes: int) -> bytes:
    """Decode a chunked body (RFC 9112 section 7.1); chunk extensions and trailers are read and dropped."""
    chunks: list[bytes] = []
    total = 0
    while True:
        size = _read_chunk_size(stream)
        if size == 0:
            break
        if total + size > max_bytes:
            raise BodyError(413, f"chunked body is larger than the limit of {max_bytes} bytes")

        chunk = stream.read(size)
        if len(chunk) < size:
            raise BodyError(400, "chunked body ended inside a chunk")
        chunks.append(chunk)
        total += size

        if stream.readline(MAX_LINE) not in (b"\r\n", b"\n"):
            raise BodyError(400, "chunked body is malformed: a chunk is not followed by CRLF")

    _skip_trailers(stream)
    return b"".join(chunks)


def _read_chunk_size(stream: BinaryIO) -> int:
    line = stream.readline(MAX_LINE + 1)
    if not line:
        raise BodyError(400, "chunked body ended before the last chunk")
    if len(line) > MAX_LINE or not line.endswith(b"\n"):
        raise BodyError(400, "chunked body is malformed: a chunk-size line is too long")

    size_text = line.split(b";", 1)[0].strip()
    if not _CHUNK_SIZE.fullmatch(size_text):
        raise BodyError(400, f"chunked body is malformed: chunk size {size_text[:20]!r} is not hexadecimal")
    return int(size_text, 16)


def _skip_trailers(stream: BinaryIO) -> None:
    for _ in range(MAX_TRAILER_LINES):
        line = stream.readline(MAX_LINE + 1)
        # An empty read means the client closed its side right after the last chunk, which is tolerated.
        if line in (b"\r\n", b"\n", b""):
            return
        if len(line) > MAX_LINE:
            raise BodyError(400, "chunked body is malformed: a trailer line is too long")
    raise BodyError(400, f"chunked body has more than {MAX_TRAILER_LINES} trailer lines")
