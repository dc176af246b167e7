"""Read captured Tripleseat events from a JSON file, to replay them in the sandbox."""

import json
from pathlib import Path

from tsync.errors import InputError


def load_events_file(path) -> list[dict]:
    """Read events from a JSON file: {"event": {...}}, a bare event, or a list of either.

    A webhook body such as {"webhook_trigger_type": ..., "event": {...}} counts
    as the wrapped form. Raises InputError with a one-line message when the
    file is missing, is not JSON, or contains something other than events.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"events file {path} not found: give the path of a JSON file with Tripleseat events") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"events file {path} cannot be read ({error}): give a readable UTF-8 JSON file") from None

    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"events file {path} is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}): fix the file"
        ) from None

    entries = data if isinstance(data, list) else [data]
    if not entries:
        raise InputError(f"events file {path} contains an empty list: add at least one event")
    return [unwrap_event(entry, where=f"events file {path} entry {number}") for number, entry in enumerate(entries, start=1)]


def unwrap_event(entry, *, where: str = "event") -> dict:
    """Return the bare event of {"event": {...}} or of a bare event; raise InputError for anything else."""
    if isinstance(entry, dict) and isinstance(entry.get("event"), dict):
        entry = entry["event"]
    if not isinstance(entry, dict):
        raise InputError(f"{where} is a JSON {type(entry).__name__}, not an event: expected {{\"event\": {{...}}}} or an event object")

    event_id = entry.get("id")
    if isinstance(event_id, bool) or not str(event_id).strip().isdigit():
        raise InputError(f"{where} has no valid event id (got {event_id!r}): each event needs a numeric \"id\"")
    return entry
