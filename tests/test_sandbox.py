"""Tests of the sandbox: real loopback servers, real files, requests over real sockets."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from tsync.config import settings_from_values
from tsync.errors import InputError
from tsync.money import to_cents, to_decimal
from tsync.sandbox import SANDBOX_WEBHOOK_SECRET, Sandbox, load_events_file

NOW = datetime(2026, 6, 10, 15, 0, tzinfo=timezone.utc)
REVEL_AUTH = {"API-AUTHENTICATION": "sandbox-key:sandbox-secret"}
CONFIGURED_LOCATIONS = {30112: "America/New_York", 30113: "America/Chicago", 30114: "America/Los_Angeles"}
ZONES = {**CONFIGURED_LOCATIONS, 30199: "America/Chicago"}
TOKEN_FORM = {"grant_type": "client_credentials", "client_id": "sandbox-client", "client_secret": "sandbox-secret"}
ESTABLISHMENT_7 = "/enterprise/Establishment/7/"


@pytest.fixture
def sandbox(tmp_path):
    with Sandbox(tmp_path / "sandbox", now=NOW) as started:
        yield started


def bearer(sandbox) -> dict:
    response = requests.post(f"{sandbox.tripleseat_url}/oauth2/token", data=TOKEN_FORM, timeout=5)
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def tripleseat_get(sandbox, path, headers=None, **params):
    return requests.get(f"{sandbox.tripleseat_url}{path}", params=params, headers=headers or bearer(sandbox), timeout=5)


def revel_get(sandbox, path, **params):
    return requests.get(f"{sandbox.revel_url}{path}", params=params, headers=REVEL_AUTH, timeout=5)


def revel_post(sandbox, path, body, **kwargs):
    return requests.post(f"{sandbox.revel_url}{path}", json=body, headers=REVEL_AUTH, timeout=kwargs.pop("timeout", 5), **kwargs)


def create_order(sandbox, local_id, **fields) -> dict:
    response = revel_post(sandbox, "/resources/Order/", {"establishment": ESTABLISHMENT_7, "local_id": local_id, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def simple_event(event_id, updated_at, *, status="DEFINITE", location_id=30112) -> dict:
    return {"id": event_id, "name": f"Event {event_id}", "status": status, "location_id": location_id, "updated_at": updated_at, "documents": []}


def search(sandbox, headers, **params):
    return requests.get(f"{sandbox.tripleseat_url}/v1/events/search.json", params=params, headers=headers, timeout=5)


# ---------------------------------------------------------------------------
# Tripleseat: tokens and authentication


def test_token_form_and_json_bodies(sandbox):
    form = requests.post(f"{sandbox.tripleseat_url}/oauth2/token", data=TOKEN_FORM, timeout=5)
    as_json = requests.post(f"{sandbox.tripleseat_url}/oauth/token", json=TOKEN_FORM, timeout=5)

    for response in (form, as_json):
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 7200
        assert isinstance(body["created_at"], int)
        assert len(body["access_token"]) >= 32
    assert form.json()["access_token"] != as_json.json()["access_token"]


def test_token_wrong_credentials_rejected(sandbox):
    wrong = requests.post(f"{sandbox.tripleseat_url}/oauth2/token", data={**TOKEN_FORM, "client_secret": "nope"}, timeout=5)
    missing = requests.post(f"{sandbox.tripleseat_url}/oauth2/token", data={"grant_type": "client_credentials"}, timeout=5)
    wrong_grant = requests.post(f"{sandbox.tripleseat_url}/oauth2/token", data={**TOKEN_FORM, "grant_type": "password"}, timeout=5)

    assert wrong.status_code == 401
    assert wrong.json() == {"error": "invalid_client"}
    assert missing.status_code == 401
    assert wrong_grant.status_code == 400
    assert wrong_grant.json() == {"error": "unsupported_grant_type"}


def test_v1_requires_valid_bearer_token(sandbox):
    no_header = tripleseat_get(sandbox, "/v1/events/55500101.json", headers={"Accept": "application/json"})
    bad_token = tripleseat_get(sandbox, "/v1/events/55500101.json", headers={"Authorization": "Bearer not-a-token"})
    good = bearer(sandbox)
    accepted = tripleseat_get(sandbox, "/v1/events/55500101.json", headers=good)

    assert no_header.status_code == 401
    assert no_header.json() == {"error": "Token resource owner not found"}
    assert bad_token.status_code == 401
    assert accepted.status_code == 200


def test_revoked_tokens_get_401(sandbox):
    headers = bearer(sandbox)
    assert tripleseat_get(sandbox, "/v1/events/55500101.json", headers=headers).status_code == 200

    sandbox.revoke_tripleseat_tokens()

    revoked = tripleseat_get(sandbox, "/v1/events/55500101.json", headers=headers)
    assert revoked.status_code == 401
    assert revoked.json() == {"error": "Token resource owner not found"}
    assert tripleseat_get(sandbox, "/v1/events/55500101.json").status_code == 200


# ---------------------------------------------------------------------------
# Tripleseat: events and bookings


def test_event_envelope_strips_financials(sandbox):
    headers = bearer(sandbox)
    plain = tripleseat_get(sandbox, "/v1/events/55500101.json", headers=headers).json()
    financial = tripleseat_get(sandbox, "/v1/events/55500101.json", headers=headers, show_financial="true").json()

    assert set(plain) == {"event"}
    document = plain["event"]["documents"][0]
    assert document["id"] == 3300101
    assert document["title"] == "BEO / Invoice"
    for field in ("line_items", "billing_totals", "category_totals", "financials", "payment_set"):
        assert field not in document
    assert plain["event"]["grand_total"] == "4033.06"

    full = financial["event"]["documents"][0]
    assert len(full["line_items"]) == 6
    assert full["financials"]["grand_total"] == "4033.06"
    assert full["payment_set"]["payments"][0]["state"] == "paid"


def test_event_path_without_json_suffix(sandbox):
    response = tripleseat_get(sandbox, "/v1/events/55500101", show_financial="true")

    assert response.status_code == 200
    assert response.json()["event"]["id"] == 55500101
    assert "line_items" in response.json()["event"]["documents"][0]


def test_event_not_found_shape(sandbox):
    headers = bearer(sandbox)
    missing = tripleseat_get(sandbox, "/v1/events/99999999.json", headers=headers)
    unknown_route = tripleseat_get(sandbox, "/v1/nothing.json", headers=headers)

    assert missing.status_code == 404
    assert missing.json() == {"error": "Event not found"}
    assert unknown_route.status_code == 404


def test_booking_level_document_on_single_event_booking(sandbox):
    headers = bearer(sandbox)
    event = tripleseat_get(sandbox, "/v1/events/55500105.json", headers=headers, show_financial="true").json()["event"]
    booking = tripleseat_get(sandbox, f"/v1/bookings/{event['booking_id']}.json", headers=headers, show_financial="true").json()["booking"]
    plain = tripleseat_get(sandbox, f"/v1/bookings/{event['booking_id']}.json", headers=headers).json()["booking"]

    assert event["documents"] == []
    assert event["booking"]["event_ids"] == [55500105]
    assert booking["id"] == 45500105
    assert booking["event_ids"] == [55500105]
    assert len(booking["documents"]) == 1
    assert len(booking["documents"][0]["line_items"]) == 4
    assert event["booking"]["documents"] == booking["documents"]
    assert "line_items" not in plain["documents"][0]


def test_booking_shared_by_two_events(sandbox):
    headers = bearer(sandbox)
    booking = tripleseat_get(sandbox, "/v1/bookings/45500106.json", headers=headers, show_financial="true").json()["booking"]
    missing = tripleseat_get(sandbox, "/v1/bookings/1.json", headers=headers)

    assert booking["event_ids"] == [55500106, 55500107]
    assert len(booking["documents"]) == 1
    assert missing.status_code == 404
    assert missing.json() == {"error": "Booking not found"}


def test_put_event_replaces_served_event(sandbox):
    event = sandbox.tripleseat_events()[55500112]
    event["status"] = "DEFINITE"

    sandbox.put_event({"event": event})

    served = tripleseat_get(sandbox, "/v1/events/55500112.json").json()["event"]
    assert served["status"] == "DEFINITE"
    assert sandbox.tripleseat_events()[55500112]["status"] == "DEFINITE"


# ---------------------------------------------------------------------------
# Tripleseat: search


def test_search_pages_of_fifty(tmp_path):
    events = [simple_event(70000000 + number, "06/09/2026 10:15 AM") for number in range(120)]
    with Sandbox(tmp_path, events=events, now=NOW) as sandbox:
        headers = bearer(sandbox)
        pages = [
            search(sandbox, headers, event_updated_start_date="06/09/2026", event_updated_end_date="06/09/2026", page=page).json()
            for page in (1, 2, 3, 4)
        ]
        default_page = search(sandbox, headers, event_updated_start_date="06/09/2026", event_updated_end_date="06/09/2026").json()

    assert [page["total_pages"] for page in pages] == [3, 3, 3, 3]
    assert [len(page["results"]) for page in pages] == [50, 50, 20, 0]
    seen = [event["id"] for page in pages for event in page["results"]]
    assert sorted(seen) == [event["id"] for event in events]
    assert default_page["results"] == pages[0]["results"]


def test_search_day_granular_and_inclusive(tmp_path):
    events = [
        simple_event(1, "06/08/2026 11:59 PM"),
        simple_event(2, "06/09/2026 12:00 AM"),
        simple_event(3, "06/10/2026 11:59 PM"),
        simple_event(4, "06/11/2026 12:01 AM"),
    ]
    with Sandbox(tmp_path, events=events, now=NOW) as sandbox:
        headers = bearer(sandbox)
        two_days = search(sandbox, headers, event_updated_start_date="06/09/2026", event_updated_end_date="06/10/2026").json()
        one_day = search(sandbox, headers, event_updated_start_date="6/8/2026", event_updated_end_date="6/8/2026").json()

    assert [event["id"] for event in two_days["results"]] == [2, 3]
    assert [event["id"] for event in one_day["results"]] == [1]


def test_search_requires_date_pair(sandbox):
    headers = bearer(sandbox)
    start_only = search(sandbox, headers, event_updated_start_date="06/09/2026")
    end_only = search(sandbox, headers, event_updated_end_date="06/09/2026")
    iso_dates = search(sandbox, headers, event_updated_start_date="2026-06-09", event_updated_end_date="2026-06-10")

    assert start_only.status_code == 400
    assert "event_updated_end_date" in start_only.json()["errors"]
    assert end_only.status_code == 400
    assert "event_updated_start_date" in end_only.json()["errors"]
    assert iso_dates.status_code == 400
    assert set(iso_dates.json()["errors"]) == {"event_updated_start_date", "event_updated_end_date"}


def test_search_status_location_and_unknown_filters(sandbox):
    headers = bearer(sandbox)
    window = {"event_updated_start_date": "06/01/2026", "event_updated_end_date": "06/10/2026"}
    eligible = search(sandbox, headers, **window, status="definite,Closed").json()["results"]
    harborview = search(sandbox, headers, **window, location_ids="30112").json()["results"]
    ignored = search(sandbox, headers, **window, updated_after="2026-06-10T00:00:00Z").json()["results"]
    everything = search(sandbox, headers, **window).json()["results"]

    assert eligible
    assert {event["status"] for event in eligible} == {"DEFINITE", "CLOSED"}
    assert {event["location_id"] for event in harborview} == {30112}
    assert len(ignored) == len(everything) == 21


def test_search_results_carry_no_financials(sandbox):
    headers = bearer(sandbox)
    results = search(
        sandbox, headers, event_updated_start_date="06/01/2026", event_updated_end_date="06/10/2026", show_financial="true"
    ).json()["results"]

    documents = [document for event in results for document in event["documents"]]
    assert documents
    assert all("line_items" not in document and "payment_set" not in document for document in documents)


def test_search_orders_by_updated_at(sandbox):
    headers = bearer(sandbox)
    window = {"event_updated_start_date": "06/01/2026", "event_updated_end_date": "06/10/2026", "order": "updated_at"}
    ascending = search(sandbox, headers, **window, sort_direction="asc").json()["results"]
    descending = search(sandbox, headers, **window, sort_direction="desc").json()["results"]

    assert ascending[0]["id"] == 55500121  # updated 140 hours before NOW
    assert ascending[-1]["id"] == 55500101  # updated 2 hours before NOW
    assert [event["id"] for event in descending] == [event["id"] for event in reversed(ascending)]


# ---------------------------------------------------------------------------
# Revel: authentication, lookups and paging


def test_revel_requires_api_authentication(sandbox):
    missing = requests.get(f"{sandbox.revel_url}/resources/Order/", timeout=5)
    wrong = requests.get(f"{sandbox.revel_url}/resources/Order/", headers={"API-AUTHENTICATION": "sandbox-key:wrong"}, timeout=5)

    assert missing.status_code == 401
    assert "error" in missing.json()
    assert wrong.status_code == 401


def test_revel_local_id_filter(sandbox):
    first = create_order(sandbox, "Triple Seat_55500101")
    create_order(sandbox, "Triple Seat_55500102")
    create_order(sandbox, "Triple Seat_55500101", establishment="/enterprise/Establishment/8/")

    found = revel_get(sandbox, "/resources/Order/", local_id="Triple Seat_55500101", establishment="7").json()
    none = revel_get(sandbox, "/resources/Order/", local_id="Triple Seat_1").json()

    assert found["meta"]["total_count"] == 1
    assert [order["id"] for order in found["objects"]] == [first["id"]]
    assert none["objects"] == []
    assert none["meta"]["next"] is None


def test_revel_local_id_in_follows_next(sandbox):
    for number in range(25):
        create_order(sandbox, f"Triple Seat_{number}")
    wanted = [f"Triple Seat_{number}" for number in range(0, 24, 2)]  # 12 of the 25

    pages = []
    response = revel_get(sandbox, "/resources/Order/", local_id__in=",".join(wanted), limit=5)
    while True:
        body = response.json()
        pages.append(body)
        if body["meta"]["next"] is None:
            break
        response = requests.get(f"{sandbox.revel_url}{body['meta']['next']}", headers=REVEL_AUTH, timeout=5)

    assert [len(page["objects"]) for page in pages] == [5, 5, 2]
    assert all(page["meta"]["total_count"] == 12 for page in pages)
    assert pages[0]["meta"]["next"].startswith("/resources/Order/?")
    assert pages[0]["meta"]["previous"] is None
    assert pages[1]["meta"]["offset"] == 5
    assert pages[1]["meta"]["previous"] is not None
    assert sorted(order["local_id"] for page in pages for order in page["objects"]) == sorted(wanted)


def test_revel_limit_default_and_zero(sandbox):
    for number in range(23):
        create_order(sandbox, f"L{number}")

    default = revel_get(sandbox, "/resources/Order/").json()
    everything = revel_get(sandbox, "/resources/Order/", limit=0).json()
    newest_first = revel_get(sandbox, "/resources/Order/", order_by="-id", limit=2).json()
    bad_limit = revel_get(sandbox, "/resources/Order/", limit=-1)

    assert default["meta"]["limit"] == 20
    assert len(default["objects"]) == 20
    assert default["meta"]["next"] is not None
    assert len(everything["objects"]) == 23
    assert everything["meta"]["next"] is None
    assert newest_first["objects"][0]["id"] > newest_first["objects"][1]["id"]
    assert bad_limit.status_code == 400


def test_revel_duplicate_local_id_accepted(sandbox):
    first = create_order(sandbox, "Triple Seat_55500101")
    second = create_order(sandbox, "Triple Seat_55500101")

    found = revel_get(sandbox, "/resources/Order/", local_id="Triple Seat_55500101").json()
    assert first["id"] != second["id"]
    assert found["meta"]["total_count"] == 2


# ---------------------------------------------------------------------------
# Revel: writes


def test_revel_post_with_id_rejected(sandbox):
    with_id = revel_post(sandbox, "/resources/Order/", {"id": 5, "establishment": ESTABLISHMENT_7})
    with_uri = revel_post(sandbox, "/resources/Order/", {"resource_uri": "/resources/Order/5/", "establishment": ESTABLISHMENT_7})

    assert with_id.status_code == 400
    assert "id" in with_id.json()["error"]
    assert with_uri.status_code == 400
    assert "resource_uri" in with_uri.json()["error"]
    assert sandbox.revel_orders() == []


def test_revel_foreign_keys_must_be_uris(sandbox):
    plain_establishment = revel_post(sandbox, "/resources/Order/", {"establishment": 7})
    unknown_establishment = revel_post(sandbox, "/resources/Order/", {"establishment": "/enterprise/Establishment/12/"})
    order = create_order(sandbox, "X1")
    plain_product = revel_post(sandbox, "/resources/OrderItem/", {"order": order["resource_uri"], "product": 4512})
    unknown_order = revel_post(sandbox, "/resources/OrderItem/", {"order": "/resources/Order/1/", "product": "/resources/Product/4512/"})
    plain_user = revel_post(sandbox, "/resources/Payment/", {"order": order["resource_uri"], "created_by": 1, "amount": "1.00"})

    assert plain_establishment.status_code == 400
    assert "establishment" in plain_establishment.json()["error"]
    assert unknown_establishment.status_code == 400
    assert plain_product.status_code == 400
    assert "product" in plain_product.json()["error"]
    assert unknown_order.status_code == 400
    assert "Order 1 not found" in unknown_order.json()["error"]
    assert plain_user.status_code == 400
    assert "created_by" in plain_user.json()["error"]


def test_revel_unknown_or_inactive_product_rejected(sandbox):
    order = create_order(sandbox, "X2")
    unknown = revel_post(sandbox, "/resources/OrderItem/", {"order": order["resource_uri"], "product": "/resources/Product/4599/"})
    inactive = revel_post(sandbox, "/resources/OrderItem/", {"order": order["resource_uri"], "product": "/resources/Product/4590/"})

    assert unknown.status_code == 400
    assert unknown.json() == {"error": "Product 4599 not found"}
    assert inactive.status_code == 400
    assert "4590" in inactive.json()["error"]
    assert sandbox.revel_orders()[0]["items"] == []


def test_revel_invalid_money_rejected(sandbox):
    response = revel_post(sandbox, "/resources/Order/", {"establishment": ESTABLISHMENT_7, "final_total": "ten"})

    assert response.status_code == 400
    assert "final_total" in response.json()["error"]


def test_revel_money_output_formats(sandbox):
    order = create_order(sandbox, "M1", final_total="4033.06", subtotal="3278.00")
    item = revel_post(
        sandbox,
        "/resources/OrderItem/",
        {"order": order["resource_uri"], "product": "/resources/Product/4512/", "quantity": "40", "price": "6.00", "uuid": "item-1"},
    ).json()
    payment = revel_post(sandbox, "/resources/Payment/", {"order": order["resource_uri"], "amount": "1000.00", "uuid": "pay-1"}).json()
    stored = sandbox.revel_orders()[0]

    assert order["final_total"] == 4033.06
    assert isinstance(order["subtotal"], float)
    assert item["price"] == "6.000000"
    assert item["quantity"] == "40"
    assert payment["amount"] == "1000.000000"
    assert stored["final_total"] == "4033.06"
    assert stored["items"][0]["price"] == "6.00"
    assert stored["payments"][0]["amount"] == "1000.00"


def test_revel_patch_order_and_detail(sandbox):
    order = create_order(sandbox, "P1", final_total="0.00")
    patched = requests.patch(
        f"{sandbox.revel_url}/resources/Order/{order['id']}/",
        json={"final_total": "120.50", "printed": True},
        headers=REVEL_AUTH,
        timeout=5,
    )
    history = revel_post(sandbox, "/resources/OrderHistory/", {"order": order["resource_uri"], "opened": "2026-06-10T09:00:00"}).json()
    detail = revel_get(sandbox, f"/resources/Order/{order['id']}/").json()
    missing = revel_get(sandbox, "/resources/Order/1/")

    assert patched.status_code == 202
    assert detail["final_total"] == 120.5
    assert detail["printed"] is True
    assert detail["local_id"] == "P1"
    assert detail["orderhistory"] == [history["resource_uri"]]
    assert missing.status_code == 404


def test_revel_child_filters(sandbox):
    first = create_order(sandbox, "C1")
    second = create_order(sandbox, "C2")
    for order, uuid in ((first, "a"), (first, "b"), (second, "c")):
        body = {"order": order["resource_uri"], "product": "/resources/Product/4512/", "uuid": uuid, "price": "6.00"}
        assert revel_post(sandbox, "/resources/OrderItem/", body).status_code == 201

    by_id = revel_get(sandbox, "/resources/OrderItem/", order=first["id"]).json()
    by_uri = revel_get(sandbox, "/resources/OrderItem/", order=first["resource_uri"]).json()
    by_in = revel_get(sandbox, "/resources/OrderItem/", order__in=f"{first['id']},{second['id']}").json()
    by_uuid = revel_get(sandbox, "/resources/OrderItem/", uuid="c").json()

    assert [item["uuid"] for item in by_id["objects"]] == ["a", "b"]
    assert by_uri["objects"] == by_id["objects"]
    assert by_in["meta"]["total_count"] == 3
    assert [item["order"] for item in by_uuid["objects"]] == [second["resource_uri"]]


def test_revel_product_filters(sandbox):
    active = revel_get(sandbox, "/resources/Product/", establishment=8, active="true", limit=0).json()["objects"]
    inactive = revel_get(sandbox, "/resources/Product/", establishment=7, active="false").json()["objects"]
    elsewhere = revel_get(sandbox, "/resources/Product/", establishment=99).json()["objects"]

    assert len(active) > 30
    assert all(product["active"] for product in active)
    assert [product["id"] for product in inactive] == [4590]
    assert elsewhere == []
    assert {"id", "name", "price", "barcode", "active", "establishment", "category"} <= set(active[0])


# ---------------------------------------------------------------------------
# Files: persistence, mapping, reset


def test_revel_orders_persist_across_instances(tmp_path):
    folder = tmp_path / "shared"
    with Sandbox(folder, now=NOW) as first:
        order = create_order(first, "Triple Seat_55500101")
        revel_post(first, "/resources/OrderItem/", {"order": order["resource_uri"], "product": "/resources/Product/4512/"})

    saved = json.loads((folder / "revel.json").read_text(encoding="utf-8"))
    assert [entry["local_id"] for entry in saved["objects"]["Order"]] == ["Triple Seat_55500101"]
    assert list(folder.glob("*.tmp")) == []

    with Sandbox(folder, now=NOW) as second:
        found = revel_get(second, "/resources/Order/", local_id="Triple Seat_55500101").json()["objects"]
        later = create_order(second, "Triple Seat_55500102")
        orders = second.revel_orders()

    assert [entry["id"] for entry in found] == [order["id"]]
    assert later["id"] > order["id"]
    assert len(orders[0]["items"]) == 1
    assert [entry["local_id"] for entry in orders] == ["Triple Seat_55500101", "Triple Seat_55500102"]


def test_mapping_file_kept_when_present(tmp_path):
    folder = tmp_path / "sandbox"
    with Sandbox(folder, now=NOW):
        pass
    mapping = folder / "mapping.csv"
    mapping.write_text(mapping.read_text(encoding="utf-8") + "fallback,,4999,\n", encoding="utf-8")

    with Sandbox(folder, now=NOW):
        pass

    assert mapping.read_text(encoding="utf-8").endswith("fallback,,4999,\n")


def test_reset_removes_sandbox_files(tmp_path):
    folder = tmp_path / "sandbox"
    with Sandbox(folder, now=NOW) as sandbox:
        create_order(sandbox, "R1")
    (folder / "tsync.db").write_text("ledger", encoding="utf-8")
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")

    Sandbox.reset(folder)

    assert sorted(path.name for path in folder.iterdir()) == [".tsync-sandbox", "notes.txt"]
    with Sandbox(folder, now=NOW) as fresh:
        assert fresh.revel_orders() == []


def test_reset_refuses_other_folders(tmp_path):
    (tmp_path / "tsync.db").write_text("a real ledger", encoding="utf-8")
    (tmp_path / "mapping.csv").write_text("kind,key,revel_product_id\n", encoding="utf-8")

    with pytest.raises(InputError, match="not a sandbox folder"):
        Sandbox.reset(tmp_path)

    assert (tmp_path / "tsync.db").exists()
    assert (tmp_path / "mapping.csv").exists()


def test_start_refuses_folder_with_ledger(tmp_path):
    (tmp_path / "tsync.db").write_text("a real ledger", encoding="utf-8")

    with pytest.raises(InputError, match="not a sandbox folder"):
        Sandbox(tmp_path, now=NOW).start()


def test_second_sandbox_on_folder_refused(tmp_path):
    with Sandbox(tmp_path / "sandbox", now=NOW):
        with pytest.raises(InputError, match="in use by another tsync process"):
            Sandbox(tmp_path / "sandbox", now=NOW).start()
        with pytest.raises(InputError, match="in use by another tsync process"):
            Sandbox.reset(tmp_path / "sandbox")


def test_corrupt_revel_file_raises_input_error(tmp_path):
    (tmp_path / ".tsync-sandbox").write_text("", encoding="utf-8")
    (tmp_path / "revel.json").write_text("{not json", encoding="utf-8")

    with pytest.raises(InputError, match="revel.json is not valid JSON"):
        Sandbox(tmp_path, now=NOW).start()


# ---------------------------------------------------------------------------
# Settings


def test_settings_values_load_into_settings(sandbox):
    values = sandbox.settings_values()
    settings = settings_from_values(values)

    assert values["TRIPLESEAT_API_URL"] == sandbox.tripleseat_url
    assert values["REVEL_API_URL"].startswith("http://127.0.0.1:")
    assert values["TRIPLESEAT_WEBHOOK_SECRET"] == SANDBOX_WEBHOOK_SECRET
    assert settings.tripleseat_client_id == "sandbox-client"
    assert settings.revel_payment_type == 7
    assert settings.revel_dining_option == 3
    assert settings.http_timeout == 10
    assert sorted(settings.venues) == [30112, 30113, 30114]
    assert settings.venues[30113].establishment_id == 8
    assert str(settings.venues[30114].timezone) == "America/Los_Angeles"
    assert settings.mapping_path == sandbox.folder / "mapping.csv"
    assert settings.db_path == sandbox.folder / "tsync.db"


def test_replayed_unknown_location_goes_to_establishment_7(tmp_path):
    events = [simple_event(1, "06/09/2026 10:00 AM", location_id=41000), {"event": simple_event(2, "06/09/2026 10:00 AM")}]
    with Sandbox(tmp_path, events=events, now=NOW) as sandbox:
        locations = json.loads(sandbox.settings_values()["TSYNC_LOCATIONS"])
        served = sorted(sandbox.tripleseat_events())

    assert locations["41000"] == {"establishment_id": 7, "timezone": "America/New_York", "name": "Location 41000"}
    assert locations["30112"]["establishment_id"] == 7
    assert served == [1, 2]


def test_settings_values_before_start_raise(tmp_path):
    with pytest.raises(RuntimeError, match="not started"):
        Sandbox(tmp_path, now=NOW).settings_values()


def test_naive_now_rejected(tmp_path):
    with pytest.raises(ValueError, match="aware"):
        Sandbox(tmp_path, now=datetime(2026, 6, 10, 15, 0))


# ---------------------------------------------------------------------------
# Faults


def test_fault_latency_then_normal(sandbox):
    sandbox.faults.add(api="revel", method="GET", path="/resources/Product/", kind="latency", delay=0.3)

    started = time.monotonic()
    response = revel_get(sandbox, "/resources/Product/")
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed >= 0.3
    assert sandbox.faults.pending() == []


def test_fault_status_with_retry_after(sandbox):
    sandbox.faults.add(api="revel", method="POST", path="/resources/Order/", kind="status", status=429, retry_after=2)

    throttled = revel_post(sandbox, "/resources/Order/", {"establishment": ESTABLISHMENT_7, "local_id": "F1"})
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert throttled.json() == {"error": "Too Many Requests"}
    assert sandbox.revel_orders() == []

    accepted = revel_post(sandbox, "/resources/Order/", {"establishment": ESTABLISHMENT_7, "local_id": "F1"})
    assert accepted.status_code == 201


def test_fault_status_custom_body_and_times(sandbox):
    sandbox.faults.add(api="tripleseat", method="GET", path="/v1/events/", kind="status", status=503, body={"error": "maintenance"}, times=2)
    headers = bearer(sandbox)

    statuses = [tripleseat_get(sandbox, "/v1/events/55500101.json", headers=headers) for _ in range(3)]

    assert [response.status_code for response in statuses] == [503, 503, 200]
    assert statuses[0].json() == {"error": "maintenance"}


def test_fault_html_pages(sandbox):
    sandbox.faults.add(api="tripleseat", method="POST", path="/oauth/token", kind="html")
    sandbox.faults.add(api="revel", path="/resources/", kind="html", status=403)

    login = requests.post(f"{sandbox.tripleseat_url}/oauth/token", json=TOKEN_FORM, timeout=5)
    forbidden = revel_get(sandbox, "/resources/Order/")

    assert login.status_code == 200
    assert login.headers["Content-Type"].startswith("text/html")
    assert login.text.lstrip().startswith("<")
    assert "password" in login.text
    assert forbidden.status_code == 403
    assert forbidden.headers["Content-Type"].startswith("text/html")


def test_fault_drop_after_creates_order(sandbox):
    sandbox.faults.add(api="revel", method="POST", path="/resources/Order/", kind="drop_after")

    with pytest.raises(requests.exceptions.ConnectionError):
        revel_post(sandbox, "/resources/Order/", {"establishment": ESTABLISHMENT_7, "local_id": "Triple Seat_55500101"})

    orders = sandbox.revel_orders()
    assert [order["local_id"] for order in orders] == ["Triple Seat_55500101"]


def test_fault_delay_after_read_timeout(sandbox):
    sandbox.faults.add(api="revel", method="POST", path="/resources/Order/", kind="delay_after", delay=3)

    with pytest.raises(requests.exceptions.ReadTimeout):
        revel_post(sandbox, "/resources/Order/", {"establishment": ESTABLISHMENT_7, "local_id": "D1"}, timeout=0.3)

    assert [order["local_id"] for order in sandbox.revel_orders()] == ["D1"]


def test_fault_matches_api_method_and_prefix(sandbox):
    sandbox.faults.add(api="revel", method="POST", path="/resources/Order/", kind="status", status=500)

    other_method = revel_get(sandbox, "/resources/Order/")
    other_path = revel_get(sandbox, "/resources/Product/")
    other_api = tripleseat_get(sandbox, "/v1/events/55500101.json")

    assert other_method.status_code == 200
    assert other_path.status_code == 200
    assert other_api.status_code == 200
    assert len(sandbox.faults.pending()) == 1

    sandbox.faults.clear()
    assert revel_post(sandbox, "/resources/Order/", {"establishment": ESTABLISHMENT_7}).status_code == 201


def test_fault_invalid_kind_rejected(sandbox):
    with pytest.raises(ValueError, match="kind"):
        sandbox.faults.add(api="revel", kind="explode")
    with pytest.raises(ValueError, match="api"):
        sandbox.faults.add(api="square", kind="latency")


# ---------------------------------------------------------------------------
# load_events_file


def test_load_events_file_shapes(tmp_path):
    event = simple_event(55500101, "06/09/2026 10:00 AM")
    wrapped = tmp_path / "wrapped.json"
    bare = tmp_path / "bare.json"
    mixed = tmp_path / "mixed.json"
    webhook = tmp_path / "webhook.json"
    wrapped.write_text(json.dumps({"event": event}), encoding="utf-8")
    bare.write_text(json.dumps(event), encoding="utf-8")
    mixed.write_text(json.dumps([{"event": event}, {**event, "id": 2}]), encoding="utf-8")
    webhook.write_text(json.dumps({"webhook_trigger_type": "UPDATE_EVENT", "event": event}), encoding="utf-8")

    assert load_events_file(wrapped) == [event]
    assert load_events_file(bare) == [event]
    assert [entry["id"] for entry in load_events_file(mixed)] == [55500101, 2]
    assert load_events_file(webhook) == [event]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"event": {"id": 1,}}', "is not valid JSON"),
        ("[]", "empty list"),
        ('[{"name": "no id"}]', "entry 1 has no valid event id"),
        ('["text"]', "not an event"),
    ],
)
def test_load_events_file_invalid(tmp_path, content, message):
    path = tmp_path / "events.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(InputError, match=message) as caught:
        load_events_file(path)
    assert "\n" not in str(caught.value)
    assert str(path) in str(caught.value)


def test_load_events_file_missing(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_events_file(tmp_path / "missing.json")


# ---------------------------------------------------------------------------
# Seed data: recompute every amount from the rules in the test itself


def fetch_seed(sandbox) -> list[dict]:
    headers = bearer(sandbox)
    return [
        tripleseat_get(sandbox, f"/v1/events/{event_id}.json", headers=headers, show_financial="true").json()["event"]
        for event_id in sorted(sandbox.tripleseat_events())
    ]


def is_eligible(event) -> bool:
    return event["status"] in ("DEFINITE", "CLOSED") and event["location_id"] in CONFIGURED_LOCATIONS


def invoice_documents(event) -> list[dict]:
    own = [document for document in event["documents"] if not document.get("deleted_at")]
    if own:
        return own
    booking = event.get("booking") or {}
    if len(booking.get("event_ids", [])) == 1:
        return [document for document in booking.get("documents", []) if not document.get("deleted_at")]
    return []


def is_tax(billing_total) -> bool:
    return "Tax" in billing_total["description"]


def check_document(document):
    """Recompute a document's line totals, billing totals, financials and payment balance."""
    lines = document["line_items"]
    for line in lines:
        total = to_decimal(line["total_price"])
        assert to_cents(to_decimal(line["quantity"]) * to_decimal(line["price"])) == total, line["display_name"]
        assert total - to_decimal(line["discount"]) == to_decimal(line["grand_total"]), line["display_name"]

    amounts = {total["billing_id"]: to_decimal(total["total_price"]) for total in document["billing_totals"]}
    for billing in document["billing_totals"]:
        base = sum((to_decimal(line["grand_total"]) for line in lines if billing["billing_id"] in line["billing_ids"]), Decimal("0"))
        if is_tax(billing):
            taxed_charges = [
                other for other in document["billing_totals"] if not is_tax(other) and billing["billing_id"] in other.get("billing_ids", [])
            ]
            base += sum((amounts[other["billing_id"]] for other in taxed_charges), Decimal("0"))
        expected = to_cents(to_decimal(billing["value"]) * base / 100)
        assert amounts[billing["billing_id"]] == expected, (document["id"], billing["description"])

    items = sum((to_decimal(line["total_price"]) for line in lines), Decimal("0"))
    discounts = sum((to_decimal(line["discount"]) for line in lines), Decimal("0"))
    grand_total = items - discounts + sum(amounts.values(), Decimal("0"))
    financials = document["financials"]
    assert to_decimal(financials["grand_total"]) == grand_total, document["id"]
    assert to_decimal(financials["discounts_total"]) == discounts, document["id"]

    settled = sum(
        (
            to_decimal(payment["amount"]) - to_decimal(payment["amount_refunded"])
            for payment in document["payment_set"]["payments"]
            if payment["state"] != "unpaid"
        ),
        Decimal("0"),
    )
    assert to_decimal(financials["amount_due"]) == grand_total - settled, document["id"]


