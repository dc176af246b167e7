"""Settings from the environment and a `.env` file, validated once.

Every other module receives a `Settings` object and never reads the
environment itself. A missing or malformed setting raises ConfigError with
one line that names the variable and what it expects.
"""

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from tsync.errors import ConfigError

DEFAULT_TRIPLESEAT_URL = "https://api.tripleseat.com"
DEFAULT_LOCAL_ID_PREFIX = "Triple Seat_"
DEFAULT_ELIGIBLE_STATUSES = ("DEFINITE", "CLOSED")
EVENT_STATUSES = ("PROSPECT", "TENTATIVE", "DEFINITE", "CLOSED", "LOST", "WAITLIST")
# NOTE: Tripleseat does not document its payment `state` values; "paid" is the
# value seen in integrators' captures, the refund states are assumptions.
DEFAULT_PAID_STATES = ("paid", "refunded", "partially_refunded")


@dataclass(frozen=True)
class Venue:
    """A venue: the Revel establishment for one Tripleseat location, and its time zone."""

    tripleseat_location_id: int
    establishment_id: int
    timezone: ZoneInfo
    name: str = ""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    security: str  # "starttls", "tls" or "none"
    sender: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    tripleseat_url: str
    tripleseat_client_id: str
    tripleseat_client_secret: str
    tripleseat_site_id: str | None
    tripleseat_token_path: str
    tripleseat_rate_limit: float

    revel_url: str
    revel_api_key: str
    revel_api_secret: str
    revel_user_id: int
    revel_station_id: int | None
    revel_dining_option: int
    revel_payment_type: int
    local_id_prefix: str

    venues: dict[int, Venue]
    eligible_statuses: frozenset[str]
    paid_states: frozenset[str]
    mapping_path: Path
    db_path: Path
    http_timeout: float

    webhook_secret: str | None = None
    api_token: str | None = None
    notify_policy: str = "failures"
    smtp: SmtpSettings | None = None
    sandbox_dir: Path | None = None
    extra: dict = field(default_factory=dict)

    def local_id(self, event_id: int) -> str:
        return f"{self.local_id_prefix}{event_id}"

    def venue_for(self, location_id) -> Venue | None:
        try:
            return self.venues.get(int(location_id))
        except (TypeError, ValueError):
            return None

    def with_overrides(self, **changes) -> "Settings":
        return replace(self, **changes)


def load_settings(env_file: str | os.PathLike | None = None, *, environ=None) -> Settings:
    """Build Settings from `environ` (default os.environ) over the `.env` file.

    Real environment variables win over the file, as with python-dotenv's
    usual behaviour.
    """
    values = read_environment(env_file, environ=environ)
    return settings_from_values(values)


