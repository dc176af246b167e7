"""The sync engine: one code path for `tsync event`, `tsync recent` and webhooks.

For each event: fetch it with financials, check eligibility, claim it, check
the ledger and then Revel for an order with its local_id, plan the order,
create it in recorded phases, and record the outcome. The engine does not
use Click or HTTP directly: the API clients and the store are passed in.
"""

import logging
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from tsync.config import Settings
from tsync.errors import ApiError, AuthError, ConfigError, InputError, NotFoundError, PlanningError, TransientError
from tsync.logs import log_context, new_run_id
from tsync.mapping import ProductMapping, describe_item, load_mapping
from tsync.models import EventResult, OrderPlan, RunResult
from tsync.money import format_money, to_decimal
from tsync.planning import order_uuid, plan_hash, plan_order
from tsync.store import Store, utc_now_text
from tsync.times import tripleseat_timestamp, utc_now

logger = logging.getLogger(__name__)

# Statuses that cancel an event whose order already exists in Revel.
CANCELLED_STATUSES = frozenset({"LOST"})
# Ledger outcomes that mean an order exists (fully, or partly written).
ORDER_OUTCOMES = frozenset({"injected", "creating", "duplicate"})
# How long a claim on an event lasts; renewed once the order exists. A crashed
# process blocks the event for at most this long.
CLAIM_SECONDS = 900
# How long the engine reuses a list of Revel products before reading it again.
PRODUCTS_SECONDS = 600
# The maximum window `recent` accepts: one year.
MAX_HOURS_BACK = 24 * 366


@dataclass
class UnmappedItem:
    description: str
    count: int
    event_ids: list[int]


