from pathlib import Path

import pytest

from tsync.config import load_settings, parse_locations, settings_from_values
from tsync.errors import ConfigError

BASE = {
    "TRIPLESEAT_CLIENT_ID": "client",
    "TRIPLESEAT_CLIENT_SECRET": "secret",
    "REVEL_API_URL": "https://acme.revelup.com/",
    "REVEL_API_KEY": "key",
    "REVEL_API_SECRET": "revel-secret",
    "REVEL_LOCATION_ID": "30112",
    "REVEL_ESTABLISHMENT_ID": "7",
    "TSYNC_TIMEZONE": "America/New_York",
}


def settings_with(**changes):
    values = dict(BASE)
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    return settings_from_values(values)


def test_defaults():
    settings = settings_with()

    assert settings.tripleseat_url == "https://api.tripleseat.com"
    assert settings.revel_url == "https://acme.revelup.com"
    assert settings.local_id(55521609) == "Triple Seat_55521609"
    assert settings.eligible_statuses == {"DEFINITE", "CLOSED"}
    assert settings.venues[30112].establishment_id == 7
    assert settings.venues[30112].timezone.key == "America/New_York"
    assert settings.smtp is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"REVEL_API_URL": None}, "REVEL_API_URL is missing"),
        ({"TRIPLESEAT_CLIENT_SECRET": None}, "TRIPLESEAT_CLIENT_SECRET is missing"),
        ({"REVEL_API_URL": "acme.revelup.com"}, "REVEL_API_URL 'acme.revelup.com' is not an http(s) URL"),
        ({"REVEL_ESTABLISHMENT_ID": "seven"}, "REVEL_ESTABLISHMENT_ID 'seven' is not a whole number"),
        ({"TSYNC_TIMEZONE": "Eastern"}, "TSYNC_TIMEZONE 'Eastern' is not a known IANA time zone"),
        ({"TSYNC_TIMEZONE": None}, "TSYNC_TIMEZONE is missing"),
        ({"REVEL_LOCATION_ID": None}, "no venue configured"),
        ({"TSYNC_ELIGIBLE_STATUSES": "definite,closd"}, "TSYNC_ELIGIBLE_STATUSES has unknown value 'CLOSD'"),
        ({"TSYNC_HTTP_TIMEOUT": "soon"}, "TSYNC_HTTP_TIMEOUT 'soon' is not a number"),
        ({"NOTIFY_POLICY": "sometimes"}, "NOTIFY_POLICY 'sometimes' is not valid"),
        ({"SMTP_HOST": "mail.example.com"}, "NOTIFY_TO is missing"),
        ({"TSYNC_LOCATIONS": "[1,2]"}, "TSYNC_LOCATIONS must be a JSON object"),
        ({"TSYNC_LOCATIONS": '{"30113": {"timezone": "America/Chicago"}}'}, "establishment_id is missing"),
        ({"TSYNC_LOCATIONS": '{"x": {"establishment_id": 8, "timezone": "America/Chicago"}}'}, "must be a Tripleseat location id"),
        ({"TSYNC_LOCATIONS": "{not json"}, "TSYNC_LOCATIONS is not valid JSON"),
    ],
)
def test_bad_setting_named(changes, message):
    with pytest.raises(ConfigError) as raised:
        settings_with(**changes)

    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_locations_file_and_single_venue_combine(tmp_path):
    locations = tmp_path / "locations.json"
    locations.write_text('{"30113": {"establishment_id": 8, "timezone": "America/Chicago", "name": "Southside"}}')

    settings = settings_with(TSYNC_LOCATIONS=str(locations))

    assert sorted(settings.venues) == [30112, 30113]
    assert settings.venues[30113].name == "Southside"


def test_environment_wins_over_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in BASE.items()) + "TSYNC_DB=from-file.db\n")

    settings = load_settings(env_file, environ={"TSYNC_DB": "from-environment.db"})

    assert settings.db_path == Path("from-environment.db")


def test_env_file_not_utf8(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_bytes("TSYNC_TIMEZONE=Am\xe9rica\n".encode("cp1252"))

    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_settings(env_file, environ={})


def test_missing_env_file_named(tmp_path):
    with pytest.raises(ConfigError, match="env file .* not found"):
        load_settings(tmp_path / "nope.env", environ={})


def test_smtp_settings_parsed():
    settings = settings_with(SMTP_HOST="mail.example.com", NOTIFY_FROM="tsync@example.com",
                             NOTIFY_TO="chef@example.com, manager@example.com", SMTP_SECURITY="tls")

    assert settings.smtp.port == 465
    assert settings.smtp.recipients == ("chef@example.com", "manager@example.com")


def test_offline_needs_no_credentials():
    settings = settings_from_values({"TSYNC_LOCATIONS": '{"1": {"establishment_id": 2, "timezone": "UTC"}}'}, offline=True)

    assert settings.revel_url == ""
    assert settings.venues[1].establishment_id == 2


def test_parse_locations_inline():
    venues = parse_locations('{"30114": {"establishment_id": 9, "timezone": "America/Los_Angeles"}}')

    assert venues[30114].timezone.key == "America/Los_Angeles"
