"""Invented but realistic Tripleseat events, each with the exact Revel order expected.

The planner tests and the end-to-end fidelity tests share this table. Every
expected figure was worked out by hand from the invoice: the arithmetic is
in the comment above each case.
"""

import copy
from dataclasses import dataclass, field

MAPPING_CSV = """kind,key,revel_product_id,note
# product ids exist in the sandbox's Revel catalogue
menu_item_id,80101,4540,Breakfast Burrito Platter
menu_item_id,80102,4541,Cold Brew Traveler
menu_item_id,80201,4520,Plated Dinner
menu_item_id,80202,4530,Wine Service
menu_item_id,70011,4512,Passed hors d'oeuvres
menu_item_id,70102,4520,Roast Chicken Entree
menu_item_id,70103,4521,Seared Salmon Entree
menu_item_id,71001,4530,House Wine Package
menu_item_id,80301,4546,Boxed Lunch
menu_item_id,80401,4542,Cupcake Tower
menu_item_id,80402,4548,Assorted Cupcakes
menu_item_id,80501,4550,Taco Bar
menu_item_id,80502,4554,Margarita Pitchers
menu_item_id,80601,4540,Kouign-amann Tray
menu_item_id,80701,4547,Bagel Platter
menu_item_id,80702,4522,Lox Platter
menu_item_id,80703,4541,Coffee Box
name,Mezzanine Rental,4601,
name,Room Fee,4602,
name,Utensil Kit,4999,zero-price line
category,Fees,4710,generic fee product; the line keeps its name
category,Audio Visual,4700,generic AV product; the line keeps its name
"""

NEW_YORK = 30112
CHICAGO = 30113
LOS_ANGELES = 30114


@dataclass
class ExpectedItem:
    name: str
    product_id: int
    quantity: str
    unit_price: str
    gross: str
    discount: str
    tax: str
    name_override: str | None = None


@dataclass
class Case:
    key: str
    event: dict
    items: list[ExpectedItem] = field(default_factory=list)
    subtotal: str = "0.00"
    discount: str = "0.00"
    tax: str = "0.00"
    service_charge: str = "0.00"
    gratuity: str = "0.00"
    final_total: str = "0.00"
    payments: list[str] = field(default_factory=list)
    remaining_due: str = "0.00"
    pickup_time: str | None = None
    differences: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # expected PlanningError text, for events that must fail


def line(line_id, name, quantity, price, total, *, menu_item_id=None, discount="0.0", billing=(), category="Food", section="Menu", description=""):
    if isinstance(total, str):
        grand_total = str(_to_number(total) - _to_number(discount))
    else:
        grand_total = float(total) - float(discount)
    return {
        "id": line_id, "display_name": name, "quantity": quantity, "price": price, "total_price": total,
        "discount": discount, "grand_total": grand_total, "position": line_id, "section": section,
        "section_position": 1, "description": description, "menu_item_id": menu_item_id,
        "category": {"id": 1, "name": category, "internal_name": category.lower()}, "billing_ids": list(billing),
    }


def _to_number(value):
    from decimal import Decimal

    return Decimal(str(value))


def billing(billing_id, description, rate, total):
    return {"billing_id": billing_id, "description": description, "value": rate, "total_price": total}


def payment(payment_id, amount, state, title, *, refunded="0.0", paid_at="11/02/2026 10:15 AM"):
    return {
        "id": payment_id, "amount": amount, "state": state, "custom_title": title, "amount_refunded": refunded,
        "paid_at": paid_at if state != "unpaid" else None, "due_at": "12/01/2026", "billing_kind": "deposit",
    }


def document(document_id, lines, totals, *, grand_total, amount_due, payments=(), deleted_at=None, title="BEO / Invoice"):
    return {
        "id": document_id, "title": title, "deleted_at": deleted_at, "line_items": lines, "billing_totals": totals,
        "financials": {"grand_total": grand_total, "amount_due": amount_due},
        "payment_set": {"payments": list(payments)},
    }


def event(event_id, name, documents, *, grand_total, amount_due, location_id=NEW_YORK,
          start_utc="2026-12-12T17:00:00Z", end_utc="2026-12-12T20:00:00Z", status="DEFINITE", **extra):
    body = {
        "id": event_id, "name": name, "status": status, "location_id": location_id,
        "location": {"id": location_id, "name": "Test venue"},
        "event_start_utc": start_utc, "event_end_utc": end_utc, "guest_count": 40,
        "grand_total": grand_total, "amount_due": amount_due, "documents": documents,
        "updated_at": "12/04/2026 9:30 AM", "booking_id": event_id + 1000000,
        "contact": {"first_name": "Dana", "last_name": "Ruiz", "email_addresses": [{"address": "dana@example.com"}]},
    }
    body.update(extra)
    for key in ("event_start_utc", "event_end_utc"):
        if body[key] is None:
            del body[key]
    return body


