"""Recovery paths of the engine: stale lookups, half-written orders, lost responses, cancellations."""

import copy

from tsync.engine import CLAIM_SECONDS
from tsync.money import to_cents


def plannable(sandbox, settings, make_engine):
    engine = make_engine()
    for event_id, event in sorted(sandbox.tripleseat_events().items()):
        if event.get("status") in settings.eligible_statuses and settings.venue_for(event.get("location_id")):
            row = engine.run_event(event_id, dry_run=True).events[0]
            if row.plan is not None and len(row.plan.items) > 1:
                return event_id
    raise AssertionError("the seed has no plannable event")


def orders_for(sandbox, local_id):
    return [order for order in sandbox.revel_orders() if order["local_id"] == local_id]


def test_stale_batch_lookup_rechecked(sandbox, settings, make_engine, tmp_path):
    event_id = plannable(sandbox, settings, make_engine)
    local_id = settings.local_id(event_id)
    make_engine(db_path=tmp_path / "elsewhere.db").run_event(event_id)

    row = make_engine().sync_event(event_id, run_id="sync-stale", known_orders={local_id: []})

    assert row.status == "skipped"
    assert row.reason.startswith("DUPLICATE")
    assert len(orders_for(sandbox, local_id)) == 1


def test_resume_refuses_changed_event(sandbox, settings, make_engine):
    event_id = plannable(sandbox, settings, make_engine)
    sandbox.faults.add(api="revel", method="POST", path="/resources/Payment/", kind="status", status=400,
                       body={"error": "simulated rejection"}, times=1)
    sandbox.faults.add(api="revel", method="POST", path="/resources/OrderHistory/", kind="status", status=400,
                       body={"error": "simulated rejection"}, times=1)
    first = make_engine().run_event(event_id).events[0]
    event = sandbox.tripleseat_events()[event_id]
    changed = copy.deepcopy(event)
    line = next(line for document in changed["documents"] if not document.get("deleted_at") for line in document["line_items"])
    line["quantity"] = str(int(float(line["quantity"])) + 1)
    sandbox.put_event(changed)

    second = make_engine().run_event(event_id).events[0]

    assert first.status == "failed"
    assert second.status == "failed"
    assert "no longer matches the event" in second.reason
    assert "by hand" in second.reason
    assert len(orders_for(sandbox, settings.local_id(event_id))) == 1


def test_fetch_failure_keeps_injected(sandbox, settings, make_engine, notifier):
    event_id = plannable(sandbox, settings, make_engine)
    created = make_engine().run_event(event_id).events[0]
    sandbox.faults.add(api="tripleseat", method="GET", path=f"/v1/events/{event_id}", kind="status", status=404,
                       body={"error": "Event not found"}, times=1)

    missing = make_engine().run_event(event_id).events[0]
    event = sandbox.tripleseat_events()[event_id]
    event["status"] = "LOST"
    sandbox.put_event(event)
    lost = make_engine().run_event(event_id).events[0]

    assert missing.status == "failed"
    assert make_engine().store.get_event(event_id)["outcome"] == "injected"
    assert f"void Revel order {created.revel_order_id}" in lost.reason
    assert len(notifier.alerts) == 1


def test_malformed_event_fails_alone(sandbox, settings, make_engine):
    event_id = plannable(sandbox, settings, make_engine)
    event = sandbox.tripleseat_events()[event_id]
    live = next(document for document in event["documents"] if not document.get("deleted_at"))
    live["financials"]["grand_total"] = "TBD"
    sandbox.put_event(event)

    result = make_engine().run_recent(48)

    rows = {row.id: row for row in result.events}
    assert rows[event_id].status == "failed"
    assert "TBD" in rows[event_id].reason
    assert result.summary["injected"] > 0