class Engine:
    def __init__(
        self,
        settings: Settings,
        *,
        tripleseat,
        revel,
        store: Store,
        notifier=None,
        clock=utc_now,
        mapping: ProductMapping | None = None,
    ):
        self.settings = settings
        self.tripleseat = tripleseat
        self.revel = revel
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self._mapping = mapping
        self._products: dict[int, tuple[float, dict[int, dict]]] = {}

    def close(self) -> None:
        """Close the API clients' HTTP sessions; the store stays open for its owner."""
        for client in (self.tripleseat, self.revel):
            close = getattr(client, "close", None)
            if callable(close):
                close()

    # runs

    def run_event(self, event_id: int, *, run_id: str | None = None, dry_run: bool = False) -> RunResult:
        """Sync one event now and return the run's result (mode "single")."""
        result = RunResult(run_id or new_run_id(), "single", dry_run=dry_run)
        with self._run(result):
            with log_context(event_id=event_id):
                result.events.append(self.sync_event(event_id, run_id=result.run_id, dry_run=dry_run))
        return result

    def run_recent(self, hours_back: float, *, run_id: str | None = None, dry_run: bool = False, progress=None) -> RunResult:
        """Reconcile every event updated in the last `hours_back` hours (mode "recent").

        `progress(done, total)` is called as events finish, for a progress bar.
        """
        _check_hours(hours_back)
        result = RunResult(run_id or new_run_id(), "recent", dry_run=dry_run)
        with self._run(result):
            rows = self.find_updated_events(hours_back)
            logger.info("found %d events updated in the last %s hours", len(rows), _hours(hours_back))
            known_orders = self._prefetch_orders(rows)
            if progress:
                progress(0, len(rows))

            for done, row in enumerate(rows, start=1):
                event_id = int(row["id"])
                with log_context(event_id=event_id):
                    outcome = self._sync_row(row, run_id=result.run_id, dry_run=dry_run, known_orders=known_orders)
                result.events.append(outcome)
                if progress:
                    progress(done, len(rows))
        return result

    def _sync_row(self, row: dict, *, run_id: str, dry_run: bool, known_orders) -> EventResult:
        """Sync one search row; an unexpected error fails that event, not the whole run."""
        event_id = int(row["id"])
        try:
            return self._precheck(row) or self.sync_event(event_id, run_id=run_id, dry_run=dry_run, known_orders=known_orders)
        except (AuthError, ConfigError):
            raise
        except Exception as error:  # noqa: BLE001 - one bad event must not stop the reconciliation
            logger.exception("unexpected error")
            return EventResult(event_id, str(row.get("name") or ""), "failed", retryable=True,
                               reason=f"unexpected error: {type(error).__name__}: {error}")

    def cancel_event(self, event_id: int, *, run_id: str | None = None, reason: str) -> RunResult:
        """Record that an event was cancelled in Tripleseat; alert when its Revel order must be voided."""
        result = RunResult(run_id or new_run_id(), "single")
        with self._run(result):
            with log_context(event_id=event_id):
                result.events.append(self._cancel_claimed(event_id, "", reason, result.run_id))
        return result

    @contextmanager
    def _run(self, result: RunResult):
        """Record the run in the ledger and log its start and its closing summary line."""
        with log_context(run_id=result.run_id):
            self.store.start_run(result.run_id, result.mode, result.dry_run)
            logger.info("Sync started - mode %s%s", result.mode, " (dry run)" if result.dry_run else "")
            try:
                yield
            except Exception as error:
                logger.error("Sync stopped: %s", error)
                raise
            finally:
                summary = result.summary
                self.store.finish_run(result.run_id, summary)
                logger.info(
                    "Sync completed - Queried: %d, Injected: %d, Skipped: %d, Failed: %d",
                    summary["queried"], summary["injected"], summary["skipped"], summary["failed"],
                )

    # one event

    def sync_event(self, event_id: int, *, run_id: str, dry_run: bool = False, known_orders: dict | None = None) -> EventResult:
        """Sync one event and return its result row; only AuthError and ConfigError escape."""
        try:
            event = self.tripleseat.get_event(event_id)
        except NotFoundError:
            return self._fail(event_id, "", f"Tripleseat event {event_id} not found: check the id", retryable=False, record=False)
        except TransientError as error:
            return self._fail(event_id, "", f"fetching the event from Tripleseat failed: {error}", retryable=True, record=False)
        except AuthError:
            raise
        except ApiError as error:
            return self._fail(event_id, "", f"fetching the event from Tripleseat failed: {error}", retryable=False, record=False)

        name = str(event.get("name") or "")
        status = str(event.get("status") or "").upper()
        ledger_row = self.store.get_event(event_id) or {}

        venue = self.settings.venue_for(event.get("location_id") or (event.get("location") or {}).get("id"))
        if venue is None:
            return self._skip(event_id, name, _location_reason(event))
        if status not in self.settings.eligible_statuses:
            if status in CANCELLED_STATUSES and ledger_row.get("outcome") in ORDER_OUTCOMES and not dry_run:
                return self._cancel_claimed(event_id, name, f"status changed to {status}", run_id)
            return self._skip(event_id, name, self._status_reason(status))

        if dry_run:
            return self._sync_claimed(event, name, venue, run_id=run_id, dry_run=True, known_orders=known_orders)

        if not self.store.claim_event(event_id, run_id, CLAIM_SECONDS):
            result = self._skip(event_id, name, f"IN PROGRESS - another sync is creating order {self.settings.local_id(event_id)}")
            result.retryable = True
            return result
        try:
            return self._sync_claimed(event, name, venue, run_id=run_id, dry_run=False, known_orders=known_orders)
        finally:
            self.store.release_event(event_id, run_id)

    def _sync_claimed(self, event: dict, name: str, venue, *, run_id: str, dry_run: bool, known_orders: dict | None) -> EventResult:
        event_id = int(event["id"])
        local_id = self.settings.local_id(event_id)
        record = not dry_run
        # Read the ledger under the claim: another process may have finished meanwhile.
        ledger_row = self.store.get_event(event_id) or {}

        order_id = ledger_row.get("revel_order_id")
        if ledger_row.get("cancelled_at") and order_id:
            return self._skip(event_id, name, f"CANCELLED - order {order_id} was flagged for voiding after the event "
                              f"was cancelled; check Revel before creating it again", order_id=order_id)
        if ledger_row.get("outcome") in ("injected", "duplicate"):
            return self._skip(event_id, name, _duplicate_reason(local_id), order_id=order_id)

        try:
            existing = self._existing_order(local_id, venue.establishment_id, ledger_row, known_orders)
        except TransientError as error:
            return self._fail(event_id, name, f"looking up {local_id} in Revel failed: {error}", retryable=True, record=record)
        except AuthError:
            raise
        except ApiError as error:
            return self._fail(event_id, name, f"looking up {local_id} in Revel failed: {error}", retryable=False, record=record)

        if existing is not None and not self._resumable(existing, local_id, ledger_row):
            if record:
                self.store.record_event(event_id, local_id, name=name, outcome="duplicate", revel_order_id=existing.get("id"),
                                        establishment_id=venue.establishment_id, reason=_duplicate_reason(local_id), run_id=run_id)
            return self._skip(event_id, name, _duplicate_reason(local_id), order_id=existing.get("id"))

        try:
            plan = plan_order(event, settings=self.settings, venue=venue, mapping=self.mapping(),
                              now=self.clock(), booking=self._booking_for(event))
        except PlanningError as error:
            return self._fail(event_id, name, str(error), retryable=False, local_id=local_id,
                              establishment=venue.establishment_id, record=record)
        except TransientError as error:
            return self._fail(event_id, name, f"fetching the event's booking failed: {error}", retryable=True, record=record)
        except AuthError:
            raise
        except ApiError as error:
            return self._fail(event_id, name, f"fetching the event's booking failed: {error}", retryable=False, record=record)

        try:
            product_problem = self._product_problem(plan)
        except TransientError as error:
            return self._fail(event_id, name, f"listing Revel products failed: {error}", retryable=True, record=record)
        if product_problem:
            return self._fail(event_id, name, product_problem, retryable=False, record=record, local_id=local_id,
                              establishment=venue.establishment_id)

        if existing is not None:
            try:
                mismatch = self._resume_mismatch(existing, plan)
            except TransientError as error:
                return self._fail(event_id, name, f"reading order {existing.get('id')} from Revel failed: {error}",
                                  retryable=True, record=record)
            if mismatch:
                return self._fail(
                    event_id, name,
                    f"order {existing.get('id')} ({local_id}) was left half-written and no longer matches the event: "
                    f"{mismatch}; finish or void it in Revel by hand",
                    retryable=False, record=record,
                )

        if dry_run:
            result = self._skip(event_id, name, _dry_run_reason(plan), order_id=existing.get("id") if existing else None)
            result.plan = plan
            result.differences = dict(plan.differences)
            return result

        return self._create(plan, name, existing, run_id)

    def _create(self, plan: OrderPlan, name: str, existing: dict | None, run_id: str) -> EventResult:
        event_id = plan.event_id
        self.store.record_event(
            event_id, plan.local_id, name=name, outcome="creating", establishment_id=plan.establishment_id,
            plan_hash=plan_hash(plan), run_id=run_id, reason=None, last_error=None, cancelled_at=None,
            revel_order_id=existing.get("id") if existing else None,
        )
        if existing:
            logger.info("resuming order %s for %s", existing.get("id"), plan.local_id)
        else:
            logger.info("creating order %s: %d items, total %s", plan.local_id, len(plan.items), format_money(plan.final_total))

        def remember_order(order_id: int) -> None:
            self.store.record_event(event_id, plan.local_id, revel_order_id=order_id)
            self.store.claim_event(event_id, run_id, CLAIM_SECONDS)

        try:
            order_id = self.revel.write_order(plan, existing=existing, on_order_created=remember_order)
        except TransientError as error:
            return self._fail(event_id, name, f"creating {plan.local_id} in Revel failed: {error} (tsync resumes it on the next sync)",
                              retryable=True, local_id=plan.local_id)
        except AuthError:
            raise
        except ApiError as error:
            reason = f"Revel rejected {plan.local_id}: {error}"
            order_id = (self.store.get_event(event_id) or {}).get("revel_order_id")
            if order_id:
                reason += f"; order {order_id} is incomplete in Revel and tsync finishes it on the next sync once this is fixed"
            return self._fail(event_id, name, reason, retryable=False, local_id=plan.local_id)

        self.store.record_event(event_id, plan.local_id, outcome="injected", revel_order_id=order_id,
                                injected_at=utc_now_text(), last_error=None)
        if plan.differences:
            logger.warning("order %s matches Tripleseat's totals; per-line rounding differed: %s", order_id, _cents_text(plan.differences))
        logger.info("created order %s for %s", order_id, plan.local_id)
        return EventResult(event_id, name, "injected", revel_order_id=order_id, differences=dict(plan.differences))

    def _existing_order(self, local_id: str, establishment_id: int, ledger_row: dict, known_orders: dict | None) -> dict | None:
        """Return the Revel order for this local_id, preferring tsync's own, or None.

        A batch lookup made at the start of a run can only prove that an order
        exists. An empty result is checked again here, right before creating,
        because another process may have created the order since.
        """
        if ledger_row.get("outcome") == "creating" and ledger_row.get("revel_order_id"):
            try:
                return self.revel.get_order(ledger_row["revel_order_id"])
            except NotFoundError:
                logger.warning("order %s from the ledger is gone from Revel", ledger_row["revel_order_id"])

        orders = (known_orders or {}).get(local_id)
        if not orders:
            orders = self.revel.find_orders_by_local_id(local_id, establishment_id)
        if not orders:
            return None
        if len(orders) > 1:
            logger.warning("Revel contains %d orders with local_id %s: %s", len(orders), local_id,
                           ", ".join(str(order.get("id")) for order in orders))
        ours = [order for order in orders if _same_uuid(order.get("uuid"), order_uuid(local_id))]
        return (ours or orders)[0]

    def _resumable(self, order: dict, local_id: str, ledger_row: dict) -> bool:
        """Tell whether an order found in Revel is one of tsync's own that is not finished yet.

        tsync's orders carry a uuid derived from the local_id. Totals are the
        last phase written, so an order of ours whose final total is still
        zero stopped part-way. Any other order with the same local_id was made
        by someone else and is left alone.
        """
        if not _same_uuid(order.get("uuid"), order_uuid(local_id)):
            return False
        if ledger_row.get("outcome") == "creating":
            return True
        try:
            return to_decimal(order.get("final_total")) == 0
        except ValueError:
            return False

    def revel_products(self, establishment_id: int) -> dict[int, dict]:
        """Return the establishment's Revel products by id, read at most every PRODUCTS_SECONDS."""
        cached = self._products.get(establishment_id)
        if cached is not None and time.monotonic() - cached[0] < PRODUCTS_SECONDS:
            return cached[1]
        products = {}
        for product in self.revel.list_products(establishment_id):
            try:
                products[int(product["id"])] = product
            except (KeyError, TypeError, ValueError):
                continue
        self._products[establishment_id] = (time.monotonic(), products)
        return products

    def _product_problem(self, plan: OrderPlan) -> str | None:
        """Name the mapped products that Revel cannot take, before anything is written."""
        products = self.revel_products(plan.establishment_id)
        problems = []
        for item in plan.items:
            product = products.get(item.product_id)
            if product is None:
                problem = f"product {item.product_id} for {item.name!r} not found"
            elif product.get("active") is False:
                problem = f"product {item.product_id} for {item.name!r} is inactive"
            else:
                continue
            if problem not in problems:
                problems.append(problem)
        if not problems:
            return None
        source = self.mapping().source or "the product mapping"
        return (f"{source} names Revel products that establishment {plan.establishment_id} cannot sell: "
                f"{'; '.join(problems)} (fix the rows, see tsync products, then sync again)")

    def mapping_product_problems(self) -> list[dict]:
        """List the mapping's product ids that are missing or inactive in a configured establishment."""
        mapping = self.mapping()
        problems = []
        for establishment_id in sorted({venue.establishment_id for venue in self.settings.venues.values()}):
            products = self.revel_products(establishment_id)
            for product_id in sorted(mapping.product_ids):
                product = products.get(product_id)
                if product is None or product.get("active") is False:
                    problems.append({"establishment_id": establishment_id, "revel_product_id": product_id,
                                     "problem": "not found" if product is None else "inactive"})
        return problems

    def _resume_mismatch(self, order: dict, plan: OrderPlan) -> str | None:
        """Describe how a half-written order differs from the plan, or return None.

        Resuming only adds what is missing, so every item and payment already
        in Revel must be one the plan would write, unchanged.
        """
        planned_items = {_uuid_key(item.uuid): item for item in plan.items}
        for stored in self.revel.list_order_items(order["id"]):
            item = planned_items.get(_uuid_key(stored.get("uuid")))
            if item is None:
                return f"order item {stored.get('id')} is not on the event any more"
            if to_decimal(stored.get("quantity")) != item.quantity or to_decimal(stored.get("price")) != item.unit_price:
                return (f"{item.name!r} is {stored.get('quantity')} x {stored.get('price')} in Revel but "
                        f"{item.quantity} x {item.unit_price} on the event")

        planned_payments = {_uuid_key(payment.uuid): payment for payment in plan.payments}
        for stored in self.revel.list_payments(order["id"]):
            payment = planned_payments.get(_uuid_key(stored.get("uuid")))
            if payment is None or to_decimal(stored.get("amount")) != payment.amount:
                return f"payment {stored.get('id')} of {stored.get('amount')} is not on the event as it is now"
        return None

    def _booking_for(self, event: dict) -> dict | None:
        """Fetch the event's booking when its items may sit on a booking-level document.

        NOTE: Tripleseat may embed the booking in the event; tsync fetches it
        only when the event has no live document of its own with line items.
        """
        if isinstance(event.get("booking"), dict) and event["booking"].get("documents") is not None:
            return None
        has_items = any(
            isinstance(document, dict) and not document.get("deleted_at") and document.get("line_items")
            for document in event.get("documents") or []
        )
        booking_id = event.get("booking_id")
        if has_items or not booking_id:
            return None
        try:
            return self.tripleseat.get_booking(int(booking_id))
        except NotFoundError:
            return None

    def _cancel_claimed(self, event_id: int, name: str, why: str, run_id: str) -> EventResult:
        """Record a cancellation under the event's claim, so it cannot race a sync creating the order."""
        if not self.store.claim_event(event_id, run_id, CLAIM_SECONDS):
            result = self._skip(event_id, name, f"IN PROGRESS - another sync holds event {event_id}; the cancellation is retried")
            result.retryable = True
            return result
        try:
            ledger_row = self.store.get_event(event_id) or {}
            return self._cancel(event_id, name or ledger_row.get("name") or "", ledger_row, why, run_id)
        finally:
            self.store.release_event(event_id, run_id)

    def _cancel(self, event_id: int, name: str, ledger_row: dict, why: str, run_id: str) -> EventResult:
        local_id = self.settings.local_id(event_id)
        order_id = ledger_row.get("revel_order_id")
        if not order_id and ledger_row.get("outcome") == "creating":
            # A create whose response was lost may still have made the order.
            establishment = ledger_row.get("establishment_id")
            found = self.revel.find_orders_by_local_id(local_id, establishment)
            ours = [order for order in found if _same_uuid(order.get("uuid"), order_uuid(local_id))]
            order_id = (ours or found or [{}])[0].get("id")
        if ledger_row.get("cancelled_at"):
            return self._skip(event_id, name, f"CANCELLED - already recorded ({why})", order_id=order_id)

        self.store.record_event(event_id, local_id, name=name or ledger_row.get("name") or "", cancelled_at=utc_now_text(),
                                run_id=run_id, revel_order_id=order_id,
                                outcome="cancelled" if not order_id else ledger_row.get("outcome") or "injected",
                                reason=f"cancelled: {why}")
        if not order_id:
            logger.info("event cancelled (%s) before any order was created", why)
            return self._skip(event_id, name, f"CANCELLED - {why}; no Revel order was created")

        reason = f"CANCELLED - {why}; void Revel order {order_id} ({local_id}) by hand"
        logger.warning("event cancelled (%s): Revel order %s needs voiding", why, order_id)
        if self.notifier is not None:
            self.notifier.alert(
                f"Void Revel order {order_id}: event {event_id} cancelled",
                f"Tripleseat event {event_id} ({name or 'no name'}) was cancelled: {why}.\n"
                f"Revel order {order_id} (local_id {local_id}) was created for it and is still open.\n"
                f"A person should void that order in Revel. tsync creates nothing more for this event.\n",
                correlation_id=run_id,
            )
        return self._skip(event_id, name, reason, order_id=order_id)

    # recent

    def find_updated_events(self, hours_back: float) -> list[dict]:
        """Return the search rows of events whose `updated_at` falls in the window, oldest first.

        Tripleseat's updated-date filter takes whole days, so the search
        covers one extra day on each side and tsync filters the times itself.
        """
        now = self.clock()
        start = now - timedelta(hours=hours_back)
        first_day = (start - timedelta(days=1)).date()
        last_day = (now + timedelta(days=1)).date()

        rows: dict[int, dict] = {}
        outside = 0
        for row in self.tripleseat.search_events(first_day, last_day):
            try:
                event_id = int(row["id"])
            except (KeyError, TypeError, ValueError):
                logger.warning("search returned an event without a numeric id; skipped it")
                continue
            updated = self._updated_at(row)
            if updated is not None and not (start <= updated <= now + timedelta(minutes=5)):
                outside += 1
                continue
            rows[event_id] = row
        if outside:
            logger.info("%d events updated on the edge days fall outside the window; tsync event <id> syncs one of them", outside)
        return sorted(rows.values(), key=lambda row: (self._updated_at(row) or now, int(row["id"])))

    def _updated_at(self, row: dict) -> datetime | None:
        venue = self.settings.venue_for(row.get("location_id") or (row.get("location") or {}).get("id"))
        zone = venue.timezone if venue else timezone.utc
        return tripleseat_timestamp(row.get("updated_at"), zone)

    def _precheck(self, row: dict) -> EventResult | None:
        """Settle a search row without fetching the event, when the row alone decides it.

        That is an unconfigured location, an ineligible status, or an eligible
        event whose order the ledger already records. A cancelled status on an
        event with an order still goes through sync_event, which raises the alert.
        """
        event_id = int(row["id"])
        name = str(row.get("name") or "")
        if self.settings.venue_for(row.get("location_id") or (row.get("location") or {}).get("id")) is None:
            if row.get("location_id") is not None or row.get("location"):
                return self._skip(event_id, name, _location_reason(row))
            return None

        status = str(row.get("status") or "").upper()
        if not status:
            return None
        if status not in self.settings.eligible_statuses and status not in CANCELLED_STATUSES:
            return self._skip(event_id, name, self._status_reason(status))

        ledger_row = self.store.get_event(event_id) or {}
        if status in self.settings.eligible_statuses and ledger_row.get("outcome") in ("injected", "duplicate"):
            if not ledger_row.get("cancelled_at"):
                local_id = self.settings.local_id(event_id)
                return self._skip(event_id, name, _duplicate_reason(local_id), order_id=ledger_row.get("revel_order_id"))
        return None

    def _prefetch_orders(self, rows: list[dict]) -> dict[str, list[dict]] | None:
        """Look up in batches the Revel orders of events the ledger has not settled."""
        local_ids = []
        for row in rows:
            event_id = int(row["id"])
            ledger_row = self.store.get_event(event_id) or {}
            if ledger_row.get("outcome") not in ("injected", "duplicate"):
                local_ids.append(self.settings.local_id(event_id))
        if not local_ids:
            return {}
        try:
            found = self.revel.find_orders_by_local_ids(local_ids)
        except AuthError:
            raise
        except ApiError as error:
            logger.warning("batch lookup in Revel failed (%s); looking up events one by one", error)
            return None
        return {local_id: found.get(local_id, []) for local_id in local_ids}

    # mapping and products

    def mapping(self) -> ProductMapping:
        if self._mapping is None:
            try:
                self._mapping = load_mapping(self.settings.mapping_path)
            except InputError as error:
                raise ConfigError(str(error)) from None
        return self._mapping

    def unmapped_items(self, hours_back: float) -> tuple[list[UnmappedItem], int]:
        """List the line items of recent events that the mapping does not cover, with counts.

        Returns the items, most frequent first, and the number of events read.
        """
        _check_hours(hours_back)
        mapping = self.mapping()
        counts: Counter = Counter()
        events_by_item: dict[str, list[int]] = {}
        rows = self.find_updated_events(hours_back)
        for row in rows:
            event_id = int(row["id"])
            with log_context(event_id=event_id):
                event = self.tripleseat.get_event(event_id)
            documents = [document for document in event.get("documents") or [] if isinstance(document, dict) and not document.get("deleted_at")]
            booking = self._booking_for(event) or (event.get("booking") if isinstance(event.get("booking"), dict) else None)
            if booking:
                documents += [document for document in booking.get("documents") or [] if isinstance(document, dict) and not document.get("deleted_at")]
            for document in documents:
                for line_item in document.get("line_items") or []:
                    if isinstance(line_item, dict) and mapping.match(line_item) is None:
                        description = describe_item(line_item)
                        counts[description] += 1
                        events_by_item.setdefault(description, [])
                        if event_id not in events_by_item[description]:
                            events_by_item[description].append(event_id)
        items = [UnmappedItem(description, count, events_by_item[description]) for description, count in counts.most_common()]
        return items, len(rows)

    # result rows

    def _skip(self, event_id: int, name: str, reason: str, *, order_id=None) -> EventResult:
        logger.info("skipped: %s", reason)
        return EventResult(event_id, name, "skipped", revel_order_id=order_id, reason=reason)

    def _fail(self, event_id: int, name: str, reason: str, *, retryable: bool, record: bool = True,
              local_id: str | None = None, establishment: int | None = None) -> EventResult:
        """Return a failed row and record the error, keeping the ledger's record of any order."""
        logger.error("failed: %s", reason)
        order_id = None
        if record:
            existing = self.store.get_event(event_id) or {}
            fields = {"last_error": reason, "reason": reason}
            if name:
                fields["name"] = name
            if establishment is not None:
                fields["establishment_id"] = establishment
            if existing.get("outcome") not in ORDER_OUTCOMES:
                fields["outcome"] = "failed"
            self.store.record_event(event_id, local_id or self.settings.local_id(event_id), **fields)
            order_id = (self.store.get_event(event_id) or {}).get("revel_order_id")
        return EventResult(event_id, name, "failed", revel_order_id=order_id, reason=reason, retryable=retryable)

    def _status_reason(self, status: str) -> str:
        eligible = ", ".join(sorted(self.settings.eligible_statuses))
        return f"STATUS - {status or 'no status'} is not eligible (TSYNC_ELIGIBLE_STATUSES: {eligible})"