CASES: list[Case] = []

# Two taxes on the same lines. Sales tax 6.25 % of 363.00 = 22.6875 -> 22.69
# (per line 11.875 -> 11.88, 8.00, 2.8125 -> 2.81); city tax 2 % of 318.00 = 6.36
# (3.80 + 2.56). Total 363.00 + 29.05 = 392.05, nothing paid.
CASES.append(Case(
    "several-taxes",
    event(61000001, "Riverside Realty Breakfast Meeting", [document(710001, [
        line(1, "Breakfast Burrito Platter", "20", "9.50", "190.00", menu_item_id=80101, billing=(2, 3)),
        line(2, "Cold Brew Traveler", "4", "32.00", "128.00", menu_item_id=80102, billing=(2, 3), category="Beverage"),
        line(3, "Delivery Fee", "1", "45.00", "45.00", billing=(2,), category="Fees"),
    ], [billing(2, "Sales Tax", "6.25", "22.69"), billing(3, "City Tax", "2.0", "6.36")],
        grand_total="392.05", amount_due="392.05")], grand_total="392.05", amount_due="392.05"),
    items=[
        ExpectedItem("Breakfast Burrito Platter", 4540, "20", "9.50", "190.00", "0.00", "15.68"),
        ExpectedItem("Cold Brew Traveler", 4541, "4", "32.00", "128.00", "0.00", "10.56"),
        ExpectedItem("Delivery Fee", 4710, "1", "45.00", "45.00", "0.00", "2.81", name_override="Delivery Fee"),
    ],
    subtotal="363.00", tax="29.05", final_total="392.05", remaining_due="392.05",
    pickup_time="2026-12-12T12:00:00",
))

# A taxed service charge. Service charge 18 % of 2190.00 (food and discounted wine) = 394.20.
# Tax 8 % covers the lines and the charge: 8 % of 2884.20 = 230.736 -> 230.74, where 8 % of
# the lines alone would be 199.20. Per line: (1650 + 297) x 8 % = 155.76, (540 + 97.20) x 8 %
# = 50.976 -> 50.98, 300 x 8 % = 24.00. Total 2550 - 60 + 394.20 + 230.74 = 3114.94;
# after a 1000.00 deposit 2114.94 is due.
CASES.append(Case(
    "taxed-service-charge",
    event(61000002, "Lindqvist Anniversary Dinner", [document(710002, [
        line(1, "Plated Dinner", "30", "55.00", "1650.00", menu_item_id=80201, billing=(1, 2)),
        line(2, "Wine Service", "30", "20.00", "600.00", menu_item_id=80202, discount="60.00", billing=(1, 2), category="Beverage"),
        line(3, "Room Fee", "1", "300.00", "300.00", billing=(2,), category="Room Rental"),
    ], [billing(1, "Service Charge", "18.0", "394.20"), billing(2, "Sales Tax", "8.0", "230.74")],
        grand_total="3114.94", amount_due="2114.94",
        payments=[payment(91, "1000.00", "paid", "Deposit"), payment(92, "2114.94", "unpaid", "Final Payment")])],
        grand_total="3114.94", amount_due="2114.94"),
    items=[
        ExpectedItem("Plated Dinner", 4520, "30", "55.00", "1650.00", "0.00", "155.76"),
        ExpectedItem("Wine Service", 4530, "30", "20.00", "600.00", "60.00", "50.98"),
        ExpectedItem("Room Fee", 4602, "1", "300.00", "300.00", "0.00", "24.00"),
    ],
    subtotal="2550.00", discount="60.00", tax="230.74", service_charge="394.20", final_total="3114.94",
    payments=["1000.00"], remaining_due="2114.94", pickup_time="2026-12-12T12:00:00",
))