def test_claim_held_is_retryable(sandbox, settings, make_engine):
    event_id = plannable(sandbox, settings, make_engine)
    engine = make_engine()
    assert engine.store.claim_event(event_id, "sync-other", CLAIM_SECONDS)

    held = engine.run_event(event_id).events[0]
    dry = engine.run_event(event_id, dry_run=True).events[0]

    assert held.status == "skipped"
    assert held.reason.startswith("IN PROGRESS")
    assert held.retryable is True
    assert dry.reason.startswith("DRY RUN")
    assert sandbox.revel_orders() == []


def test_dry_run_writes_no_ledger_row(sandbox, settings, make_engine):
    event_id = plannable(sandbox, settings, make_engine)
    engine = make_engine()

    engine.run_event(event_id, dry_run=True)

    assert engine.store.get_event(event_id) is None


def test_cancellation_cleared_by_new_order(sandbox, settings, make_engine, notifier):
    event_id = plannable(sandbox, settings, make_engine)
    make_engine().cancel_event(event_id, run_id="hook-cancel", reason="deleted in Tripleseat")

    created = make_engine().run_event(event_id).events[0]
    event = sandbox.tripleseat_events()[event_id]
    event["status"] = "LOST"
    sandbox.put_event(event)
    lost = make_engine().run_event(event_id).events[0]

    assert created.status == "injected"
    assert f"void Revel order {created.revel_order_id}" in lost.reason
    assert len(notifier.alerts) == 1


def test_lost_after_unanswered_create_alerts(sandbox, settings, make_engine, notifier, tmp_path):
    event_id = plannable(sandbox, settings, make_engine)
    local_id = settings.local_id(event_id)
    # The order exists in Revel, but the ledger only records that a create began:
    # the response with the order id never arrived.
    make_engine(db_path=tmp_path / "elsewhere.db").run_event(event_id)
    engine = make_engine()
    engine.store.record_event(event_id, local_id, outcome="creating")
    event = sandbox.tripleseat_events()[event_id]
    event["status"] = "LOST"
    sandbox.put_event(event)

    lost = engine.run_event(event_id).events[0]

    order_id = orders_for(sandbox, local_id)[0]["id"]
    assert f"void Revel order {order_id}" in lost.reason
    assert len(notifier.alerts) == 1


def test_resumed_order_totals_match(sandbox, settings, make_engine):
    event_id = plannable(sandbox, settings, make_engine)
    sandbox.faults.add(api="revel", method="PATCH", path="/resources/Order/", kind="status", status=400,
                       body={"error": "simulated rejection"}, times=1)

    first = make_engine().run_event(event_id).events[0]
    second = make_engine().run_event(event_id).events[0]

    orders = orders_for(sandbox, settings.local_id(event_id))
    assert first.status == "failed"
    assert second.status == "injected"
    assert len(orders) == 1
    assert to_cents(orders[0]["final_total"]) == to_cents(sandbox.tripleseat_events()[event_id]["grand_total"])


def test_unknown_product_creates_nothing(sandbox, settings, make_engine):
    event_id = plannable(sandbox, settings, make_engine)
    plan = make_engine().run_event(event_id, dry_run=True).events[0].plan
    mapping_path = settings.mapping_path
    text = mapping_path.read_text(encoding="utf-8")
    mapping_path.write_text(text.replace(f",{plan.items[0].product_id},", ",999999,", 1), encoding="utf-8")

    dry = make_engine().run_event(event_id, dry_run=True).events[0]
    real = make_engine().run_event(event_id).events[0]

    assert dry.status == "failed"
    assert "product 999999" in dry.reason
    assert real.status == "failed"
    assert "not found" in real.reason
    assert sandbox.revel_orders() == []


def test_mapping_check_lists_unknown_products(sandbox, settings, make_engine):
    mapping_path = settings.mapping_path
    mapping_path.write_text(mapping_path.read_text(encoding="utf-8") + "name,Ghost Item,999999,\n", encoding="utf-8")

    problems = make_engine().mapping_product_problems()

    assert {"establishment_id": 7, "revel_product_id": 999999, "problem": "not found"} in problems