def test_seed_document_arithmetic(sandbox):
    events = fetch_seed(sandbox)
    eligible = [event for event in events if is_eligible(event)]
    checked = 0

    for event in eligible:
        documents = invoice_documents(event)
        for document in documents:
            check_document(document)
            checked += 1
        for booking_document in event["booking"]["documents"]:
            check_document(booking_document)
        for deleted in (document for document in event["documents"] if document.get("deleted_at")):
            check_document(deleted)

        grand_total = sum((to_decimal(document["financials"]["grand_total"]) for document in documents), Decimal("0"))
        amount_due = sum((to_decimal(document["financials"]["amount_due"]) for document in documents), Decimal("0"))
        actual = sum((to_decimal(line["grand_total"]) for document in documents for line in document["line_items"]), Decimal("0"))
        assert to_decimal(event["grand_total"]) == grand_total, event["id"]
        assert to_decimal(event["amount_due"]) == amount_due, event["id"]
        assert to_decimal(event["actual_amount"]) == actual, event["id"]

        billing_by_name: dict[str, Decimal] = {}
        for document in documents:
            for total in document["billing_totals"]:
                billing_by_name[total["description"]] = billing_by_name.get(total["description"], Decimal("0")) + to_decimal(total["total_price"])
        assert {entry["name"]: to_decimal(entry["total"]) for entry in event["billing_totals"]} == billing_by_name, event["id"]

    assert len(eligible) == 13
    assert checked >= 11


