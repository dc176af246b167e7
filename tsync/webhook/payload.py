"""Tripleseat webhook payloads: which trigger fired and which events it concerns.

A delivery is only a notification. The worker re-fetches each event through
the engine, so nothing else in the payload is trusted or stored.
"""

import json
from dataclasses import dataclass

from tsync.errors import TsyncError

EVENT_TRIGGERS = frozenset({
    "CREATE_EVENT",
    "UPDATE_EVENT",
    "DELETE_EVENT",
    "STATUS_CHANGE_EVENT",
    "CHANGE_EVENT_DATETIME",
    "CHANGE_EVENT_GUEST_COUNTS",
    "REASSIGN_EVENT_LOCATION",
    "REASSIGN_EVENT_AREAS",
    "REASSIGN_EVENT_OWNERSHIP",
    "REASSIGN_EVENT_CONTACT",
    "REASSIGN_EVENT_ACCOUNT",
})
# NOTE: Tripleseat's public docs list only the event and lead triggers. The document and
# booking trigger names, and their payload keys (document.event_id, document_layout.event_id,
# booking.event_ids), come from third-party integration code and are unconfirmed.
DOCUMENT_TRIGGERS = frozenset({
    "CREATE_EVENT_DOCUMENT",
    "UPDATE_EVENT_DOCUMENT",
    "SHARED_DOCUMENT",
    "DOCUMENT_SIGNED",
})
BOOKING_TRIGGERS = frozenset({
    "CREATE_BOOKING",
    "STATUS_CHANGE_BOOKING",
    "CHANGE_BOOKING_DATES",
    "REASSIGN_BOOKING_LOCATION",
    "CREATE_BOOKING_DOCUMENT",
    "UPDATE_BOOKING_DOCUMENT",
    "DELETE_BOOKING_DOCUMENT",
    "SHARE_BOOKING_DOCUMENT",
    "DELETE_BOOKING",
})
RELEVANT_TRIGGERS = EVENT_TRIGGERS | DOCUMENT_TRIGGERS | BOOKING_TRIGGERS

# Deliveries with these triggers cancel the event instead of syncing it.
CANCEL_TRIGGERS = frozenset({"DELETE_EVENT", "DELETE_BOOKING"})


class PayloadError(TsyncError):
    """A delivery's body is not a usable Tripleseat webhook payload."""


@dataclass(frozen=True)
class Notification:
    """The parts of a webhook payload that tsync acts on."""

    trigger: str
    event_ids: tuple[int, ...]  # empty when the trigger is not one tsync acts on
    updated_at: str | None  # the embedded object's updated_at, as sent

    @property
    def relevant(self) -> bool:
        return self.trigger in RELEVANT_TRIGGERS


def parse_notification(body: bytes) -> Notification:
    """Parse a raw delivery body into its trigger, event ids and updated_at.

    Raises PayloadError when the body is not a JSON object, has no trigger, or
    has a relevant trigger without a usable event id.
    """
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise PayloadError("body is not valid UTF-8: send the JSON payload encoded as UTF-8") from None
    except json.JSONDecodeError as error:
        raise PayloadError(f"body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    if not isinstance(payload, dict):
        raise PayloadError(f"body must be a JSON object, got {type(payload).__name__}")

    trigger = payload.get("webhook_trigger_type")
    if not isinstance(trigger, str) or not trigger.strip():
        raise PayloadError("webhook_trigger_type is missing: expected a trigger such as STATUS_CHANGE_EVENT")
    trigger = trigger.strip().upper()

    if trigger in EVENT_TRIGGERS:
        event_ids = (_required_id(payload, ("event", "id")),)
    elif trigger in DOCUMENT_TRIGGERS:
        event_ids = (_document_event_id(payload),)
    elif trigger in BOOKING_TRIGGERS:
        event_ids = _booking_event_ids(payload)
    else:
        return Notification(trigger, (), None)

    return Notification(trigger, event_ids, _updated_at(payload))


def _required_id(payload: dict, path: tuple[str, str]) -> int:
    container = payload.get(path[0])
    value = container.get(path[1]) if isinstance(container, dict) else None
    name = ".".join(path)
    if value is None:
        raise PayloadError(f"{name} is missing: a {payload['webhook_trigger_type']} delivery must name its event")
    return _parse_id(value, name)


def _document_event_id(payload: dict) -> int:
    for path in (("event", "id"), ("document", "event_id"), ("document_layout", "event_id")):
        container = payload.get(path[0])
        if isinstance(container, dict) and container.get(path[1]) is not None:
            return _parse_id(container[path[1]], ".".join(path))
    raise PayloadError("event id is missing: expected event.id, document.event_id or document_layout.event_id")


def _booking_event_ids(payload: dict) -> tuple[int, ...]:
    booking = payload.get("booking")
    values = booking.get("event_ids") if isinstance(booking, dict) else None
    if values is None or values == []:
        raise PayloadError("booking.event_ids is missing or empty: a booking delivery must list its events")
    if not isinstance(values, list):
        values = [values]

    event_ids: list[int] = []
    for value in values:
        event_id = _parse_id(value, "booking.event_ids")
        if event_id not in event_ids:
            event_ids.append(event_id)
    return tuple(event_ids)


def _parse_id(value, name: str) -> int:
    """Accept an id sent as a JSON integer or as a string of digits."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and int(value) > 0:
        return int(value)
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    raise PayloadError(f"{name} {shown} is not a valid Tripleseat id: expected a positive whole number")


def _updated_at(payload: dict) -> str | None:
    # The event's updated_at first, because every event trigger carries it in
    # captured deliveries. The other objects are a fallback for booking and
    # document triggers.
    for name in ("event", "booking", "document", "document_layout"):
        container = payload.get(name)
        if isinstance(container, dict):
            value = container.get("updated_at")
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
                return str(value).strip()
    return None
