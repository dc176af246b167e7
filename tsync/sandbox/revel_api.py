"""Simulated Revel REST API (Tastypie style) for orders, order items, payments, history and products.

Routes, each with and without the trailing slash:

- GET/POST /resources/Order/, GET/PATCH /resources/Order/{id}/
- GET/POST /resources/OrderItem/, /resources/Payment/, /resources/OrderHistory/
  (and GET/PATCH on /{id}/)
- GET /resources/Product/ and /resources/Product/{id}/

Lists use the Tastypie envelope {"meta": {limit, next, offset, previous,
total_count}, "objects": [...]}. Like Revel's REST route, the sandbox computes
nothing: totals stay what the client writes, and a second order with the same
local_id is accepted. Every object lives in one JSON file, rewritten
atomically after each write, so a later sandbox on the same folder loads it.
"""

import copy
import json
import os
import re
import threading
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

from tsync.errors import InputError
from tsync.money import to_decimal
from tsync.sandbox.server import HttpError, Request, Response

API_KEY = "sandbox-key"
API_SECRET = "sandbox-secret"
STATE_FORMAT = 1

WRITABLE = ("Order", "OrderItem", "Payment", "OrderHistory")
RESOURCES = (*WRITABLE, "Product")
FIRST_IDS = {"Order": 10690001, "OrderItem": 52100001, "Payment": 8100001, "OrderHistory": 9900001}

URI_PREFIXES = {
    "establishment": "/enterprise/Establishment/",
    "user": "/enterprise/User/",
    "station": "/resources/PosStation/",
    "order": "/resources/Order/",
    "product": "/resources/Product/",
    "customer": "/resources/Customer/",
    "discount": "/resources/Discount/",
}
# Foreign keys per resource: body field -> kind of URI. On Order, created_at and last_updated_at are station URIs.
FOREIGN_KEYS = {
    "Order": {
        "establishment": "establishment",
        "created_by": "user",
        "updated_by": "user",
        "customer": "customer",
        "station": "station",
        "created_at": "station",
        "last_updated_at": "station",
        "discount": "discount",
        "discounted_by": "user",
    },
    "OrderItem": {"order": "order", "product": "product", "created_by": "user", "updated_by": "user", "station": "station"},
    "Payment": {"order": "order", "establishment": "establishment", "created_by": "user", "updated_by": "user", "station": "station"},
    "OrderHistory": {"order": "order", "order_opened_by": "user", "order_opened_at": "station", "order_closed_by": "user", "order_closed_at": "station"},
}
REQUIRED_FIELDS = {"Order": ("establishment",), "OrderItem": ("order", "product"), "Payment": ("order",), "OrderHistory": ("order",)}

# Money fields. Order totals come back as JSON numbers, order item and payment amounts as
# 6-decimal strings ("240.000000"): real Revel responses mix the two forms this way.
ORDER_MONEY = (
    "subtotal", "tax", "final_total", "remaining_due", "discount_amount", "service_charge", "gratuity",
    "service_fee_taxed", "service_fee_untaxed", "surcharge",
)
STRING_MONEY = {
    "OrderItem": ("price", "initial_price", "price_to_display", "discount_amount", "tax_amount", "tax_rate", "service_fee", "modifier_amount", "pure_sales"),
    "Payment": ("amount", "tip", "change"),
}

# List filters per resource (unknown parameters are ignored, as Tastypie ignores non-field parameters).
EXACT_FILTERS = {
    "Order": ("id", "uuid", "local_id", "call_name", "web_order"),
    "OrderItem": ("id", "uuid"),
    "Payment": ("id", "uuid", "transaction_id"),
    "OrderHistory": ("id", "uuid"),
    "Product": ("id", "uuid", "barcode", "sku", "name"),
}
IN_FILTERS = {
    "Order": ("id", "uuid", "local_id"),
    "OrderItem": ("id", "uuid", "order"),
    "Payment": ("id", "uuid", "order"),
    "OrderHistory": ("id", "uuid", "order"),
    "Product": ("id",),
}
RELATION_FILTERS = {
    "Order": ("establishment",),
    "OrderItem": ("order",),
    "Payment": ("order", "establishment"),
    "OrderHistory": ("order",),
    "Product": ("establishment",),
}
ORDERABLE_FIELDS = ("id", "created_date", "updated_date", "local_id")

