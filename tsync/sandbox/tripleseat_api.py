"""Simulated Tripleseat API: OAuth 2.0 client credentials, events, bookings and event search.

Routes (paths work with and without the `.json` suffix):

- POST /oauth2/token and /oauth/token: client_credentials, form-encoded or JSON.
- GET /v1/events/{id}.json[?show_financial=true] -> {"event": {...}}
- GET /v1/bookings/{id}.json[?show_financial=true] -> {"booking": {...}}
- GET /v1/events/search.json -> {"total_pages": N, "results": [...]}, 50 a page
- GET /v1/events.json?page=N -> the same envelope over all events

Every /v1 call needs `Authorization: Bearer <token>`. Errors use the shapes
integrators have seen: 401 {"error": "Token resource owner not found"},
404 {"error": "Event not found"}, 400 {"errors": {"<parameter>": ["..."]}}.
"""

import copy
import json
import logging
import re
import secrets
import threading
import time
from base64 import b64decode
from datetime import date, datetime, timezone
from math import ceil
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from tsync.sandbox.server import HttpError, Request, Response

logger = logging.getLogger(__name__)

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"
TOKEN_LIFETIME_SECONDS = 7200
TOKEN_PATHS = ("/oauth2/token", "/oauth/token")
PAGE_SIZE = 50

# Without show_financial=true a document keeps its id and title but loses these fields.
FINANCIAL_DOCUMENT_FIELDS = ("line_items", "billing_totals", "category_totals", "financials", "payment_set")

# Search filters sent as a pair of MM/DD/YYYY dates, and the event field each pair tests.
DATE_RANGE_FILTERS = (
    ("event_updated_start_date", "event_updated_end_date", "updated_at"),
    ("event_created_start_date", "event_created_end_date", "created_at"),
    ("event_start_date", "event_end_date", "event_date"),
)

_US_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})")
_US_DATETIME = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})\s*([AaPp][Mm])\s*$")
_EVENT_PATH = re.compile(r"^/v1/events/(\d+)(?:\.json)?/?$")
_BOOKING_PATH = re.compile(r"^/v1/bookings/(\d+)(?:\.json)?/?$")
_SEARCH_PATH = re.compile(r"^/v1/events/search(?:\.json)?/?$")
_LIST_PATH = re.compile(r"^/v1/events(?:\.json)?/?$")


