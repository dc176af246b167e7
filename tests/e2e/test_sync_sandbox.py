"""The real engine and API clients against the sandbox over real sockets."""

import threading
from collections import Counter
from decimal import Decimal

import pytest

from tsync.money import to_cents


def eligible_events(sandbox, settings):
    return {
        event_id: event for event_id, event in sandbox.tripleseat_events().items()
        if event.get("status") in settings.eligible_statuses and settings.venue_for(event.get("location_id"))
    }


def plannable_event(sandbox, settings, make_engine):
    """Return the id of an eligible seeded event whose order can be planned."""
    engine = make_engine()
    for event_id in eligible_events(sandbox, settings):
        if engine.run_event(event_id, dry_run=True).events[0].plan is not None:
            return event_id
    raise AssertionError("the seed has no plannable event")


def orders_by_local_id(sandbox):
    return Counter(order["local_id"] for order in sandbox.revel_orders())


def test_recent_creates_each_order_once(sandbox, settings, make_engine):
    result = make_engine().run_recent(48)

    injected = [event for event in result.events if event.status == "injected"]
    assert injected, result.to_dict()
    counts = orders_by_local_id(sandbox)
    for event in injected:
        assert counts[settings.local_id(event.id)] == 1
    assert sum(counts.values()) == len(injected)


def test_orders_match_tripleseat_totals(sandbox, settings, make_engine):
    make_engine().run_recent(48)
    events = sandbox.tripleseat_events()

    orders = sandbox.revel_orders()
    assert orders
    for order in orders:
        event = events[int(order["local_id"].removeprefix(settings.local_id_prefix))]
        live_lines = [
            line for document in event.get("documents") or [] if not document.get("deleted_at")
            for line in document.get("line_items") or []
        ]
        if not live_lines and event.get("booking"):
            live_lines = [line for document in event["booking"]["documents"] for line in document["line_items"]]
        assert len(order["items"]) == len(live_lines)
        assert to_cents(order["final_total"]) == to_cents(event["grand_total"])
        assert to_cents(order["remaining_due"]) == to_cents(event["amount_due"])
        item_total = sum(to_cents(item["price"]) * Decimal(str(item["quantity"])) for item in order["items"])
        assert to_cents(item_total) == to_cents(order["subtotal"])


def test_second_run_skips_everything(sandbox, make_engine):
    first = make_engine().run_recent(48)
    second = make_engine().run_recent(48)

    injected_ids = {event.id for event in first.events if event.status == "injected"}
    second_rows = {event.id: event for event in second.events}
    assert second.summary["injected"] == 0
    for event_id in injected_ids:
        assert second_rows[event_id].status == "skipped"
        assert second_rows[event_id].reason.startswith("DUPLICATE - Order Triple Seat_")
    assert len(sandbox.revel_orders()) == len(injected_ids)


def test_duplicate_found_in_revel_without_ledger(sandbox, settings, make_engine, tmp_path):
    first = make_engine().run_recent(48)
    injected = next(event for event in first.events if event.status == "injected")

    fresh_ledger = make_engine(db_path=tmp_path / "other.db")
    result = fresh_ledger.run_event(injected.id)

    assert result.events[0].status == "skipped"
    assert result.events[0].reason == f"DUPLICATE - Order Triple Seat_{injected.id} already exists"
    assert orders_by_local_id(sandbox)[settings.local_id(injected.id)] == 1


def test_tentative_event_skipped(sandbox, make_engine):
    tentative = next(event_id for event_id, event in sandbox.tripleseat_events().items() if event["status"] == "TENTATIVE")

    result = make_engine().run_event(tentative)

    row = result.events[0]
    assert row.status == "skipped"
    assert "TENTATIVE is not eligible" in row.reason
    assert sandbox.revel_orders() == []


def test_unmapped_item_fails_and_names_it(sandbox, make_engine):
    event_id, event = next(
        (event_id, event) for event_id, event in sandbox.tripleseat_events().items()
        if any(line.get("category", {}).get("name") == "Merchandise"
               for document in event.get("documents") or [] for line in document.get("line_items") or [])
    )
    merchandise = [
        line["display_name"] for document in event["documents"] for line in document["line_items"]
        if line["category"]["name"] == "Merchandise"
    ]

    result = make_engine().run_event(event_id)

    row = result.events[0]
    assert row.status == "failed"
    for name in merchandise:
        assert repr(name) in row.reason
    assert result.success is False
    assert sandbox.revel_orders() == []


