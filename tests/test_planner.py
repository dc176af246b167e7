from datetime import datetime, timezone
from decimal import Decimal

import pytest

from fidelity_cases import CASES_BY_KEY, FAILURE_CASES, MAPPING_CSV, SUCCESS_CASES, VENUES_JSON
from tsync.config import settings_from_values
from tsync.errors import PlanningError
from tsync.mapping import parse_mapping
from tsync.planning import charge_kind, plan_hash, plan_order, spread

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def settings():
    return settings_from_values({"TSYNC_LOCATIONS": VENUES_JSON}, offline=True)


@pytest.fixture(scope="module")
def mapping():
    return parse_mapping(MAPPING_CSV, source="mapping.csv")


def plan_for(case, settings, mapping):
    venue = settings.venues[case.event["location_id"]]
    return plan_order(case.event, settings=settings, venue=venue, mapping=mapping, now=NOW)


@pytest.mark.parametrize("case", SUCCESS_CASES, ids=lambda case: case.key)
def test_plan_matches_invoice(case, settings, mapping):
    plan = plan_for(case, settings, mapping)

    lines = [(item.name, item.product_id, str(item.quantity), str(item.unit_price), str(item.gross),
              str(item.discount), str(item.tax), item.name_override) for item in plan.items]
    expected = [(item.name, item.product_id, item.quantity, item.unit_price, item.gross, item.discount,
                 item.tax, item.name_override) for item in case.items]
    assert lines == expected
    assert str(plan.subtotal) == case.subtotal
    assert str(plan.discount) == case.discount
    assert str(plan.tax) == case.tax
    assert str(plan.service_charge) == case.service_charge
    assert str(plan.gratuity) == case.gratuity
    assert str(plan.final_total) == case.final_total
    assert [str(payment.amount) for payment in plan.payments] == case.payments
    assert str(plan.remaining_due) == case.remaining_due
    assert plan.pickup_time == case.pickup_time
    assert plan.differences == case.differences


@pytest.mark.parametrize("case", SUCCESS_CASES, ids=lambda case: case.key)
def test_plan_lines_add_up_to_order(case, settings, mapping):
    plan = plan_for(case, settings, mapping)

    assert sum(item.tax for item in plan.items) == plan.tax
    assert sum(item.service_charge for item in plan.items) == plan.service_charge + plan.gratuity
    assert plan.final_total == plan.tripleseat_grand_total
    assert plan.remaining_due == plan.tripleseat_amount_due


@pytest.mark.parametrize("case", FAILURE_CASES, ids=lambda case: case.key)
def test_plan_failure_names_reason(case, settings, mapping):
    with pytest.raises(PlanningError) as raised:
        plan_for(case, settings, mapping)

    assert case.error in str(raised.value)


def test_taxed_service_charge_flagged(settings, mapping):
    plan = plan_for(CASES_BY_KEY["taxed-service-charge"], settings, mapping)

    charge = next(charge for charge in plan.charges if charge.kind == "service_charge")
    assert charge.taxed is True
    assert plan.service_charge_taxed == Decimal("394.20")
    assert plan.service_charge_untaxed == Decimal("0.00")


def test_untaxed_service_charge_not_flagged(settings, mapping):
    plan = plan_for(CASES_BY_KEY["untaxed-service-charge-and-deposit"], settings, mapping)

    assert plan.service_charge_untaxed == Decimal("525.60")
    assert plan.service_charge_taxed == Decimal("0.00")


def test_tax_exempt_order_notes(settings, mapping):
    plan = plan_for(CASES_BY_KEY["tax-exempt-zero-price-gratuity"], settings, mapping)

    assert "No tax on the Tripleseat invoice" in plan.notes
    assert plan.tax == Decimal("0.00")


def test_notes_and_call_name(settings, mapping):
    plan = plan_for(CASES_BY_KEY["untaxed-service-charge-and-deposit"], settings, mapping)

    assert plan.call_name == "TS-61000003 Dana Ruiz"
    assert "Tripleseat event 61000003: Harbor Tech Q2 Offsite Dinner" in plan.notes
    assert "40 guests" in plan.notes
    assert "Contact: Dana Ruiz, dana@example.com" in plan.notes


