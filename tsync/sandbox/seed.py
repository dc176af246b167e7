"""The sandbox's seed: a venue group with events, Revel products and a product mapping.

Three venues are configured for tsync (Tripleseat location -> Revel establishment):
30112 Harborview Tavern -> 7, 30113 Southside Bakery & Cafe -> 8 and
30114 Mission Street Catering -> 9. Location 30199 (Lakeshore Rooftop) has events
too but no establishment, so tsync must skip them.

Event times are relative to the `now` passed to `seed_events`: 18 events are
updated within the last 48 hours and 3 between 4 and 6 days ago. Ids are
fixed, so runs on different days see the same events. All names, e-mail
addresses and phone numbers are invented.

Besides plain events, the seed covers these cases:
- several taxes on one document, a taxed and an untaxed service charge, a gratuity;
- line discounts, zero-price lines, a tax-exempt event;
- two live documents plus a deleted one on one event;
- a booking-level document for a one-event booking, and one shared by two
  events (tsync must fail both);
- an unmapped Merchandise item (tsync must fail the event and name the item);
- per-line tax rounding that differs from the document's tax;
- refunded, partly refunded and negative (credit) payments;
- amounts sent as JSON numbers.
"""

from datetime import datetime

from tsync.sandbox.builder import (
    BookingSpec,
    Category,
    Charge,
    Contact,
    DocumentSpec,
    EventSpec,
    Line,
    PaymentSpec,
    SeedVenue,
    build_event,
)

HARBORVIEW = SeedVenue(30112, "Harborview Tavern", "America/New_York", 7, 88121, "Mezzanine")
SOUTHSIDE = SeedVenue(30113, "Southside Bakery & Cafe", "America/Chicago", 8, 88131, "Garden Room")
MISSION = SeedVenue(30114, "Mission Street Catering", "America/Los_Angeles", 9, 88141, "Courtyard")
LAKESHORE = SeedVenue(30199, "Lakeshore Rooftop", "America/Chicago", None, 88191, "Rooftop Deck")
CONFIGURED_VENUES = (HARBORVIEW, SOUTHSIDE, MISSION)

# Establishment and zone for a replayed event's location that no seed venue covers.
DEFAULT_ESTABLISHMENT_ID = 7
DEFAULT_TIMEZONE = "America/New_York"

FOOD = Category(1, "Food", "food")
BEVERAGE = Category(2, "Beverage", "beverage")
ROOM_RENTAL = Category(3, "Room Rental", "rental")
AUDIO_VISUAL = Category(4, "Audio Visual", "av")
STAFFING = Category(5, "Staffing", "staffing")
MERCHANDISE = Category(6, "Merchandise", "merchandise")

FOOD_AND_BEVERAGE = ("Food", "Beverage")

# Billing items per venue. A tax applies to every line; service charges and gratuities to food and beverage.
HV_SERVICE = Charge(7001, "Service Charge", "20.0", False, FOOD_AND_BEVERAGE)
HV_SALES_TAX_7 = Charge(7002, "Sales Tax", "7.0", True)
HV_SALES_TAX = Charge(7003, "Sales Tax", "8.875", True)
HV_STATE_TAX = Charge(7011, "State Sales Tax", "4.0", True)
HV_CITY_TAX = Charge(7012, "City Tax", "4.5", True)
HV_MCTD_TAX = Charge(7013, "MCTD Tax", "0.375", True)
HV_SERVICE_TAXED = Charge(7014, "Service Charge", "20.0", False, FOOD_AND_BEVERAGE, taxed_by=(7011, 7012, 7013))
HV_GRATUITY = Charge(7015, "Gratuity", "5.0", False, FOOD_AND_BEVERAGE)
SS_SERVICE = Charge(8001, "Service Charge", "18.0", False, FOOD_AND_BEVERAGE)
SS_SALES_TAX = Charge(8002, "Sales Tax", "10.25", True)
MS_SERVICE_TAXED = Charge(9001, "Service Charge", "22.0", False, FOOD_AND_BEVERAGE, taxed_by=(9002,))
MS_SALES_TAX = Charge(9002, "Sales Tax", "9.5", True)
LK_SERVICE = Charge(9901, "Service Charge", "20.0", False, FOOD_AND_BEVERAGE)
LK_SALES_TAX = Charge(9902, "Sales Tax", "10.25", True)

