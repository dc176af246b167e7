"""Build Tripleseat event JSON from short specs, with every amount computed the Tripleseat way.

All arithmetic of the seed lives in `build_document`:

- line item: total_price = quantity x price (to cents), grand_total = total_price - discount.
- service charge or gratuity: ROUND_HALF_UP(rate% x sum of grand_total of the lines
  that carry its billing id).
- tax: ROUND_HALF_UP(rate% x (sum of grand_total of the lines that carry its billing id
  + every service charge whose `billing_ids` lists the tax)).
- financials.grand_total = sum(total_price) - sum(discount) + sum(billing totals).
- financials.amount_due = grand_total - sum(amount - amount_refunded) over payments
  that are not "unpaid".

NOTE: Tripleseat does not document how a taxable service charge is marked. The
sandbox lists the taxes that apply to a service charge in that billing total's
`billing_ids`, the field that line items use for the same purpose. An untaxed
service charge has an empty list.

Amounts and quantities are written as Tripleseat sends them: strings such as
"240.0" and "40", or JSON numbers for an event built with `numbers=True`.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from tsync.money import to_cents, to_decimal

ELIGIBLE_STATUSES = ("DEFINITE", "CLOSED")
SITE_ID = 18234
CUSTOMER_ID = 5120
OWNER_USER_ID = 60231


@dataclass(frozen=True)
class SeedVenue:
    location_id: int
    name: str
    timezone: str
    establishment_id: int | None  # None for a venue that tsync is not configured for
    room_id: int
    room_name: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    internal_name: str


@dataclass(frozen=True)
class Charge:
    """A billing item (tax, service charge or gratuity) as a venue configures it."""

    billing_id: int
    description: str
    rate: str  # percent, as Tripleseat's billing total `value`
    is_tax: bool
    categories: tuple[str, ...] | None = None  # names of the line categories it applies to; None: every line
    taxed_by: tuple[int, ...] = ()  # billing ids of the taxes that also apply to this charge

    def applies_to(self, category: Category) -> bool:
        return self.categories is None or category.name in self.categories


@dataclass(frozen=True)
class Line:
    name: str
    quantity: str
    price: str
    category: Category
    menu_item_id: int | None = None
    discount: str = "0"
    section: str = ""
    description: str = ""


@dataclass(frozen=True)
class PaymentSpec:
    title: str
    state: str  # "paid", "unpaid", "refunded" or "partially_refunded"
    amount: str | None = None  # None: the balance left after the payments listed before it
    refunded: str = "0"
    kind: str = "deposit"  # Tripleseat's billing_kind
    method: str | None = "credit_card"


@dataclass(frozen=True)
class DocumentSpec:
    id: int
    title: str
    lines: tuple[Line, ...]
    charges: tuple[Charge, ...] = ()
    payments: tuple[PaymentSpec, ...] = ()
    deleted: bool = False


@dataclass(frozen=True)
class Contact:
    id: int
    first_name: str
    last_name: str
    email: str
    phone: str


@dataclass(frozen=True)
class BookingSpec:
    id: int
    name: str
    documents: tuple[DocumentSpec, ...] = ()


@dataclass(frozen=True)
class EventSpec:
    id: int
    name: str
    venue: SeedVenue
    status: str
    days_ahead: int  # event date relative to today in the venue's zone; negative for past events
    start: str  # venue-local "HH:MM", 24-hour clock
    hours: float
    guests: int
    updated_hours_ago: float
    contact: Contact
    documents: tuple[DocumentSpec, ...] = ()
    booking: BookingSpec | None = None  # None: a booking of its own, without documents
    numbers: bool = False  # amounts and quantities as JSON numbers instead of strings
    style: str = "Buffet"


@dataclass
class Invoice:
    """Totals of the documents an event is invoiced on."""

    grand_total: Decimal = Decimal("0")
    amount_due: Decimal = Decimal("0")
    actual_amount: Decimal = Decimal("0")
    deposits: Decimal = Decimal("0")
    billing_totals: dict[str, Decimal] = field(default_factory=dict)
    category_totals: dict[str, Decimal] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Formats


def money_text(value: Decimal) -> str:
    """Format an amount as Tripleseat's strings do: "240.0", "525.6", "229.46"."""
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


def money_value(value: Decimal, numbers: bool):
    # JSON has no decimal type: a number goes out as a float, whose repr keeps the cents exact.
    return float(value) if numbers else money_text(value)


