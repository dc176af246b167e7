import logging
import threading
from email.utils import format_datetime
from datetime import datetime, timezone

import pytest
import requests

from tsync.errors import ApiError, AuthError, NotFoundError, TransientError
from tsync.http import RateLimiter, RetryPolicy, parse_json, parse_retry_after, send_request

URL = "https://api.example.test/v1/events/search.json"


class FakeClock:
    """A monotonic clock that only moves when `sleep` is called."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def send(session, policy=None, sleeps=None, **kwargs):
    recorded = sleeps if sleeps is not None else []
    return send_request(
        session, "GET", URL, timeout=7.5, service="Tripleseat", policy=policy, sleep=recorded.append, **kwargs
    )


def get_response(requests_mock, **mock_kwargs):
    requests_mock.get(URL, **mock_kwargs)
    return requests.get(URL)


# RateLimiter


def test_rate_limiter_spaces_calls():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)

    for _ in range(3):
        limiter.wait()

    assert clock.sleeps == pytest.approx([0.25, 0.25])
    assert clock.now == 1000.5


def test_rate_limiter_no_wait_after_idle():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep)

    limiter.wait()
    clock.now += 5
    limiter.wait()

    assert clock.sleeps == []


def test_rate_limiter_threads_get_distinct_slots():
    sleeps: list[float] = []
    lock = threading.Lock()

    def record(seconds):
        with lock:
            sleeps.append(seconds)

    limiter = RateLimiter(10, clock=lambda: 50.0, sleep=record)
    threads = [threading.Thread(target=limiter.wait) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(round(value, 6) for value in sleeps) == [round(0.1 * n, 6) for n in range(1, 8)]


def test_rate_limiter_rejects_zero_rate():
    with pytest.raises(ValueError, match="above 0"):
        RateLimiter(0)


# RetryPolicy and Retry-After


def test_retry_policy_backoff_grows_with_jitter():
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)

    for retry_number, low in [(1, 0.5), (2, 1.0), (3, 2.0)]:
        delay = policy.delay_before(retry_number)
        assert low <= delay <= low + 0.5


def test_retry_policy_backoff_capped():
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)

    assert policy.delay_before(12) == 30.0


def test_retry_policy_retry_after_wins_and_is_capped():
    policy = RetryPolicy(retry_after_cap=60.0)

    assert policy.delay_before(1, retry_after=2.0) == 2.0
    assert policy.delay_before(1, retry_after=600.0) == 60.0


def test_parse_retry_after_seconds():
    assert parse_retry_after("2", now=0) == 2.0
    assert parse_retry_after(" 1.5 ", now=0) == 1.5


def test_parse_retry_after_http_date():
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = datetime(2026, 5, 1, 12, 0, 30, tzinfo=timezone.utc)

    assert parse_retry_after(format_datetime(later, usegmt=True), now=now.timestamp()) == 30.0


def test_parse_retry_after_past_date_is_zero():
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)

    assert parse_retry_after("Fri, 01 May 2026 11:00:00 GMT", now=now.timestamp()) == 0.0


def test_parse_retry_after_unreadable():
    assert parse_retry_after(None, now=0) is None
    assert parse_retry_after("", now=0) is None
    assert parse_retry_after("soon", now=0) is None
    assert parse_retry_after("nan", now=0) is None


# send_request


def test_send_request_passes_timeout(requests_mock):
    requests_mock.get(URL, json={})

    send(requests.Session())

    assert requests_mock.call_count == 1
    assert requests_mock.request_history[0].timeout == 7.5


def test_send_request_retries_503_then_succeeds(requests_mock):
    requests_mock.get(URL, [{"status_code": 503}, {"status_code": 503}, {"json": {"ok": 1}}])
    sleeps: list[float] = []

    response = send(requests.Session(), RetryPolicy(), sleeps)

    assert response.json() == {"ok": 1}
    assert requests_mock.call_count == 3
    assert len(sleeps) == 2


def test_send_request_gives_up_after_max_attempts(requests_mock):
    requests_mock.get(URL, status_code=502)
    sleeps: list[float] = []

    with pytest.raises(TransientError) as raised:
        send(requests.Session(), RetryPolicy(max_attempts=3), sleeps, params={"site_id": "9"})

    assert requests_mock.call_count == 3
    assert len(sleeps) == 2
    assert raised.value.status == 502
    message = str(raised.value)
    assert "Tripleseat GET /v1/events/search.json" in message
    assert "after 3 attempts" in message
    assert "HTTP 502" in message
    assert "site_id" not in message


def test_send_request_retries_connection_error(requests_mock):
    requests_mock.get(URL, [{"exc": requests.exceptions.ConnectionError("refused")}, {"json": {}}])

    send(requests.Session(), RetryPolicy())

    assert requests_mock.call_count == 2


def test_send_request_exhausted_timeouts_name_error(requests_mock):
    requests_mock.get(URL, exc=requests.exceptions.ReadTimeout)

    with pytest.raises(TransientError, match=r"last: timed out after 7.5 s") as raised:
        send(requests.Session(), RetryPolicy(max_attempts=2))

    assert requests_mock.call_count == 2
    assert raised.value.status is None


def test_send_request_no_policy_sends_once(requests_mock):
    requests_mock.get(URL, status_code=503)

    response = send(requests.Session())

    assert response.status_code == 503
    assert requests_mock.call_count == 1


def test_send_request_no_policy_maps_timeout(requests_mock):
    requests_mock.get(URL, exc=requests.exceptions.ConnectTimeout)

    with pytest.raises(TransientError, match="Tripleseat GET /v1/events/search.json failed: timed out"):
        send(requests.Session())

    assert requests_mock.call_count == 1


def test_send_request_does_not_retry_400(requests_mock):
    requests_mock.get(URL, status_code=400, json={"error": "bad"})
    sleeps: list[float] = []

    response = send(requests.Session(), RetryPolicy(), sleeps)

    assert response.status_code == 400
    assert requests_mock.call_count == 1
    assert sleeps == []


def test_send_request_rate_limit_only_retries_429(requests_mock):
    requests_mock.get(URL, [{"status_code": 429, "headers": {"Retry-After": "3"}}, {"status_code": 201}])
    sleeps: list[float] = []

    response = send(requests.Session(), RetryPolicy(rate_limit_only=True), sleeps)

    assert response.status_code == 201
    assert sleeps == [3.0]


def test_send_request_rate_limit_only_keeps_5xx(requests_mock):
    requests_mock.get(URL, status_code=500)

    response = send(requests.Session(), RetryPolicy(rate_limit_only=True))

    assert response.status_code == 500
    assert requests_mock.call_count == 1


def test_send_request_rate_limit_only_raises_on_timeout(requests_mock):
    requests_mock.get(URL, exc=requests.exceptions.ReadTimeout)

    with pytest.raises(TransientError):
        send(requests.Session(), RetryPolicy(rate_limit_only=True))

    assert requests_mock.call_count == 1


def test_send_request_uses_limiter(requests_mock):
    requests_mock.get(URL, json={})
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)

    for _ in range(3):
        send(requests.Session(), limiter=limiter)

    assert clock.sleeps == pytest.approx([0.2, 0.2])


def test_send_request_logs_retry_path_only(requests_mock, caplog):
    requests_mock.get(URL, [{"status_code": 429, "headers": {"Retry-After": "1"}}, {"json": {}}])

    with caplog.at_level(logging.WARNING, logger="tsync"):
        send(requests.Session(), RetryPolicy(), params={"api_secret": "hush"})

    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "/v1/events/search.json" in message
    assert "HTTP 429" in message
    assert "retry 1 of 4 in 1.0 s" in message
    assert "hush" not in message


# parse_json


def test_parse_json_returns_body(requests_mock):
    response = get_response(requests_mock, json={"event": {"id": 1}})

    assert parse_json(response, "Tripleseat") == {"event": {"id": 1}}


def test_parse_json_html_raises_api_error(requests_mock):
    response = get_response(
        requests_mock, text="<!DOCTYPE html><html>Sign in</html>", headers={"Content-Type": "text/html"}
    )

    with pytest.raises(ApiError) as raised:
        parse_json(response, "Tripleseat")

    assert str(raised.value) == (
        f"Tripleseat returned HTML instead of JSON from {URL} (HTTP 200): "
        "check TRIPLESEAT_API_URL and the credentials"
    )
    assert raised.value.status == 200


def test_parse_json_html_without_content_type(requests_mock):
    response = get_response(requests_mock, text="  <html>login</html>", headers={"Content-Type": "application/json"})

    with pytest.raises(ApiError, match="returned HTML instead of JSON"):
        parse_json(response, "Revel")


def test_parse_json_plain_text_raises_api_error(requests_mock):
    response = get_response(requests_mock, text="upstream broke", headers={"Content-Type": "text/plain"})

    with pytest.raises(ApiError, match=r"Revel returned a body that is not JSON from .* \(HTTP 200\): check REVEL_API_URL"):
        parse_json(response, "Revel")


@pytest.mark.parametrize(
    "status, error_type",
    [(401, AuthError), (403, AuthError), (404, NotFoundError), (400, ApiError), (422, ApiError), (500, TransientError), (503, TransientError)],
)
def test_parse_json_status_maps_to_error(requests_mock, status, error_type):
    response = get_response(requests_mock, status_code=status, json={"error": "nope"})

    with pytest.raises(error_type) as raised:
        parse_json(response, "Tripleseat")

    assert type(raised.value) is error_type
    assert raised.value.status == status
    assert f"HTTP {status}: nope" in str(raised.value)


def test_parse_json_401_names_credentials(requests_mock):
    response = get_response(requests_mock, status_code=401, json={"error": "Token resource owner not found"})

    with pytest.raises(AuthError, match="check TRIPLESEAT_CLIENT_ID and TRIPLESEAT_CLIENT_SECRET"):
        parse_json(response, "Tripleseat")


def test_parse_json_422_flattens_errors(requests_mock):
    body = {"errors": {"contact": ["must be selected"], "booking": ["is invalid"]}}
    response = get_response(requests_mock, status_code=422, json=body)

    with pytest.raises(ApiError) as raised:
        parse_json(response, "Tripleseat")

    assert "HTTP 422: contact: must be selected; booking: is invalid" in str(raised.value)


def test_parse_json_error_message_shortened(requests_mock):
    response = get_response(requests_mock, status_code=400, json={"error": "x" * 5000})

    with pytest.raises(ApiError) as raised:
        parse_json(response, "Revel")

    assert len(str(raised.value)) < 300
    assert str(raised.value).endswith("...)")


def test_parse_json_error_html_body_not_echoed(requests_mock):
    response = get_response(requests_mock, status_code=400, text="<html><body>Jane Guest</body></html>")

    with pytest.raises(ApiError) as raised:
        parse_json(response, "Revel")

    assert "Jane" not in str(raised.value)
    assert str(raised.value) == f"Revel rejected GET {URL} (HTTP 400)"