# Tripleseat menu items: id -> (name, unit price, category, Revel product id or None when unmapped).
MENU_ITEMS = {
    70011: ("Passed Hors d'Oeuvres", "6.00", FOOD, 4512),
    70102: ("Roast Chicken Entrée", "42.00", FOOD, 4520),
    70103: ("Seared Salmon Entrée", "46.00", FOOD, 4521),
    70120: ("Raw Bar Display", "24.00", FOOD, 4522),
    70130: ("Lobster Roll Slider", "9.50", FOOD, 4523),
    70140: ("Deviled Eggs", "2.00", FOOD, 4524),
    70141: ("Soft Pretzel Bites", "2.60", FOOD, 4525),
    70142: ("Oyster Shooter", "13.00", FOOD, 4526),
    71001: ("House Wine Package (3 hr)", "18.00", BEVERAGE, 4530),
    71010: ("Draft Beer Bucket", "32.00", BEVERAGE, 4531),
    71020: ("Signature Cocktail", "14.00", BEVERAGE, 4532),
    71030: ("Draft Beer (pint)", "5.00", BEVERAGE, 4533),
    71031: ("Well Cocktail", "7.00", BEVERAGE, 4534),
    72001: ("Breakfast Pastry Platter", "48.00", FOOD, 4540),
    72002: ("Coffee Traveler (96 oz)", "45.00", BEVERAGE, 4541),
    72003: ("Fresh Fruit Bowl", "36.00", FOOD, 4546),
    72010: ("Celebration Cake (full sheet)", "120.00", FOOD, 4542),
    72011: ("Cake Cutting Service", "0.00", FOOD, 4543),
    72030: ("Fresh Juice Carafe", "22.00", BEVERAGE, 4545),
    72040: ("Cheese & Charcuterie Board", "85.00", FOOD, 4547),
    72050: ("Mini Dessert Assortment", "3.50", FOOD, 4548),
    72060: ("House Wine (bottle)", "32.00", BEVERAGE, 4549),
    73001: ("Taco Bar (per guest)", "21.00", FOOD, 4550),
    73002: ("Agua Fresca Station", "4.50", BEVERAGE, 4551),
    73010: ("Grilled Veggie Platter", "65.00", FOOD, 4552),
    73020: ("Churro Bites", "3.25", FOOD, 4553),
    73030: ("Margarita Pitcher", "38.00", BEVERAGE, 4554),
    73040: ("Chilaquiles Brunch Buffet", "19.50", FOOD, 4555),
    73050: ("Mimosa Bar", "9.00", BEVERAGE, 4556),
    74001: ("Flatbread Trio", "28.00", FOOD, None),  # Lakeshore: a venue tsync does not sync
    74002: ("Rooftop Spritz", "12.00", BEVERAGE, None),
    79001: ("Southside Logo Tote Bag", "12.00", MERCHANDISE, None),  # unmapped on purpose: its event must fail
}

# Lines without a menu item are mapped by display name, or by category to a generic product.
NAMED_PRODUCTS = {
    "Mezzanine Rental": 4601,
    "Private Dining Room Rental": 4602,
    "Garden Room Rental": 4603,
    "Courtyard Rental": 4604,
}
CATEGORY_PRODUCTS = {
    "Audio Visual": (4700, "AV Package (custom)"),
    "Staffing": (4710, "Event Staffing (custom)"),
}
INACTIVE_PRODUCT = (4590, "Seasonal Cider (retired)", "7.00", BEVERAGE)
OPEN_PRICE_PRODUCT = (4999, "Catering Item (open price)", "0.00", FOOD)  # ready for a `fallback` row