def test_seed_reference_event_totals(sandbox):
    event = fetch_seed(sandbox)[0]
    document = event["documents"][0]

    assert event["id"] == 55500101
    assert [(total["description"], total["total_price"]) for total in document["billing_totals"]] == [
        ("Service Charge", "525.6"),
        ("Sales Tax", "229.46"),
    ]
    assert document["financials"] == {"amount_due": "3033.06", "grand_total": "4033.06", "discounts_total": "72.0"}
    assert event["actual_amount"] == "3278.0"


def test_seed_update_times_and_statuses(sandbox):
    events = fetch_seed(sandbox)
    ages = []
    for event in events:
        zone = ZoneInfo(ZONES[event["location_id"]])
        updated = datetime.strptime(event["updated_at"], "%m/%d/%Y %I:%M %p").replace(tzinfo=zone)
        ages.append(NOW - updated)

    assert sum(1 for age in ages if timedelta(0) <= age <= timedelta(hours=48)) == 18
    assert sum(1 for age in ages if timedelta(days=4) <= age <= timedelta(days=6)) == 3
    assert len(events) == 21
    assert {event["status"] for event in events} == {"DEFINITE", "CLOSED", "TENTATIVE", "PROSPECT", "LOST"}
    assert any(event["location_id"] == 30199 and event["status"] in ("DEFINITE", "CLOSED") for event in events)


