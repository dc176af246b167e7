import itertools
import logging
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tsync.config import settings_from_values
from tsync.errors import ApiError, AuthError, NotFoundError, TransientError
from tsync.models import OrderPlan, PlannedItem, PlannedPayment
from tsync.revel import RevelClient, history_uuid, order_totals

REVEL = "https://acme.revelup.com"
ORDERS_URL = f"{REVEL}/resources/Order/"
ITEMS_URL = f"{REVEL}/resources/OrderItem/"
PAYMENTS_URL = f"{REVEL}/resources/Payment/"
HISTORY_URL = f"{REVEL}/resources/OrderHistory/"
ORDER_ID = 9001
ORDER_URL = f"{REVEL}/resources/Order/{ORDER_ID}/"
LOCAL_ID = "Triple Seat_55521609"
PLAN_UUID = "5f0c2a8e-1b7d-4c55-9a0e-3d2b8c61f4aa"
ITEM_UUIDS = ["0b6f4a52-7a1e-4c1e-9c3e-111111111111", "0b6f4a52-7a1e-4c1e-9c3e-222222222222"]
PAYMENT_UUID = "0b6f4a52-7a1e-4c1e-9c3e-333333333333"


def make_settings(**overrides):
    values = {
        "TRIPLESEAT_CLIENT_ID": "client-abc",
        "TRIPLESEAT_CLIENT_SECRET": "secret-xyz",
        "REVEL_API_URL": REVEL,
        "REVEL_API_KEY": "rk_live_123",
        "REVEL_API_SECRET": "rs_live_456",
        "REVEL_LOCATION_ID": "1",
        "REVEL_ESTABLISHMENT_ID": "7",
        "TSYNC_TIMEZONE": "America/New_York",
        "TSYNC_HTTP_TIMEOUT": "9",
        "REVEL_USER_ID": "3",
        "REVEL_DINING_OPTION": "113",
        "REVEL_PAYMENT_TYPE": "21",
    }
    values.update(overrides)
    return settings_from_values(values)


def make_client(settings=None, sleeps=None):
    recorded = sleeps if sleeps is not None else []
    return RevelClient(settings or make_settings(), session=requests.Session(), sleep=recorded.append)


def make_plan() -> OrderPlan:
    dinner = PlannedItem(
        key="doc1/li1",
        product_id=4512,
        name="Plated chicken dinner",
        name_override=None,
        quantity=Decimal("20"),
        unit_price=Decimal("32.50"),
        gross=Decimal("650.00"),
        discount=Decimal("0.00"),
        net=Decimal("650.00"),
        tax=Decimal("54.44"),
        tax_rate=Decimal("8.375"),
        service_charge=Decimal("130.00"),
        section="Dinner",
        description="No nuts at table 4",
        uuid=ITEM_UUIDS[0],
    )
    snacks = PlannedItem(
        key="doc1/li2",
        product_id=88,
        name="Late-night snack bar",
        name_override="Late-night snack bar",
        quantity=Decimal("1"),
        unit_price=Decimal("150"),
        gross=Decimal("150.00"),
        discount=Decimal("15.00"),
        net=Decimal("135.00"),
        tax=Decimal("11.31"),
        tax_rate=Decimal("8.375"),
        service_charge=Decimal("27.00"),
        section="Snacks",
        uuid=ITEM_UUIDS[1],
    )
    deposit = PlannedPayment(key="doc1/pay9", amount=Decimal("500.00"), title="Deposit", paid_at="2026-04-02T10:15:00", uuid=PAYMENT_UUID)
    return OrderPlan(
        event_id=55521609,
        event_name="Spring gala",
        local_id=LOCAL_ID,
        establishment_id=7,
        timezone="America/New_York",
        pickup_time="2026-05-14T18:00:00",
        created_date="2026-04-20T09:30:00",
        call_name="TS 55521609 Spring gala",
        notes="Tripleseat event 55521609 | Spring gala | 120 guests",
        guest_count=120,
        items=[dinner, snacks],
        payments=[deposit],
        subtotal=Decimal("800.00"),
        discount=Decimal("15.00"),
        tax=Decimal("65.75"),
        service_charge=Decimal("157.00"),
        service_charge_untaxed=Decimal("157.00"),
        final_total=Decimal("1007.75"),
        paid=Decimal("500.00"),
        remaining_due=Decimal("507.75"),
        uuid=PLAN_UUID,
    )


