"""Client for the Tripleseat REST API: OAuth 2.0 token, events, bookings and event search.

The client returns Tripleseat's JSON as it arrives, because amounts and ids
come as numbers or strings and the planner parses them. Every request shares
one RateLimiter, GETs are retried on 429, 5xx, timeouts and connection errors,
and a rejected access token is replaced once per request.
"""

import hashlib
import logging
import threading
import time
from datetime import date
from typing import Iterator

import requests

from tsync.config import Settings
from tsync.errors import ApiError, AuthError, InputError, NotFoundError
from tsync.http import RateLimiter, RetryPolicy, error_message, looks_like_html, parse_json, send_request, strip_query

logger = logging.getLogger(__name__)

SERVICE = "Tripleseat"
TOKEN_NAME = "tripleseat"
# A token is replaced this many seconds before it expires, so that no request
# starts with a token that lapses on the way.
TOKEN_REFRESH_MARGIN = 300
DEFAULT_TOKEN_LIFETIME = 7200
# Tripleseat pages contain 50 events, so 1000 pages are 50,000 events: far more
# than one search window of a venue should return.
MAX_SEARCH_PAGES = 1000
SEARCH_DATE_FORMAT = "%m/%d/%Y"
CLIENT_CREDENTIALS_HINT = (
    "check TRIPLESEAT_CLIENT_ID/SECRET, and that the API app was created in the venue's own Tripleseat account"
)