def test_unconfigured_location_skipped(sandbox, make_engine):
    event_id = next(event_id for event_id, event in sandbox.tripleseat_events().items() if event["location_id"] == 30199)

    row = make_engine().run_event(event_id).events[0]

    assert row.status == "skipped"
    assert "30199 is not configured" in row.reason


def test_timeout_after_create_makes_one_order(sandbox, settings, make_engine):
    event_id = plannable_event(sandbox, settings, make_engine)
    sandbox.faults.add(api="revel", method="POST", path="/resources/Order/", kind="drop_after", times=1)

    result = make_engine().run_event(event_id)

    assert result.events[0].status == "injected"
    assert orders_by_local_id(sandbox)[settings.local_id(event_id)] == 1


def test_tripleseat_429_retried(sandbox, settings, make_engine):
    event_id = plannable_event(sandbox, settings, make_engine)
    sandbox.faults.add(api="tripleseat", method="GET", path=f"/v1/events/{event_id}", kind="status", status=429, retry_after=0, times=2)

    result = make_engine().run_event(event_id)

    assert result.events[0].status == "injected"


def test_failed_item_post_resumed_next_run(sandbox, settings, make_engine):
    event_id = plannable_event(sandbox, settings, make_engine)
    expected_items = len(make_engine().run_event(event_id, dry_run=True).events[0].plan.items)
    sandbox.faults.add(api="revel", method="POST", path="/resources/OrderItem/", kind="status", status=400,
                       body={"error": "simulated rejection"}, times=1)

    first = make_engine().run_event(event_id)
    second = make_engine().run_event(event_id)

    assert first.events[0].status == "failed"
    assert "simulated rejection" in first.events[0].reason
    assert second.events[0].status == "injected"
    orders = [order for order in sandbox.revel_orders() if order["local_id"] == settings.local_id(event_id)]
    assert len(orders) == 1
    assert len(orders[0]["items"]) == expected_items
    assert to_cents(orders[0]["final_total"]) == to_cents(sandbox.tripleseat_events()[event_id]["grand_total"])


def test_concurrent_syncs_make_one_order(sandbox, settings, make_engine):
    event_id = plannable_event(sandbox, settings, make_engine)
    sandbox.faults.add(api="revel", method="POST", path="/resources/Order/", kind="latency", delay=0.3, times=1)
    engines = [make_engine() for _ in range(4)]
    results = []

    threads = [threading.Thread(target=lambda engine=engine: results.append(engine.run_event(event_id))) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = Counter(result.events[0].status for result in results)
    assert statuses["injected"] == 1
    assert statuses["skipped"] == 3
    assert orders_by_local_id(sandbox)[settings.local_id(event_id)] == 1


def test_lost_after_order_alerts(sandbox, settings, make_engine, notifier):
    event_id = plannable_event(sandbox, settings, make_engine)
    created = make_engine().run_event(event_id).events[0]
    event = sandbox.tripleseat_events()[event_id]
    event["status"] = "LOST"
    sandbox.put_event(event)

    row = make_engine().run_event(event_id).events[0]

    assert row.status == "skipped"
    assert f"void Revel order {created.revel_order_id}" in row.reason
    assert len(notifier.alerts) == 1
    assert str(created.revel_order_id) in notifier.alerts[0][0]
    assert len(sandbox.revel_orders()) == 1


def test_dry_run_creates_nothing(sandbox, make_engine):
    result = make_engine().run_recent(48, dry_run=True)

    assert sandbox.revel_orders() == []
    assert any(event.reason and event.reason.startswith("DRY RUN") for event in result.events)


def test_run_recorded_in_ledger(make_engine):
    engine = make_engine()

    result = engine.run_recent(48)

    run = engine.store.get_run(result.run_id)
    assert run["mode"] == "recent"
    assert run["queried"] == result.summary["queried"]
    assert run["ended_at"] is not None


@pytest.mark.parametrize("hours", [0, -5])
def test_recent_rejects_bad_window(make_engine, hours):
    from tsync.errors import InputError

    with pytest.raises(InputError, match="hours-back"):
        make_engine().run_recent(hours)
