"""Each hand-worked invoice, synced through the CLI into the sandbox Revel, lands to the cent."""

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from fidelity_cases import FAILURE_CASES, MAPPING_CSV, SUCCESS_CASES, VENUES_JSON
from tsync.cli import cli
from tsync.money import to_cents
from tsync.sandbox import Sandbox


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("TSYNC_DB", "TSYNC_MAPPING", "TSYNC_LOCATIONS", "REVEL_API_URL", "TSYNC_SANDBOX_DIR"):
        monkeypatch.delenv(name, raising=False)
    sandbox_dir = tmp_path / "sandbox"
    sandbox_dir.mkdir()
    # The sandbox keeps a mapping file it finds in its folder, so it uses this table's mapping.
    (sandbox_dir / "mapping.csv").write_text(MAPPING_CSV, encoding="utf-8")
    (tmp_path / "mapping.csv").write_text(MAPPING_CSV, encoding="utf-8")
    return tmp_path


def write_event(workspace, case):
    path = workspace / f"event-{case.event['id']}.json"
    path.write_text(json.dumps({"event": case.event}), encoding="utf-8")
    return path


def run_sandbox(workspace, event_file, *args):
    return CliRunner().invoke(
        cli, ["--sandbox", "--sandbox-dir", str(workspace / "sandbox"), "--sandbox-events", str(event_file), *args],
        catch_exceptions=False,
    )


def stored_order(workspace, local_id):
    with Sandbox(workspace / "sandbox", events=[]) as sandbox:
        orders = [order for order in sandbox.revel_orders() if order["local_id"] == local_id]
    assert len(orders) == 1, f"expected one order {local_id}, found {len(orders)}"
    return orders[0]


def product_id(uri):
    return int(uri.rstrip("/").rsplit("/", 1)[1])


@pytest.mark.parametrize("case", SUCCESS_CASES, ids=lambda case: case.key)
def test_revel_order_matches_invoice(workspace, case):
    event_file = write_event(workspace, case)

    result = run_sandbox(workspace, event_file, "event", str(case.event["id"]), "--json")

    document = json.loads(result.stdout)
    row = document["events"][0]
    assert row["status"] == "injected", row
    assert row.get("differences_cents", {}) == case.differences
    order = stored_order(workspace, f"Triple Seat_{case.event['id']}")

    items = [
        (product_id(item["product"]), Decimal(str(item["quantity"])), to_cents(item["price"]),
         to_cents(item["discount_amount"]), to_cents(item["tax_amount"]), item.get("product_name_override"))
        for item in sorted(order["items"], key=lambda item: item["temp_sort"])
    ]
    expected = [
        (item.product_id, Decimal(item.quantity), Decimal(item.unit_price), Decimal(item.discount),
         Decimal(item.tax), item.name_override)
        for item in case.items
    ]
    assert items == expected
    assert to_cents(order["subtotal"]) == Decimal(case.subtotal)
    assert to_cents(order["discount_amount"]) == Decimal(case.discount)
    assert to_cents(order["tax"]) == Decimal(case.tax)
    assert to_cents(order["service_charge"]) == Decimal(case.service_charge)
    assert to_cents(order["gratuity"]) == Decimal(case.gratuity)
    assert to_cents(order["final_total"]) == Decimal(case.final_total)
    assert [str(to_cents(payment["amount"])) for payment in order["payments"]] == case.payments
    assert to_cents(order["remaining_due"]) == Decimal(case.remaining_due)
    assert order["pickup_time"] == case.pickup_time


@pytest.mark.parametrize("case", FAILURE_CASES, ids=lambda case: case.key)
def test_unfaithful_event_creates_nothing(workspace, case):
    event_file = write_event(workspace, case)

    result = run_sandbox(workspace, event_file, "event", str(case.event["id"]), "--json")

    row = json.loads(result.stdout)["events"][0]
    assert result.exit_code == 1
    assert row["status"] == "failed"
    assert case.error in row["reason"]
    with Sandbox(workspace / "sandbox", events=[]) as sandbox:
        assert sandbox.revel_orders() == []


@pytest.mark.parametrize("case", SUCCESS_CASES, ids=lambda case: case.key)
def test_preview_prints_same_plan(workspace, case, monkeypatch):
    event_file = write_event(workspace, case)
    monkeypatch.setenv("TSYNC_LOCATIONS", VENUES_JSON)

    dry_run = run_sandbox(workspace, event_file, "event", str(case.event["id"]), "--dry-run", "--json")
    preview = CliRunner().invoke(cli, ["preview", str(event_file), "--mapping", str(workspace / "mapping.csv"), "--json"],
                                 catch_exceptions=False)

    planned = json.loads(dry_run.stdout)["events"][0]["plan"]
    previewed = json.loads(preview.stdout)
    assert preview.exit_code == 0
    planned.pop("created_date")
    previewed.pop("created_date")
    assert previewed == planned


def test_preview_table_shows_totals(workspace, monkeypatch):
    case = SUCCESS_CASES[0]
    event_file = write_event(workspace, case)
    monkeypatch.setenv("TSYNC_LOCATIONS", VENUES_JSON)

    result = CliRunner().invoke(cli, ["preview", str(event_file), "--mapping", str(workspace / "mapping.csv")],
                                catch_exceptions=False)

    assert result.exit_code == 0
    assert "Final total" in result.stdout
    assert case.final_total in result.stdout


def test_preview_bad_file_one_line(workspace, monkeypatch):
    broken = workspace / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    monkeypatch.setenv("TSYNC_LOCATIONS", VENUES_JSON)

    result = CliRunner().invoke(cli, ["preview", str(broken)])

    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "broken.json" in result.stderr