DEFAULT_LIMIT = 20
# NOTE: Revel's page-size maximum is not documented; Tastypie's default maximum is 1000.
MAX_LIMIT = 1000
AUTH_PARAMETERS = ("api_key", "api_secret")

_PATH = re.compile(r"^/resources/(?P<resource>[A-Za-z]+)/?(?:(?P<id>[^/]+)/?)?$")


class RevelApi:
    """Revel objects, their JSON file and the request handler. Thread-safe."""

    def __init__(self, state_path: Path, *, establishments: set[int], products: list[dict]):
        self._lock = threading.RLock()
        self._path = Path(state_path)
        self._establishments = set(establishments)
        self._establishment_ids = {str(establishment) for establishment in establishments}  # as query values arrive
        self._objects: dict[str, dict[int, dict]] = {resource: {} for resource in RESOURCES}
        self._next_ids = dict(FIRST_IDS)
        if self._path.exists():
            self._load()
        if not self._objects["Product"]:
            self._objects["Product"] = {int(product["id"]): copy.deepcopy(product) for product in products}
            self._save()

    # ------------------------------------------------------------------
    # State used by the Sandbox object

    def orders(self) -> list[dict]:
        """Return every order as stored, each with its "items", "payments" and "history" lists."""
        with self._lock:
            orders = []
            for order_id in sorted(self._objects["Order"]):
                order = copy.deepcopy(self._objects["Order"][order_id])
                uri = order["resource_uri"]
                order["items"] = self._children("OrderItem", uri)
                order["payments"] = self._children("Payment", uri)
                order["history"] = self._children("OrderHistory", uri)
                orders.append(order)
            return orders

    def products(self) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(product) for _, product in sorted(self._objects["Product"].items())]

    def _children(self, resource: str, order_uri: str) -> list[dict]:
        return [copy.deepcopy(child) for _, child in sorted(self._objects[resource].items()) if child.get("order") == order_uri]

    # ------------------------------------------------------------------
    # Persistence

    def _load(self) -> None:
        try:
            state = json.loads(self._path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise InputError(
                f"sandbox file {self._path} is not valid JSON ({error.msg} at line {error.lineno}): "
                "delete it, or reset the sandbox folder, to start over"
            ) from None
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise InputError(f"sandbox file {self._path} has an unknown format: delete it, or reset the sandbox folder, to start over")

        for resource in RESOURCES:
            self._objects[resource] = {int(entry["id"]): entry for entry in state.get("objects", {}).get(resource, [])}
        for resource, first_id in FIRST_IDS.items():
            self._next_ids[resource] = max(int(state.get("next_ids", {}).get(resource, first_id)), first_id)

    def _save(self) -> None:
        state = {
            "format": STATE_FORMAT,
            "next_ids": self._next_ids,
            "objects": {resource: [entry for _, entry in sorted(objects.items())] for resource, objects in self._objects.items()},
        }
        temporary = self._path.with_name(f"{self._path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(state, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, self._path)

    # ------------------------------------------------------------------
    # Requests

    def handle(self, request: Request) -> Response:
        self._authenticate(request)

        match = _PATH.match(request.path)
        if not match or match.group("resource") not in RESOURCES:
            raise HttpError(404, {"error": f"no Revel resource at {request.path}"})
        resource = match.group("resource")
        object_id = match.group("id")

        if object_id is None:
            if request.method == "GET":
                return self._list(resource, request)
            if request.method == "POST" and resource in WRITABLE:
                return self._create(resource, request)
        else:
            if not object_id.isdigit():
                raise HttpError(404, {"error": f"{resource} {object_id!r} not found"})
            if request.method == "GET":
                return self._detail(resource, int(object_id))
            if request.method == "PATCH" and resource in WRITABLE:
                return self._update(resource, int(object_id), request)
        raise HttpError(405, {"error": f"{request.method} is not allowed on {request.path}"})

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("API-AUTHENTICATION")
        if header is not None:
            if header.strip() == f"{API_KEY}:{API_SECRET}":
                return
        elif request.param("api_key") == API_KEY and request.param("api_secret") == API_SECRET:
            return
        raise HttpError(401, {"error": "Authentication failed: send API-AUTHENTICATION: <api key>:<api secret>"})

    def _detail(self, resource: str, object_id: int) -> Response:
        with self._lock:
            entry = self._objects[resource].get(object_id)
            if entry is None:
                raise HttpError(404, {"error": f"{resource} {object_id} not found"})
            return Response(200, self._render(resource, entry))

    def _create(self, resource: str, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise HttpError(400, {"error": f"the {resource} body must be a JSON object"})
        for field in ("id", "resource_uri"):
            if field in body:
                raise HttpError(400, {"error": f"{field} must not be sent when creating a {resource}: Revel assigns it"})

        with self._lock:
            for field in REQUIRED_FIELDS[resource]:
                if body.get(field) in (None, ""):
                    raise HttpError(400, {"error": f"{field} is required to create a {resource}"})
            self._validate(resource, body)

            object_id = self._next_ids[resource]
            self._next_ids[resource] = object_id + 1
            entry = copy.deepcopy(body)
            entry["id"] = object_id
            entry["resource_uri"] = f"/resources/{resource}/{object_id}/"
            self._objects[resource][object_id] = entry
            self._save()
            return Response(201, self._render(resource, entry))

    def _update(self, resource: str, object_id: int, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise HttpError(400, {"error": f"the {resource} body must be a JSON object"})
        with self._lock:
            entry = self._objects[resource].get(object_id)
            if entry is None:
                raise HttpError(404, {"error": f"{resource} {object_id} not found"})
            for field in ("id", "resource_uri"):
                if field in body and body[field] != entry[field]:
                    raise HttpError(400, {"error": f"{field} cannot be changed"})
            for field in REQUIRED_FIELDS[resource]:
                if field in body and body[field] in (None, ""):
                    raise HttpError(400, {"error": f"{field} cannot be emptied on a {resource}"})
            self._validate(resource, body)

            entry.update(copy.deepcopy(body))
            self._save()
            return Response(202, self._render(resource, entry))

    def _validate(self, resource: str, body: dict) -> None:
        """Check foreign keys (URIs of existing objects) and money fields; raise HttpError 400 naming the field."""
        for field, kind in FOREIGN_KEYS[resource].items():
            value = body.get(field)
            if value is None:
                continue
            referenced_id = _uri_id(value, kind)
            if referenced_id is None:
                example = f"{URI_PREFIXES[kind]}7/"
                raise HttpError(400, {"error": f"{field} must be a resource URI such as {example}, got {value!r}"})
            if kind == "establishment" and referenced_id not in self._establishments:
                raise HttpError(400, {"error": f"Establishment {referenced_id} not found (field {field})"})
            if kind == "order" and referenced_id not in self._objects["Order"]:
                raise HttpError(400, {"error": f"Order {referenced_id} not found (field {field})"})
            if kind == "product":
                product = self._objects["Product"].get(referenced_id)
                if product is None:
                    raise HttpError(400, {"error": f"Product {referenced_id} not found"})
                if not product.get("active", True):
                    raise HttpError(400, {"error": f"Product {referenced_id} is not active"})

        money_fields = ORDER_MONEY if resource == "Order" else STRING_MONEY.get(resource, ())
        for field in money_fields:
            value = body.get(field)
            if value is None:
                continue
            try:
                to_decimal(value, field=field)
            except ValueError:
                raise HttpError(400, {"error": f"{field} must be a decimal number, got {value!r}"}) from None

    # ------------------------------------------------------------------
    # Lists

    def _list(self, resource: str, request: Request) -> Response:
        limit = _non_negative(request, "limit", DEFAULT_LIMIT)
        offset = _non_negative(request, "offset", 0)
        if limit > MAX_LIMIT:
            limit = MAX_LIMIT
        order_by = request.param("order_by") or "id"
        if order_by.lstrip("-") not in ORDERABLE_FIELDS:
            raise HttpError(400, {"error": f"No matching '{order_by.lstrip('-')}' field for ordering on."})

        with self._lock:
            matches = [entry for entry in self._objects[resource].values() if self._matches(resource, entry, request)]
            field = order_by.lstrip("-")
            matches.sort(key=lambda entry: (_sort_value(entry.get(field)), entry["id"]), reverse=order_by.startswith("-"))
            total = len(matches)
            chosen = matches[offset:] if limit == 0 else matches[offset : offset + limit]
            objects = [self._render(resource, entry) for entry in chosen]

        fields = [name.strip() for name in (request.param("fields") or "").split(",") if name.strip()]
        if fields:
            objects = [{key: value for key, value in entry.items() if key in fields} for entry in objects]

        next_offset = offset + limit
        meta = {
            "limit": limit,
            "next": _page_path(resource, request, limit, next_offset) if limit and next_offset < total else None,
            "offset": offset,
            "previous": _page_path(resource, request, limit, max(offset - limit, 0)) if limit and offset > 0 else None,
            "total_count": total,
        }
        return Response(200, {"meta": meta, "objects": objects})

    def _matches(self, resource: str, entry: dict, request: Request) -> bool:
        for field in EXACT_FILTERS[resource]:
            value = request.param(field)
            if value is not None and _text(entry.get(field)) != value:
                return False

        for field in IN_FILTERS[resource]:
            value = request.param(f"{field}__in")
            if value is None:
                continue
            wanted = {part.strip() for part in value.split(",") if part.strip()}
            actual = _relation_id(entry.get(field)) if field in RELATION_FILTERS[resource] else _text(entry.get(field))
            if str(actual) not in wanted:
                return False

        for field in RELATION_FILTERS[resource]:
            value = request.param(field)
            if value is None:
                continue
            if resource == "Product" and field == "establishment" and _relation_id(value) in self._establishment_ids:
                # NOTE: real Revel keeps a product catalogue per establishment. tsync's mapping file has no
                # establishment column, so the sandbox shares one catalogue among all its establishments.
                continue
            if str(_relation_id(entry.get(field))) != str(_relation_id(value)):
                return False

        active = request.param("active")
        if resource == "Product" and active is not None:
            if bool(entry.get("active", True)) != (active.strip().lower() in ("true", "1")):
                return False
        return True

    def _render(self, resource: str, entry: dict) -> dict:
        """Return an object as Revel sends it: money reformatted, computed links added."""
        output = copy.deepcopy(entry)
        if resource == "Order":
            for field in ORDER_MONEY:
                if output.get(field) is not None:
                    output[field] = float(to_decimal(output[field]))
            output["orderhistory"] = [
                history["resource_uri"]
                for _, history in sorted(self._objects["OrderHistory"].items())
                if history.get("order") == entry["resource_uri"]
            ]
        for field in STRING_MONEY.get(resource, ()):
            if output.get(field) is not None:
                output[field] = f"{to_decimal(output[field]):.6f}"
        return output


# ---------------------------------------------------------------------------
# Helpers


def _uri_id(value, kind: str) -> int | None:
    """Return the id in a URI of the given kind ("/resources/Order/12/" -> 12), or None when it is not one."""
    if not isinstance(value, str):
        return None
    prefix = URI_PREFIXES[kind]
    if not value.startswith(prefix):
        return None
    rest = value[len(prefix) :].rstrip("/")
    return int(rest) if rest.isdigit() else None


def _relation_id(value) -> str:
    """Return the id of a foreign key given as a URI or a plain id, as text."""
    text = _text(value).rstrip("/")
    return text.rsplit("/", 1)[-1]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sort_value(value):
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, _text(value))


def _non_negative(request: Request, name: str, default: int) -> int:
    text = request.param(name)
    if text is None or text == "":
        return default
    if not text.strip().isdigit():
        raise HttpError(400, {"error": f"Invalid {name} '{text}' provided. Please provide a positive integer."})
    return int(text)


def _page_path(resource: str, request: Request, limit: int, offset: int) -> str:
    """Return the path and query of another page of the same list, as Tastypie's meta.next does."""
    pairs = [(name, value) for name, values in request.query.items() if name not in ("limit", "offset") for value in values]
    pairs += [("limit", str(limit)), ("offset", str(offset))]
    return f"/resources/{resource}/?{urlencode(pairs, safe=',/')}"
