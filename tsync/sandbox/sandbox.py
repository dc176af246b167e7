"""The Sandbox object: both simulated APIs on loopback, their files, and the settings that point tsync at them."""

import fcntl
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from tsync.errors import InputError
from tsync.sandbox.events_file import unwrap_event
from tsync.sandbox.faults import FaultInjector
from tsync.sandbox.revel_api import API_KEY, API_SECRET, RevelApi
from tsync.sandbox.seed import (
    CONFIGURED_VENUES,
    DEFAULT_ESTABLISHMENT_ID,
    DEFAULT_TIMEZONE,
    LAKESHORE,
    mapping_csv,
    seed_events,
    seed_products,
)
from tsync.sandbox.server import ApiServer
from tsync.sandbox.tripleseat_api import CLIENT_ID, CLIENT_SECRET, TripleseatApi

logger = logging.getLogger(__name__)

# A fixed, public value: the sandbox signs and checks webhooks with it. Never use it for a real endpoint.
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret-not-for-production"

REVEL_FILE = "revel.json"
MAPPING_FILE = "mapping.csv"
DB_FILE = "tsync.db"
# Written by start(). reset() deletes nothing in a folder without it. A running
# sandbox keeps an exclusive lock on it, so two sandboxes cannot share a folder.
MARKER_FILE = ".tsync-sandbox"
# Files that Sandbox.reset removes: the sandbox's own and the ledger tsync keeps next to them.
SANDBOX_FILES = (REVEL_FILE, MAPPING_FILE, DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", f"{DB_FILE}-journal")


class Sandbox:
    """Simulated Tripleseat and Revel APIs on free 127.0.0.1 ports, with seed or replayed events.

    `folder` keeps revel.json (every Revel object, so a later sandbox serves
    earlier orders), mapping.csv (written from the seed only when absent) and
    tsync's ledger. `events=None` loads the seed; a list of events (bare or
    {"event": {...}}) replaces it. `now` (aware) anchors the seed's times.

    Replayed events at a location that no seed venue covers are configured
    for tsync too: each such location goes to sandbox establishment 7 in the
    America/New_York zone.
    """

    def __init__(self, folder, *, events: list[dict] | None = None, now: datetime | None = None):
        if now is None:
            now = datetime.now(timezone.utc)
        elif now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"now must be an aware datetime, got the naive {now.isoformat()}: pass tzinfo=timezone.utc")

        self.folder = Path(folder)
        self.now = now
        self.faults = FaultInjector()

        if events is None:
            self._events = seed_events(now)
        else:
            self._events = [unwrap_event(entry, where=f"events entry {number}") for number, entry in enumerate(events, start=1)]
        self.locations = _locations(self._events, replayed=events is not None)

        zones = {location_id: entry["timezone"] for location_id, entry in self.locations.items()}
        zones.setdefault(LAKESHORE.location_id, LAKESHORE.timezone)
        self._tripleseat = TripleseatApi(self._events, zones=zones, default_zone=DEFAULT_TIMEZONE)
        self._revel: RevelApi | None = None
        self._servers: dict[str, ApiServer] = {}
        self._lock = None

    def _lock_folder(self) -> None:
        """Mark the folder as a sandbox's and hold it, so no second sandbox writes the same revel.json."""
        existing = [path.name for path in self.folder.iterdir() if path.name != MARKER_FILE] if self.folder.exists() else []
        marker = self.folder / MARKER_FILE
        if existing and not marker.exists() and any(name in existing for name in (REVEL_FILE, DB_FILE)):
            raise InputError(
                f"{self.folder} contains a ledger or orders but is not a sandbox folder: pick another --sandbox-dir"
            )
        lock = open(marker, "a", encoding="utf-8")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise InputError(
                f"sandbox folder {self.folder} is in use by another tsync process: wait for it or pass another --sandbox-dir"
            ) from None
        self._lock = lock

    # ------------------------------------------------------------------
    # Lifecycle

    def start(self) -> "Sandbox":
        """Create the folder and its files if needed, then start both servers."""
        if self._servers:
            raise RuntimeError("the sandbox is already started")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_folder()

        mapping_path = self.folder / MAPPING_FILE
        if not mapping_path.exists():
            mapping_path.write_text(mapping_csv(), encoding="utf-8")

        establishments = {venue.establishment_id for venue in CONFIGURED_VENUES}
        self._revel = RevelApi(self.folder / REVEL_FILE, establishments=establishments, products=seed_products())

        for name, app in (("tripleseat", self._tripleseat), ("revel", self._revel)):
            server = ApiServer(name, app, self.faults)
            server.start()
            self._servers[name] = server
        logger.debug("sandbox started: Tripleseat at %s, Revel at %s, files in %s", self.tripleseat_url, self.revel_url, self.folder)
        return self

    def stop(self) -> None:
        """Stop both servers; calling it again does nothing."""
        servers, self._servers = self._servers, {}
        for server in servers.values():
            server.stop()
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if servers:
            logger.debug("sandbox stopped")

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @staticmethod
    def reset(folder) -> list[Path]:
        """Delete the sandbox's files and tsync's ledger in `folder`; return the paths removed."""
        folder = Path(folder)
        if not (folder / MARKER_FILE).exists():
            if folder.exists() and any(folder.iterdir()):
                raise InputError(f"{folder} is not a sandbox folder (no {MARKER_FILE} file): nothing was deleted")
            return []
        with open(folder / MARKER_FILE, "a", encoding="utf-8") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError(f"sandbox folder {folder} is in use by another tsync process: stop it before resetting") from None
        removed = []
        for name in SANDBOX_FILES:
            path = folder / name
            if path.exists():
                path.unlink()
                removed.append(path)
        for leftover in folder.glob(f"{REVEL_FILE}.*.tmp"):
            leftover.unlink()
            removed.append(leftover)
        return removed

    # ------------------------------------------------------------------
    # Where tsync finds the sandbox

    @property
    def tripleseat_url(self) -> str:
        return self._server("tripleseat").url

    @property
    def revel_url(self) -> str:
        return self._server("revel").url

    def settings_values(self) -> dict[str, str]:
        """Return the environment values that point tsync at this sandbox."""
        locations = {str(location_id): entry for location_id, entry in sorted(self.locations.items())}
        return {
            "TRIPLESEAT_API_URL": self.tripleseat_url,
            "TRIPLESEAT_CLIENT_ID": CLIENT_ID,
            "TRIPLESEAT_CLIENT_SECRET": CLIENT_SECRET,
            "REVEL_API_URL": self.revel_url,
            "REVEL_API_KEY": API_KEY,
            "REVEL_API_SECRET": API_SECRET,
            "TSYNC_LOCATIONS": json.dumps(locations),
            "TSYNC_MAPPING": str(self.folder / MAPPING_FILE),
            "TSYNC_DB": str(self.folder / DB_FILE),
            "TRIPLESEAT_WEBHOOK_SECRET": SANDBOX_WEBHOOK_SECRET,
            "REVEL_PAYMENT_TYPE": "7",
            "REVEL_DINING_OPTION": "3",
            "REVEL_USER_ID": "1",
            "TSYNC_HTTP_TIMEOUT": "10",
        }

    # ------------------------------------------------------------------
    # What tests read and change

    def revel_orders(self) -> list[dict]:
        """Return copies of all Revel orders as written (money as sent), each with "items", "payments" and "history"."""
        return self._started_revel().orders()

    def revel_products(self) -> list[dict]:
        return self._started_revel().products()

    def tripleseat_events(self) -> dict[int, dict]:
        """Return copies of the current Tripleseat events by id, with all financial detail."""
        return self._tripleseat.events()

    def put_event(self, event: dict) -> None:
        """Add or replace a Tripleseat event (bare or {"event": {...}}); it is served from the next request on."""
        self._tripleseat.put_event(unwrap_event(event))

    def revoke_tripleseat_tokens(self) -> None:
        """Invalidate every Tripleseat access token issued so far, so the next API call gets 401."""
        self._tripleseat.revoke_tokens()

    def _server(self, name: str) -> ApiServer:
        if name not in self._servers:
            raise RuntimeError("the sandbox is not started: call start() or use it in a with block")
        return self._servers[name]

    def _started_revel(self) -> RevelApi:
        if self._revel is None:
            raise RuntimeError("the sandbox is not started: call start() or use it in a with block")
        return self._revel


def _locations(events: list[dict], *, replayed: bool) -> dict[int, dict]:
    """Return TSYNC_LOCATIONS entries: the seed venues, plus the other locations of replayed events."""
    locations = {
        venue.location_id: {"establishment_id": venue.establishment_id, "timezone": venue.timezone, "name": venue.name}
        for venue in CONFIGURED_VENUES
    }
    if not replayed:
        return locations

    for event in events:
        location_id = _location_id(event)
        if location_id is None or location_id in locations:
            continue
        location = event.get("location") if isinstance(event.get("location"), dict) else {}
        locations[location_id] = {
            "establishment_id": DEFAULT_ESTABLISHMENT_ID,
            "timezone": DEFAULT_TIMEZONE,
            "name": str(location.get("name") or f"Location {location_id}"),
        }
    return locations


def _location_id(event: dict) -> int | None:
    value = event.get("location_id")
    if value is None and isinstance(event.get("location"), dict):
        value = event["location"].get("id")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
