from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import tsync.tripleseat as tripleseat_module
from tsync.config import settings_from_values
from tsync.errors import ApiError, AuthError, InputError, NotFoundError, TransientError
from tsync.http import RateLimiter
from tsync.store import Store
from tsync.tripleseat import TripleseatClient

BASE = "https://api.tripleseat.com"
TOKEN_URL = f"{BASE}/oauth2/token"
EVENT_URL = f"{BASE}/v1/events/123.json"
SEARCH_URL = f"{BASE}/v1/events/search.json"
START_TIME = 1_780_000_000.0


def make_settings(**overrides):
    values = {
        "TRIPLESEAT_CLIENT_ID": "client-abc",
        "TRIPLESEAT_CLIENT_SECRET": "secret-xyz",
        "REVEL_API_URL": "https://acme.revelup.com",
        "REVEL_API_KEY": "key",
        "REVEL_API_SECRET": "secret",
        "REVEL_LOCATION_ID": "1",
        "REVEL_ESTABLISHMENT_ID": "7",
        "TSYNC_TIMEZONE": "America/New_York",
        "TSYNC_HTTP_TIMEOUT": "12",
    }
    values.update(overrides)
    return settings_from_values(values)


class WallClock:
    def __init__(self, now: float = START_TIME):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Limiter:
    """A RateLimiter on a fake clock that moves only when the limiter sleeps."""

    def __init__(self, per_second: float):
        self.now = 0.0
        self.sleeps: list[float] = []
        self.limiter = RateLimiter(per_second, clock=lambda: self.now, sleep=self._sleep)

    def _sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(settings=None, store=None, clock=None, sleeps=None, limiter=None):
    """Return a client whose retry sleeps go to `sleeps` and whose rate limiter runs on its own fake clock."""
    settings = settings or make_settings()
    recorded = sleeps if sleeps is not None else []
    limiter = limiter or Limiter(settings.tripleseat_rate_limit)
    return TripleseatClient(
        settings,
        store=store,
        session=requests.Session(),
        sleep=recorded.append,
        clock=clock or WallClock(),
        rate_limiter=limiter.limiter,
    )


def mock_token(requests_mock, *tokens, url=TOKEN_URL):
    responses = [{"json": {"access_token": token, "token_type": "Bearer", "expires_in": 7200}} for token in tokens]
    return requests_mock.post(url, responses)


def query_of(request) -> dict[str, list[str]]:
    # requests_mock's own `qs` lower-cases values, so parse the URL directly.
    return parse_qs(urlsplit(request.url).query)


def bearer(request) -> str:
    return request.headers["Authorization"]


# access token


def test_token_fetched_once_and_reused(requests_mock):
    token = mock_token(requests_mock, "tok-1")
    event = requests_mock.get(EVENT_URL, json={"event": {"id": 123}})
    client = make_client()

    client.get_event(123)
    client.get_event(123)

    assert token.call_count == 1
    assert event.call_count == 2
    assert [bearer(request) for request in event.request_history] == ["Bearer tok-1", "Bearer tok-1"]
    form = parse_qs(token.last_request.text)
    assert form == {"grant_type": ["client_credentials"], "client_id": ["client-abc"], "client_secret": ["secret-xyz"]}
    assert token.last_request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_token_reused_from_store_across_clients(requests_mock, tmp_path):
    token = mock_token(requests_mock, "tok-1", "tok-2")
    event = requests_mock.get(EVENT_URL, json={"event": {"id": 123}})
    store = Store(tmp_path / "tsync.db")
    clock = WallClock()

    make_client(store=store, clock=clock).get_event(123)
    make_client(store=store, clock=clock).get_event(123)

    assert token.call_count == 1
    assert bearer(event.request_history[1]) == "Bearer tok-1"
    assert store.get_token(make_client().token_name) == ("tok-1", START_TIME + 7200)


def test_token_refreshed_300_s_before_expiry(requests_mock):
    token = mock_token(requests_mock, "tok-1", "tok-2")
    event = requests_mock.get(EVENT_URL, json={"event": {"id": 123}})
    clock = WallClock()
    client = make_client(clock=clock)

    client.get_event(123)
    clock.now += 7200 - 301
    client.get_event(123)
    clock.now += 2
    client.get_event(123)

    assert token.call_count == 2
    assert [bearer(request) for request in event.request_history] == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_token_expired_in_store_is_replaced(requests_mock, tmp_path):
    token = mock_token(requests_mock, "tok-new")
    event = requests_mock.get(EVENT_URL, json={"event": {"id": 123}})
    store = Store(tmp_path / "tsync.db")
    store.save_token(make_client().token_name, "tok-old", START_TIME + 100)

    make_client(store=store).get_event(123)

    assert token.call_count == 1
    assert bearer(event.last_request) == "Bearer tok-new"
    assert store.get_token(make_client().token_name)[0] == "tok-new"