# An untaxed service charge, a line discount, a paid deposit and an unpaid final payment.
# Items 3350.00 - 72.00 = 3278.00; service charge 20 % of 2628.00 = 525.60; tax 7 % of
# 3278.00 = 229.46; total 4033.06; 3033.06 due after the 1000.00 deposit.
CASES.append(Case(
    "untaxed-service-charge-and-deposit",
    event(61000003, "Harbor Tech Q2 Offsite Dinner", [document(710003, [
        line(1, "Passed Hors d'Oeuvres", "40", "6.0", "240.0", menu_item_id=70011, billing=(7001, 7002), section="Reception"),
        line(2, "Roast Chicken Entrée", "25", "42.0", "1050.0", menu_item_id=70102, billing=(7001, 7002), section="Dinner"),
        line(3, "Seared Salmon Entrée", "15", "46.0", "690.0", menu_item_id=70103, billing=(7001, 7002), section="Dinner"),
        line(4, "House Wine Package (3 hr)", "40", "18.0", "720.0", menu_item_id=71001, discount="72.0", billing=(7001, 7002), category="Beverage", section="Bar"),
        line(5, "Mezzanine Rental", "1", "500.0", "500.0", billing=(7002,), category="Room Rental", section="Fees"),
        line(6, "Projector & Mic", "1", "150.0", "150.0", billing=(7002,), category="Audio Visual", section="Fees"),
    ], [billing(7001, "Service Charge", "20.0", "525.6"), billing(7002, "Sales Tax", "7.0", "229.46")],
        grand_total="4033.06", amount_due="3033.06",
        payments=[payment(55001, "1000.0", "paid", "Deposit"), payment(55002, "3033.06", "unpaid", "Final Payment")])],
        grand_total="4033.06", amount_due="3033.06",
        start_utc="2026-06-14T22:30:00Z", end_utc="2026-06-15T02:30:00Z"),
    items=[
        ExpectedItem("Passed Hors d'Oeuvres", 4512, "40", "6.00", "240.00", "0.00", "16.80"),
        ExpectedItem("Roast Chicken Entrée", 4520, "25", "42.00", "1050.00", "0.00", "73.50"),
        ExpectedItem("Seared Salmon Entrée", 4521, "15", "46.00", "690.00", "0.00", "48.30"),
        ExpectedItem("House Wine Package (3 hr)", 4530, "40", "18.00", "720.00", "72.00", "45.36"),
        ExpectedItem("Mezzanine Rental", 4601, "1", "500.00", "500.00", "0.00", "35.00"),
        ExpectedItem("Projector & Mic", 4700, "1", "150.00", "150.00", "0.00", "10.50", name_override="Projector & Mic"),
    ],
    subtotal="3350.00", discount="72.00", tax="229.46", service_charge="525.60", final_total="4033.06",
    payments=["1000.00"], remaining_due="3033.06", pickup_time="2026-06-14T18:30:00",
))

# A tax-exempt school order with a zero-price line and a gratuity: 1500.00 + 15 % gratuity
# 225.00 = 1725.00, no tax at all.
CASES.append(Case(
    "tax-exempt-zero-price-gratuity",
    event(61000004, "Lincoln Elementary Field Day Lunch", [document(710004, [
        line(1, "Boxed Lunch", "120", "12.50", "1500.00", menu_item_id=80301, billing=(5,)),
        line(2, "Utensil Kit", "120", "0.00", "0.00", billing=(5,), category="Supplies"),
    ], [billing(5, "Gratuity", "15.0", "225.00")], grand_total="1725.00", amount_due="1725.00")],
        grand_total="1725.00", amount_due="1725.00", location_id=CHICAGO,
        start_utc="2026-12-12T17:00:00Z"),
    items=[
        ExpectedItem("Boxed Lunch", 4546, "120", "12.50", "1500.00", "0.00", "0.00"),
        ExpectedItem("Utensil Kit", 4999, "120", "0.00", "0.00", "0.00", "0.00"),
    ],
    subtotal="1500.00", gratuity="225.00", final_total="1725.00", remaining_due="1725.00",
    pickup_time="2026-12-12T11:00:00",
))

# Amounts as JSON numbers; a refunded deposit, a paid deposit and a negative credit payment.
# 180.00 + 180.00 = 360.00; tax 9.5 % = 34.20 (17.10 per line); total 394.20. Payments:
# +100.00 and its refund -100.00, +150.00, and a -20.00 credit: 130.00 paid, 264.20 due.
CASES.append(Case(
    "numbers-refund-and-credit",
    event(61000005, "Okafor Baby Shower", [document(710005, [
        line(1, "Cupcake Tower", 1, 180, 180, menu_item_id=80401, billing=(2,), discount=0),
        line(2, "Assorted Cupcakes", 48, 3.75, 180.0, menu_item_id=80402, billing=(2,), discount=0),
    ], [billing(2, "Sales Tax", 9.5, 34.2)], grand_total=394.2, amount_due=264.2,
        payments=[payment(71, 100, "refunded", "Deposit", refunded=100), payment(72, 150.0, "paid", "Second Deposit"),
                  payment(73, -20, "paid", "Loyalty Credit"), payment(74, 264.2, "unpaid", "Balance")])],
        grand_total=394.2, amount_due=264.2, location_id=LOS_ANGELES,
        start_utc="2026-12-12T20:00:00Z", end_utc="2026-12-12T23:00:00Z"),
    items=[
        ExpectedItem("Cupcake Tower", 4542, "1", "180.00", "180.00", "0.00", "17.10"),
        ExpectedItem("Assorted Cupcakes", 4548, "48", "3.75", "180.00", "0.00", "17.10"),
    ],
    subtotal="360.00", tax="34.20", final_total="394.20",
    payments=["100.00", "-100.00", "150.00", "-20.00"], remaining_due="264.20",
    pickup_time="2026-12-12T12:00:00",
))