def listing(objects, next_link=None):
    return {"meta": {"limit": 50, "next": next_link, "offset": 0, "previous": None, "total_count": len(objects)}, "objects": objects}


def created(start):
    """Return a requests_mock callback that responds to each POST with 201 and the next id."""
    ids = itertools.count(start)

    def respond(request, context):
        context.status_code = 201
        new_id = next(ids)
        return {"id": new_id, "uuid": request.json()["uuid"]}

    return respond


def mock_revel(requests_mock, items=(), payments=(), history=()):
    """Register a Revel that creates every object and whose lists hold the given objects."""
    return {
        "order_post": requests_mock.post(ORDERS_URL, status_code=201, json={"id": ORDER_ID, "uuid": PLAN_UUID, "resource_uri": f"/resources/Order/{ORDER_ID}/"}),
        "order_get": requests_mock.get(ORDERS_URL, json=listing([])),
        "item_post": requests_mock.post(ITEMS_URL, json=created(500)),
        "item_get": requests_mock.get(ITEMS_URL, json=listing(list(items))),
        "payment_post": requests_mock.post(PAYMENTS_URL, json=created(700)),
        "payment_get": requests_mock.get(PAYMENTS_URL, json=listing(list(payments))),
        "history_post": requests_mock.post(HISTORY_URL, json=created(900)),
        "history_get": requests_mock.get(HISTORY_URL, json=listing(list(history))),
        "patch": requests_mock.patch(ORDER_URL, status_code=202, text=""),
    }


def calls(requests_mock) -> list[tuple[str, str]]:
    return [(request.method, urlsplit(request.url).path) for request in requests_mock.request_history]


def query_of(request) -> dict[str, list[str]]:
    # requests_mock's own `qs` lower-cases values, so parse the URL directly.
    return parse_qs(urlsplit(request.url).query)


# headers and lookups


def test_auth_header_exact(requests_mock):
    orders = requests_mock.get(ORDERS_URL, json=listing([]))

    make_client().find_orders_by_local_id(LOCAL_ID)

    headers = orders.last_request.headers
    assert headers["API-AUTHENTICATION"] == "rk_live_123:rs_live_456"
    assert headers["Content-Type"] == "application/json"
    assert orders.last_request.timeout == 9.0


def test_find_by_local_id_query(requests_mock):
    order = {"id": 12, "local_id": LOCAL_ID}
    orders = requests_mock.get(ORDERS_URL, json=listing([order, {"id": 13, "local_id": "Other_1"}]))

    found = make_client().find_orders_by_local_id(LOCAL_ID, establishment_id=7)

    assert found == [order]
    assert query_of(orders.last_request) == {"local_id": [LOCAL_ID], "establishment": ["7"], "limit": ["50"]}


def test_find_by_local_ids_follows_next(requests_mock):
    next_link = "/resources/Order/?local_id__in=Triple+Seat_1,Triple+Seat_2&limit=1&offset=1"
    orders = requests_mock.get(
        ORDERS_URL,
        [
            {"json": listing([{"id": 1, "local_id": "Triple Seat_1"}], next_link)},
            {"json": listing([{"id": 2, "local_id": "Triple Seat_2"}, {"id": 3, "local_id": "Triple Seat_2"}])},
        ],
    )

    found = make_client().find_orders_by_local_ids(["Triple Seat_1", "Triple Seat_2", "Triple Seat_3"], establishment_id=7)

    assert orders.call_count == 2
    assert query_of(orders.request_history[0])["local_id__in"] == ["Triple Seat_1,Triple Seat_2,Triple Seat_3"]
    assert query_of(orders.request_history[0])["establishment"] == ["7"]
    assert query_of(orders.request_history[1]) == {"local_id__in": ["Triple Seat_1,Triple Seat_2"], "limit": ["1"], "offset": ["1"]}
    assert {key: [order["id"] for order in value] for key, value in found.items()} == {"Triple Seat_1": [1], "Triple Seat_2": [2, 3]}


def test_find_by_local_ids_batches_of_50(requests_mock):
    orders = requests_mock.get(ORDERS_URL, json=listing([]))
    local_ids = [f"Triple Seat_{number}" for number in range(120)]

    found = make_client().find_orders_by_local_ids(local_ids + local_ids[:5])

    assert found == {}
    batches = [query_of(request)["local_id__in"][0].split(",") for request in orders.request_history]
    assert [len(batch) for batch in batches] == [50, 50, 20]
    assert [local_id for batch in batches for local_id in batch] == local_ids