class TripleseatClient:
    """Read access to one Tripleseat account, authenticated with OAuth 2.0 client credentials.

    `store`, when given, keeps the access token across processes. `clock` is
    the wall clock (Unix seconds) that token expiry is measured with.
    """

    def __init__(
        self,
        settings: Settings,
        store=None,
        session: requests.Session | None = None,
        sleep=time.sleep,
        clock=time.time,
        *,
        retry_policy: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
    ):
        self.settings = settings
        self.store = store
        self.session = session or requests.Session()
        self.sleep = sleep
        self.clock = clock
        self.retry_policy = retry_policy or RetryPolicy()
        self.rate_limiter = rate_limiter or RateLimiter(settings.tripleseat_rate_limit, sleep=sleep)
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = threading.Lock()
        # The cached token belongs to these credentials and this host: changed
        # settings fetch a new one at once instead of when the old one expires.
        fingerprint = hashlib.sha256(
            f"{settings.tripleseat_url}\n{settings.tripleseat_client_id}\n{settings.tripleseat_client_secret}".encode()
        ).hexdigest()[:16]
        self.token_name = f"{TOKEN_NAME}:{fingerprint}"

    def close(self) -> None:
        self.session.close()

    # events and bookings

    def get_event(self, event_id) -> dict:
        """Fetch one event with its financial detail (documents, line items, payments)."""
        return self._get_with_financials("event", "events", event_id)

    def get_booking(self, booking_id) -> dict:
        """Fetch one booking with its financial detail."""
        return self._get_with_financials("booking", "bookings", booking_id)

    def _get_with_financials(self, kind: str, collection: str, object_id) -> dict:
        try:
            body = self._get(f"/v1/{collection}/{object_id}.json", {"show_financial": "true"})
        except NotFoundError as error:
            raise NotFoundError(
                f"Tripleseat {kind} {object_id} not found: check the {kind} id and that the API app can read its location",
                url=error.url,
                status=error.status,
            ) from None
        return _unwrap(body, kind, f"Tripleseat {kind} {object_id}")

    def search_events(self, updated_start: date, updated_end: date, **filters) -> Iterator[dict]:
        """Return an iterator over every event updated between the two dates, oldest update first.

        Tripleseat filters by day only and needs both dates of the pair. Extra
        keyword filters are sent as query parameters: lists become
        comma-separated values and dates MM/DD/YYYY. Each results entry is
        yielded as the bare event object. Reversed dates raise InputError at
        once, before any request.
        """
        if updated_start > updated_end:
            raise InputError(
                f"search start date {updated_start.isoformat()} is after end date {updated_end.isoformat()}: "
                "give the earlier date first"
            )

        params = {name: _query_value(value) for name, value in filters.items() if value is not None}
        params.update(
            {
                "event_updated_start_date": updated_start.strftime(SEARCH_DATE_FORMAT),
                "event_updated_end_date": updated_end.strftime(SEARCH_DATE_FORMAT),
                "order": "updated_at",
                "sort_direction": "asc",
            }
        )
        return self._search_pages(params)

    def _search_pages(self, params: dict) -> Iterator[dict]:
        page = 1
        while True:
            body = self._get("/v1/events/search.json", {**params, "page": page})
            results, total_pages = _search_page(body)
            for entry in results:
                yield _unwrap(entry, "event", "Tripleseat search result")

            if not results:
                return
            if total_pages is not None and page >= total_pages:
                return
            if page >= MAX_SEARCH_PAGES:
                raise ApiError(
                    f"Tripleseat search from {params['event_updated_start_date']} to {params['event_updated_end_date']} "
                    f"has more than {MAX_SEARCH_PAGES} pages: search a shorter date range"
                )
            page += 1

    # requests

    def _get(self, path: str, params: dict | None = None):
        """GET an API path and return its JSON, replacing a rejected access token once."""
        url = self.settings.tripleseat_url + path
        query = dict(params or {})
        if self.settings.tripleseat_site_id:
            query["site_id"] = self.settings.tripleseat_site_id

        response = self._send_authorized(url, query)
        if response.status_code == 401:
            logger.info("Tripleseat rejected the access token for GET %s; fetching a new token", path)
            self._forget_token()
            response = self._send_authorized(url, query)
            if response.status_code == 401:
                detail = error_message(response)
                suffix = f": {detail}" if detail else ""
                raise AuthError(
                    f"Tripleseat rejected the credentials for GET {strip_query(response.url or url)} "
                    f"(HTTP 401{suffix}): {CLIENT_CREDENTIALS_HINT}",
                    url=strip_query(url),
                    status=401,
                )

        body = parse_json(response, SERVICE)
        if isinstance(body, dict) and body.get("success") is False:
            detail = error_message(response) or "no message"
            raise ApiError(
                f"Tripleseat reported a failure for GET {strip_query(url)}: {detail}",
                url=strip_query(url),
                status=response.status_code,
            )
        return body

    def _send_authorized(self, url: str, query: dict) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._access_token()}", "Accept": "application/json"}
        return self._send("GET", url, params=query, headers=headers)

    def _send(self, method: str, url: str, **request_options) -> requests.Response:
        """Send one request with the client's timeout, retry policy and rate limiter."""
        return send_request(
            self.session,
            method,
            url,
            timeout=self.settings.http_timeout,
            service=SERVICE,
            policy=self.retry_policy,
            limiter=self.rate_limiter,
            sleep=self.sleep,
            clock=self.clock,
            **request_options,
        )

    # access token

    def _access_token(self) -> str:
        """Return a token valid for at least TOKEN_REFRESH_MARGIN more seconds, fetching one if needed."""
        with self._token_lock:
            now = self.clock()
            if self._token and now < self._token_expires_at - TOKEN_REFRESH_MARGIN:
                return self._token

            if self.store is not None:
                cached = self.store.get_token(self.token_name)
                if cached and now < cached[1] - TOKEN_REFRESH_MARGIN:
                    self._token, self._token_expires_at = cached
                    return self._token

            token, expires_at = self._fetch_token()
            self._token, self._token_expires_at = token, expires_at
            if self.store is not None:
                self.store.save_token(self.token_name, token, expires_at)
            return token

    def _forget_token(self) -> None:
        with self._token_lock:
            self._token = None
            self._token_expires_at = 0.0
            if self.store is not None:
                self.store.forget_token(self.token_name)

    def _fetch_token(self) -> tuple[str, float]:
        """Request a new access token with the client-credentials grant; return it and its expiry time.

        NOTE: client credentials are known to work only for API apps created in
        the customer's own Tripleseat account. Tokens of partner apps have been
        rejected with "Token resource owner not found". Integrations also
        disagree on the token path (/oauth2/token or /oauth/token), so
        TRIPLESEAT_TOKEN_PATH sets it, and a full URL there is used as is.
        """
        token_path = self.settings.tripleseat_token_path
        url = token_path if token_path.startswith(("http://", "https://")) else self.settings.tripleseat_url + token_path
        form = {
            "grant_type": "client_credentials",
            "client_id": self.settings.tripleseat_client_id,
            "client_secret": self.settings.tripleseat_client_secret,
        }
        # Retrying is safe: a repeated token request at most issues a second token.
        response = self._send("POST", url, data=form, headers={"Accept": "application/json"})

        token_url = strip_query(url)
        where = f"Tripleseat token endpoint {token_url}"
        status = response.status_code
        if 400 <= status < 500:
            detail = error_message(response)
            suffix = f": {detail}" if detail else ""
            raise AuthError(
                f"{where} rejected the client credentials (HTTP {status}{suffix}): {CLIENT_CREDENTIALS_HINT}",
                url=token_url,
                status=status,
            )
        if status < 400 and looks_like_html(response):
            raise AuthError(
                f"{where} returned HTML instead of JSON (HTTP {status}): check TRIPLESEAT_API_URL and TRIPLESEAT_TOKEN_PATH, "
                "and that the API app was created in the venue's own Tripleseat account",
                url=token_url,
                status=status,
            )

        try:
            body = parse_json(response, SERVICE)
        except ApiError as error:
            if status >= 500:
                raise
            raise AuthError(
                f"{where} returned a body that is not JSON (HTTP {status}): check TRIPLESEAT_TOKEN_PATH",
                url=error.url,
                status=status,
            ) from None

        token = body.get("access_token") if isinstance(body, dict) else None
        if not token or not isinstance(token, str):
            raise AuthError(
                f"{where} returned no access_token (HTTP {status}): check TRIPLESEAT_TOKEN_PATH",
                url=token_url,
                status=status,
            )

        lifetime = _token_lifetime(body.get("expires_in"))
        logger.info("fetched a new Tripleseat access token, valid for %d s", lifetime)
        return token, self.clock() + lifetime