def build_engine(settings: Settings, *, store: Store | None = None, notifier=None) -> Engine:
    """Build an engine with real API clients; opens the ledger at TSYNC_DB unless a store is given."""
    from tsync.revel import RevelClient
    from tsync.tripleseat import TripleseatClient

    store = store or Store(settings.db_path)
    return Engine(
        settings,
        tripleseat=TripleseatClient(settings, store=store),
        revel=RevelClient(settings),
        store=store,
        notifier=notifier,
    )


def _uuid_key(value) -> str:
    """Normalise a uuid for comparison: Revel may return it in another case or without dashes."""
    return str(value or "").replace("-", "").lower()


def _same_uuid(first, second) -> bool:
    return bool(first) and _uuid_key(first) == _uuid_key(second)


def _duplicate_reason(local_id: str) -> str:
    return f"DUPLICATE - Order {local_id} already exists"


def _dry_run_reason(plan: OrderPlan) -> str:
    return (f"DRY RUN - would create order {plan.local_id}: {len(plan.items)} items, total "
            f"{format_money(plan.final_total)}, due {format_money(plan.remaining_due)}")


def _location_reason(event: dict) -> str:
    location = event.get("location_id") or (event.get("location") or {}).get("id")
    return f"LOCATION - Tripleseat location {location} is not configured (add it to TSYNC_LOCATIONS)"


def _cents_text(differences: dict[str, int]) -> str:
    return ", ".join(f"{name} {cents:+d} cents" for name, cents in differences.items())


def _check_hours(hours_back: float) -> None:
    if not 0 < hours_back <= MAX_HOURS_BACK:
        raise InputError(f"--hours-back {hours_back:g} is out of range: give a number of hours above 0 and at most {MAX_HOURS_BACK}, such as 48")


def _hours(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
