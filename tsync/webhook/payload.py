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

# Event ids are stored in SQLite INTEGER columns, which hold signed 64-bit values.
MAX_EVENT_ID = 2**63 - 1
MAX_ID_DIGITS = len(str(MAX_EVENT_ID))
MAX_BOOKING_EVENTS = 100  # event ids one booking delivery may name


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
    except RecursionError:
        raise PayloadError("body is not a usable JSON payload: it is nested too deeply") from None
    except ValueError:
        # json.loads raises a plain ValueError for an integer above Python's limit of 4300 digits.
        raise PayloadError("body is not a usable JSON payload: it contains a number with too many digits") from None
    if not isinstance(payload, dict):
        raise PayloadError(f"body must be a JSON object, got {type(payload).__name__}")

    trigger = payload.get("webhook_trigger_type")
    if not isinstance(trigger, str) or not trigger.strip():
        raise PayloadError("webhook_trigger_type is missing: expected a trigger such as STATUS_CHANGE_EVENT")
    trigger = trigger.strip().upper()

    if trigger in EVENT_TRIGGERS:
        event_ids = (_required_id(payload, trigger, ("event", "id")),)
    elif trigger in DOCUMENT_TRIGGERS:
        event_ids = (_document_event_id(payload),)
    elif trigger in BOOKING_TRIGGERS:
        event_ids = _booking_event_ids(payload)
    else:
        return Notification(trigger, (), None)

    return Notification(trigger, event_ids, _updated_at(payload))


def _required_id(payload: dict, trigger: str, path: tuple[str, str]) -> int:
    container = payload.get(path[0])
    value = container.get(path[1]) if isinstance(container, dict) else None
    name = ".".join(path)
    if value is None:
        raise PayloadError(f"{name} is missing: a {trigger} delivery must name its event")
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
    if len(values) > MAX_BOOKING_EVENTS:
        raise PayloadError(
            f"booking.event_ids lists {len(values)} ids: a delivery may name at most {MAX_BOOKING_EVENTS} events"
        )

    # dict.fromkeys drops repeated ids and keeps the order of first appearance.
    return tuple(dict.fromkeys(_parse_id(value, "booking.event_ids") for value in values))


def _parse_id(value, name: str) -> int:
    """Return an id sent as a JSON integer, an integral number such as 5.0, or a string of ASCII digits.

    Raises PayloadError naming the field unless the id is in 1..MAX_EVENT_ID.
    """
    event_id = None
    if isinstance(value, bool):
        pass  # bool is a subclass of int, but true is not an id
    elif isinstance(value, int):
        event_id = value
    elif isinstance(value, float):
        if value.is_integer():
            event_id = int(value)
    elif isinstance(value, str):
        text = value.strip()
        # str.isdigit() alone also accepts characters such as "²" that int() rejects, and
        # checking the length first keeps int() away from strings of thousands of digits.
        if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS:
            event_id = int(text)

    if event_id is not None and 1 <= event_id <= MAX_EVENT_ID:
        return event_id
    raise PayloadError(
        f"{name} {_shown(value)} is not a valid Tripleseat id: expected a whole number from 1 to {MAX_EVENT_ID}"
    )


def _shown(value) -> str:
    """Return a short one-line form of a rejected value for an error message."""
    # repr() of a deeply nested list, or of an int of thousands of digits, can itself raise.
    if isinstance(value, (list, dict)):
        return f"(a JSON {'array' if isinstance(value, list) else 'object'})"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return "(a number far outside the 64-bit range)"
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return shown


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
