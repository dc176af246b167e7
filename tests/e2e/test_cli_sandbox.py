"""The tsync command line against the sandbox, as a new user runs it."""

import json

import pytest
from click.testing import CliRunner

from tsync.cli import cli

EXPECTED_ROW_KEYS = {"id", "name", "status"}
OPTIONAL_ROW_KEYS = {"revel_order_id", "reason", "differences_cents"}


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("TSYNC_DB", "TSYNC_MAPPING", "TSYNC_LOCATIONS", "REVEL_API_URL", "TSYNC_SANDBOX_DIR"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, ["--sandbox", "--sandbox-dir", str(tmp_path / "sb"), *args], catch_exceptions=False)

    return invoke


def test_recent_json_shape(run):
    result = run("recent", "--hours-back", "48", "--json")

    document = json.loads(result.stdout)
    assert set(document) == {"success", "mode", "summary", "events"}
    assert document["mode"] == "recent"
    assert set(document["summary"]) == {"queried", "injected", "skipped", "failed"}
    assert document["summary"]["injected"] > 0
    assert document["summary"]["queried"] == len(document["events"])
    for row in document["events"]:
        assert EXPECTED_ROW_KEYS <= set(row) <= EXPECTED_ROW_KEYS | OPTIONAL_ROW_KEYS
        assert row["status"] in ("injected", "skipped", "failed")
        if row["status"] == "injected":
            assert isinstance(row["revel_order_id"], int)
            assert "reason" not in row
        else:
            assert row["reason"]
    assert result.exit_code == (0 if document["success"] else 1)


def test_rerun_reports_skipped(run):
    first = json.loads(run("recent", "--json").stdout)
    second = json.loads(run("recent", "--json").stdout)

    injected = {row["id"] for row in first["events"] if row["status"] == "injected"}
    rows = {row["id"]: row for row in second["events"]}
    assert second["summary"]["injected"] == 0
    for event_id in injected:
        assert rows[event_id]["status"] == "skipped"
        assert rows[event_id]["reason"] == f"DUPLICATE - Order Triple Seat_{event_id} already exists"


def test_log_ends_with_summary_line(run):
    result = run("recent", "--json")

    document = json.loads(result.stdout)
    last = result.stderr.strip().splitlines()[-1]
    summary = document["summary"]
    assert last.endswith(
        f"Sync completed - Queried: {summary['queried']}, Injected: {summary['injected']}, "
        f"Skipped: {summary['skipped']}, Failed: {summary['failed']}"
    )
    assert "[sync-" in last


def test_event_single_mode(run):
    recent = json.loads(run("recent", "--json").stdout)
    skipped = next(row for row in recent["events"] if row["status"] == "skipped")

    result = run("event", str(skipped["id"]), "--json")

    document = json.loads(result.stdout)
    assert document["mode"] == "single"
    assert document["summary"]["queried"] == 1
    assert document["events"][0]["id"] == skipped["id"]
    assert result.exit_code == 0


def test_dry_run_json_includes_plan(run):
    recent = json.loads(run("recent", "--dry-run", "--json").stdout)

    planned = [row for row in recent["events"] if "plan" in row]
    assert planned
    assert planned[0]["reason"].startswith("DRY RUN")
    assert "items" in planned[0]["plan"]


def test_table_output(run):
    result = run("recent")

    assert "Queried" in result.stdout
    assert "injected" in result.stdout


def test_sandbox_reset(run, tmp_path):
    run("recent", "--json")
    reset = run("sandbox", "reset")
    after = json.loads(run("recent", "--json").stdout)

    assert reset.exit_code == 0
    assert after["summary"]["injected"] > 0


def test_unknown_event_fails(run):
    result = run("event", "99999999", "--json")

    document = json.loads(result.stdout)
    assert result.exit_code == 1
    assert "not found" in document["events"][0]["reason"]


def test_missing_setting_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("REVEL_API_URL", "TRIPLESEAT_CLIENT_ID", "TSYNC_LOCATIONS", "REVEL_LOCATION_ID"):
        monkeypatch.delenv(name, raising=False)

    result = CliRunner().invoke(cli, ["recent"])

    assert result.exit_code == 2
    assert result.stderr.strip().startswith("tsync: error: REVEL_API_URL is missing")
    assert "Traceback" not in result.output


def test_malformed_setting_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "REVEL_API_URL=acme.revelup.com\nTRIPLESEAT_CLIENT_ID=x\nTRIPLESEAT_CLIENT_SECRET=y\n"
        "REVEL_API_KEY=k\nREVEL_API_SECRET=s\nREVEL_LOCATION_ID=1\nREVEL_ESTABLISHMENT_ID=2\nTSYNC_TIMEZONE=America/New_York\n"
    )
    monkeypatch.delenv("REVEL_API_URL", raising=False)

    result = CliRunner().invoke(cli, ["event", "5"])

    assert result.exit_code == 2
    assert "REVEL_API_URL 'acme.revelup.com' is not an http(s) URL" in result.stderr


@pytest.mark.parametrize("hours", ["0", "-1", "1e12", "many"])
def test_bad_hours_back_one_line(run, hours):
    result = run("recent", "--hours-back", hours)

    assert result.exit_code == 2
    assert "--hours-back" in result.stderr
    assert "Traceback" not in result.output


def test_products_listed_once(run):
    result = run("products", "--json")

    products = json.loads(result.stdout)
    ids = [product["id"] for product in products]
    assert result.exit_code == 0
    assert len(ids) == len(set(ids))
    assert 4512 in ids


def test_mapping_check_names_merchandise(run):
    result = run("mapping", "check", "--hours-back", "48", "--json")

    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert report["events_read"] > 0
    assert report["unknown_products"] == []
    merchandise = [row for row in report["unmapped"] if "Merchandise" in row["item"]]
    assert len(merchandise) == 1
    assert merchandise[0]["count"] >= 1
    assert merchandise[0]["event_ids"]


def test_mapping_check_table(run):
    result = run("mapping", "check")

    assert result.exit_code == 1
    assert "Merchandise" in result.stdout


def test_sandbox_ignores_real_smtp(run, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", "9")
    monkeypatch.setenv("NOTIFY_FROM", "tsync@example.com")
    monkeypatch.setenv("NOTIFY_TO", "ops@example.com")

    result = run("recent", "--json")

    assert "e-mail is off in the sandbox" in result.stderr
    assert "sending" not in result.stderr.lower()
