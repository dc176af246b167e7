"""Turn a Tripleseat event (with financials) into the Revel order that matches its invoice.

Pure functions, no I/O. The plan follows Tripleseat's own totals: the
order's subtotal, discount, tax, service charge, gratuity and final total
equal the live documents' figures, and the remaining due equals
Tripleseat's amount due. Per-line tax and charge amounts are Tripleseat's
rate times the line, rounded per line. Where those do not add up to the
document's total, the lines are adjusted to the total and the difference is
reported in cents. tsync never invents a discount to force a total. When
the order cannot match the invoice, planning raises PlanningError with the
reason, and nothing is created.
"""

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from tsync.config import Settings, Venue
from tsync.errors import PlanningError
from tsync.mapping import ProductMapping, describe_item, item_name
from tsync.models import OrderPlan, PlannedCharge, PlannedItem, PlannedPayment
from tsync.money import CENT, ZERO, cents_between, format_money, to_cents, to_decimal
from tsync.times import event_time, revel_local, tripleseat_timestamp

# Deterministic ids: a retried or resumed sync posts the same uuids, so tsync
# can tell which parts of an order Revel already holds.
UUID_NAMESPACE = uuid.UUID("5f7e1d2c-3b4a-4e8f-9a6b-1c2d3e4f5a6b")

# NOTE: a document billing total has no type field in Tripleseat's API; tsync
# classifies it by the whole words of its description. "Sales Tax" is a tax,
# "Gratuity" a gratuity, anything else ("Private Room Fee") a service charge.
TAX_PATTERN = re.compile(r"\b(tax|taxes|vat|gst|hst|pst)\b", re.IGNORECASE)
GRATUITY_PATTERN = re.compile(r"\b(gratuity|gratuities|tip|tips)\b", re.IGNORECASE)


@dataclass(eq=False)
class _Line:
    item: PlannedItem
    billing_ids: set[str]
    source: dict
    charge_shares: dict[str, Decimal] = field(default_factory=dict)  # billing id -> this line's share


@dataclass
class _Document:
    id: str
    title: str
    lines: list[_Line] = field(default_factory=list)
    raw: dict = field(default_factory=dict)


def plan_order(
    event: dict,
    *,
    settings: Settings,
    venue: Venue,
    mapping: ProductMapping,
    now: datetime,
    booking: dict | None = None,
) -> OrderPlan:
    """Plan the Revel order for one event; raise PlanningError when it cannot match the invoice."""
    event_id = int(event["id"])
    local_id = settings.local_id(event_id)
    zone = venue.timezone

    documents = _live_documents(event, booking)
    _map_lines(documents, mapping)

    plan = OrderPlan(
        event_id=event_id,
        event_name=str(event.get("name") or ""),
        local_id=local_id,
        establishment_id=venue.establishment_id,
        timezone=zone.key,
        pickup_time=None,
        created_date=revel_local(now, zone),
        call_name="",
        notes="",
        guest_count=_guest_count(event),
        uuid=order_uuid(local_id),
    )

    for document in documents:
        plan.items.extend(line.item for line in document.lines)
        plan.charges.extend(_apply_billing_totals(document))
    for item in plan.items:
        item.uuid = str(uuid.uuid5(UUID_NAMESPACE, f"{local_id}/item/{item.key}"))

    _total_up(plan)
    _check_grand_total(plan, event, documents)

    plan.payments = _payments(documents, settings, zone, local_id)
    plan.paid = sum((payment.amount for payment in plan.payments), ZERO)
    plan.remaining_due = plan.final_total - plan.paid
    _check_amount_due(plan, event, documents)

    start = event_time(event, "event_start", zone)
    end = event_time(event, "event_end", zone)
    plan.pickup_time = revel_local(start, zone) if start else None
    plan.call_name = _call_name(event)
    plan.notes = _notes(event, plan, start, end)
    return plan


def order_uuid(local_id: str) -> str:
    """Return the uuid tsync gives the Revel order with this local_id."""
    return str(uuid.uuid5(UUID_NAMESPACE, local_id))


def plan_hash(plan: OrderPlan) -> str:
    """Hash what the plan sends to Revel, leaving out the planning time."""
    content = plan.to_dict()
    content.pop("created_date", None)
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


# documents and lines