def test_next_link_on_other_host_stays_on_revel(requests_mock):
    items = requests_mock.get(
        ITEMS_URL,
        [{"json": listing([{"id": 1}], "https://elsewhere.test/resources/OrderItem/?order=5&offset=200")}, {"json": listing([{"id": 2}])}],
    )

    result = make_client().list_order_items(5)

    assert [item["id"] for item in result] == [1, 2]
    assert items.request_history[1].url.startswith(f"{ITEMS_URL}?")


def test_list_products_pages(requests_mock):
    products = requests_mock.get(
        f"{REVEL}/resources/Product/",
        [{"json": listing([{"id": 1}], "/resources/Product/?establishment=7&limit=200&offset=200")}, {"json": listing([{"id": 2}])}],
    )

    assert [product["id"] for product in make_client().list_products(7)] == [1, 2]
    assert query_of(products.request_history[0]) == {"establishment": ["7"], "limit": ["200"]}


def test_get_order_404_not_found(requests_mock):
    requests_mock.get(ORDER_URL, status_code=404, text="")

    with pytest.raises(NotFoundError, match=f"^Revel order {ORDER_ID} not found"):
        make_client().get_order(ORDER_ID)


def test_get_retried_on_503(requests_mock):
    order = requests_mock.get(ORDER_URL, [{"status_code": 503}, {"json": {"id": ORDER_ID}}])
    sleeps: list[float] = []

    assert make_client(sleeps=sleeps).get_order(ORDER_ID) == {"id": ORDER_ID}
    assert order.call_count == 2
    assert len(sleeps) == 1


def test_get_401_raises_auth_error(requests_mock):
    requests_mock.get(ORDER_URL, status_code=401, text="")

    with pytest.raises(AuthError, match="check REVEL_API_KEY and REVEL_API_SECRET"):
        make_client().get_order(ORDER_ID)


def test_order_totals_parse_floats_and_strings():
    totals = order_totals({"subtotal": 800.0, "tax": "65.750000", "final_total": 1007.75, "remaining_due": None})

    assert totals["subtotal"] == Decimal("800.00")
    assert totals["tax"] == Decimal("65.75")
    assert totals["final_total"] == Decimal("1007.75")
    assert totals["remaining_due"] == Decimal("0.00")
    assert totals["gratuity"] == Decimal("0.00")


# write_order


def test_write_order_phases_in_order(requests_mock):
    mock_revel(requests_mock)
    created_ids = []

    order_id = make_client().write_order(make_plan(), on_order_created=created_ids.append)

    assert order_id == ORDER_ID
    assert created_ids == [ORDER_ID]
    assert calls(requests_mock) == [
        ("POST", "/resources/Order/"),
        ("GET", "/resources/OrderItem/"),
        ("POST", "/resources/OrderItem/"),
        ("POST", "/resources/OrderItem/"),
        ("GET", "/resources/Payment/"),
        ("POST", "/resources/Payment/"),
        ("GET", "/resources/OrderHistory/"),
        ("POST", "/resources/OrderHistory/"),
        ("PATCH", f"/resources/Order/{ORDER_ID}/"),
    ]


def test_write_order_order_body(requests_mock):
    mocks = mock_revel(requests_mock)

    make_client().write_order(make_plan())

    assert mocks["order_post"].last_request.json() == {
        "uuid": PLAN_UUID,
        "establishment": "/enterprise/Establishment/7/",
        "local_id": LOCAL_ID,
        "notes": "Tripleseat event 55521609 | Spring gala | 120 guests",
        "call_name": "TS 55521609 Spring gala",
        "web_order": True,
        "dining_option": 113,
        "pickup_time": "2026-05-14T18:00:00",
        "created_date": "2026-04-20T09:30:00",
        "updated_date": "2026-04-20T09:30:00",
        "created_by": "/enterprise/User/3/",
        "updated_by": "/enterprise/User/3/",
        "number_of_people": 120,
        "subtotal": "0.00",
        "tax": "0.00",
        "final_total": "0.00",
        "remaining_due": "0.00",
        "discount_amount": "0.00",
        "service_charge": "0.00",
        "gratuity": "0.00",
    }


