"""Client for Revel's REST resources: order lookups and writing an OrderPlan as an order.

Revel has no idempotency key, so `write_order` writes in phases that can be
resumed: the order, its order items, payments, an OrderHistory record and
finally the totals. Each object carries the uuid from the plan, and a phase
creates only what the order does not contain yet. A write whose outcome is
unknown (a timeout, a lost connection or a 5xx) is followed by a lookup, and
it is sent again only when the lookup finds nothing.

Request bodies refer to other objects by URI ("/resources/Order/12/"), while
query filters take plain ids ("order=12").
"""

import logging
import re
import time
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Callable, Iterable, Iterator
from urllib.parse import urlsplit

import requests

from tsync.config import Settings
from tsync.errors import ApiError, NotFoundError, TransientError
from tsync.http import RetryPolicy, check_status, error_message, parse_json, send_request
from tsync.models import OrderPlan, PlannedItem, PlannedPayment
from tsync.money import format_money, format_price, to_cents

logger = logging.getLogger(__name__)

SERVICE = "Revel"
LOOKUP_BATCH_SIZE = 50
LIST_PAGE_SIZE = 200
MAX_LIST_PAGES = 1000
ORDER_MONEY_FIELDS = (
    "subtotal", "discount_amount", "tax", "service_charge", "service_fee_taxed",
    "service_fee_untaxed", "gratuity", "final_total", "remaining_due",
)
# Settings a user checks when Revel rejects a write, by resource.
REJECTION_HINTS = {
    "Order": "check REVEL_ESTABLISHMENT_ID, REVEL_DINING_OPTION, REVEL_USER_ID and REVEL_STATION_ID",
    "OrderItem": "check the mapping file",
    "Payment": "check REVEL_PAYMENT_TYPE",
    "OrderHistory": "check REVEL_USER_ID and REVEL_STATION_ID",
    "Order totals": "check the order's totals in the dry-run output",
}


def establishment_uri(establishment_id) -> str:
    return f"/enterprise/Establishment/{establishment_id}/"


def user_uri(user_id) -> str:
    return f"/enterprise/User/{user_id}/"


def station_uri(station_id) -> str:
    return f"/resources/PosStation/{station_id}/"


def order_uri(order_id) -> str:
    return f"/resources/Order/{order_id}/"


def product_uri(product_id) -> str:
    return f"/resources/Product/{product_id}/"


def order_totals(order: dict) -> dict[str, Decimal]:
    """Return an order's money fields as Decimal cents.

    Revel returns money as JSON floats in some fields and 6-decimal strings in
    others; a missing field counts as zero.
    """
    return {name: to_cents(order.get(name)) for name in ORDER_MONEY_FIELDS}


