"""The request helper that the Tripleseat and Revel clients share.

`send_request` puts a timeout on every request, spaces requests with a
RateLimiter and, when given a RetryPolicy, retries 429, 5xx, timeouts and
connection errors with exponential back-off. `check_status` and `parse_json`
turn a response into decoded JSON or one typed error (see tsync.errors) whose
message names the service, the URL and the HTTP status.
"""

import email.utils
import logging
import math
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import timezone
from urllib.parse import urlsplit, urlunsplit

import requests

from tsync.errors import ApiError, AuthError, NotFoundError, TransientError

logger = logging.getLogger(__name__)

# The setting a user checks when a service responds with something other than JSON,
# and the settings that contain its credentials.
URL_SETTINGS = {"Tripleseat": "TRIPLESEAT_API_URL", "Revel": "REVEL_API_URL"}
CREDENTIAL_SETTINGS = {
    "Tripleseat": "TRIPLESEAT_CLIENT_ID and TRIPLESEAT_CLIENT_SECRET",
    "Revel": "REVEL_API_KEY and REVEL_API_SECRET",
}

# Keys under which Tripleseat, Tastypie (Revel) and OAuth servers put an error message.
ERROR_KEYS = ("error_description", "error", "errors", "error_message", "errorMsg", "message", "detail")
MAX_MESSAGE_LENGTH = 200


class RateLimiter:
    """Spacing of request starts so that at most `per_second` start in any second.

    Thread-safe: each `wait()` reserves the next free start time under a lock,
    then sleeps outside the lock until that time.
    """

    def __init__(self, per_second: float, clock=time.monotonic, sleep=time.sleep):
        if not per_second > 0:
            raise ValueError(f"rate limit must be above 0 requests per second, got {per_second!r}")
        self.interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start: float | None = None

    def wait(self) -> None:
        """Block until the caller may start its request."""
        with self._lock:
            now = self._clock()
            start = now if self._next_start is None else max(now, self._next_start)
            self._next_start = start + self.interval

        delay = start - now
        if delay > 0:
            self._sleep(delay)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long `send_request` waits before sending a request again.

    Delays are in seconds. With `rate_limit_only`, only 429 responses are
    retried: callers set it for writes, where a timeout or a 5xx leaves the
    outcome unknown and re-sending could create a duplicate.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    retry_after_cap: float = 60.0
    rate_limit_only: bool = False

    def should_retry(self, status: int) -> bool:
        if status == 429:
            return True
        return status >= 500 and not self.rate_limit_only

    def delay_before(self, retry_number: int, retry_after: float | None = None) -> float:
        """Return the sleep before retry `retry_number` (1 for the first retry).

        A server's Retry-After wins, capped at `retry_after_cap`. Otherwise the
        delay is base_delay * 2**(n-1) plus up to base_delay of random jitter,
        capped at max_delay.
        """
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        backoff = self.base_delay * 2 ** (retry_number - 1)
        return min(self.max_delay, backoff + random.uniform(0, self.base_delay))


