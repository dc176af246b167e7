"""HMAC-SHA256 signatures of Tripleseat webhook deliveries, from the `X-Signature` header.

NOTE: Tripleseat does not publish the exact signature format. The default
scheme "auto" accepts the Stripe-like `t=<unix seconds>,v1=<hex>` header over
`b"<t>." + body`, then a bare hex digest of the body, then a base64 digest.
The server logs the scheme that matched at INFO on the first verified
delivery, so an operator can pin it with `--signature-scheme`.

Every check works on the raw body bytes: a body that was parsed and
re-serialised no longer verifies.
"""

import base64
import binascii
import hashlib
import hmac
import time

from tsync.errors import TsyncError

SIGNATURE_HEADER = "X-Signature"
SCHEMES = ("auto", "t_v1", "hex", "base64")
DEFAULT_TOLERANCE = 300  # seconds, applied to timestamps in the past and in the future
MAX_TIMESTAMP_DIGITS = 12  # unix seconds fit in 10 digits until the year 2286


class SignatureError(TsyncError):
    """A delivery's signature is missing, malformed, expired or does not match."""


def sign(body: bytes, secret: str, *, timestamp: int | None = None, scheme: str = "t_v1") -> str:
    """Return an `X-Signature` header value for `body` in the given scheme.

    `timestamp` (unix seconds, default now) is used by the t_v1 scheme only.
    """
    key = _key(secret)
    if scheme == "t_v1":
        stamp = int(time.time()) if timestamp is None else int(timestamp)
        return f"t={stamp},v1={_hex_digest(key, _timestamped(stamp, body))}"
    if scheme == "hex":
        return _hex_digest(key, body)
    if scheme == "base64":
        return _base64_digest(key, body)
    raise ValueError(f"signature scheme {scheme!r} cannot sign: use t_v1, hex or base64")


def verify(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    scheme: str = "auto",
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> str:
    """Check the `X-Signature` header against `body` and return the scheme that matched.

    Raises SignatureError naming what failed: a missing header, a malformed
    one, a timestamp outside `tolerance` seconds of `now`, or no match.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"signature scheme {scheme!r} is not valid: use one of {', '.join(SCHEMES)}")
    key = _key(secret)
    header = (header or "").strip()
    if not header:
        raise SignatureError(f"{SIGNATURE_HEADER} header is missing")

    if scheme == "t_v1" or (scheme == "auto" and _has_timestamp(header)):
        _verify_t_v1(body, header, key, tolerance=tolerance, now=time.time() if now is None else now)
        return "t_v1"

    candidates = ("hex", "base64") if scheme == "auto" else (scheme,)
    for candidate in candidates:
        if candidate == "hex" and _matches_hex(body, header, key):
            return "hex"
        if candidate == "base64" and _matches_base64(body, header, key):
            return "base64"
    raise SignatureError(f"{SIGNATURE_HEADER} does not match the body (scheme {scheme})")


def _verify_t_v1(body: bytes, header: str, key: bytes, *, tolerance: float, now: float) -> None:
    timestamp, signatures = _parse_t_v1(header)
    expected = _hex_digest(key, _timestamped(timestamp, body))

    # Compare against every v1 entry, so a sender can list old and new keys during rotation.
    matched = False
    for signature in signatures:
        if hmac.compare_digest(expected.encode("ascii"), signature.lower().encode("ascii", "replace")):
            matched = True
    if not matched:
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body (scheme t_v1)")

    age = now - timestamp
    if abs(age) > tolerance:
        direction = "old" if age > 0 else "in the future"
        raise SignatureError(
            f"{SIGNATURE_HEADER} timestamp {timestamp} is outside the tolerance: "
            f"{abs(age):.0f} s {direction}, allowed {tolerance:.0f} s (check the server clock)"
        )


def _parse_t_v1(header: str) -> tuple[int, list[str]]:
    timestamp = None
    signatures: list[str] = []
    for part in header.split(","):
        name, separator, value = part.strip().partition("=")
        if not separator:
            raise SignatureError(f"{SIGNATURE_HEADER} is malformed: expected t=<unix seconds>,v1=<hex>")
        if name == "t":
            # str.isdigit() alone also accepts characters such as "²" that int() rejects.
            if not (value.isascii() and value.isdigit() and len(value) <= MAX_TIMESTAMP_DIGITS):
                raise SignatureError(f"{SIGNATURE_HEADER} is malformed: timestamp t must be whole unix seconds")
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value)
        # Other entries (for example a future v2) are ignored, as Stripe's format allows.

    if timestamp is None:
        raise SignatureError(f"{SIGNATURE_HEADER} is malformed: the t=<unix seconds> entry is missing")
    if not signatures:
        raise SignatureError(f"{SIGNATURE_HEADER} is malformed: no v1=<hex> entry")
    return timestamp, signatures


def _has_timestamp(header: str) -> bool:
    return any(part.strip().startswith("t=") for part in header.split(","))


def _matches_hex(body: bytes, header: str, key: bytes) -> bool:
    value = header
    if value.lower().startswith("sha256="):
        value = value[len("sha256="):]
    expected = _hex_digest(key, body)
    return hmac.compare_digest(expected.encode("ascii"), value.lower().encode("ascii", "replace"))


def _matches_base64(body: bytes, header: str, key: bytes) -> bool:
    try:
        received = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(key, body, hashlib.sha256).digest()
    return hmac.compare_digest(expected, received)


def _key(secret: str) -> bytes:
    if not secret:
        raise ValueError("webhook signing key is empty")
    return secret.encode("utf-8")


def _timestamped(timestamp: int, body: bytes) -> bytes:
    return str(timestamp).encode("ascii") + b"." + body


def _hex_digest(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _base64_digest(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")