def test_401_refreshes_token_once(requests_mock, tmp_path):
    token = mock_token(requests_mock, "tok-1", "tok-2")
    event = requests_mock.get(EVENT_URL, [{"status_code": 401, "json": {"error": "expired"}}, {"json": {"event": {"id": 123}}}])
    store = Store(tmp_path / "tsync.db")

    result = make_client(store=store).get_event(123)

    assert result == {"id": 123}
    assert token.call_count == 2
    assert [bearer(request) for request in event.request_history] == ["Bearer tok-1", "Bearer tok-2"]
    assert store.get_token(make_client().token_name)[0] == "tok-2"


def test_second_401_raises_auth_error(requests_mock):
    token = mock_token(requests_mock, "tok-1", "tok-2")
    event = requests_mock.get(EVENT_URL, status_code=401, json={"error": "Token resource owner not found"})

    with pytest.raises(AuthError) as raised:
        make_client().get_event(123)

    assert token.call_count == 2
    assert event.call_count == 2
    message = str(raised.value)
    assert message.startswith(f"Tripleseat rejected the credentials for GET {EVENT_URL} (HTTP 401: Token resource owner not found)")
    assert "check TRIPLESEAT_CLIENT_ID/SECRET" in message
    assert raised.value.status == 401


def test_403_raises_auth_error_without_refresh(requests_mock):
    token = mock_token(requests_mock, "tok-1")
    requests_mock.get(EVENT_URL, status_code=403, json={"error": "missing scope events:read"})

    with pytest.raises(AuthError, match="missing scope events:read"):
        make_client().get_event(123)

    assert token.call_count == 1


def test_token_endpoint_html_raises_auth_error(requests_mock):
    requests_mock.post(TOKEN_URL, text="<html><body>Log in to Tripleseat</body></html>", headers={"Content-Type": "text/html"})
    event = requests_mock.get(EVENT_URL, json={})

    with pytest.raises(AuthError) as raised:
        make_client().get_event(123)

    assert event.call_count == 0
    message = str(raised.value)
    assert f"Tripleseat token endpoint {TOKEN_URL} returned HTML instead of JSON (HTTP 200)" in message
    assert "TRIPLESEAT_TOKEN_PATH" in message


def test_token_endpoint_4xx_raises_auth_error(requests_mock):
    requests_mock.post(TOKEN_URL, status_code=401, json={"error": "invalid_client", "error_description": "Client authentication failed"})

    with pytest.raises(AuthError) as raised:
        make_client().get_event(123)

    message = str(raised.value)
    assert "rejected the client credentials (HTTP 401: Client authentication failed)" in message
    assert "check TRIPLESEAT_CLIENT_ID/SECRET" in message
    assert "secret-xyz" not in message


def test_token_response_without_token(requests_mock):
    requests_mock.post(TOKEN_URL, json={"token_type": "Bearer"})

    with pytest.raises(AuthError, match="returned no access_token"):
        make_client().get_event(123)


def test_token_path_configurable(requests_mock):
    token = mock_token(requests_mock, "tok-1", url=f"{BASE}/oauth/token")
    requests_mock.get(EVENT_URL, json={"event": {"id": 123}})

    make_client(make_settings(TRIPLESEAT_TOKEN_PATH="/oauth/token")).get_event(123)

    assert token.call_count == 1


# events and bookings


def test_get_event_unwraps_and_sends_financial(requests_mock):
    mock_token(requests_mock, "tok-1")
    event = requests_mock.get(EVENT_URL, json={"event": {"id": 123, "name": "Spring gala", "grand_total": "1250.50"}})

    result = make_client().get_event(123)

    assert result == {"id": 123, "name": "Spring gala", "grand_total": "1250.50"}
    assert query_of(event.last_request) == {"show_financial": ["true"]}
    assert event.last_request.timeout == 12.0


def test_get_event_accepts_bare_object(requests_mock):
    mock_token(requests_mock, "tok-1")
    requests_mock.get(EVENT_URL, json={"id": 123, "name": "Spring gala"})

    assert make_client().get_event(123) == {"id": 123, "name": "Spring gala"}