def _live_documents(event: dict, booking: dict | None) -> list[_Document]:
    event_id = int(event["id"])
    documents: dict[str, _Document] = {}

    for raw in event.get("documents") or []:
        if isinstance(raw, dict) and not raw.get("deleted_at"):
            documents.setdefault(str(raw.get("id")), _Document(str(raw.get("id")), str(raw.get("title") or ""), raw=raw))

    booking = booking or (event.get("booking") if isinstance(event.get("booking"), dict) else None)
    if booking:
        booking_documents = [
            raw for raw in booking.get("documents") or []
            if isinstance(raw, dict) and not raw.get("deleted_at") and raw.get("line_items")
            and str(raw.get("id")) not in documents
        ]
        if booking_documents:
            event_ids = [int(value) for value in booking.get("event_ids") or [] if str(value).strip().isdigit()]
            if event_ids != [event_id]:
                titles = ", ".join(repr(raw.get("title") or raw.get("id")) for raw in booking_documents)
                raise PlanningError(
                    f"line items sit on booking {booking.get('id')} document {titles}, and that booking has "
                    f"{len(event_ids)} events ({', '.join(map(str, event_ids))}): move the items to an event "
                    f"document in Tripleseat so tsync knows which event they belong to"
                )
            for raw in booking_documents:
                documents[str(raw.get("id"))] = _Document(str(raw.get("id")), str(raw.get("title") or ""), raw=raw)

    for document in documents.values():
        document.lines = [_parse_line(document, raw, position) for position, raw in enumerate(_sorted_line_items(document.raw), start=1)]
    documents = {key: document for key, document in documents.items() if document.lines}

    if not documents:
        raise PlanningError(
            "the event has no line items on any live document: add the menu to a BEO or invoice in Tripleseat"
        )
    return list(documents.values())


def _sorted_line_items(document: dict) -> list[dict]:
    items = [raw for raw in document.get("line_items") or [] if isinstance(raw, dict)]

    def position(raw: dict) -> tuple:
        def number(value):
            try:
                return int(value)
            except (TypeError, ValueError):
                return 0
        return (number(raw.get("section_position")), number(raw.get("position")))

    return sorted(items, key=position)


def _parse_line(document: _Document, raw: dict, position: int) -> _Line:
    name = item_name(raw)
    where = f"line item {name!r} on document {document.id}"
    try:
        quantity = to_decimal(raw.get("quantity"), field=f"{where} quantity")
        unit_price = to_decimal(raw.get("price"), field=f"{where} price")
        if raw.get("total_price") not in (None, ""):
            gross = to_cents(to_decimal(raw.get("total_price"), field=f"{where} total_price"))
        else:
            gross = to_cents(quantity * unit_price)
        discount = to_cents(to_decimal(raw.get("discount"), field=f"{where} discount"))
    except ValueError as error:
        raise PlanningError(str(error)) from None

    item = PlannedItem(
        # A line without an id is keyed by its place on the document.
        key=f"{document.id}/{raw.get('id') if raw.get('id') not in (None, '') else f'line-{position}'}",
        product_id=0,
        name=name,
        name_override=None,
        quantity=_plain_number(quantity),
        unit_price=_unit_price(unit_price, quantity, gross),
        gross=gross,
        discount=discount,
        net=gross - discount,
        section=str(raw.get("section") or ""),
        description=str(raw.get("description") or ""),
    )
    billing_ids = {str(value) for value in raw.get("billing_ids") or []}
    return _Line(item, billing_ids, raw)