def read_environment(env_file=None, *, environ=None) -> dict[str, str]:
    values: dict[str, str] = {}
    path = Path(env_file) if env_file else Path(".env")
    if env_file and not path.is_file():
        raise ConfigError(f"env file {path} not found: pass an existing file to --env-file")
    if path.is_file():
        try:
            file_values = dotenv_values(path, encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text: save it as UTF-8") from None
        values.update({key: value for key, value in file_values.items() if value is not None})
    values.update(os.environ if environ is None else environ)
    return values


def settings_from_values(values: dict[str, str], *, offline: bool = False) -> Settings:
    """Validate raw values into Settings.

    `offline` lets the API URLs and credentials be absent, for commands that
    only read files (`tsync preview`).
    """
    reader = _Reader(values)
    online = not offline

    revel_url = reader.url("REVEL_API_URL", required=online, default="", example="https://acme.revelup.com")
    establishment_id = reader.integer("REVEL_ESTABLISHMENT_ID", required=False)
    venues = _read_venues(reader, establishment_id)

    return Settings(
        tripleseat_url=reader.url("TRIPLESEAT_API_URL", default=DEFAULT_TRIPLESEAT_URL),
        tripleseat_client_id=reader.text("TRIPLESEAT_CLIENT_ID", required=online, default=""),
        tripleseat_client_secret=reader.text("TRIPLESEAT_CLIENT_SECRET", required=online, default=""),
        tripleseat_site_id=reader.text("TRIPLESEAT_SITE_ID"),
        tripleseat_token_path=reader.text("TRIPLESEAT_TOKEN_PATH", default="/oauth2/token"),
        tripleseat_rate_limit=reader.number("TRIPLESEAT_RATE_LIMIT", default=10.0, minimum=0.1),
        revel_url=revel_url,
        revel_api_key=reader.text("REVEL_API_KEY", required=online, default=""),
        revel_api_secret=reader.text("REVEL_API_SECRET", required=online, default=""),
        revel_user_id=reader.integer("REVEL_USER_ID", default=1),
        revel_station_id=reader.integer("REVEL_STATION_ID"),
        revel_dining_option=reader.integer("REVEL_DINING_OPTION", default=3),
        revel_payment_type=reader.integer("REVEL_PAYMENT_TYPE", default=7),
        local_id_prefix=reader.text("REVEL_LOCAL_ID_PREFIX", default=DEFAULT_LOCAL_ID_PREFIX),
        venues=venues,
        eligible_statuses=reader.word_set("TSYNC_ELIGIBLE_STATUSES", DEFAULT_ELIGIBLE_STATUSES, upper=True,
                                          allowed=EVENT_STATUSES),
        paid_states=reader.word_set("TSYNC_PAID_STATES", DEFAULT_PAID_STATES, upper=False),
        mapping_path=Path(reader.text("TSYNC_MAPPING", default="mapping.csv")),
        db_path=Path(reader.text("TSYNC_DB", default="tsync.db")),
        http_timeout=reader.number("TSYNC_HTTP_TIMEOUT", default=30.0, minimum=0.1),
        webhook_secret=reader.text("TRIPLESEAT_WEBHOOK_SECRET"),
        api_token=reader.text("TSYNC_API_TOKEN"),
        notify_policy=reader.choice("NOTIFY_POLICY", ("failures", "all", "off"), default="failures"),
        smtp=_read_smtp(reader),
    )


def _read_venues(reader: "_Reader", establishment_id: int | None) -> dict[int, Venue]:
    venues: dict[int, Venue] = {}

    locations_value = reader.text("TSYNC_LOCATIONS")
    if locations_value:
        venues.update(parse_locations(locations_value))

    location_id = reader.integer("REVEL_LOCATION_ID")
    if location_id is not None and location_id not in venues:
        if establishment_id is None:
            raise ConfigError("REVEL_ESTABLISHMENT_ID is missing: set the Revel establishment id that REVEL_LOCATION_ID's events go to")
        zone = reader.zone("TSYNC_TIMEZONE", required=True)
        venues[location_id] = Venue(location_id, establishment_id, zone)

    if not venues:
        raise ConfigError(
            "no venue configured: set REVEL_LOCATION_ID (the Tripleseat location id), "
            "REVEL_ESTABLISHMENT_ID and TSYNC_TIMEZONE, or TSYNC_LOCATIONS for several venues"
        )
    return venues


def parse_locations(value: str) -> dict[int, Venue]:
    """Parse TSYNC_LOCATIONS: inline JSON or the path of a JSON file.

    The JSON maps a Tripleseat location id to
    {"establishment_id": 7, "timezone": "America/New_York", "name": "optional"}.
    """
    text = value
    if not value.lstrip().startswith(("{", "[")):
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"TSYNC_LOCATIONS file {value} not found: give a JSON file path or inline JSON")
        text = path.read_text(encoding="utf-8")

    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"TSYNC_LOCATIONS is not valid JSON ({error.msg} at line {error.lineno}): expected {{\"<location id>\": {{\"establishment_id\": 7, \"timezone\": \"America/New_York\"}}}}") from None
    if not isinstance(raw, dict):
        raise ConfigError("TSYNC_LOCATIONS must be a JSON object keyed by Tripleseat location id")

    venues: dict[int, Venue] = {}
    for key, entry in raw.items():
        where = f"TSYNC_LOCATIONS entry {key!r}"
        if not str(key).strip().isdigit():
            raise ConfigError(f"{where}: the key must be a Tripleseat location id (a whole number)")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected an object with establishment_id and timezone")
        establishment = entry.get("establishment_id")
        if establishment is None:
            raise ConfigError(f"{where}: establishment_id is missing: add the Revel establishment id for this location")
        if isinstance(establishment, bool) or not str(establishment).strip().isdigit():
            raise ConfigError(f"{where}: establishment_id must be a whole number, got {establishment!r}")
        zone = _zone(entry.get("timezone"), where + " timezone")
        venues[int(key)] = Venue(int(key), int(establishment), zone, str(entry.get("name") or ""))
    return venues