def send_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    service: str,
    policy: RetryPolicy | None = None,
    limiter: RateLimiter | None = None,
    sleep=time.sleep,
    clock=time.time,
    **kwargs,
) -> requests.Response:
    """Send one request, retrying it as `policy` allows, and return the response.

    The response is returned whatever its status unless the policy retried it
    and every attempt failed. Raises TransientError when the retries run out,
    or, without a policy, on the first timeout or connection error; its
    `reason` attribute contains only the last failure ("HTTP 503"). Any other
    requests failure (an invalid URL, say) raises ApiError. `clock` is the wall
    clock used to read a Retry-After given as an HTTP date.
    """
    path = urlsplit(url).path
    max_attempts = policy.max_attempts if policy else 1
    last_failure = ""
    last_status: int | None = None

    for attempt in range(1, max_attempts + 1):
        if limiter is not None:
            limiter.wait()

        retry_after = None
        try:
            response = session.request(method, url, timeout=timeout, **kwargs)
        except (requests.Timeout, requests.ConnectionError) as error:
            last_failure = describe_network_error(error, timeout)
            last_status = None
            if policy is None or policy.rate_limit_only:
                failure = TransientError(f"{service} {method} {path} failed: {last_failure}; try again later", url=strip_query(url))
                failure.reason = last_failure
                raise failure from None
        except requests.RequestException as error:
            raise ApiError(
                f"{service} {method} {path} could not be sent ({type(error).__name__}): check {URL_SETTINGS.get(service, 'the API URL')}",
                url=strip_query(url),
            ) from None
        else:
            if policy is None or not policy.should_retry(response.status_code):
                return response
            last_failure = f"HTTP {response.status_code}"
            last_status = response.status_code
            retry_after = parse_retry_after(response.headers.get("Retry-After"), clock())

        if attempt == max_attempts:
            break

        delay = policy.delay_before(attempt, retry_after)
        logger.warning(
            "%s %s %s failed (%s); retry %d of %d in %.1f s",
            service, method, path, last_failure, attempt, max_attempts - 1, delay,
        )
        sleep(delay)

    failure = TransientError(
        f"{service} {method} {path} failed after {max_attempts} attempts (last: {last_failure}); try again later",
        url=strip_query(url),
        status=last_status,
    )
    failure.reason = last_failure
    raise failure


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Return the wait in seconds that a Retry-After header requests, or None when absent or unreadable.

    The header contains either a number of seconds or an HTTP date. `now` is
    the current Unix time, which a date is measured from.
    """
    if not value or not value.strip():
        return None
    text = value.strip()

    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - now

    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def check_status(response: requests.Response, service: str) -> None:
    """Raise the typed error for a 4xx or 5xx response; return for any other status.

    401 and 403 raise AuthError, 404 NotFoundError, 5xx TransientError and any
    other 4xx ApiError with the service's own message when the body has one.
    """
    status = response.status_code
    if status < 400:
        return

    url = strip_query(response.url or "")
    method = response.request.method if response.request is not None else "request"
    detail = error_message(response)
    suffix = f": {detail}" if detail else ""

    if status in (401, 403):
        if status == 401:
            hint = f"check {CREDENTIAL_SETTINGS.get(service, 'the API credentials')}"
        else:
            hint = "check that the credentials may read and write this resource"
        raise AuthError(f"{service} rejected the credentials for {method} {url} (HTTP {status}{suffix}): {hint}", url=url, status=status)
    if status == 404:
        raise NotFoundError(f"{service} found nothing at {method} {url} (HTTP 404{suffix})", url=url, status=status)
    if status >= 500:
        raise TransientError(f"{service} failed on {method} {url} (HTTP {status}{suffix}); try again later", url=url, status=status)
    raise ApiError(f"{service} rejected {method} {url} (HTTP {status}{suffix})", url=url, status=status)


def parse_json(response: requests.Response, service: str):
    """Return the decoded JSON body of a successful response.

    Raises the typed error of `check_status` for a 4xx or 5xx, and ApiError
    naming the URL and status when the body is HTML or otherwise not JSON
    (a login page or a proxy's error page, usually).
    """
    check_status(response, service)

    url = strip_query(response.url or "")
    hint = f"check {URL_SETTINGS.get(service, 'the API URL')} and the credentials"
    if looks_like_html(response):
        raise ApiError(
            f"{service} returned HTML instead of JSON from {url} (HTTP {response.status_code}): {hint}",
            url=url,
            status=response.status_code,
        )
    try:
        return response.json()
    except ValueError:
        raise ApiError(
            f"{service} returned a body that is not JSON from {url} (HTTP {response.status_code}): {hint}",
            url=url,
            status=response.status_code,
        ) from None


def looks_like_html(response: requests.Response) -> bool:
    content_type = response.headers.get("Content-Type", "").lower()
    if "html" in content_type:
        return True
    return response.content.lstrip()[:1] == b"<"


def error_message(response: requests.Response) -> str:
    """Return the short error text of an error response, or "" when it has none.

    Only the message is kept, cut to MAX_MESSAGE_LENGTH characters, because a
    whole body can echo guests' names and contact details.
    """
    if looks_like_html(response):
        return ""
    try:
        body = response.json()
    except ValueError:
        first_line = response.text.strip().splitlines()[0] if response.text.strip() else ""
        return shorten(first_line)

    if isinstance(body, dict):
        for key in ERROR_KEYS:
            if body.get(key):
                return shorten(flatten_message(body[key]))
        # Tastypie validation errors are keyed by resource or field name.
        if body and all(isinstance(value, (dict, list)) for value in body.values()):
            return shorten(flatten_message(body))
    if isinstance(body, list):
        return shorten(flatten_message(body))
    return ""


def flatten_message(value) -> str:
    """Join a string, a list or a {field: [messages]} mapping into one line."""
    if isinstance(value, dict):
        parts = []
        for key, inner in value.items():
            text = flatten_message(inner)
            parts.append(f"{key}: {text}" if text else str(key))
        return "; ".join(parts)
    if isinstance(value, (list, tuple)):
        return "; ".join(flatten_message(item) for item in value if item not in (None, ""))
    return " ".join(str(value).split())


def shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= MAX_MESSAGE_LENGTH:
        return text
    return text[: MAX_MESSAGE_LENGTH - 3] + "..."


def strip_query(url: str) -> str:
    """Return the URL without its query string and fragment, for messages."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def describe_network_error(error: requests.RequestException, timeout: float) -> str:
    if isinstance(error, requests.Timeout):
        return f"timed out after {timeout:g} s"
    # str(error) repeats the whole URL and urllib3's retry wrapper, so keep only the OS reason.
    match = re.search(r"\[Errno -?\d+\] [^'\")]+", str(error))
    reason = match.group(0).strip() if match else type(error).__name__
    return f"connection failed ({reason})"