class TripleseatApi:
    """Events and bookings in memory, access tokens, and the request handler. Thread-safe."""

    def __init__(self, events: list[dict], *, zones: dict[int, str], default_zone: str = "America/New_York"):
        self._lock = threading.Lock()
        self._events: dict[int, dict] = {}
        self._bookings: dict[int, dict] = {}
        self._tokens: dict[str, float] = {}  # access token -> expiry on the time.monotonic clock
        self._zones = {int(location_id): ZoneInfo(name) for location_id, name in zones.items()}
        self._default_zone = ZoneInfo(default_zone)
        for event in events:
            self.put_event(event)

    # ------------------------------------------------------------------
    # State used by the Sandbox object

    def put_event(self, event: dict) -> None:
        """Add or replace an event; an embedded `booking` object becomes that booking's record."""
        event = copy.deepcopy(event)
        event_id = int(event["id"])
        booking = event.get("booking")
        with self._lock:
            self._events[event_id] = event
            if isinstance(booking, dict) and booking.get("id") is not None:
                self._bookings[int(booking["id"])] = copy.deepcopy(booking)

    def events(self) -> dict[int, dict]:
        with self._lock:
            return copy.deepcopy(self._events)

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # ------------------------------------------------------------------
    # Requests

    def handle(self, request: Request) -> Response:
        path = request.path
        if path.rstrip("/") in TOKEN_PATHS:
            if request.method != "POST":
                raise HttpError(405, {"error": f"{request.method} is not allowed on {path}: use POST"})
            return self._issue_token(request)

        if not path.startswith("/v1/"):
            raise HttpError(404, {"error": "Not found"})
        self._authenticate(request)
        if request.method != "GET":
            raise HttpError(405, {"error": f"{request.method} is not supported by the sandbox on {path}"})

        if _SEARCH_PATH.match(path):
            return self._search(request)
        if _LIST_PATH.match(path):
            return self._list(request)
        match = _EVENT_PATH.match(path)
        if match:
            return self._event(int(match.group(1)), request)
        match = _BOOKING_PATH.match(path)
        if match:
            return self._booking(int(match.group(1)), request)
        raise HttpError(404, {"error": "Not found"})

    def _issue_token(self, request: Request) -> Response:
        fields = _token_request_fields(request)
        if fields.get("client_id") != CLIENT_ID or fields.get("client_secret") != CLIENT_SECRET:
            raise HttpError(401, {"error": "invalid_client"})
        if fields.get("grant_type") != "client_credentials":
            raise HttpError(400, {"error": "unsupported_grant_type"})

        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + TOKEN_LIFETIME_SECONDS
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "created_at": int(time.time()),
        }
        return Response(200, body)

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        with self._lock:
            expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or expiry < time.monotonic():
            raise HttpError(401, {"error": "Token resource owner not found"})

    def _event(self, event_id: int, request: Request) -> Response:
        with self._lock:
            event = copy.deepcopy(self._events.get(event_id))
        if event is None:
            raise HttpError(404, {"error": "Event not found"})
        if not _flag(request.param("show_financial")):
            event = without_financials(event)
        return Response(200, {"event": event})

    def _booking(self, booking_id: int, request: Request) -> Response:
        with self._lock:
            record = copy.deepcopy(self._bookings.get(booking_id))
            members = sorted(
                (event for event in self._events.values() if _as_int(event.get("booking_id")) == booking_id),
                key=lambda event: int(event["id"]),
            )
        if record is None and not members:
            raise HttpError(404, {"error": "Booking not found"})

        booking = record or {"id": booking_id, "name": members[0].get("name", ""), "documents": []}
        booking.setdefault("event_ids", [int(event["id"]) for event in members])
        booking.setdefault("documents", [])
        if not _flag(request.param("show_financial")):
            booking["documents"] = [_document_without_financials(document) for document in booking["documents"]]
        return Response(200, {"booking": booking})

    def _list(self, request: Request) -> Response:
        page = _page_number(request)
        with self._lock:
            events = sorted(self._events.values(), key=lambda event: int(event["id"]))
            return _page_response(events, page)

    def _search(self, request: Request) -> Response:
        errors: dict[str, list[str]] = {}
        ranges = _date_ranges(request, errors)
        statuses = _words(request, "status", upper=True)
        location_ids = _location_ids(request, errors)
        page = _page_number(request, errors)
        if errors:
            raise HttpError(400, {"errors": errors})

        # NOTE: Tripleseat documents `show_financial` for single events; whether search honours it is
        # unconfirmed. The sandbox never includes financial detail here, so tsync always fetches each event.
        with self._lock:
            matches = [
                event
                for event in self._events.values()
                if _in_ranges(event, ranges)
                and (not statuses or str(event.get("status", "")).upper() in statuses)
                and (not location_ids or _as_int(event.get("location_id")) in location_ids)
            ]
            matches.sort(key=self._sort_key(request.param("order")), reverse=_descending(request))
            return _page_response(matches, page)

    def _sort_key(self, order: str | None):
        if order == "name":
            return lambda event: (str(event.get("name", "")).lower(), int(event["id"]))
        if order == "event_start":
            return lambda event: (str(event.get("event_start_utc") or ""), int(event["id"]))
        if order in ("created_at", "updated_at"):
            return lambda event: (self._instant(event, order), int(event["id"]))
        return lambda event: int(event["id"])

    def _instant(self, event: dict, field: str) -> datetime:
        """Return an event's venue-local time field as an instant, for sorting across venues."""
        local = parse_us_datetime(event.get(field))
        if local is None:
            return datetime.min.replace(tzinfo=timezone.utc)
        zone = self._zones.get(_as_int(event.get("location_id")), self._default_zone)
        return local.replace(tzinfo=zone).astimezone(timezone.utc)


# ---------------------------------------------------------------------------
# Helpers


def without_financials(event: dict) -> dict:
    """Return the event without its documents' line items, billing totals, financials and payments."""
    event = copy.deepcopy(event)
    event["documents"] = [_document_without_financials(document) for document in event.get("documents") or []]
    booking = event.get("booking")
    if isinstance(booking, dict) and booking.get("documents"):
        booking["documents"] = [_document_without_financials(document) for document in booking["documents"]]
    return event


def _document_without_financials(document: dict) -> dict:
    return {key: value for key, value in document.items() if key not in FINANCIAL_DOCUMENT_FIELDS}