# Two live documents and a deleted one. Food: 800.00 + 10.25 % = 82.00 -> 882.00, 300.00
# deposit paid. Bar add-on: 380.00 + 38.95 = 418.95. The deleted 5000.00 quote is ignored.
# Total 1300.95, 1000.95 due.
CASES.append(Case(
    "two-documents-one-deleted",
    event(61000006, "Castillo Rehearsal Dinner", [
        document(710061, [line(1, "Taco Bar", "50", "16.00", "800.00", menu_item_id=80501, billing=(2,))],
                 [billing(2, "Sales Tax", "10.25", "82.00")], grand_total="882.00", amount_due="582.00",
                 payments=[payment(81, "300.00", "paid", "Deposit")]),
        document(710062, [line(1, "Margarita Pitchers", "10", "38.00", "380.00", menu_item_id=80502, billing=(2,), category="Beverage")],
                 [billing(2, "Sales Tax", "10.25", "38.95")], grand_total="418.95", amount_due="418.95", title="Bar Add-on"),
        document(710063, [line(1, "Full Buyout", "1", "5000.00", "5000.00", menu_item_id=999999, billing=(2,))],
                 [billing(2, "Sales Tax", "10.25", "512.50")], grand_total="5512.50", amount_due="5512.50",
                 deleted_at="10/01/2026 3:00 PM", title="Old Quote"),
    ], grand_total="1300.95", amount_due="1000.95", location_id=CHICAGO,
        start_utc="2026-12-13T00:30:00Z", end_utc="2026-12-13T04:00:00Z"),
    items=[
        ExpectedItem("Taco Bar", 4550, "50", "16.00", "800.00", "0.00", "82.00"),
        ExpectedItem("Margarita Pitchers", 4554, "10", "38.00", "380.00", "0.00", "38.95"),
    ],
    subtotal="1180.00", tax="120.95", final_total="1300.95", payments=["300.00"], remaining_due="1000.95",
    pickup_time="2026-12-12T18:30:00",
))

# A Los Angeles event on the morning daylight saving time starts (8 March 2026):
# 17:30 UTC is 10:30 PDT, not 09:30 PST. 126.00 + 9.5 % tax 11.97 = 137.97.
CASES.append(Case(
    "other-zone-dst-start",
    event(61000007, "Mission Street Studio Open House", [document(710007, [
        line(1, "Kouign-amann Tray", "3", "42.00", "126.00", menu_item_id=80601, billing=(2,)),
    ], [billing(2, "Sales Tax", "9.5", "11.97")], grand_total="137.97", amount_due="137.97")],
        grand_total="137.97", amount_due="137.97", location_id=LOS_ANGELES,
        start_utc="2026-03-08T17:30:00Z", end_utc="2026-03-08T19:30:00Z"),
    items=[ExpectedItem("Kouign-amann Tray", 4540, "3", "42.00", "126.00", "0.00", "11.97")],
    subtotal="126.00", tax="11.97", final_total="137.97", remaining_due="137.97",
    pickup_time="2026-03-08T10:30:00",
))

# A Chicago event on the day daylight saving time ends, with only the ISO 8601 start
# (no _utc field): 09:00 at -06:00 stays 09:00 local. Same figures as the case above.
CASES.append(Case(
    "iso-start-dst-end",
    event(61000008, "Southside Staff Breakfast", [document(710008, [
        line(1, "Kouign-amann Tray", "3", "42.00", "126.00", menu_item_id=80601, billing=(2,)),
    ], [billing(2, "Sales Tax", "9.5", "11.97")], grand_total="137.97", amount_due="137.97")],
        grand_total="137.97", amount_due="137.97", location_id=CHICAGO, start_utc=None, end_utc=None,
        event_start_iso8601="2026-11-01T09:00:00-06:00", event_end_iso8601="2026-11-01T11:00:00-06:00"),
    items=[ExpectedItem("Kouign-amann Tray", 4540, "3", "42.00", "126.00", "0.00", "11.97")],
    subtotal="126.00", tax="11.97", final_total="137.97", remaining_due="137.97",
    pickup_time="2026-11-01T09:00:00",
))