def item(menu_item_id: int, quantity: str, *, discount: str = "0", section: str = "", description: str = "") -> Line:
    """Return a line for a menu item at its menu price."""
    name, price, category, _ = MENU_ITEMS[menu_item_id]
    return Line(name, quantity, price, category, menu_item_id, discount, section, description)


def custom(name: str, quantity: str, price: str, category: Category, *, section: str = "Fees", description: str = "") -> Line:
    """Return a line typed in by hand, without a menu item."""
    return Line(name, quantity, price, category, None, "0", section, description)


def deposit(amount: str) -> PaymentSpec:
    return PaymentSpec("Deposit", "paid", amount)


FINAL_UNPAID = PaymentSpec("Final Payment", "unpaid", None, kind="payment", method=None)
FINAL_PAID = PaymentSpec("Final Payment", "paid", None, kind="payment")


CONTACTS = {
    "ruiz": Contact(9920417, "Dana", "Ruiz", "dana.ruiz@example.com", "555-0142"),
    "okafor": Contact(9920501, "Chidi", "Okafor", "c.okafor@example.com", "555-0178"),
    "lindqvist": Contact(9920502, "Maja", "Lindqvist", "maja.l@example.org", "555-0133"),
    "delgado": Contact(9920503, "Rosa", "Delgado", "rosa.delgado@example.net", "555-0191"),
    "brennan": Contact(9920504, "Tom", "Brennan", "tbrennan@example.com", "555-0117"),
    "alvarez": Contact(9920505, "Luis", "Alvarez", "luis.alvarez@example.com", "555-0164"),
    "whitfield": Contact(9920506, "June", "Whitfield", "june.w@example.org", "555-0186"),
    "nguyen": Contact(9920507, "Bao", "Nguyen", "bao.nguyen@example.com", "555-0125"),
    "carter": Contact(9920508, "Ellis", "Carter", "ellis.carter@example.com", "555-0158"),
    "moreau": Contact(9920509, "Claire", "Moreau", "claire@example.net", "555-0109"),
    "marlow": Contact(9920510, "Priya", "Marlow", "priya.marlow@example.com", "555-0147"),
    "chen": Contact(9920511, "Wei", "Chen", "wei.chen@example.com", "555-0170"),
    "haddad": Contact(9920512, "Sami", "Haddad", "sami.haddad@example.org", "555-0138"),
    "nakamura": Contact(9920513, "Aiko", "Nakamura", "aiko.n@example.com", "555-0152"),
    "fenwick": Contact(9920514, "Oliver", "Fenwick", "ofenwick@example.org", "555-0199"),
    "ostrowski": Contact(9920515, "Kasia", "Ostrowski", "kasia.o@example.com", "555-0111"),
    "bishop": Contact(9920516, "Grant", "Bishop", "grant.bishop@example.com", "555-0126"),
    "adeyemi": Contact(9920517, "Funmi", "Adeyemi", "funmi.a@example.org", "555-0183"),
    "ibarra": Contact(9920518, "Sofía", "Ibarra", "sofia.ibarra@example.com", "555-0160"),
}


# Booking-level documents: one booking with one event, one shared by two events.
BRIGHTLINE_BOOKING = BookingSpec(
    45500105,
    "Brightline Robotics Team Lunch",
    (
        DocumentSpec(
            3300105,
            "Booking Invoice",
            (
                item(70130, "48", section="Lunch"),
                item(70102, "12", section="Lunch"),
                item(70103, "12", section="Lunch"),
                custom("Projector & Mic", "1", "150.00", AUDIO_VISUAL),
            ),
            (HV_SERVICE, HV_SALES_TAX),
            (deposit("400.00"), FINAL_UNPAID),
        ),
    ),
)
ALVAREZ_BOOKING = BookingSpec(
    45500106,
    "Alvarez Family Reunion Weekend",
    (
        DocumentSpec(
            3300106,
            "Reunion Weekend Invoice",
            (
                item(73001, "80", section="Dinner"),
                item(73002, "80", section="Drinks"),
                custom("Courtyard Rental", "2", "1200.00", ROOM_RENTAL, description="Saturday and Sunday"),
            ),
            (MS_SERVICE_TAXED, MS_SALES_TAX),
            (deposit("1000.00"), FINAL_UNPAID),
        ),
    ),
)
ALVAREZ_EVENT_IDS = (55500106, 55500107)