def test_seed_time_fields_agree(sandbox):
    for event in fetch_seed(sandbox):
        zone = ZoneInfo(ZONES[event["location_id"]])
        for prefix in ("event_start", "event_end"):
            local = datetime.strptime(event[prefix], "%m/%d/%Y %I:%M %p").replace(tzinfo=zone)
            assert event[f"{prefix}_utc"] == local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), event["id"]
            assert datetime.fromisoformat(event[f"{prefix}_iso8601"]) == local, event["id"]
            assert datetime.fromisoformat(event[f"{prefix}_iso8601"]).utcoffset() == local.utcoffset(), event["id"]
        assert event["event_date"] == event["event_start"][:10]
        assert event["event_date_iso8601"] == event["event_start_iso8601"][:10]


def test_seed_covers_scenarios(sandbox):
    events = {event["id"]: event for event in fetch_seed(sandbox)}
    documents = [document for event in events.values() for document in invoice_documents(event)]
    lines = [line for document in documents for line in document["line_items"]]
    charges = [total for document in documents for total in document["billing_totals"]]
    payments = [payment for document in documents for payment in document["payment_set"]["payments"]]

    assert any(sum(1 for total in document["billing_totals"] if is_tax(total)) >= 3 for document in documents)
    assert any(not is_tax(total) and total["billing_ids"] for total in charges)
    assert any(not is_tax(total) and not total["billing_ids"] for total in charges)
    assert any(total["description"] == "Gratuity" for total in charges)
    assert any(to_decimal(line["discount"]) > 0 for line in lines)
    assert any(to_decimal(line["price"]) == 0 for line in lines)
    assert any(isinstance(line["quantity"], str) for line in lines)
    assert any(isinstance(line["quantity"], int) for line in lines)
    assert {payment["state"] for payment in payments} >= {"paid", "unpaid", "refunded", "partially_refunded"}
    assert any(payment["state"] == "paid" and to_decimal(payment["amount"]) < 0 for payment in payments)

    tax_exempt = events[55500103]
    assert is_eligible(tax_exempt)
    assert not any(is_tax(total) for document in tax_exempt["documents"] for total in document["billing_totals"])

    split = events[55500104]
    assert len([document for document in split["documents"] if not document["deleted_at"]]) == 2
    assert len([document for document in split["documents"] if document["deleted_at"]]) == 1

    shared = [events[55500106], events[55500107]]
    assert all(event["documents"] == [] and event["booking"]["event_ids"] == [55500106, 55500107] for event in shared)
    assert all(len(event["booking"]["documents"]) == 1 for event in shared)