def _read_smtp(reader: "_Reader") -> SmtpSettings | None:
    host = reader.text("SMTP_HOST")
    if not host:
        return None
    security = reader.choice("SMTP_SECURITY", ("starttls", "tls", "none"), default="starttls")
    default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
    recipients = tuple(address.strip() for address in (reader.text("NOTIFY_TO") or "").split(",") if address.strip())
    if not recipients:
        raise ConfigError("NOTIFY_TO is missing: set one or more e-mail addresses, separated by commas, to receive alerts")
    sender = reader.text("NOTIFY_FROM", required=True)
    return SmtpSettings(
        host=host,
        port=reader.integer("SMTP_PORT", default=default_port),
        username=reader.text("SMTP_USERNAME"),
        password=reader.text("SMTP_PASSWORD"),
        security=security,
        sender=sender,
        recipients=recipients,
    )


def _zone(name, where: str) -> ZoneInfo:
    if not name or not isinstance(name, str):
        raise ConfigError(f"{where} is missing: set an IANA time zone such as America/New_York")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where} {name!r} is not a known IANA time zone: use a name such as America/Chicago") from None


class _Reader:
    """Typed access to raw string settings, raising ConfigError with the variable's name."""

    def __init__(self, values: dict[str, str]):
        self.values = values

    def text(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = (self.values.get(name) or "").strip()
        if value:
            return value
        if required:
            raise ConfigError(f"{name} is missing: set it in the environment or in .env (see .env.example)")
        return default

    def url(self, name: str, *, required: bool = False, default: str | None = None, example: str = "") -> str | None:
        value = self.text(name, required=required, default=default)
        if not value:
            return value
        if not value.startswith(("http://", "https://")):
            hint = f" such as {example}" if example else ""
            raise ConfigError(f"{name} {value!r} is not an http(s) URL: set a base URL{hint}")
        return value.rstrip("/")

    def integer(self, name: str, *, required: bool = False, default: int | None = None) -> int | None:
        value = self.text(name, required=required)
        if value is None:
            return default
        if not value.isdigit():
            raise ConfigError(f"{name} {value!r} is not a whole number: set a numeric id")
        return int(value)

    def number(self, name: str, *, default: float, minimum: float) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            parsed = float(value)
        except ValueError:
            raise ConfigError(f"{name} {value!r} is not a number: set a value of at least {minimum}") from None
        if not parsed >= minimum:
            raise ConfigError(f"{name} {value!r} is too small: set a value of at least {minimum}")
        return parsed

    def choice(self, name: str, options: tuple[str, ...], *, default: str) -> str:
        value = self.text(name, default=default).lower()
        if value not in options:
            raise ConfigError(f"{name} {value!r} is not valid: use one of {', '.join(options)}")
        return value

    def word_set(self, name: str, default: tuple[str, ...], *, upper: bool, allowed: tuple[str, ...] = ()) -> frozenset[str]:
        value = self.text(name)
        words = default if value is None else tuple(word.strip() for word in value.split(",") if word.strip())
        if not words:
            raise ConfigError(f"{name} is empty: list at least one value, separated by commas")
        words = tuple(word.upper() if upper else word.lower() for word in words)
        unknown = [word for word in words if allowed and word not in allowed]
        if unknown:
            raise ConfigError(f"{name} has unknown value {unknown[0]!r}: use values from {', '.join(allowed)}")
        return frozenset(words)

    def zone(self, name: str, *, required: bool) -> ZoneInfo | None:
        value = self.text(name, required=required)
        return None if value is None else _zone(value, name)