def test_get_booking_unwraps(requests_mock):
    mock_token(requests_mock, "tok-1")
    booking = requests_mock.get(f"{BASE}/v1/bookings/77.json", json={"booking": {"id": 77, "event_ids": [123]}})

    assert make_client().get_booking(77) == {"id": 77, "event_ids": [123]}
    assert query_of(booking.last_request) == {"show_financial": ["true"]}


def test_get_event_404_raises_not_found(requests_mock):
    mock_token(requests_mock, "tok-1")
    event = requests_mock.get(EVENT_URL, status_code=404, json={"error": "not found"})

    with pytest.raises(NotFoundError, match="^Tripleseat event 123 not found: check the event id"):
        make_client().get_event(123)

    assert event.call_count == 1


def test_get_event_html_raises_api_error(requests_mock):
    mock_token(requests_mock, "tok-1")
    requests_mock.get(EVENT_URL, text="<!doctype html><html>Maintenance</html>", headers={"Content-Type": "text/html; charset=utf-8"})

    with pytest.raises(ApiError) as raised:
        make_client().get_event(123)

    assert type(raised.value) is ApiError
    assert str(raised.value) == (
        f"Tripleseat returned HTML instead of JSON from {EVENT_URL} (HTTP 200): check TRIPLESEAT_API_URL and the credentials"
    )


def test_get_event_success_false_raises(requests_mock):
    mock_token(requests_mock, "tok-1")
    requests_mock.get(EVENT_URL, json={"success": False, "error": "Event is archived"})

    with pytest.raises(ApiError, match="Event is archived"):
        make_client().get_event(123)


def test_site_id_added_to_api_requests(requests_mock):
    token = mock_token(requests_mock, "tok-1")
    event = requests_mock.get(EVENT_URL, json={"event": {"id": 123}})
    search = requests_mock.get(SEARCH_URL, json={"total_pages": 1, "results": []})
    client = make_client(make_settings(TRIPLESEAT_SITE_ID="42"))

    client.get_event(123)
    list(client.search_events(date(2026, 5, 1), date(2026, 5, 2)))

    assert query_of(event.last_request)["site_id"] == ["42"]
    assert query_of(search.last_request)["site_id"] == ["42"]
    assert "site_id" not in query_of(token.last_request)


def test_site_id_absent_when_unset(requests_mock):
    mock_token(requests_mock, "tok-1")
    event = requests_mock.get(EVENT_URL, json={"event": {"id": 123}})

    make_client().get_event(123)

    assert "site_id" not in query_of(event.last_request)


# search


def test_search_sends_date_pair_and_order(requests_mock):
    mock_token(requests_mock, "tok-1")
    search = requests_mock.get(SEARCH_URL, json={"total_pages": 1, "results": [{"id": 1}]})

    list(make_client().search_events(date(2026, 5, 1), date(2026, 5, 31), location_ids=[11, 12], status=None))

    query = query_of(search.last_request)
    assert query["event_updated_start_date"] == ["05/01/2026"]
    assert query["event_updated_end_date"] == ["05/31/2026"]
    assert query["order"] == ["updated_at"]
    assert query["sort_direction"] == ["asc"]
    assert query["page"] == ["1"]
    assert query["location_ids"] == ["11,12"]
    assert "status" not in query


def test_search_pages_until_total_pages(requests_mock):
    mock_token(requests_mock, "tok-1")
    search = requests_mock.get(
        SEARCH_URL,
        [
            {"json": {"total_pages": 3, "results": [{"event": {"id": 1}}, {"event": {"id": 2}}]}},
            {"json": {"total_pages": 3, "results": [{"id": 3}]}},
            {"json": {"total_pages": 3, "results": [{"event": {"id": 4}}, {"id": 5}]}},
            {"json": {"total_pages": 3, "results": [{"id": 99}]}},
        ],
    )

    events = list(make_client().search_events(date(2026, 5, 1), date(2026, 5, 2)))

    assert [event["id"] for event in events] == [1, 2, 3, 4, 5]
    assert search.call_count == 3
    assert [query_of(request)["page"] for request in search.request_history] == [["1"], ["2"], ["3"]]


def test_search_stops_on_empty_results(requests_mock):
    mock_token(requests_mock, "tok-1")
    search = requests_mock.get(
        SEARCH_URL,
        [
            {"json": {"total_pages": 9, "results": [{"id": 1}]}},
            {"json": {"total_pages": 9, "results": []}},
            {"json": {"total_pages": 9, "results": [{"id": 99}]}},
        ],
    )

    events = list(make_client().search_events(date(2026, 5, 1), date(2026, 5, 2)))

    assert [event["id"] for event in events] == [1]
    assert search.call_count == 2