def test_seed_tax_rounds_differently_per_line(sandbox):
    event = next(event for event in fetch_seed(sandbox) if event["id"] == 55500109)
    document = event["documents"][0]
    tax = next(total for total in document["billing_totals"] if is_tax(total))
    rate = to_decimal(tax["value"])
    taxed_lines = [line for line in document["line_items"] if tax["billing_id"] in line["billing_ids"]]

    per_line = sum((to_cents(to_decimal(line["grand_total"]) * rate / 100) for line in taxed_lines), Decimal("0"))

    assert rate == Decimal("8.875")
    assert len(taxed_lines) >= 5
    assert per_line != to_decimal(tax["total_price"])


def read_mapping(path: Path) -> list[dict]:
    text = "".join(line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if not line.startswith("#"))
    return list(csv.DictReader(io.StringIO(text)))


def mapped_product(rows, line) -> int | None:
    """Match a line item by the mapping file's rules: menu_item_id, then name, then category."""
    for kind, key in (("menu_item_id", str(line["menu_item_id"])), ("name", line["display_name"]), ("category", line["category"]["name"])):
        for row in rows:
            if row["kind"] == kind and row["key"] == key:
                return int(row["revel_product_id"])
    return None


def test_seed_mapping_covers_eligible_items(sandbox):
    rows = read_mapping(sandbox.folder / "mapping.csv")
    products = {product["id"]: product for product in revel_get(sandbox, "/resources/Product/", limit=0).json()["objects"]}
    unmapped = {}
    for event in fetch_seed(sandbox):
        if not is_eligible(event):
            continue
        documents = invoice_documents(event) or [document for document in event["booking"]["documents"]]
        for line in (line for document in documents for line in document["line_items"]):
            if mapped_product(rows, line) is None:
                unmapped.setdefault(event["id"], []).append(line["display_name"])

    assert [row["kind"] for row in rows if row["kind"] == "fallback"] == []
    assert unmapped == {55500108: ["Southside Logo Tote Bag"]}
    for row in rows:
        product = products[int(row["revel_product_id"])]
        assert product["active"] is True, row
    merchandise = [line for line in fetch_seed(sandbox)[7]["documents"][0]["line_items"] if line["category"]["name"] == "Merchandise"]
    assert merchandise[0]["menu_item_id"] == 79001