def test_write_order_item_bodies(requests_mock):
    mocks = mock_revel(requests_mock)

    make_client().write_order(make_plan())

    first, second = [request.json() for request in mocks["item_post"].request_history]
    assert first == {
        "uuid": ITEM_UUIDS[0],
        "order": f"/resources/Order/{ORDER_ID}/",
        "product": "/resources/Product/4512/",
        "quantity": "20",
        "price": "32.50",
        "initial_price": "32.50",
        "price_to_display": "32.50",
        "product_name_override": None,
        "special_request": "No nuts at table 4",
        "section": "Dinner",
        "discount_amount": "0.00",
        "tax_amount": "54.44",
        "tax_rate": "8.375",
        "service_fee": "130.00",
        "created_date": "2026-04-20T09:30:00",
        "updated_date": "2026-04-20T09:30:00",
        "created_by": "/enterprise/User/3/",
        "updated_by": "/enterprise/User/3/",
        "dining_option": 113,
        "temp_sort": 0,
    }
    assert second["product"] == "/resources/Product/88/"
    assert second["product_name_override"] == "Late-night snack bar"
    assert second["price"] == "150.00"
    assert second["discount_amount"] == "15.00"
    assert second["tax_amount"] == "11.31"
    assert second["temp_sort"] == 1


def test_write_order_payment_body(requests_mock):
    mocks = mock_revel(requests_mock)

    make_client().write_order(make_plan())

    assert mocks["payment_post"].last_request.json() == {
        "uuid": PAYMENT_UUID,
        "order": f"/resources/Order/{ORDER_ID}/",
        "establishment": "/enterprise/Establishment/7/",
        "payment_type": 21,
        "amount": "500.00",
        "tip": "0.00",
        "payment_date": "2026-04-02T10:15:00",
        "created_date": "2026-04-20T09:30:00",
        "updated_date": "2026-04-20T09:30:00",
        "created_by": "/enterprise/User/3/",
        "transaction_id": "doc1/pay9",
        "notes": "Deposit",
    }


def test_write_order_payment_date_defaults_to_created(requests_mock):
    mocks = mock_revel(requests_mock)
    plan = make_plan()
    plan.payments[0].paid_at = None
    plan.payments[0].amount = Decimal("-25.5")

    make_client().write_order(plan)

    body = mocks["payment_post"].last_request.json()
    assert body["payment_date"] == "2026-04-20T09:30:00"
    assert body["amount"] == "-25.50"


def test_write_order_history_and_totals(requests_mock):
    mocks = mock_revel(requests_mock)

    make_client().write_order(make_plan())

    assert mocks["history_post"].last_request.json() == {
        "uuid": history_uuid(make_plan()),
        "order": f"/resources/Order/{ORDER_ID}/",
        "order_opened_by": "/enterprise/User/3/",
        "order_opened_at": None,
        "opened": "2026-04-20T09:30:00",
    }
    assert mocks["patch"].last_request.json() == {
        "subtotal": "800.00",
        "discount_amount": "15.00",
        "tax": "65.75",
        "service_charge": "157.00",
        "service_fee_taxed": "0.00",
        "service_fee_untaxed": "157.00",
        "gratuity": "0.00",
        "final_total": "1007.75",
        "remaining_due": "507.75",
        "opened": True,
        "printed": True,
        "updated_date": "2026-04-20T09:30:00",
    }


def test_history_uuid_stable_per_plan():
    assert history_uuid(make_plan()) == history_uuid(make_plan())
    assert history_uuid(make_plan()) != PLAN_UUID


def test_write_order_station_uris(requests_mock):
    mocks = mock_revel(requests_mock)

    make_client(make_settings(REVEL_STATION_ID="4")).write_order(make_plan())

    order = mocks["order_post"].last_request.json()
    assert order["station"] == "/resources/PosStation/4/"
    assert order["created_at"] == "/resources/PosStation/4/"
    assert order["last_updated_at"] == "/resources/PosStation/4/"
    assert mocks["history_post"].last_request.json()["order_opened_at"] == "/resources/PosStation/4/"
    assert mocks["item_post"].last_request.json()["station"] == "/resources/PosStation/4/"


def test_on_order_created_runs_before_items(requests_mock):
    mock_revel(requests_mock)
    seen = []

    make_client().write_order(make_plan(), on_order_created=lambda order_id: seen.append(calls(requests_mock)))

    assert seen == [[("POST", "/resources/Order/")]]