def quantity_value(value: Decimal, numbers: bool):
    if not numbers:
        return format(value.normalize(), "f")
    return int(value) if value == value.to_integral_value() else float(value)


def us_date(moment: datetime | date) -> str:
    return f"{moment.month:02d}/{moment.day:02d}/{moment.year}"


def us_time(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def us_datetime(moment: datetime) -> str:
    """Format a venue-local time as Tripleseat does: "06/14/2026 6:30 PM"."""
    return f"{us_date(moment)} {us_time(moment)}"


def utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_text(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


# ---------------------------------------------------------------------------
# Documents


def build_document(spec: DocumentSpec, *, created: datetime, numbers: bool = False) -> dict:
    """Build one Tripleseat document with its line items, billing totals, financials and payments.

    `created` is the venue-local time the event was created; payment times
    are derived from it.
    """
    charges = spec.charges
    line_items = []
    line_totals: list[tuple[Line, Decimal, Decimal, Decimal, list[int]]] = []
    for position, line in enumerate(spec.lines, start=1):
        quantity = to_decimal(line.quantity)
        total_price = to_cents(quantity * to_decimal(line.price))
        discount = to_cents(line.discount)
        grand_total = total_price - discount
        billing_ids = [charge.billing_id for charge in charges if charge.applies_to(line.category)]
        line_totals.append((line, total_price, discount, grand_total, billing_ids))
        line_items.append(_line_item_json(spec.id, position, line, quantity, total_price, discount, grand_total, billing_ids, numbers))

    billing_amounts = _billing_amounts(charges, line_totals)
    billing_totals = [
        _billing_total_json(charge, billing_amounts[charge.billing_id], numbers)
        for charge in charges
        if charge.billing_id in billing_amounts
    ]

    items_total = sum((total for _, total, _, _, _ in line_totals), Decimal("0"))
    discounts_total = sum((discount for _, _, discount, _, _ in line_totals), Decimal("0"))
    grand_total = items_total - discounts_total + sum(billing_amounts.values(), Decimal("0"))

    payments, amount_due = _payments_json(spec, grand_total, created, numbers)

    category_totals: dict[str, Decimal] = {}
    for line, _, _, line_grand_total, _ in line_totals:
        category_totals[line.category.name] = category_totals.get(line.category.name, Decimal("0")) + line_grand_total

    return {
        "id": spec.id,
        "title": spec.title,
        "template_document_id": 2211,
        "deleted_at": us_datetime(created + timedelta(days=3)) if spec.deleted else None,
        "line_items": line_items,
        "billing_totals": billing_totals,
        "category_totals": [{"name": name, "value": money_value(value, numbers)} for name, value in category_totals.items()],
        "financials": {
            "amount_due": money_value(amount_due, numbers),
            "grand_total": money_value(grand_total, numbers),
            "discounts_total": money_value(discounts_total, numbers),
        },
        "payment_set": {
            "document_name": spec.title,
            "amount_due": money_value(grand_total, numbers),
            "running_balance": money_value(amount_due, numbers),
            "remaining_payment_amount": money_value(amount_due, numbers),
            "payments": payments,
        },
    }


def _line_item_json(document_id, position, line: Line, quantity, total_price, discount, grand_total, billing_ids, numbers) -> dict:
    return {
        "id": document_id * 100 + position,
        "quantity": quantity_value(quantity, numbers),
        "price": money_value(to_decimal(line.price), numbers),
        "total_price": money_value(total_price, numbers),
        "discount": money_value(discount, numbers),
        "grand_total": money_value(grand_total, numbers),
        "position": position,
        "display_name": line.name,
        "description": line.description,
        "long_description": None,
        "section": line.section,
        "section_position": position,
        "menu_item_id": line.menu_item_id,
        "category": {"id": line.category.id, "name": line.category.name, "internal_name": line.category.internal_name},
        "billing_ids": billing_ids,
    }


def _billing_amounts(charges, line_totals) -> dict[int, Decimal]:
    """Compute each charge that applies to at least one line: service charges first, then taxes."""
    amounts: dict[int, Decimal] = {}
    bases: dict[int, Decimal] = {}
    for charge in charges:
        carrying = [grand_total for _, _, _, grand_total, ids in line_totals if charge.billing_id in ids]
        if carrying:
            bases[charge.billing_id] = sum(carrying, Decimal("0"))

    for charge in charges:
        if not charge.is_tax and charge.billing_id in bases:
            amounts[charge.billing_id] = to_cents(to_decimal(charge.rate) / 100 * bases[charge.billing_id])

    for charge in charges:
        if not charge.is_tax or charge.billing_id not in bases:
            continue
        taxed_charges = sum(
            (amounts[other.billing_id] for other in charges if other.billing_id in amounts and charge.billing_id in other.taxed_by),
            Decimal("0"),
        )
        amounts[charge.billing_id] = to_cents(to_decimal(charge.rate) / 100 * (bases[charge.billing_id] + taxed_charges))
    return amounts


def _billing_total_json(charge: Charge, amount: Decimal, numbers: bool) -> dict:
    total = {
        "billing_id": charge.billing_id,
        "description": charge.description,
        "value": charge.rate,
        "total_price": money_value(amount, numbers),
    }
    if not charge.is_tax:
        total["billing_ids"] = list(charge.taxed_by)
    return total


def _payments_json(spec: DocumentSpec, grand_total: Decimal, created: datetime, numbers: bool) -> tuple[list[dict], Decimal]:
    """Return the document's payments and its amount due after them."""
    payments = []
    settled = Decimal("0")  # sum of (amount - amount_refunded) over payments that are not unpaid
    for index, payment in enumerate(spec.payments, start=1):
        amount = to_cents(payment.amount) if payment.amount is not None else grand_total - settled
        refunded = to_cents(payment.refunded)
        if payment.state != "unpaid":
            settled += amount - refunded

        paid_at = created + timedelta(days=1 + index)
        payments.append(
            {
                "id": spec.id * 10 + index,
                "amount": money_value(amount, numbers),
                "state": payment.state,
                "custom_title": payment.title,
                "created_at": us_datetime(created + timedelta(days=1)),
                "due_at": us_date(created + timedelta(days=7 * index)),
                "paid_at": None if payment.state == "unpaid" else us_datetime(paid_at),
                "payable_by_guest": True,
                "billing_kind": payment.kind,
                "payment_method": payment.method if payment.state != "unpaid" else None,
                "credit_card_type": "visa" if payment.method == "credit_card" and payment.state != "unpaid" else None,
                "amount_refunded": money_value(refunded, numbers),
                "refunded_at": us_datetime(paid_at + timedelta(days=2)) if refunded else None,
                "refund_reason": "Card charged twice" if refunded else None,
                "paid_by": None,
            }
        )
    return payments, grand_total - settled


# ---------------------------------------------------------------------------
# Events and bookings


def build_event(spec: EventSpec, *, now: datetime, booking_event_ids: tuple[int, ...] | None = None) -> dict:
    """Build one Tripleseat event, with its documents and its booking embedded, relative to `now`.

    `booking_event_ids` lists the events of the event's booking when it is
    shared with other events. By default the booking contains this event only.
    """
    zone = spec.venue.zone
    updated = (now - timedelta(hours=spec.updated_hours_ago)).astimezone(zone).replace(second=0, microsecond=0)
    created = updated - timedelta(days=21)
    start = _event_start(spec, now)
    end = start + timedelta(hours=spec.hours)

    documents = [build_document(document, created=created, numbers=spec.numbers) for document in spec.documents]
    booking_spec = spec.booking or BookingSpec(id=_own_booking_id(spec.id), name=spec.name)
    event_ids = list(booking_event_ids or (spec.id,))
    booking_documents = [build_document(document, created=created, numbers=spec.numbers) for document in booking_spec.documents]

    invoice_documents = live_documents(documents)
    if not invoice_documents and len(event_ids) == 1:
        invoice_documents = live_documents(booking_documents)
    invoice = summarize(invoice_documents)

    event = {
        "id": spec.id,
        "name": spec.name,
        "description": "",
        "event_date": us_date(start),
        "event_date_iso8601": start.date().isoformat(),
        "status": spec.status,
        "event_start": us_datetime(start),
        "event_end": us_datetime(end),
        "event_start_utc": utc_text(start),
        "event_end_utc": utc_text(end),
        "event_start_iso8601": iso_text(start),
        "event_end_iso8601": iso_text(end),
        "event_start_time": us_time(start),
        "event_end_time": us_time(end),
        "event_timezone": spec.venue.timezone,
        "setup_time": 30,
        "teardown_time": 30,
        "guest_count": spec.guests,
        "guaranteed_guest_count": spec.guests,
        "event_style": spec.style,
        "deposit_amount": money_value(invoice.deposits, spec.numbers),
        "actual_amount": money_value(invoice.actual_amount, spec.numbers),
        "grand_total": money_value(invoice.grand_total, spec.numbers),
        "amount_due": money_value(invoice.amount_due, spec.numbers),
        "selected_gratuity": None,
        "customer_id": CUSTOMER_ID,
        "site_id": SITE_ID,
        "location_id": spec.venue.location_id,
        "location": {"id": spec.venue.location_id, "name": spec.venue.name, "customer_id": CUSTOMER_ID, "site_id": SITE_ID},
        "room_ids": [spec.venue.room_id],
        "rooms": [
            {
                "id": spec.venue.room_id,
                "name": spec.venue.room_name,
                "capacity": 120,
                "description": "",
                "site_id": SITE_ID,
                "location_id": spec.venue.location_id,
                "is_unassigned": False,
            }
        ],
        "booking_id": booking_spec.id,
        "booking": {
            "id": booking_spec.id,
            "name": booking_spec.name,
            "status": spec.status,
            "location_id": spec.venue.location_id,
            "event_ids": event_ids,
            "documents": booking_documents,
        },
        "account_id": spec.contact.id + 1_000_000,
        "contact_id": spec.contact.id,
        "contact": _contact_json(spec.contact),
        "owned_by": OWNER_USER_ID,
        "custom_fields": [],
        "category_totals": [{"name": name, "total": money_value(value, spec.numbers)} for name, value in invoice.category_totals.items()],
        "billing_totals": [{"name": name, "total": money_value(value, spec.numbers)} for name, value in invoice.billing_totals.items()],
        "document_ids": ",".join(str(document["id"]) for document in documents),
        "documents": documents,
        "status_changes": _status_changes(spec.status, created, updated),
        "created_at": us_datetime(created),
        "updated_at": us_datetime(updated),
        "deleted_at": None,
    }
    return event


def live_documents(documents: list[dict]) -> list[dict]:
    return [document for document in documents if not document.get("deleted_at")]


def summarize(documents: list[dict]) -> Invoice:
    """Add up the totals of built documents, as the event-level fields show them."""
    invoice = Invoice()
    for document in documents:
        financials = document["financials"]
        invoice.grand_total += to_decimal(financials["grand_total"])
        invoice.amount_due += to_decimal(financials["amount_due"])
        for line in document["line_items"]:
            invoice.actual_amount += to_decimal(line["grand_total"])
        for total in document["billing_totals"]:
            name = total["description"]
            invoice.billing_totals[name] = invoice.billing_totals.get(name, Decimal("0")) + to_decimal(total["total_price"])
        for total in document["category_totals"]:
            name = total["name"]
            invoice.category_totals[name] = invoice.category_totals.get(name, Decimal("0")) + to_decimal(total["value"])
        for payment in document["payment_set"]["payments"]:
            if payment["billing_kind"] == "deposit" and payment["state"] != "unpaid":
                invoice.deposits += to_decimal(payment["amount"])
    return invoice


def _event_start(spec: EventSpec, now: datetime) -> datetime:
    zone = spec.venue.zone
    day = now.astimezone(zone).date() + timedelta(days=spec.days_ahead)
    hour, minute = (int(part) for part in spec.start.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def _own_booking_id(event_id: int) -> int:
    return 45_500_000 + event_id % 100_000


def _contact_json(contact: Contact) -> dict:
    return {
        "id": contact.id,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email_addresses": [{"id": contact.id * 10 + 1, "address": contact.email}],
        "phone_numbers": [{"id": contact.id * 10 + 2, "number": contact.phone, "phone_number_type": "mobile", "extension": None}],
    }


def _status_changes(status: str, created: datetime, updated: datetime) -> list[dict]:
    path = {
        "PROSPECT": ["PROSPECT"],
        "TENTATIVE": ["PROSPECT", "TENTATIVE"],
        "DEFINITE": ["PROSPECT", "TENTATIVE", "DEFINITE"],
        "CLOSED": ["PROSPECT", "TENTATIVE", "DEFINITE", "CLOSED"],
        "LOST": ["PROSPECT", "TENTATIVE", "LOST"],
    }.get(status, [status])

    changes = []
    for index in range(1, len(path)):
        moment = updated if index == len(path) - 1 else created + timedelta(days=index)
        changes.append(
            {"status": path[index], "previous_status": path[index - 1], "created_at": us_datetime(moment), "created_by": OWNER_USER_ID}
        )
    return changes