def test_seed_is_deterministic(tmp_path):
    first = Sandbox(tmp_path / "a", now=NOW).tripleseat_events()
    second = Sandbox(tmp_path / "b", now=NOW).tripleseat_events()
    later = Sandbox(tmp_path / "c", now=NOW + timedelta(days=3)).tripleseat_events()

    assert first == second
    assert sorted(later) == sorted(first)
    assert later[55500101]["event_date"] != first[55500101]["event_date"]


# ---------------------------------------------------------------------------
# Command line


def test_main_prints_settings_and_stops_on_interrupt(tmp_path):
    folder = tmp_path / "cli"
    process = subprocess.Popen(
        [sys.executable, "-m", "tsync.sandbox", "--folder", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("# Press Ctrl-C"):
                break
        values = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
        reachable = requests.get(f"{values['REVEL_API_URL']}/resources/Product/", headers=REVEL_AUTH, timeout=5)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)

    assert reachable.status_code == 200
    assert values["TRIPLESEAT_API_URL"].startswith("http://127.0.0.1:")
    assert values["TSYNC_MAPPING"] == str(folder / "mapping.csv")
    assert process.returncode == 0
    assert (folder / "mapping.csv").exists()


def test_main_rejects_bad_events_file(tmp_path):
    bad = tmp_path / "events.json"
    bad.write_text("{", encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-m", "tsync.sandbox", "--folder", str(tmp_path / "cli"), "--events", str(bad)],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=Path(__file__).resolve().parents[1],
    )

    assert result.returncode == 2
    assert "is not valid JSON" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