def test_order_post_timeout_then_found(requests_mock):
    mocks = mock_revel(requests_mock)
    mocks["order_post"] = requests_mock.post(ORDERS_URL, exc=requests.exceptions.ReadTimeout)
    mocks["order_get"] = requests_mock.get(ORDERS_URL, json=listing([{"id": 4242, "uuid": PLAN_UUID, "local_id": LOCAL_ID}]))
    requests_mock.patch(f"{REVEL}/resources/Order/4242/", status_code=202, text="")
    created_ids = []

    order_id = make_client().write_order(make_plan(), on_order_created=created_ids.append)

    assert order_id == 4242
    assert created_ids == [4242]
    assert mocks["order_post"].call_count == 1
    assert query_of(mocks["order_get"].last_request)["local_id"] == [LOCAL_ID]
    assert mocks["item_post"].last_request.json()["order"] == "/resources/Order/4242/"


def test_order_post_timeout_then_empty_lookup(requests_mock):
    mocks = mock_revel(requests_mock)
    mocks["order_post"] = requests_mock.post(
        ORDERS_URL, [{"exc": requests.exceptions.ConnectTimeout}, {"status_code": 201, "json": {"id": ORDER_ID}}]
    )

    order_id = make_client().write_order(make_plan())

    assert order_id == ORDER_ID
    assert mocks["order_post"].call_count == 2
    assert calls(requests_mock)[:4] == [
        ("POST", "/resources/Order/"),
        ("GET", "/resources/Order/"),
        ("GET", "/resources/Order/"),
        ("POST", "/resources/Order/"),
    ]
    lookups = [query_of(request) for request in mocks["order_get"].request_history]
    assert lookups[0]["local_id"] == [LOCAL_ID]
    assert lookups[1]["uuid"] == [PLAN_UUID]


def test_order_post_5xx_twice_raises(requests_mock):
    mocks = mock_revel(requests_mock)
    mocks["order_post"] = requests_mock.post(ORDERS_URL, status_code=502)
    created_ids = []

    with pytest.raises(TransientError, match=f"Revel Order POST for {LOCAL_ID} failed twice"):
        make_client().write_order(make_plan(), on_order_created=created_ids.append)

    assert mocks["order_post"].call_count == 2
    assert created_ids == []
    assert mocks["item_post"].call_count == 0


def test_item_post_5xx_then_found_not_reposted(requests_mock):
    mocks = mock_revel(requests_mock)

    def list_items(request, context):
        query = query_of(request)
        if query.get("uuid") == [ITEM_UUIDS[0]]:
            return listing([{"id": 501, "uuid": ITEM_UUIDS[0]}])
        return listing([])

    mocks["item_get"] = requests_mock.get(ITEMS_URL, json=list_items)
    mocks["item_post"] = requests_mock.post(ITEMS_URL, [{"status_code": 500, "text": "boom"}, {"status_code": 201, "json": {"id": 502}}])

    make_client().write_order(make_plan())

    posted = [request.json()["uuid"] for request in mocks["item_post"].request_history]
    assert posted == ITEM_UUIDS
    lookup = query_of(mocks["item_get"].request_history[1])
    assert lookup["uuid"] == [ITEM_UUIDS[0]]
    assert lookup["order"] == [str(ORDER_ID)]


def test_existing_order_creates_missing_items_only(requests_mock):
    mocks = mock_revel(
        requests_mock,
        items=[{"id": 501, "uuid": ITEM_UUIDS[0].upper()}],
        payments=[{"id": 701, "uuid": PAYMENT_UUID}],
    )
    created_ids = []

    order_id = make_client().write_order(make_plan(), existing={"id": ORDER_ID, "local_id": LOCAL_ID}, on_order_created=created_ids.append)

    assert order_id == ORDER_ID
    assert created_ids == []
    assert mocks["order_post"].call_count == 0
    assert [request.json()["uuid"] for request in mocks["item_post"].request_history] == [ITEM_UUIDS[1]]
    assert mocks["payment_post"].call_count == 0
    assert mocks["patch"].call_count == 1


def test_existing_order_with_history_skips_history(requests_mock):
    mocks = mock_revel(requests_mock, history=[{"id": 901}])

    make_client().write_order(make_plan(), existing={"resource_uri": f"/resources/Order/{ORDER_ID}/"})

    assert mocks["history_post"].call_count == 0
    assert mocks["patch"].call_count == 1


