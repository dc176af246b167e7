"""Terminal output: rich tables for run results, order plans, products and mapping gaps."""

from rich.console import Console
from rich.table import Table

from tsync.models import OrderPlan, RunResult
from tsync.money import format_money

STATUS_STYLES = {"injected": "green", "skipped": "yellow", "failed": "bold red"}


def print_run(console: Console, result: RunResult) -> None:
    table = Table(title=f"{result.run_id} ({result.mode}{', dry run' if result.dry_run else ''})")
    table.add_column("Event", justify="right")
    table.add_column("Name")
    table.add_column("Status")
    table.add_column("Revel order", justify="right")
    table.add_column("Reason", overflow="fold")
    for event in result.events:
        style = STATUS_STYLES.get(event.status, "")
        reason = event.reason or ""
        if event.differences:
            reason = (reason + " " if reason else "") + "rounding: " + ", ".join(
                f"{name} {cents:+d}c" for name, cents in event.differences.items()
            )
        table.add_row(
            str(event.id), event.name, f"[{style}]{event.status}[/]" if style else event.status,
            "" if event.revel_order_id is None else str(event.revel_order_id), reason,
        )
    console.print(table)
    summary = result.summary
    console.print(
        f"Queried {summary['queried']}, injected {summary['injected']}, "
        f"skipped {summary['skipped']}, failed {summary['failed']}"
    )
    for event in result.events:
        if event.plan is not None:
            print_plan(console, event.plan)


def print_plan(console: Console, plan: OrderPlan) -> None:
    console.print(f"\n[bold]Order {plan.local_id}[/] for event {plan.event_id}: {plan.event_name}")
    console.print(f"Establishment {plan.establishment_id}, pickup {plan.pickup_time or 'not set'} ({plan.timezone})")
    console.print(f"Call name: {plan.call_name}")
    console.print(f"Notes: {plan.notes}")

    items = Table(title="Order items")
    for column in ("Item", "Product", "Qty", "Unit", "Gross", "Discount", "Tax", "Charges"):
        items.add_column(column, justify="left" if column == "Item" else "right")
    for item in plan.items:
        label = item.name + (f" [dim]({item.section})[/]" if item.section else "")
        product = f"{item.product_id}" + (" *" if item.name_override else "")
        items.add_row(
            label, product, str(item.quantity), format_money(item.unit_price), format_money(item.gross),
            format_money(item.discount), format_money(item.tax), format_money(item.service_charge),
        )
    console.print(items)
    if any(item.name_override for item in plan.items):
        console.print("[dim]* a generic product; the order item keeps the Tripleseat name[/]")

    if plan.charges:
        charges = Table(title="Taxes and charges")
        for column in ("Name", "Kind", "Rate %", "Per-line sum", "Tripleseat", "Difference"):
            charges.add_column(column, justify="left" if column in ("Name", "Kind") else "right")
        for charge in plan.charges:
            kind = charge.kind + (" (taxed)" if charge.taxed else "")
            difference = f"{charge.difference_cents:+d}c" if charge.difference_cents else ""
            charges.add_row(charge.name, kind, str(charge.rate), format_money(charge.line_sum), format_money(charge.amount), difference)
        console.print(charges)

    if plan.payments:
        payments = Table(title="Payments")
        for column in ("Payment", "Paid at", "Amount"):
            payments.add_column(column, justify="right" if column == "Amount" else "left")
        for payment in plan.payments:
            payments.add_row(payment.title, payment.paid_at or "", format_money(payment.amount))
        console.print(payments)

    totals = Table(title="Totals")
    totals.add_column("")
    totals.add_column("Revel order", justify="right")
    totals.add_column("Tripleseat", justify="right")
    rows = [
        ("Subtotal", plan.subtotal, None),
        ("Discount", plan.discount, None),
        ("Tax", plan.tax, None),
        ("Service charge", plan.service_charge, None),
        ("Gratuity", plan.gratuity, None),
        ("Final total", plan.final_total, plan.tripleseat_grand_total),
        ("Paid", plan.paid, None),
        ("Remaining due", plan.remaining_due, plan.tripleseat_amount_due),
    ]
    for label, ours, theirs in rows:
        totals.add_row(label, format_money(ours), "" if theirs is None else format_money(theirs))
    console.print(totals)
    if plan.differences:
        console.print("Per-line rounding differences, absorbed so the order matches Tripleseat's totals: "
                      + ", ".join(f"{name} {cents:+d} cents" for name, cents in plan.differences.items()))


def print_products(console: Console, products: list[dict]) -> None:
    table = Table(title="Revel products")
    for column in ("Id", "Name", "Price", "Barcode", "Active", "Establishment"):
        table.add_column(column, justify="right" if column in ("Id", "Price") else "left")
    for product in products:
        table.add_row(
            str(product.get("id")), str(product.get("name") or ""), str(product.get("price") or ""),
            str(product.get("barcode") or ""), "yes" if product.get("active") else "no", str(product.get("establishment") or ""),
        )
    console.print(table)


def print_unmapped(console: Console, items, events_read: int) -> None:
    if not items:
        console.print(f"Every line item of the {events_read} events read is covered by the mapping.")
        return
    table = Table(title=f"Line items the mapping does not cover ({events_read} events read)")
    table.add_column("Item")
    table.add_column("Count", justify="right")
    table.add_column("Events")
    for item in items:
        table.add_row(item.description, str(item.count), ", ".join(map(str, item.event_ids[:10])) + (" ..." if len(item.event_ids) > 10 else ""))
    console.print(table)


def print_product_problems(console: Console, problems: list[dict]) -> None:
    if not problems:
        return
    table = Table(title="Mapping rows whose Revel product cannot be sold")
    table.add_column("Establishment", justify="right")
    table.add_column("Product", justify="right")
    table.add_column("Problem")
    for problem in problems:
        table.add_row(str(problem["establishment_id"]), str(problem["revel_product_id"]), problem["problem"])
    console.print(table)
