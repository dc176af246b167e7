"""Tripleseat's time formats, converted with zoneinfo.

Tripleseat sends three forms of the same instant: a venue-local US string
("06/14/2026 6:30 PM"), an ISO 8601 string with offset and a UTC string
("2026-06-14T22:30:00Z"). Revel stores naive local time in the
establishment's zone. The server's own zone is never consulted.
"""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

US_LOCAL_FORMATS = ("%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M", "%m/%d/%Y")
REVEL_FORMAT = "%Y-%m-%dT%H:%M:%S"


def parse_iso(text: str) -> datetime | None:
    """Parse an ISO 8601 string that carries a zone ("Z" or an offset); None when it has none."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_us_local(text: str, zone: ZoneInfo) -> datetime | None:
    """Parse "MM/DD/YYYY h:mm AM/PM" as a wall-clock time in `zone`."""
    cleaned = " ".join(text.strip().upper().split())
    for pattern in US_LOCAL_FORMATS:
        try:
            naive = datetime.strptime(cleaned, pattern)
        except ValueError:
            continue
        return naive.replace(tzinfo=zone)
    return None


def event_time(event: dict, prefix: str, zone: ZoneInfo) -> datetime | None:
    """Return an event's start or end (`prefix` "event_start"/"event_end") as an aware time in `zone`.

    The `_utc` field wins, then `_iso8601`, then the venue-local string,
    which is read as wall-clock time in the venue's zone.
    """
    utc_text = event.get(f"{prefix}_utc")
    if isinstance(utc_text, str) and utc_text.strip():
        parsed = parse_iso(utc_text)
        if parsed is not None:
            return parsed.astimezone(zone)

    iso_text = event.get(f"{prefix}_iso8601")
    if isinstance(iso_text, str) and iso_text.strip():
        parsed = parse_iso(iso_text)
        if parsed is not None:
            return parsed.astimezone(zone)

    local_text = event.get(prefix)
    if isinstance(local_text, str) and local_text.strip():
        return parse_us_local(local_text, zone)
    return None


def tripleseat_timestamp(text, zone: ZoneInfo) -> datetime | None:
    """Parse a Tripleseat `created_at`/`updated_at`/`paid_at` value.

    NOTE: Tripleseat's docs do not say which zone these US-format strings are
    in; tsync reads them in the venue's zone. ISO strings with an offset are
    taken as they are.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    return parse_iso(text) or parse_us_local(text, zone)


def revel_local(moment: datetime, zone: ZoneInfo) -> str:
    """Format an aware time as the naive local string Revel stores for the establishment."""
    if moment.tzinfo is None:
        raise ValueError("revel_local needs an aware datetime")
    return moment.astimezone(zone).strftime(REVEL_FORMAT)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