def _token_lifetime(value) -> float:
    try:
        lifetime = float(value)
    except (TypeError, ValueError):
        return DEFAULT_TOKEN_LIFETIME
    return lifetime if lifetime > 0 else DEFAULT_TOKEN_LIFETIME


def _unwrap(body, key: str, what: str) -> dict:
    """Return body[key] for a {"event": {...}} style envelope, or the body when it is the bare object."""
    if isinstance(body, dict):
        inner = body.get(key)
        if isinstance(inner, dict):
            return inner
        if inner is None:
            return body
    raise ApiError(f"{what} has an unexpected shape: expected a JSON object or {{\"{key}\": {{...}}}}")


def _search_page(body) -> tuple[list, int | None]:
    """Return the results of one search page and its total_pages (None when absent)."""
    if isinstance(body, list):
        return body, None
    if not isinstance(body, dict):
        raise ApiError("Tripleseat search returned an unexpected shape: expected {\"total_pages\": N, \"results\": [...]}")

    results = body.get("results") or []
    if not isinstance(results, list):
        raise ApiError("Tripleseat search returned results that are not a list: expected {\"total_pages\": N, \"results\": [...]}")
    try:
        total_pages = int(body["total_pages"])
    except (KeyError, TypeError, ValueError):
        total_pages = None
    return results, total_pages


def _query_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.strftime(SEARCH_DATE_FORMAT)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(item) for item in value)
    return str(value)