def parse_us_date(value) -> date | None:
    """Parse the date part of "MM/DD/YYYY" or "MM/DD/YYYY h:mm AM", or return None."""
    match = _US_DATE.match(str(value or ""))
    if not match:
        return None
    month, day, year = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_us_datetime(value) -> datetime | None:
    """Parse Tripleseat's naive local "MM/DD/YYYY h:mm AM/PM", or return None."""
    match = _US_DATETIME.match(str(value or ""))
    if not match:
        return None
    month, day, year, hour, minute = (int(part) for part in match.groups()[:5])
    if not 1 <= hour <= 12:
        return None
    hour = hour % 12 + (12 if match.group(6).upper() == "PM" else 0)
    try:
        return datetime(year, month, day, hour, minute)
    except ValueError:
        return None


def _token_request_fields(request: Request) -> dict[str, str]:
    content_type = (request.headers.get("Content-Type") or "").lower()
    fields: dict[str, str] = {}
    text = request.body.decode("utf-8", errors="replace")
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text or "{}")
        except json.JSONDecodeError:
            raise HttpError(400, {"error": "invalid_request"}) from None
        if isinstance(parsed, dict):
            fields = {key: str(value) for key, value in parsed.items() if value is not None}
    else:
        fields = {key: values[0] for key, values in parse_qs(text).items()}

    # Clients may also send their credentials with HTTP Basic authentication (RFC 6749, section 2.3.1).
    header = request.headers.get("Authorization") or ""
    if header.lower().startswith("basic ") and "client_id" not in fields:
        try:
            client_id, _, client_secret = b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            raise HttpError(401, {"error": "invalid_client"}) from None
        fields.update(client_id=client_id, client_secret=client_secret)
    return fields


def _flag(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("true", "1", "yes")


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _values(request: Request, name: str) -> list[str]:
    """Return a parameter's values from `name` and `name[]`, with comma lists split."""
    values = []
    for raw in request.query.get(name, []) + request.query.get(name + "[]", []):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


def _words(request: Request, name: str, *, upper: bool) -> set[str]:
    return {value.upper() if upper else value for value in _values(request, name)}


def _location_ids(request: Request, errors: dict) -> set[int]:
    values = _values(request, "location_ids")
    invalid = [value for value in values if not value.isdigit()]
    if invalid:
        errors["location_ids"] = [f"{invalid[0]!r} is not a location id"]
    return {int(value) for value in values if value.isdigit()}


def _page_number(request: Request, errors: dict | None = None) -> int:
    text = (request.param("page") or "1").strip()
    if text.isdigit() and int(text) >= 1:
        return int(text)
    if errors is None:
        raise HttpError(400, {"errors": {"page": [f"{text!r} is not a page number of 1 or more"]}})
    errors["page"] = [f"{text!r} is not a page number of 1 or more"]
    return 1


def _date_ranges(request: Request, errors: dict) -> list[tuple[str, date, date]]:
    ranges = []
    for start_name, end_name, field in DATE_RANGE_FILTERS:
        start_text = (request.param(start_name) or "").strip()
        end_text = (request.param(end_name) or "").strip()
        if not start_text and not end_text:
            continue
        if not start_text or not end_text:
            missing, present = (start_name, end_name) if not start_text else (end_name, start_name)
            errors[missing] = [f"must be sent together with {present}"]
            continue

        start, end = _strict_date(start_text), _strict_date(end_text)
        if start is None:
            errors[start_name] = [f"{start_text!r} is not a date in MM/DD/YYYY format"]
        if end is None:
            errors[end_name] = [f"{end_text!r} is not a date in MM/DD/YYYY format"]
        if start is not None and end is not None:
            ranges.append((field, start, end))
    return ranges


def _strict_date(text: str) -> date | None:
    if not re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
        return None
    return parse_us_date(text)


def _in_ranges(event: dict, ranges: list[tuple[str, date, date]]) -> bool:
    """Day granularity: the date part of the event's local field must lie in each range, inclusive."""
    for field, start, end in ranges:
        day = parse_us_date(event.get(field))
        if day is None or not start <= day <= end:
            return False
    return True


def _descending(request: Request) -> bool:
    return (request.param("sort_direction") or "asc").strip().lower() == "desc"


def _page_response(events: list[dict], page: int) -> Response:
    total_pages = ceil(len(events) / PAGE_SIZE)
    chosen = events[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return Response(200, {"total_pages": total_pages, "results": [without_financials(event) for event in chosen]})