def test_search_page_limit_raises(requests_mock, monkeypatch):
    monkeypatch.setattr(tripleseat_module, "MAX_SEARCH_PAGES", 2)
    mock_token(requests_mock, "tok-1")
    search = requests_mock.get(SEARCH_URL, json={"total_pages": 50, "results": [{"id": 1}]})

    with pytest.raises(ApiError, match="more than 2 pages: search a shorter date range"):
        list(make_client().search_events(date(2026, 5, 1), date(2026, 5, 2)))

    assert search.call_count == 2


def test_search_rejects_reversed_dates(requests_mock):
    with pytest.raises(InputError, match="2026-05-02 is after end date 2026-05-01"):
        make_client().search_events(date(2026, 5, 2), date(2026, 5, 1))

    assert requests_mock.call_count == 0


# retries and rate limit


def test_429_retry_after_sleeps_then_succeeds(requests_mock):
    mock_token(requests_mock, "tok-1")
    event = requests_mock.get(
        EVENT_URL, [{"status_code": 429, "headers": {"Retry-After": "2"}}, {"json": {"event": {"id": 123}}}]
    )
    sleeps: list[float] = []

    result = make_client(sleeps=sleeps).get_event(123)

    assert result == {"id": 123}
    assert sleeps == [2.0]
    assert event.call_count == 2


def test_429_forever_gives_up(requests_mock):
    mock_token(requests_mock, "tok-1")
    event = requests_mock.get(EVENT_URL, status_code=429)
    sleeps: list[float] = []

    with pytest.raises(TransientError) as raised:
        make_client(sleeps=sleeps).get_event(123)

    assert event.call_count == 5
    assert len(sleeps) == 4
    assert raised.value.status == 429
    assert "Tripleseat GET /v1/events/123.json failed after 5 attempts (last: HTTP 429)" in str(raised.value)


def test_503_retried(requests_mock):
    mock_token(requests_mock, "tok-1")
    event = requests_mock.get(EVENT_URL, [{"status_code": 503}, {"status_code": 503}, {"json": {"event": {"id": 123}}}])
    sleeps: list[float] = []

    assert make_client(sleeps=sleeps).get_event(123) == {"id": 123}
    assert event.call_count == 3
    assert len(sleeps) == 2


def test_connection_error_retried(requests_mock):
    mock_token(requests_mock, "tok-1")
    event = requests_mock.get(
        EVENT_URL, [{"exc": requests.exceptions.ConnectionError("reset")}, {"json": {"event": {"id": 123}}}]
    )

    assert make_client().get_event(123) == {"id": 123}
    assert event.call_count == 2


def test_retry_after_above_cap_is_capped(requests_mock):
    mock_token(requests_mock, "tok-1")
    requests_mock.get(EVENT_URL, [{"status_code": 429, "headers": {"Retry-After": "3600"}}, {"json": {"event": {"id": 123}}}])
    sleeps: list[float] = []

    make_client(sleeps=sleeps).get_event(123)

    assert sleeps == [60.0]


def test_rate_limiter_spaces_client_calls(requests_mock):
    mock_token(requests_mock, "tok-1")
    requests_mock.get(EVENT_URL, json={"event": {"id": 123}})
    limiter = Limiter(4)
    client = make_client(make_settings(TRIPLESEAT_RATE_LIMIT="4"), limiter=limiter)

    for _ in range(3):
        client.get_event(123)

    # One token request and three event requests: every start after the first waits 0.25 s.
    assert limiter.sleeps == pytest.approx([0.25, 0.25, 0.25])


def test_default_rate_limiter_uses_setting():
    client = TripleseatClient(make_settings(TRIPLESEAT_RATE_LIMIT="4"))

    assert client.rate_limiter.interval == 0.25


def test_changed_secret_skips_cached_token(requests_mock, tmp_path):
    token = mock_token(requests_mock, "tok-1", "tok-2")
    requests_mock.get(EVENT_URL, json={"event": {"id": 123}})
    store = Store(tmp_path / "tsync.db")
    make_client(store=store).get_event(123)

    changed = make_settings(TRIPLESEAT_CLIENT_SECRET="another-secret")
    make_client(settings=changed, store=store).get_event(123)

    assert token.call_count == 2