def test_item_400_raises_with_message(requests_mock):
    mocks = mock_revel(requests_mock)
    mocks["item_post"] = requests_mock.post(ITEMS_URL, status_code=400, json={"error": "Product 4512 not found"})

    with pytest.raises(ApiError) as raised:
        make_client().write_order(make_plan())

    assert type(raised.value) is ApiError
    assert str(raised.value) == (
        f"Revel rejected OrderItem for {LOCAL_ID} (line doc1/li1, product 4512): Product 4512 not found (check the mapping file)"
    )
    assert raised.value.status == 400
    assert mocks["item_post"].call_count == 1
    assert mocks["patch"].call_count == 0


def test_order_post_429_waits_and_retries(requests_mock):
    mocks = mock_revel(requests_mock)
    mocks["order_post"] = requests_mock.post(
        ORDERS_URL, [{"status_code": 429, "headers": {"Retry-After": "1"}}, {"status_code": 201, "json": {"id": ORDER_ID}}]
    )
    sleeps: list[float] = []

    make_client(sleeps=sleeps).write_order(make_plan())

    assert mocks["order_post"].call_count == 2
    assert sleeps == [1.0]
    assert mocks["order_get"].call_count == 0


def test_order_post_429_forever_raises(requests_mock):
    mocks = mock_revel(requests_mock)
    mocks["order_post"] = requests_mock.post(ORDERS_URL, status_code=429)
    sleeps: list[float] = []

    with pytest.raises(TransientError, match="last: HTTP 429"):
        make_client(sleeps=sleeps).write_order(make_plan())

    assert mocks["order_post"].call_count == 5
    assert len(sleeps) == 4
    assert mocks["order_get"].call_count == 0


def test_item_post_timeout_retried_only_after_lookup(requests_mock):
    mocks = mock_revel(requests_mock)
    mocks["item_post"] = requests_mock.post(
        ITEMS_URL, [{"exc": requests.exceptions.ReadTimeout}, {"status_code": 201, "json": {"id": 501}}, {"status_code": 201, "json": {"id": 502}}]
    )

    make_client().write_order(make_plan())

    assert mocks["item_post"].call_count == 3
    assert [request.method for request in requests_mock.request_history[1:5]] == ["GET", "POST", "GET", "POST"]


def test_created_id_from_location_header(requests_mock):
    mocks = mock_revel(requests_mock)
    mocks["order_post"] = requests_mock.post(ORDERS_URL, status_code=201, text="", headers={"Location": f"{REVEL}/resources/Order/777/"})
    requests_mock.patch(f"{REVEL}/resources/Order/777/", status_code=202, text="")

    assert make_client().write_order(make_plan()) == 777


def test_patch_timeout_then_totals_match(requests_mock):
    mocks = mock_revel(requests_mock)
    mocks["patch"] = requests_mock.patch(ORDER_URL, exc=requests.exceptions.ReadTimeout)
    stored = {"id": ORDER_ID, "subtotal": 800.0, "discount_amount": "15.000000", "tax": 65.75, "service_charge": 157.0,
              "service_fee_taxed": 0.0, "service_fee_untaxed": "157.000000", "gratuity": 0, "final_total": 1007.75,
              "remaining_due": "507.750000", "printed": True}
    order = requests_mock.get(ORDER_URL, json=stored)

    assert make_client().write_order(make_plan()) == ORDER_ID
    assert mocks["patch"].call_count == 1
    assert order.call_count == 1


def test_patch_timeout_then_totals_differ(requests_mock):
    mocks = mock_revel(requests_mock)
    mocks["patch"] = requests_mock.patch(ORDER_URL, [{"exc": requests.exceptions.ReadTimeout}, {"status_code": 200, "json": {"id": ORDER_ID}}])
    requests_mock.get(ORDER_URL, json={"id": ORDER_ID, "subtotal": 0.0, "final_total": 0.0, "printed": False})

    make_client().write_order(make_plan())

    assert mocks["patch"].call_count == 2


def test_write_order_rejects_plan_without_uuids(requests_mock):
    plan = make_plan()
    plan.items[1].uuid = ""

    with pytest.raises(ValueError, match="line doc1/li2 has no uuid"):
        make_client().write_order(plan)

    assert requests_mock.call_count == 0


def test_write_order_never_logs_credentials(requests_mock, caplog):
    mocks = mock_revel(requests_mock)
    mocks["item_post"] = requests_mock.post(ITEMS_URL, [{"status_code": 503}, {"status_code": 201, "json": {"id": 501}}, {"status_code": 201, "json": {"id": 502}}])

    with caplog.at_level(logging.DEBUG):
        make_client().write_order(make_plan())

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "looking it up before posting again" in text
    assert "rk_live_123" not in text
    assert "rs_live_456" not in text