# Per-line tax that rounds one cent short of the document's total. 8.875 % per line:
# 45.00 -> 3.99375 -> 3.99, 85.00 -> 7.54375 -> 7.54, 25.00 -> 2.21875 -> 2.22, summing to
# 13.75; on the total 155.00 it is 13.75625 -> 13.76. The order carries 13.76, the largest
# line takes the cent (7.55), and the difference is reported as +1 cent.
CASES.append(Case(
    "per-line-rounding-cent",
    event(61000009, "Bowery Law Partners Lunch", [document(710009, [
        line(1, "Bagel Platter", "1", "45.00", "45.00", menu_item_id=80701, billing=(2,)),
        line(2, "Lox Platter", "1", "85.00", "85.00", menu_item_id=80702, billing=(2,)),
        line(3, "Coffee Box", "1", "25.00", "25.00", menu_item_id=80703, billing=(2,), category="Beverage"),
    ], [billing(2, "Sales Tax", "8.875", "13.76")], grand_total="168.76", amount_due="168.76")],
        grand_total="168.76", amount_due="168.76"),
    items=[
        ExpectedItem("Bagel Platter", 4547, "1", "45.00", "45.00", "0.00", "3.99"),
        ExpectedItem("Lox Platter", 4522, "1", "85.00", "85.00", "0.00", "7.55"),
        ExpectedItem("Coffee Box", 4541, "1", "25.00", "25.00", "0.00", "2.22"),
    ],
    subtotal="155.00", tax="13.76", final_total="168.76", remaining_due="168.76",
    pickup_time="2026-12-12T12:00:00", differences={"Sales Tax": 1},
))

# Items on a booking-level document, and the booking holds only this event: they belong to
# it. 20 x 9.50 = 190.00 + 6.25 % tax 11.88 = 201.88.
_booking_document = document(710010, [
    line(1, "Breakfast Burrito Platter", "20", "9.50", "190.00", menu_item_id=80101, billing=(2,)),
], [billing(2, "Sales Tax", "6.25", "11.88")], grand_total="201.88", amount_due="201.88", title="Booking BEO")
CASES.append(Case(
    "booking-level-document",
    event(61000010, "Grant Foundation Board Breakfast", [], grand_total="201.88", amount_due="201.88",
          booking={"id": 62000010, "event_ids": [61000010], "documents": [_booking_document]}),
    items=[ExpectedItem("Breakfast Burrito Platter", 4540, "20", "9.50", "190.00", "0.00", "11.88")],
    subtotal="190.00", tax="11.88", final_total="201.88", remaining_due="201.88",
    pickup_time="2026-12-12T12:00:00",
))

# The same booking-level document on a booking with two events: tsync cannot tell whose
# items they are, so the event fails with that reason.
CASES.append(Case(
    "booking-document-two-events",
    event(61000011, "Grant Foundation Retreat Day 1", [], grand_total="201.88", amount_due="201.88",
          booking={"id": 62000011, "event_ids": [61000011, 61000012], "documents": [copy.deepcopy(_booking_document)]}),
    error="booking 62000011",
))

# Items the mapping does not cover: the event fails and names every one of them.
CASES.append(Case(
    "unmapped-items",
    event(61000013, "Pop-up Market Booth", [document(710013, [
        line(1, "Breakfast Burrito Platter", "10", "9.50", "95.00", menu_item_id=80101, billing=(2,)),
        line(2, "Logo Tote Bag", "25", "18.00", "450.00", menu_item_id=88001, billing=(2,), category="Merchandise"),
        line(3, "Enamel Pin", "25", "6.00", "150.00", billing=(2,), category="Merchandise"),
    ], [billing(2, "Sales Tax", "6.25", "43.44")], grand_total="738.44", amount_due="738.44")],
        grand_total="738.44", amount_due="738.44"),
    error="'Logo Tote Bag' (menu_item_id 88001, category 'Merchandise'); 'Enamel Pin' (category 'Merchandise')",
))

CASES_BY_KEY = {case.key: case for case in CASES}
SUCCESS_CASES = [case for case in CASES if case.error is None]
FAILURE_CASES = [case for case in CASES if case.error is not None]

VENUES_JSON = (
    '{"30112": {"establishment_id": 7, "timezone": "America/New_York", "name": "Harborview Tavern"},'
    ' "30113": {"establishment_id": 8, "timezone": "America/Chicago", "name": "Southside Bakery"},'
    ' "30114": {"establishment_id": 9, "timezone": "America/Los_Angeles", "name": "Mission Street Catering"}}'
)