def _plain_number(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent form ("40.0" -> 40, "2.50" -> 2.5)."""
    if value == value.to_integral_value():
        return Decimal(int(value))
    return value.normalize()


def _unit_price(price: Decimal, quantity: Decimal, gross: Decimal) -> Decimal:
    """Return the unit price in cents, or with more decimals when cents would not multiply back to the line total."""
    in_cents = to_cents(price)
    if to_cents(in_cents * quantity) == gross:
        return in_cents
    return _plain_number(price)


def _map_lines(documents: list[_Document], mapping: ProductMapping) -> None:
    unmapped: list[str] = []
    for document in documents:
        for line in document.lines:
            match = mapping.match(line.source)
            if match is None:
                unmapped.append(describe_item(line.source))
                continue
            line.item.product_id = match.product_id
            line.item.mapped_by = match.rule
            line.item.name_override = line.item.name if match.override_name else None

    if unmapped:
        count = f"{len(unmapped)} line item{'s' if len(unmapped) != 1 else ''}"
        raise PlanningError(
            f"{count} not in the product mapping {mapping.source or ''}: {'; '.join(unmapped)} "
            f"(add menu_item_id, name or category rows for them)".replace("  ", " ")
        )


# taxes, service charges, gratuity


def charge_kind(description: str) -> str:
    if TAX_PATTERN.search(description):
        return "tax"
    if GRATUITY_PATTERN.search(description):
        return "gratuity"
    return "service_charge"


def _apply_billing_totals(document: _Document) -> list[PlannedCharge]:
    """Spread each billing total over the lines it applies to; return the charges."""
    charges = []
    taxed_by: dict[str, set[str]] = {}
    for raw in document.raw.get("billing_totals") or []:
        if not isinstance(raw, dict):
            continue
        name = str(raw.get("description") or raw.get("name") or "Charge")
        try:
            rate = to_decimal(raw.get("value"), field=f"billing total {name!r} value")
            amount = to_cents(to_decimal(raw.get("total_price", raw.get("total")), field=f"billing total {name!r}"))
        except ValueError as error:
            raise PlanningError(str(error)) from None
        charge = PlannedCharge(charge_kind(name), name, rate, amount, ZERO, billing_id=str(raw.get("billing_id") or ""))
        charges.append(charge)
        # NOTE: Tripleseat does not document how a taxable service charge is
        # marked. A charge whose own billing_ids list taxes is read as taxed by
        # them; without such a list, tsync reads it from the tax's total.
        taxed_by[charge.billing_id] = {str(value) for value in raw.get("billing_ids") or []}

    # Service charges and gratuity first, because a tax may also cover them.
    for charge in charges:
        if charge.kind != "tax":
            for line, share in _spread_charge(charge, _lines_for(document, charge), base=lambda line: line.item.net):
                line.item.service_charge += share
                line.charge_shares[charge.billing_id] = share

    for tax in charges:
        if tax.kind != "tax":
            continue
        tax_lines = _lines_for(document, tax)
        covered = _charges_taxed_by(tax, tax_lines, charges, taxed_by, document)
        for charge in covered:
            charge.taxed = True
        covered_ids = {charge.billing_id for charge in covered}

        def base(line: _Line) -> Decimal:
            own = line.item.net if line in tax_lines else ZERO
            return own + sum((line.charge_shares.get(billing_id, ZERO) for billing_id in covered_ids), ZERO)

        involved = [line for line in document.lines if line in tax_lines or any(line.charge_shares.get(billing_id) for billing_id in covered_ids)]
        for line, share in _spread_charge(tax, involved, base=base):
            line.item.tax += share
            line.item.tax_rate += tax.rate
    return charges


def _lines_for(document: _Document, charge: PlannedCharge) -> list[_Line]:
    if not any(line.billing_ids for line in document.lines):
        # NOTE: a document whose lines carry no billing_ids is read as every
        # billing total applying to every line.
        return list(document.lines)
    return [line for line in document.lines if charge.billing_id in line.billing_ids]


def _charges_taxed_by(tax: PlannedCharge, tax_lines: list[_Line], charges: list[PlannedCharge],
                      taxed_by: dict[str, set[str]], document: _Document) -> list[PlannedCharge]:
    """Return the service charges and gratuities this tax also covers.

    An explicit list on the charge wins. Otherwise the charges on the tax's
    lines count as taxed when the tax's total equals the rate applied to the
    lines plus those charges, and not the rate applied to the lines alone.
    """
    others = [charge for charge in charges if charge.kind != "tax" and charge.amount]
    if any(taxed_by.get(charge.billing_id) for charge in others):
        return [charge for charge in others if tax.billing_id in taxed_by.get(charge.billing_id, set())]

    line_ids = {id(line) for line in tax_lines}
    candidates = [charge for charge in others if any(id(line) in line_ids for line in _lines_for(document, charge))]
    if not candidates:
        return []
    base = sum((line.item.net for line in tax_lines), ZERO)
    untaxed = to_cents(base * tax.rate / 100)
    taxed = to_cents((base + sum((charge.amount for charge in candidates), ZERO)) * tax.rate / 100)
    if tax.amount == taxed and tax.amount != untaxed:
        return candidates
    return []


def _spread_charge(charge: PlannedCharge, lines: list[_Line], base) -> list[tuple[_Line, Decimal]]:
    """Split a charge over lines: rate x base per line, rounded, then adjusted to the total.

    A flat charge (rate 0) is split in proportion to the lines' bases and has
    no rounding difference. Returns (line, share) pairs; records the per-line
    sum on the charge.
    """
    if not lines:
        charge.line_sum = charge.amount
        return []

    bases = [base(line) for line in lines]
    if charge.rate == 0:
        charge.line_sum = charge.amount
        return list(zip(lines, spread(charge.amount, bases)))

    shares = [to_cents(value * charge.rate / 100) for value in bases]
    charge.line_sum = sum(shares, ZERO)
    difference = charge.amount - charge.line_sum
    if difference:
        shares = [share + extra for share, extra in zip(shares, spread(difference, bases))]
    return list(zip(lines, shares))


def spread(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `amount` into cents in proportion to `weights`, summing exactly to `amount`.

    Each share starts at the floor of its exact part; the cents left over go
    to the largest remainders, ties to the earlier line. Equal shares are used
    when the weights add up to zero.
    """
    if not weights:
        return []
    if amount < 0 and all(weight >= 0 for weight in weights):
        # Mirror a negative amount so its cents land where a positive one's would.
        return [-share for share in spread(-amount, weights)]
    total_weight = sum(weights, ZERO)
    if total_weight == 0:
        weights = [Decimal(1)] * len(weights)
        total_weight = Decimal(len(weights))

    cents = cents_between(amount, ZERO)
    exact = [Decimal(cents) * weight / total_weight for weight in weights]
    floors = [int(value.to_integral_value(rounding=ROUND_FLOOR)) for value in exact]
    leftover = cents - sum(floors)
    order = sorted(range(len(weights)), key=lambda index: (-(exact[index] - floors[index]), index))
    for index in order[:leftover]:
        floors[index] += 1
    return [Decimal(value) * CENT for value in floors]


# totals and checks


def _total_up(plan: OrderPlan) -> None:
    plan.subtotal = sum((item.gross for item in plan.items), ZERO)
    plan.discount = sum((item.discount for item in plan.items), ZERO)
    plan.tax = sum((charge.amount for charge in plan.charges if charge.kind == "tax"), ZERO)
    service_charges = [charge for charge in plan.charges if charge.kind == "service_charge"]
    plan.service_charge = sum((charge.amount for charge in service_charges), ZERO)
    plan.service_charge_taxed = sum((charge.amount for charge in service_charges if charge.taxed), ZERO)
    plan.service_charge_untaxed = plan.service_charge - plan.service_charge_taxed
    plan.gratuity = sum((charge.amount for charge in plan.charges if charge.kind == "gratuity"), ZERO)
    plan.final_total = plan.subtotal - plan.discount + plan.tax + plan.service_charge + plan.gratuity

    for charge in plan.charges:
        if charge.difference_cents:
            plan.differences[charge.name] = plan.differences.get(charge.name, 0) + charge.difference_cents


def _document_figure(documents: list[_Document], key: str) -> Decimal | None:
    """Sum a `financials` figure over the documents; None when any document lacks it."""
    total = ZERO
    for document in documents:
        financials = document.raw.get("financials")
        if not isinstance(financials, dict) or financials.get(key) in (None, ""):
            return None
        total += to_cents(financials[key])
    return total


def _tripleseat_figure(event: dict, documents: list[_Document], key: str) -> Decimal | None:
    """Return Tripleseat's figure summed over the documents, else the event's own, else None."""
    figure = _document_figure(documents, key)
    if figure is None and event.get(key) not in (None, ""):
        figure = to_cents(event[key])
    return figure


def _check_grand_total(plan: OrderPlan, event: dict, documents: list[_Document]) -> None:
    expected = _tripleseat_figure(event, documents, "grand_total")
    plan.tripleseat_grand_total = expected
    if expected is not None and expected != plan.final_total:
        difference = cents_between(plan.final_total, expected)
        raise PlanningError(
            f"the order would total {format_money(plan.final_total)} but Tripleseat's grand total is "
            f"{format_money(expected)} ({difference:+d} cents): check the event's documents and billing totals "
            f"in Tripleseat, then sync again"
        )


def _check_amount_due(plan: OrderPlan, event: dict, documents: list[_Document]) -> None:
    expected = _tripleseat_figure(event, documents, "amount_due")
    plan.tripleseat_amount_due = expected
    if expected is not None and expected != plan.remaining_due:
        difference = cents_between(plan.remaining_due, expected)
        raise PlanningError(
            f"after {format_money(plan.paid)} in paid payments the order would leave {format_money(plan.remaining_due)} "
            f"due but Tripleseat's amount due is {format_money(expected)} ({difference:+d} cents): check the "
            f"event's payments in Tripleseat (TSYNC_PAID_STATES lists the payment states counted as paid)"
        )


# payments


def _payments(documents: list[_Document], settings: Settings, zone, local_id: str) -> list[PlannedPayment]:
    payments = []
    for document in documents:
        payment_set = document.raw.get("payment_set") or {}
        for raw in payment_set.get("payments") or []:
            if not isinstance(raw, dict):
                continue
            state = str(raw.get("state") or "").strip().lower()
            if state not in settings.paid_states:
                continue

            title = str(raw.get("custom_title") or raw.get("billing_kind") or "Payment")
            key = f"{document.id}/{raw.get('id')}"
            try:
                amount = to_cents(to_decimal(raw.get("amount"), field=f"payment {title!r} amount"))
                refunded = to_cents(to_decimal(raw.get("amount_refunded"), field=f"payment {title!r} amount_refunded"))
            except ValueError as error:
                raise PlanningError(str(error)) from None

            if amount:
                payments.append(PlannedPayment(key, amount, title, _local_text(raw.get("paid_at"), zone)))
            if refunded:
                refunded_at = raw.get("refunded_at") or raw.get("paid_at")
                payments.append(PlannedPayment(f"{key}/refund", -abs(refunded), f"Refund of {title}", _local_text(refunded_at, zone)))

    for payment in payments:
        payment.uuid = str(uuid.uuid5(UUID_NAMESPACE, f"{local_id}/payment/{payment.key}"))
    return payments


def _local_text(value, zone) -> str | None:
    moment = tripleseat_timestamp(value, zone)
    return revel_local(moment, zone) if moment else None


# ticket text


def _guest_count(event: dict) -> int | None:
    for key in ("guaranteed_guest_count", "guest_count"):
        value = event.get(key)
        if value not in (None, "") and str(value).strip().isdigit():
            return int(value)
    return None


def _contact(event: dict) -> tuple[str, str, str]:
    contact = event.get("contact") if isinstance(event.get("contact"), dict) else {}
    name = " ".join(part for part in (contact.get("first_name"), contact.get("last_name")) if part)
    emails = contact.get("email_addresses") or []
    phones = contact.get("phone_numbers") or []
    email = next((entry.get("address") for entry in emails if isinstance(entry, dict) and entry.get("address")), "")
    phone = next((entry.get("number") for entry in phones if isinstance(entry, dict) and entry.get("number")), "")
    return name, email or "", phone or ""


def _call_name(event: dict) -> str:
    name, _, _ = _contact(event)
    label = name or str(event.get("name") or "")
    return f"TS-{event['id']} {label}".strip()[:60]


def _notes(event: dict, plan: OrderPlan, start: datetime | None, end: datetime | None) -> str:
    parts = [f"Tripleseat event {plan.event_id}: {plan.event_name}"]
    if start:
        when = start.strftime("%a %b %d %Y %I:%M %p").replace(" 0", " ")
        if end:
            when += " - " + end.strftime("%I:%M %p").lstrip("0")
        parts.append(f"{when} ({plan.timezone})")
    if plan.guest_count is not None:
        parts.append(f"{plan.guest_count} guests")
    name, email, phone = _contact(event)
    contact = ", ".join(part for part in (name, email, phone) if part)
    if contact:
        parts.append(f"Contact: {contact}")
    rooms = [room.get("name") for room in event.get("rooms") or [] if isinstance(room, dict) and room.get("name")]
    if rooms:
        parts.append("Room: " + ", ".join(rooms))
    if not any(charge.kind == "tax" for charge in plan.charges):
        parts.append("No tax on the Tripleseat invoice")
    return " | ".join(parts)