EVENT_SPECS = (
    # The reference event: service charge 20% on food and beverage, 7% tax on everything, 4033.06 in all.
    EventSpec(
        55500101, "Harbor Tech Q2 Offsite Dinner", HARBORVIEW, "DEFINITE", 4, "18:30", 4, 40, 2, CONTACTS["ruiz"],
        (
            DocumentSpec(
                3300101,
                "BEO / Invoice",
                (
                    item(70011, "40", section="Reception", description="Chef's selection, 3 pcs pp"),
                    item(70102, "25", section="Dinner"),
                    item(70103, "15", section="Dinner"),
                    item(71001, "40", discount="72.00", section="Bar"),
                    custom("Mezzanine Rental", "1", "500.00", ROOM_RENTAL),
                    custom("Projector & Mic", "1", "150.00", AUDIO_VISUAL),
                ),
                (HV_SERVICE, HV_SALES_TAX_7),
                (deposit("1000.00"), FINAL_UNPAID),
            ),
        ),
        style="Plated Dinner",
    ),
    # Three taxes on one document, a taxed service charge, an untaxed gratuity, line discounts, staffing; paid in full.
    EventSpec(
        55500102, "Kessler & Vance Partners Reception", HARBORVIEW, "CLOSED", -2, "19:00", 3, 60, 5, CONTACTS["okafor"],
        (
            DocumentSpec(
                3300102,
                "Reception Invoice",
                (
                    item(70011, "60", section="Reception"),
                    item(70120, "60", discount="144.00", section="Reception", description="10% off the raw bar"),
                    item(70130, "60", section="Reception"),
                    item(71020, "90", discount="126.00", section="Bar"),
                    item(71010, "10", section="Bar"),
                    custom("Mezzanine Rental", "1", "750.00", ROOM_RENTAL),
                    custom("Bartender (per hour)", "12", "35.00", STAFFING, section="Staff"),
                ),
                (HV_SERVICE_TAXED, HV_GRATUITY, HV_STATE_TAX, HV_CITY_TAX, HV_MCTD_TAX),
                (deposit("2000.00"), FINAL_PAID),
            ),
        ),
        style="Cocktail Reception",
    ),
    # Tax-exempt school group: an untaxed service charge and no tax at all; a zero-price room rental.
    EventSpec(
        55500103, "Oakridge Elementary PTA Breakfast", SOUTHSIDE, "DEFINITE", 6, "07:30", 2, 45, 7, CONTACTS["lindqvist"],
        (
            DocumentSpec(
                3300103,
                "Catering Order",
                (
                    item(72001, "6", section="Breakfast"),
                    item(72003, "5", section="Breakfast"),
                    item(72002, "5", section="Drinks"),
                    item(72030, "4", discount="8.00", section="Drinks"),
                    custom("Garden Room Rental", "1", "0.00", ROOM_RENTAL, description="Waived for school groups"),
                ),
                (SS_SERVICE,),
                (deposit("250.00"), FINAL_UNPAID),
            ),
        ),
    ),
    # Two live documents and one deleted; a refunded and a partly refunded payment.
    EventSpec(
        55500104, "Delgado-Park Rehearsal Dinner", MISSION, "DEFINITE", 10, "18:00", 4, 70, 10, CONTACTS["delgado"],
        (
            DocumentSpec(
                3300104,
                "Catering Contract",
                (
                    item(73001, "70", section="Dinner"),
                    item(73010, "4", section="Dinner"),
                    item(73020, "140", discount="45.50", section="Dessert"),
                    custom("Courtyard Rental", "1", "1200.00", ROOM_RENTAL),
                    custom("DJ Booth & Speakers", "1", "350.00", AUDIO_VISUAL),
                ),
                (MS_SERVICE_TAXED, MS_SALES_TAX),
                (
                    PaymentSpec("Deposit", "refunded", "500.00", refunded="500.00"),
                    PaymentSpec("Deposit (card re-run)", "partially_refunded", "1500.00", refunded="200.00"),
                    FINAL_UNPAID,
                ),
            ),
            DocumentSpec(
                3300114,
                "Bar Addendum",
                (item(73002, "70", section="Bar"), item(73030, "12", section="Bar")),
                (MS_SERVICE_TAXED, MS_SALES_TAX),
                (PaymentSpec("Bar Deposit", "paid", "300.00"), FINAL_UNPAID),
            ),
            DocumentSpec(
                3300124,
                "Catering Contract (first draft)",
                (item(73001, "60", section="Dinner"),),
                (MS_SERVICE_TAXED, MS_SALES_TAX),
                deleted=True,
            ),
        ),
        style="Family Style",
    ),
    # No documents of its own: the invoice is on its booking, and the booking has this event only.
    EventSpec(
        55500105, "Brightline Robotics Team Lunch", HARBORVIEW, "DEFINITE", 3, "12:00", 2, 24, 13, CONTACTS["brennan"],
        booking=BRIGHTLINE_BOOKING,
    ),
    # Two events share one booking-level document: tsync cannot split it, so both must fail.
    EventSpec(
        55500106, "Alvarez Family Reunion - Saturday", MISSION, "DEFINITE", 8, "17:00", 5, 80, 20, CONTACTS["alvarez"],
        booking=ALVAREZ_BOOKING,
    ),
    EventSpec(
        55500107, "Alvarez Family Reunion - Sunday", MISSION, "DEFINITE", 9, "11:00", 4, 80, 20, CONTACTS["alvarez"],
        booking=ALVAREZ_BOOKING,
    ),
    # A Merchandise item that no mapping row covers: tsync must fail the event and name the item.
    EventSpec(
        55500108, "Southside Book Club Holiday Social", SOUTHSIDE, "DEFINITE", 5, "18:00", 3, 30, 26, CONTACTS["whitfield"],
        (
            DocumentSpec(
                3300108,
                "Event Order",
                (
                    item(72010, "1", section="Dessert"),
                    item(72011, "30", section="Dessert"),
                    item(72040, "3", section="Food"),
                    item(72030, "6", section="Drinks"),
                    item(79001, "30", section="Favors", description="One per guest"),
                ),
                (SS_SERVICE, SS_SALES_TAX),
                (deposit("300.00"), FINAL_UNPAID),
            ),
        ),
    ),
    # 8.875% on lines whose per-line taxes, rounded one by one, add up to 3 cents more than the document's tax.
    EventSpec(
        55500109, "Pier 9 Sales Kickoff Happy Hour", HARBORVIEW, "CLOSED", -2, "17:00", 3, 40, 30, CONTACTS["nguyen"],
        (
            DocumentSpec(
                3300109,
                "Happy Hour Invoice",
                (
                    item(70140, "14", section="Snacks"),
                    item(70141, "20", section="Snacks"),
                    item(71030, "36", section="Bar"),
                    item(71031, "12", section="Bar"),
                    item(70142, "4", section="Snacks"),
                    custom("Private Dining Room Rental", "1", "180.00", ROOM_RENTAL),
                ),
                (HV_SALES_TAX,),
                (PaymentSpec("Payment in Full", "paid", None, kind="payment"),),
            ),
        ),
        style="Happy Hour",
    ),
    # A negative payment: a credit the venue gave after a late setup.
    EventSpec(
        55500110, "Greenway Realty Client Appreciation", SOUTHSIDE, "CLOSED", -3, "17:30", 3, 50, 34, CONTACTS["carter"],
        (
            DocumentSpec(
                3300110,
                "Event Invoice",
                (
                    item(72040, "5", section="Food"),
                    item(72050, "100", section="Dessert"),
                    item(72030, "8", section="Drinks"),
                    item(72060, "15", discount="48.00", section="Drinks"),
                    custom("Garden Room Rental", "1", "400.00", ROOM_RENTAL),
                ),
                (SS_SERVICE, SS_SALES_TAX),
                (
                    deposit("800.00"),
                    PaymentSpec("Credit: late setup", "paid", "-150.00", kind="payment", method="other"),
                    FINAL_UNPAID,
                ),
            ),
        ),
    ),
    # Amounts and quantities as JSON numbers; paid in full.
    EventSpec(
        55500111, "Sunset Yoga Collective Brunch", MISSION, "CLOSED", -2, "10:00", 3, 35, 40, CONTACTS["moreau"],
        (
            DocumentSpec(
                3300111,
                "Brunch Order",
                (
                    item(73040, "35", section="Brunch"),
                    item(73002, "35", section="Drinks"),
                    item(73020, "70", section="Dessert"),
                    item(73050, "35", discount="31.50", section="Drinks"),
                ),
                (MS_SERVICE_TAXED, MS_SALES_TAX),
                (deposit("500.00"), FINAL_PAID),
            ),
        ),
        numbers=True,
        style="Brunch",
    ),
    # Not eligible: tentative, prospect and lost events.
    EventSpec(
        55500112, "Marlow Law Partners Retreat Lunch", HARBORVIEW, "TENTATIVE", 12, "12:30", 2, 30, 3, CONTACTS["marlow"],
        (
            DocumentSpec(
                3300112,
                "Proposal",
                (item(70102, "30", section="Lunch"),),
                (HV_SERVICE, HV_SALES_TAX),
            ),
        ),
    ),
    EventSpec(55500113, "Chen 40th Birthday Brunch", SOUTHSIDE, "TENTATIVE", 9, "11:00", 3, 25, 15, CONTACTS["chen"]),
    EventSpec(55500114, "Riverside Rotary Lunch", MISSION, "PROSPECT", 14, "12:00", 2, 40, 22, CONTACTS["haddad"]),
    EventSpec(55500115, "Nakamura Graduation Party", HARBORVIEW, "PROSPECT", 11, "15:00", 4, 50, 28, CONTACTS["nakamura"]),
    EventSpec(55500116, "Fenwick Foundation Gala", SOUTHSIDE, "LOST", 7, "19:00", 5, 150, 44, CONTACTS["fenwick"]),
    # Eligible statuses at a venue that tsync is not configured for.
    EventSpec(
        55500117, "Lakeshore Product Launch Party", LAKESHORE, "DEFINITE", 6, "19:00", 4, 90, 9, CONTACTS["ostrowski"],
        (
            DocumentSpec(
                3300117,
                "Launch Party BEO",
                (item(74001, "10", section="Food"), item(74002, "90", section="Bar")),
                (LK_SERVICE, LK_SALES_TAX),
                (deposit("500.00"), FINAL_UNPAID),
            ),
        ),
    ),
    EventSpec(
        55500118, "Lakeshore Wine Tasting", LAKESHORE, "CLOSED", -2, "18:00", 2, 20, 37, CONTACTS["bishop"],
        (
            DocumentSpec(
                3300118,
                "Tasting Invoice",
                (item(74002, "40", section="Bar"),),
                (LK_SERVICE, LK_SALES_TAX),
                (FINAL_PAID,),
            ),
        ),
    ),
    # Updated 4 to 6 days ago: outside a 48-hour window, inside `--hours-back 168`.
    EventSpec(
        55500119, "Quarry Hill Cycling Club Dinner", HARBORVIEW, "CLOSED", -6, "19:00", 3, 20, 125, CONTACTS["adeyemi"],
        (
            DocumentSpec(
                3300119,
                "Dinner Invoice",
                (item(70011, "20", section="Reception"), item(70102, "20", section="Dinner"), item(71001, "20", section="Bar")),
                (HV_SERVICE, HV_SALES_TAX),
                (deposit("500.00"), FINAL_PAID),
            ),
        ),
        numbers=True,
    ),
    EventSpec(
        55500120, "Tidewater Nonprofit Board Breakfast", SOUTHSIDE, "DEFINITE", 2, "08:00", 2, 12, 100, CONTACTS["ibarra"],
        (
            DocumentSpec(
                3300120,
                "Breakfast Order",
                (item(72001, "3", section="Breakfast"), item(72002, "3", section="Drinks")),
                (SS_SERVICE, SS_SALES_TAX),
                (FINAL_UNPAID,),
            ),
        ),
    ),
    EventSpec(55500121, "Mesa Verde Quinceañera", MISSION, "LOST", 13, "17:00", 6, 120, 140, CONTACTS["ibarra"]),
)


