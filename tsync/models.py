"""Data passed between the planner, the Revel client and the engine.

An OrderPlan is everything tsync will write to Revel for one event, already
priced: the Revel client only turns it into requests and never decides what
to create. Money is Decimal in cents; times are naive local strings in the
venue's zone, the form Revel stores.
"""

from dataclasses import asdict, dataclass, field
from decimal import Decimal

from tsync.money import ZERO


@dataclass
class PlannedItem:
    """One Revel order item, made from one Tripleseat line item."""

    key: str  # "<document id>/<line item id>", stable across runs
    product_id: int
    name: str  # Tripleseat display name
    name_override: str | None  # set when a generic product replaces the line's own
    quantity: Decimal
    unit_price: Decimal
    gross: Decimal  # quantity x unit price, before the line discount
    discount: Decimal
    net: Decimal  # gross - discount
    tax: Decimal = ZERO
    tax_rate: Decimal = ZERO  # sum of the tax rates, in percent, that apply to the line
    service_charge: Decimal = ZERO
    section: str = ""
    description: str = ""
    mapped_by: str = ""  # which mapping rule matched: menu_item_id, name, category or fallback
    uuid: str = ""


@dataclass
class PlannedCharge:
    """A tax, service charge or gratuity from a document's billing totals."""

    kind: str  # "tax", "service_charge" or "gratuity"
    name: str
    rate: Decimal  # percent, as Tripleseat's billing total `value`
    amount: Decimal  # Tripleseat's billing total: what the order carries
    line_sum: Decimal  # sum of the per-line amounts before they were reconciled
    taxed: bool = False  # service charges only: a tax also applies to this charge
    billing_id: str = ""

    @property
    def difference_cents(self) -> int:
        return int((self.amount - self.line_sum) * 100)


@dataclass
class PlannedPayment:
    """A paid Tripleseat payment, or a refund of one, as a Revel payment."""

    key: str  # "<document id>/<payment id>" or "<document id>/<payment id>/refund"
    amount: Decimal  # negative for refunds and credit payments
    title: str
    paid_at: str | None  # naive local time in the venue's zone
    uuid: str = ""


@dataclass
class OrderPlan:
    event_id: int
    event_name: str
    local_id: str
    establishment_id: int
    timezone: str
    pickup_time: str | None  # naive local "YYYY-MM-DDTHH:MM:SS"
    created_date: str  # naive local time of planning
    call_name: str
    notes: str
    guest_count: int | None
    items: list[PlannedItem] = field(default_factory=list)
    charges: list[PlannedCharge] = field(default_factory=list)
    payments: list[PlannedPayment] = field(default_factory=list)

    subtotal: Decimal = ZERO  # sum of item gross amounts
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    service_charge: Decimal = ZERO
    service_charge_taxed: Decimal = ZERO
    service_charge_untaxed: Decimal = ZERO
    gratuity: Decimal = ZERO
    final_total: Decimal = ZERO
    paid: Decimal = ZERO
    remaining_due: Decimal = ZERO

    tripleseat_grand_total: Decimal | None = None
    tripleseat_amount_due: Decimal | None = None
    # Per-line rounding differences, named: {"Sales Tax": 1} means Tripleseat's
    # per-line amounts add up to one cent less than its total.
    differences: dict[str, int] = field(default_factory=dict)
    uuid: str = ""

    def to_dict(self) -> dict:
        """Return the plan with amounts as two-decimal strings, for JSON output and hashing."""
        return _jsonable(asdict(self))


def _jsonable(value):
    if isinstance(value, Decimal):
        # The planner quantizes money to cents, so str() keeps two decimals there
        # and keeps quantities such as "2.5" as Tripleseat sent them.
        return str(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


@dataclass
class EventResult:
    """The outcome of one event in a run, serialised into the `--json` report."""

    id: int
    name: str
    status: str  # "injected", "skipped" or "failed"
    revel_order_id: int | None = None
    reason: str | None = None
    differences: dict[str, int] = field(default_factory=dict)
    retryable: bool = False  # the failure was transient (timeout, 429, 5xx) and a retry may succeed
    plan: OrderPlan | None = None  # kept for --dry-run output, never serialised by to_dict

    def to_dict(self) -> dict:
        row: dict = {"id": self.id, "name": self.name, "status": self.status}
        if self.revel_order_id is not None:
            row["revel_order_id"] = self.revel_order_id
        if self.status != "injected" and self.reason:
            row["reason"] = self.reason
        if self.differences:
            row["differences_cents"] = dict(self.differences)
        return row


@dataclass
class RunResult:
    run_id: str
    mode: str  # "single" or "recent"
    events: list[EventResult] = field(default_factory=list)
    dry_run: bool = False

    def count(self, status: str) -> int:
        return sum(1 for event in self.events if event.status == status)

    @property
    def success(self) -> bool:
        return self.count("failed") == 0

    @property
    def summary(self) -> dict[str, int]:
        return {
            "queried": len(self.events),
            "injected": self.count("injected"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
        }

    def to_dict(self) -> dict:
        return {
            "success": self.success,
            "mode": self.mode,
            "summary": self.summary,
            "events": [event.to_dict() for event in self.events],
        }