def test_deleted_document_ignored(settings, mapping):
    plan = plan_for(CASES_BY_KEY["two-documents-one-deleted"], settings, mapping)

    assert "Full Buyout" not in [item.name for item in plan.items]


def test_grand_total_mismatch_fails(settings, mapping):
    import copy

    event = copy.deepcopy(CASES_BY_KEY["several-taxes"].event)
    event["documents"][0]["financials"]["grand_total"] = "400.00"

    with pytest.raises(PlanningError) as raised:
        plan_order(event, settings=settings, venue=settings.venues[30112], mapping=mapping, now=NOW)

    assert "392.05" in str(raised.value)
    assert "400.00" in str(raised.value)


def test_amount_due_mismatch_fails(settings, mapping):
    import copy

    event = copy.deepcopy(CASES_BY_KEY["taxed-service-charge"].event)
    event["documents"][0]["payment_set"]["payments"][0]["state"] = "pending"

    with pytest.raises(PlanningError) as raised:
        plan_order(event, settings=settings, venue=settings.venues[30112], mapping=mapping, now=NOW)

    assert "amount due is 2114.94" in str(raised.value)


def test_event_without_items_fails(settings, mapping):
    event = {"id": 5, "name": "Empty", "location_id": 30112, "documents": []}

    with pytest.raises(PlanningError, match="no line items"):
        plan_order(event, settings=settings, venue=settings.venues[30112], mapping=mapping, now=NOW)


def test_bad_amount_names_line(settings, mapping):
    import copy

    event = copy.deepcopy(CASES_BY_KEY["several-taxes"].event)
    event["documents"][0]["line_items"][0]["price"] = "nine fifty"

    with pytest.raises(PlanningError, match="Breakfast Burrito Platter"):
        plan_order(event, settings=settings, venue=settings.venues[30112], mapping=mapping, now=NOW)


def test_plan_hash_ignores_planning_time(settings, mapping):
    case = CASES_BY_KEY["several-taxes"]
    venue = settings.venues[30112]
    first = plan_order(case.event, settings=settings, venue=venue, mapping=mapping, now=NOW)
    later = plan_order(case.event, settings=settings, venue=venue, mapping=mapping, now=datetime(2026, 12, 5, tzinfo=timezone.utc))

    assert first.created_date != later.created_date
    assert plan_hash(first) == plan_hash(later)


def test_uuids_stable_across_plans(settings, mapping):
    case = CASES_BY_KEY["taxed-service-charge"]
    first = plan_for(case, settings, mapping)
    second = plan_for(case, settings, mapping)

    assert first.uuid == second.uuid
    assert [item.uuid for item in first.items] == [item.uuid for item in second.items]
    assert len({item.uuid for item in first.items}) == len(first.items)


@pytest.mark.parametrize(
    ("amount", "weights", "expected"),
    [
        ("0.01", ["45", "85", "25"], ["0.00", "0.01", "0.00"]),
        ("-0.02", ["10", "10", "10"], ["-0.01", "-0.01", "0.00"]),
        ("1.00", ["0", "0"], ["0.50", "0.50"]),
        ("10.00", ["1", "2", "1"], ["2.50", "5.00", "2.50"]),
        ("0.01", ["4", "-1", "-1"], ["0.02", "0.00", "-0.01"]),
        ("10.01", ["100", "-25", "-25"], ["20.02", "-5.00", "-5.01"]),
    ],
)
def test_spread_sums_exactly(amount, weights, expected):
    shares = spread(Decimal(amount), [Decimal(weight) for weight in weights])

    assert [str(share) for share in shares] == expected
    assert sum(shares) == Decimal(amount)


@pytest.mark.parametrize(
    ("description", "kind"),
    [("Sales Tax", "tax"), ("City Tax", "tax"), ("Gratuity", "gratuity"), ("Service Charge", "service_charge"),
     ("Event Admin Fee", "service_charge"), ("Private Room Fee", "service_charge"),
     ("Multiple Room Setup", "service_charge"), ("State Sales Taxes", "tax")],
)
def test_charge_kind_by_description(description, kind):
    assert charge_kind(description) == kind