def seed_events(now: datetime) -> list[dict]:
    """Build the seed events, with times relative to `now` (an aware datetime)."""
    events = []
    for spec in EVENT_SPECS:
        shared = ALVAREZ_EVENT_IDS if spec.booking is ALVAREZ_BOOKING else None
        events.append(build_event(spec, now=now, booking_event_ids=shared))
    return events


def is_eligible(event: dict) -> bool:
    """Tell whether tsync, configured for the seed venues, would sync the event (status and venue)."""
    configured = {venue.location_id for venue in CONFIGURED_VENUES}
    return event.get("status") in ("DEFINITE", "CLOSED") and event.get("location_id") in configured


# ---------------------------------------------------------------------------
# Revel products and the mapping file


def seed_products() -> list[dict]:
    """Return the Revel products that the seed mapping names, plus an open-price and an inactive one."""
    rows: list[tuple[int, str, str, Category, bool]] = []
    for _menu_item_id, (name, price, category, product_id) in MENU_ITEMS.items():
        if product_id is not None:
            rows.append((product_id, name, price, category, True))
    for name, product_id in NAMED_PRODUCTS.items():
        rows.append((product_id, name, "0.00", ROOM_RENTAL, True))
    for category_name, (product_id, name) in CATEGORY_PRODUCTS.items():
        category = AUDIO_VISUAL if category_name == "Audio Visual" else STAFFING
        rows.append((product_id, name, "0.00", category, True))
    rows.append((*OPEN_PRICE_PRODUCT, True))
    rows.append((*INACTIVE_PRODUCT, False))

    products = []
    for product_id, name, price, category, active in sorted(rows, key=lambda row: row[0]):
        products.append(
            {
                "id": product_id,
                "uuid": f"00000000-0000-4000-8000-{product_id:012d}",
                "name": name,
                "price": price,
                "barcode": f"TS{product_id}",
                "sku": f"SKU-{product_id}",
                "active": active,
                "establishment": f"/enterprise/Establishment/{DEFAULT_ESTABLISHMENT_ID}/",
                "category": f"/products/ProductCategory/{30 + category.id}/",
                "resource_uri": f"/resources/Product/{product_id}/",
            }
        )
    return products


def mapping_csv() -> str:
    """Return the seed mapping file: every item of every eligible event, except the Merchandise item.

    It has no `fallback` row, so an item that no row covers makes its event fail.
    """
    lines = [
        "# tsync product mapping for the sandbox: which Revel product each Tripleseat line item becomes.",
        "# Rows match by menu_item_id, then by exact display name, then by category name.",
        "# A category row (and a fallback row) sells a generic product under the line's own name.",
        "# No fallback row on purpose: the Merchandise item of event 55500108 must fail its event.",
        "kind,key,revel_product_id,note",
    ]
    for menu_item_id, (name, _, _, product_id) in MENU_ITEMS.items():
        if product_id is not None:
            lines.append(f"menu_item_id,{menu_item_id},{product_id},{_csv_text(name)}")
    for name, product_id in NAMED_PRODUCTS.items():
        lines.append(f"name,{_csv_text(name)},{product_id},")
    for category_name, (product_id, _) in CATEGORY_PRODUCTS.items():
        lines.append(f"category,{_csv_text(category_name)},{product_id},generic product; the line keeps its Tripleseat name")
    return "\n".join(lines) + "\n"


def _csv_text(text: str) -> str:
    if any(character in text for character in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