class RevelClient:
    """Access to one Revel account through the API-AUTHENTICATION key:secret header.

    GETs are retried on 429, 5xx, timeouts and connection errors. Writes are
    retried on 429 only, and `write_order` handles every other failure of a
    write itself.
    """

    def __init__(
        self,
        settings: Settings,
        session: requests.Session | None = None,
        sleep=time.sleep,
        *,
        retry_policy: RetryPolicy | None = None,
    ):
        self.settings = settings
        self.session = session or requests.Session()
        self.sleep = sleep
        self.retry_policy = retry_policy or RetryPolicy()
        # A 429 means Revel turned the request away before doing any work, so
        # nothing was created and the write is safe to send again after the
        # Retry-After wait. A timeout or a 5xx after a write is not retried here.
        self.write_policy = replace(self.retry_policy, rate_limit_only=True)
        self._headers = {
            "API-AUTHENTICATION": f"{settings.revel_api_key}:{settings.revel_api_secret}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def close(self) -> None:
        self.session.close()

    # lookups

    def find_orders_by_local_id(self, local_id: str, establishment_id=None) -> list[dict]:
        """Return every order whose local_id is `local_id`, in one establishment when given."""
        params = {"local_id": local_id, "limit": LOOKUP_BATCH_SIZE}
        if establishment_id is not None:
            params["establishment"] = establishment_id
        return [order for order in self._list("/resources/Order/", params) if order.get("local_id") == local_id]

    def find_orders_by_local_ids(self, local_ids: Iterable[str], establishment_id=None) -> dict[str, list[dict]]:
        """Return the orders of many local_ids, keyed by local_id; ids without an order are absent.

        Ids go to Revel in batches of LOOKUP_BATCH_SIZE as one `local_id__in`
        filter each. An id that contains a comma cannot be part of that list,
        so it is looked up on its own.
        """
        unique_ids = list(dict.fromkeys(str(local_id) for local_id in local_ids))
        found: dict[str, list[dict]] = {}

        for local_id in unique_ids:
            if "," in local_id:
                orders = self.find_orders_by_local_id(local_id, establishment_id)
                if orders:
                    found[local_id] = orders

        listable = [local_id for local_id in unique_ids if "," not in local_id]
        for start in range(0, len(listable), LOOKUP_BATCH_SIZE):
            batch = listable[start : start + LOOKUP_BATCH_SIZE]
            params = {"local_id__in": ",".join(batch), "limit": LOOKUP_BATCH_SIZE}
            if establishment_id is not None:
                params["establishment"] = establishment_id

            wanted = set(batch)
            for order in self._list("/resources/Order/", params):
                local_id = order.get("local_id")
                if local_id in wanted:
                    found.setdefault(local_id, []).append(order)
        return found

    def get_order(self, order_id) -> dict:
        try:
            body = self._get_json(f"/resources/Order/{order_id}/")
        except NotFoundError as error:
            raise NotFoundError(
                f"Revel order {order_id} not found: it may have been deleted in Revel; check the order id",
                url=error.url,
                status=error.status,
            ) from None
        if not isinstance(body, dict):
            raise ApiError(f"Revel order {order_id} has an unexpected shape: expected a JSON object")
        return body

    def list_order_items(self, order_id) -> list[dict]:
        return list(self._list("/resources/OrderItem/", {"order": order_id, "limit": LIST_PAGE_SIZE}))

    def list_payments(self, order_id) -> list[dict]:
        return list(self._list("/resources/Payment/", {"order": order_id, "limit": LIST_PAGE_SIZE}))

    def list_order_history(self, order_id) -> list[dict]:
        return list(self._list("/resources/OrderHistory/", {"order": order_id, "limit": LIST_PAGE_SIZE}))

    def list_products(self, establishment_id) -> Iterator[dict]:
        return self._list("/resources/Product/", {"establishment": establishment_id, "limit": LIST_PAGE_SIZE})

    # writing an order

    def write_order(self, plan: OrderPlan, existing: dict | None = None, on_order_created: Callable[[int], None] | None = None) -> int:
        """Create the order for `plan`, or complete `existing`, and return the Revel order id.

        The phases run in this order: order, order items, payments, order
        history, totals. `on_order_created` is called with the new order's id
        as soon as it is known, before any order item is written.

        NOTE: Revel computes no tax, discount or total on this REST route and
        stores the amounts it is sent, so the plan must carry them all. Revel's
        public docs confirm neither that money may be sent as strings, nor that
        OrderItem accepts product_name_override, section and service_fee, nor
        that OrderItem tax_rate is a percent.
        """
        _check_uuids(plan)

        if existing is None:
            order_id = self._create(
                "Order", self.order_body(plan), plan.local_id, lambda: self._find_created_order(plan)
            )
            logger.info("created Revel order %s for %s", order_id, plan.local_id)
            if on_order_created is not None:
                on_order_created(order_id)
        else:
            order_id = _object_id(existing)
            if order_id is None:
                raise ValueError(f"existing Revel order for {plan.local_id} has no id or resource_uri")
            logger.info("completing Revel order %s for %s", order_id, plan.local_id)

        self._write_items(plan, order_id)
        self._write_payments(plan, order_id)
        self._write_history(plan, order_id)
        self._write_totals(plan, order_id)
        return order_id

    def _write_items(self, plan: OrderPlan, order_id: int) -> None:
        present = {_uuid_key(item.get("uuid")) for item in self.list_order_items(order_id)}
        created = 0
        for position, item in enumerate(plan.items):
            if _uuid_key(item.uuid) in present:
                continue
            self._create(
                "OrderItem",
                self.item_body(plan, order_id, item, position),
                plan.local_id,
                lambda: self._find_child("OrderItem", order_id, item.uuid),
                context=f" (line {item.key}, product {item.product_id})",
            )
            created += 1
        logger.info("order %s: created %d of %d order items", order_id, created, len(plan.items))

    def _write_payments(self, plan: OrderPlan, order_id: int) -> None:
        present = {_uuid_key(payment.get("uuid")) for payment in self.list_payments(order_id)}
        created = 0
        for payment in plan.payments:
            if _uuid_key(payment.uuid) in present:
                continue
            self._create(
                "Payment",
                self.payment_body(plan, order_id, payment),
                plan.local_id,
                lambda: self._find_child("Payment", order_id, payment.uuid),
                context=f" (payment {payment.key})",
            )
            created += 1
        logger.info("order %s: created %d of %d payments", order_id, created, len(plan.payments))

    def _write_history(self, plan: OrderPlan, order_id: int) -> None:
        # Orders without an OrderHistory record do not show in Revel's Order History screen.
        if self.list_order_history(order_id):
            return
        body = self.history_body(plan, order_id)
        self._create("OrderHistory", body, plan.local_id, lambda: self._find_child("OrderHistory", order_id, body["uuid"]))
        logger.info("order %s: created its order history record", order_id)

    def _write_totals(self, plan: OrderPlan, order_id: int) -> None:
        """PATCH the plan's totals onto the order.

        After a timeout or a 5xx the order is read back, and the PATCH is sent
        once more only when the stored totals differ from the plan's.
        """
        body = self.totals_body(plan)
        path = f"/resources/Order/{order_id}/"

        _, failure = self._try_write("PATCH", path, body, "Order totals", plan.local_id)
        if failure is None:
            logger.info("order %s: wrote totals, final total %s", order_id, body["final_total"])
            return

        logger.warning("Revel PATCH of order %s totals for %s failed (%s); reading the order back", order_id, plan.local_id, failure)
        if _totals_match(self.get_order(order_id), body):
            logger.info("order %s: totals were stored by the failed PATCH", order_id)
            return

        _, failure = self._try_write("PATCH", path, body, "Order totals", plan.local_id)
        if failure is not None:
            raise TransientError(
                f"Revel PATCH of order {order_id} totals for {plan.local_id} failed twice (last: {failure}): "
                "run the sync again to finish the order"
            )

    # request bodies

    def order_body(self, plan: OrderPlan) -> dict:
        user = user_uri(self.settings.revel_user_id)
        body = {
            "uuid": plan.uuid,
            "establishment": establishment_uri(plan.establishment_id),
            "local_id": plan.local_id,
            "notes": plan.notes,
            "call_name": plan.call_name,
            "web_order": True,
            "dining_option": self.settings.revel_dining_option,
            "pickup_time": plan.pickup_time,
            "created_date": plan.created_date,
            "updated_date": plan.created_date,
            "created_by": user,
            "updated_by": user,
            "number_of_people": plan.guest_count,
            # The real totals follow in the last phase, once the items and payments exist.
            "subtotal": "0.00",
            "tax": "0.00",
            "final_total": "0.00",
            "remaining_due": "0.00",
            "discount_amount": "0.00",
            "service_charge": "0.00",
            "gratuity": "0.00",
        }
        if self.settings.revel_station_id is not None:
            # On Order, created_at and last_updated_at are PosStation URIs, not times.
            station = station_uri(self.settings.revel_station_id)
            body.update({"station": station, "created_at": station, "last_updated_at": station})
        return body

    def item_body(self, plan: OrderPlan, order_id: int, item: PlannedItem, position: int) -> dict:
        user = user_uri(self.settings.revel_user_id)
        unit_price = format_price(item.unit_price)
        body = {
            "uuid": item.uuid,
            "order": order_uri(order_id),
            "product": product_uri(item.product_id),
            "quantity": str(item.quantity),
            # Setting all three prices makes Revel keep the plan's price instead of the product's.
            "price": unit_price,
            "initial_price": unit_price,
            "price_to_display": unit_price,
            "product_name_override": item.name_override or None,
            "special_request": item.description,
            "section": item.section,
            "discount_amount": format_money(item.discount),
            "tax_amount": format_money(item.tax),
            # A rate in percent, not money, so it keeps every decimal (8.375 stays 8.375).
            "tax_rate": format(item.tax_rate, "f"),
            "service_fee": format_money(item.service_charge),
            "created_date": plan.created_date,
            "updated_date": plan.created_date,
            "created_by": user,
            "updated_by": user,
            "dining_option": self.settings.revel_dining_option,
            "temp_sort": position,
        }
        if self.settings.revel_station_id is not None:
            body["station"] = station_uri(self.settings.revel_station_id)
        return body

    def payment_body(self, plan: OrderPlan, order_id: int, payment: PlannedPayment) -> dict:
        body = {
            "uuid": payment.uuid,
            "order": order_uri(order_id),
            "establishment": establishment_uri(plan.establishment_id),
            "payment_type": self.settings.revel_payment_type,
            "amount": format_money(payment.amount),
            "tip": "0.00",
            "payment_date": payment.paid_at or plan.created_date,
            "created_date": plan.created_date,
            "updated_date": plan.created_date,
            "created_by": user_uri(self.settings.revel_user_id),
            "transaction_id": payment.key,
            "notes": payment.title,
        }
        if self.settings.revel_station_id is not None:
            body["station"] = station_uri(self.settings.revel_station_id)
        return body

    def history_body(self, plan: OrderPlan, order_id: int) -> dict:
        station = self.settings.revel_station_id
        return {
            "uuid": history_uuid(plan),
            "order": order_uri(order_id),
            "order_opened_by": user_uri(self.settings.revel_user_id),
            "order_opened_at": station_uri(station) if station is not None else None,
            "opened": plan.created_date,
        }

    def totals_body(self, plan: OrderPlan) -> dict:
        return {
            "subtotal": format_money(plan.subtotal),
            "discount_amount": format_money(plan.discount),
            "tax": format_money(plan.tax),
            "service_charge": format_money(plan.service_charge),
            "service_fee_taxed": format_money(plan.service_charge_taxed),
            "service_fee_untaxed": format_money(plan.service_charge_untaxed),
            "gratuity": format_money(plan.gratuity),
            "final_total": format_money(plan.final_total),
            "remaining_due": format_money(plan.remaining_due),
            "opened": True,
            "printed": True,
            "updated_date": plan.created_date,
        }

    # writes whose outcome may be unknown

    def _create(self, resource: str, body: dict, local_id: str, find_existing: Callable[[], dict | None], context: str = "") -> int:
        """POST a new object and return its id, never creating it twice.

        When the POST times out, loses its connection or gets a 5xx, Revel may
        have created the object anyway, so `find_existing` looks for it first
        and the POST is sent once more only when it finds nothing.
        """
        path = f"/resources/{resource}/"
        response, failure = self._try_write("POST", path, body, resource, local_id, context)
        if failure is None:
            return self._created_id(response, resource, local_id, find_existing)

        logger.warning("Revel %s POST for %s%s failed (%s); looking it up before posting again", resource, local_id, context, failure)
        found_id = _object_id(find_existing())
        if found_id is not None:
            logger.info("found the %s for %s that the failed POST created (id %s)", resource, local_id, found_id)
            return found_id

        response, failure = self._try_write("POST", path, body, resource, local_id, context)
        if failure is not None:
            raise TransientError(
                f"Revel {resource} POST for {local_id}{context} failed twice (last: {failure}): "
                "run the sync again, which looks the object up before writing",
                url=self.settings.revel_url + path,
            )
        return self._created_id(response, resource, local_id, find_existing)

    def _try_write(
        self, method: str, path: str, body: dict, resource: str, local_id: str, context: str = ""
    ) -> tuple[requests.Response | None, str | None]:
        """Send a write; return (response, None) when Revel accepted it, or (None, failure) when the outcome is unknown.

        A 4xx raises at once. So does a 429 that outlasts the retry policy,
        because Revel created nothing in that case.
        """
        try:
            response = self._send(method, path, self.write_policy, json=body)
        except TransientError as error:
            if error.status == 429:
                raise
            return None, getattr(error, "reason", str(error))

        if response.status_code >= 500:
            return None, f"HTTP {response.status_code}"
        self._raise_if_rejected(response, resource, local_id, context)
        return response, None

    def _created_id(self, response: requests.Response, resource: str, local_id: str, find_existing: Callable[[], dict | None]) -> int:
        """Return the id of the object that an accepted POST created.

        Revel normally responds to a create with the object and its id. The
        Location header and a lookup cover an instance that returns an empty
        201, which Tastypie does by default.
        """
        object_id = None
        if response.content.strip():
            object_id = _object_id(parse_json(response, SERVICE))
        if object_id is None:
            object_id = _id_from_uri(response.headers.get("Location"))
        if object_id is None:
            object_id = _object_id(find_existing())
        if object_id is None:
            raise ApiError(
                f"Revel accepted the {resource} for {local_id} but returned no id, and a lookup found none: "
                "check the order in Revel"
            )
        return object_id

    def _raise_if_rejected(self, response: requests.Response, resource: str, local_id: str, context: str = "") -> None:
        status = response.status_code
        if status in (401, 403):
            check_status(response, SERVICE)
        if 400 <= status < 500:
            detail = error_message(response) or f"HTTP {status}"
            hint = REJECTION_HINTS.get(resource, "check the request")
            raise ApiError(
                f"Revel rejected {resource} for {local_id}{context}: {detail} ({hint})",
                url=self.settings.revel_url + urlsplit(response.url or "").path,
                status=status,
            )

    def _find_created_order(self, plan: OrderPlan) -> dict | None:
        """Look up the order that a failed POST may have created, by local_id and uuid."""
        orders = self.find_orders_by_local_id(plan.local_id, plan.establishment_id)
        for order in orders:
            if _uuid_key(order.get("uuid")) == _uuid_key(plan.uuid):
                return order
        if orders:
            # The caller only creates an order when none had this local_id, so one
            # that appeared since is the failed POST's, even with another uuid.
            logger.warning("order for %s found by local_id with a different uuid; using order %s", plan.local_id, _object_id(orders[0]))
            return orders[0]

        for order in self._list("/resources/Order/", {"uuid": plan.uuid, "limit": LOOKUP_BATCH_SIZE}):
            if _uuid_key(order.get("uuid")) == _uuid_key(plan.uuid):
                return order
        return None

    def _find_child(self, resource: str, order_id: int, object_uuid: str) -> dict | None:
        """Return the object of one order with the given uuid, or None.

        NOTE: Revel's docs list `uuid` as a filter on Order only. The `order`
        filter keeps the list small, and the uuid is compared here, so the
        lookup still finds the object on a server that ignores the uuid filter.
        """
        params = {"order": order_id, "uuid": object_uuid, "limit": LIST_PAGE_SIZE}
        for candidate in self._list(f"/resources/{resource}/", params):
            if _uuid_key(candidate.get("uuid")) == _uuid_key(object_uuid):
                return candidate
        return None

    # requests

    def _send(self, method: str, path: str, policy: RetryPolicy, **kwargs) -> requests.Response:
        url = path if path.startswith(("http://", "https://")) else self.settings.revel_url + path
        return send_request(
            self.session,
            method,
            url,
            timeout=self.settings.http_timeout,
            service=SERVICE,
            policy=policy,
            sleep=self.sleep,
            headers=self._headers,
            **kwargs,
        )

    def _get_json(self, path: str, params: dict | None = None):
        response = self._send("GET", path, self.retry_policy, params=params)
        return parse_json(response, SERVICE)

    def _list(self, path: str, params: dict) -> Iterator[dict]:
        """Yield the objects of a list resource, following `meta.next` page by page."""
        page_path, query = path, params
        seen_pages = set()
        for _ in range(MAX_LIST_PAGES):
            body = self._get_json(page_path, query)
            objects, next_page = _list_page(body, path)
            yield from objects

            if not next_page:
                return
            if next_page in seen_pages:
                raise ApiError(f"Revel listing of {path} returned the page {next_page} twice: the listing does not advance")
            seen_pages.add(next_page)
            # The next link carries the whole query, limit and offset included.
            page_path, query = next_page, None
        raise ApiError(f"Revel listing of {path} has more than {MAX_LIST_PAGES} pages: narrow the filter")


def history_uuid(plan: OrderPlan) -> str:
    """Return the OrderHistory uuid of a plan: derived from the plan's uuid, so a retry can find it."""
    if plan.uuid:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tsync:{plan.uuid}:order-history"))
    return str(uuid.uuid4())


def _check_uuids(plan: OrderPlan) -> None:
    """Raise ValueError when the plan lacks a uuid that the phases rely on to avoid duplicates."""
    if not plan.uuid:
        raise ValueError(f"plan for {plan.local_id} has no uuid")
    for item in plan.items:
        if not item.uuid:
            raise ValueError(f"plan for {plan.local_id}: line {item.key} has no uuid")
    for payment in plan.payments:
        if not payment.uuid:
            raise ValueError(f"plan for {plan.local_id}: payment {payment.key} has no uuid")


def _list_page(body, path: str) -> tuple[list[dict], str | None]:
    """Split a Tastypie list body {"meta": {"next": ...}, "objects": [...]} into its objects and next link.

    The next link comes back as a path and query. Only those are kept, even
    from a full URL, so the client sends its credentials to REVEL_API_URL only.
    """
    if isinstance(body, list):
        return body, None
    if not isinstance(body, dict) or not isinstance(body.get("objects", []), list):
        raise ApiError(f"Revel listing of {path} has an unexpected shape: expected {{\"meta\": ..., \"objects\": [...]}}")

    meta = body.get("meta") or {}
    next_link = meta.get("next") if isinstance(meta, dict) else None
    if not next_link or not isinstance(next_link, str):
        return body.get("objects") or [], None

    parts = urlsplit(next_link)
    next_path = parts.path or path
    if parts.query:
        next_path += f"?{parts.query}"
    return body.get("objects") or [], next_path


def _uuid_key(value) -> str | None:
    """Return a uuid in one spelling (lower case, no hyphens), so Revel's formatting cannot hide a match."""
    if not value:
        return None
    return str(value).replace("-", "").lower()


def _object_id(obj) -> int | None:
    """Return the id of a Revel object from its `id` or, failing that, its `resource_uri`."""
    if not isinstance(obj, dict):
        return None
    value = obj.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return _id_from_uri(obj.get("resource_uri"))


def _id_from_uri(uri) -> int | None:
    if not uri or not isinstance(uri, str):
        return None
    match = re.search(r"/(\d+)/?$", urlsplit(uri).path)
    return int(match.group(1)) if match else None


def _totals_match(order: dict, body: dict) -> bool:
    """Return whether an order read back from Revel carries the totals of a totals PATCH body."""
    stored = order_totals(order)
    for name in ORDER_MONEY_FIELDS:
        if stored[name] != Decimal(body[name]):
            return False
    return bool(order.get("printed"))
