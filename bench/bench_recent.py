"""Benchmark `recent` over many changed events, against the sandbox on loopback.

The cron job runs every 45 minutes, so a run must finish well inside that,
including Tripleseat's limit of 10 requests a second. This script copies the
seed's eligible events into N events with new ids. It runs the real engine
once to create every order and once more to skip them all. It prints the
wall time, the requests sent to each API and the peak resident memory.

    python bench/bench_recent.py --events 300 --rate 10
"""

import argparse
import copy
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from tsync.config import settings_from_values
from tsync.engine import build_engine
from tsync.sandbox import Sandbox
from tsync.sandbox.seed import CONFIGURED_VENUES, is_eligible, mapping_csv, seed_events
from tsync.store import Store


VENUE_ZONES = {venue.location_id: venue.timezone for venue in CONFIGURED_VENUES}


def many_events(count: int, now: datetime) -> list[dict]:
    """Return `count` copies of the seed's plannable events, each with a new id, updated an hour ago."""
    templates = [
        event for event in seed_events(now)
        if is_eligible(event) and event.get("documents")
        and not any(line["category"]["name"] == "Merchandise" for document in event["documents"] for line in document.get("line_items") or [])
    ]
    events = []
    for number in range(count):
        event = copy.deepcopy(templates[number % len(templates)])
        event["id"] = 90000000 + number
        event["booking_id"] = 91000000 + number
        zone = ZoneInfo(VENUE_ZONES[event["location_id"]])
        event["updated_at"] = (now - timedelta(hours=1)).astimezone(zone).strftime("%m/%d/%Y %I:%M %p").lstrip("0")
        events.append(event)
    return events


def count_requests(sandbox: Sandbox) -> Counter:
    """Wrap the sandbox's two request handlers to count requests by API."""
    counts: Counter = Counter()
    for name, server in sandbox._servers.items():
        handle = server.app.handle

        def counted(*args, _name=name, _handle=handle, **kwargs):
            counts[_name] += 1
            return _handle(*args, **kwargs)

        server.app.handle = counted
    return counts


def run(count: int, rate: float) -> dict:
    now = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "sandbox").mkdir()
        (folder / "sandbox" / "mapping.csv").write_text(mapping_csv(), encoding="utf-8")
        with Sandbox(folder / "sandbox", events=many_events(count, now), now=now) as sandbox:
            counts = count_requests(sandbox)
            values = sandbox.settings_values()
            values["TRIPLESEAT_RATE_LIMIT"] = str(rate)
            settings = settings_from_values(values)
            store = Store(settings.db_path)
            engine = build_engine(settings, store=store)

            started = time.perf_counter()
            first = engine.run_recent(48)
            first_seconds = time.perf_counter() - started
            first_counts = dict(counts)
            counts.clear()

            started = time.perf_counter()
            second = engine.run_recent(48)
            second_seconds = time.perf_counter() - started
            store.close()

    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "events": count,
        "rate_limit_per_second": rate,
        "first_run": {"seconds": round(first_seconds, 2), "summary": first.summary, "requests": first_counts},
        "second_run": {"seconds": round(second_seconds, 2), "summary": second.summary, "requests": dict(counts)},
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="number of changed events (default 300)")
    parser.add_argument("--rate", type=float, default=10.0, help="Tripleseat requests per second (default 10)")
    arguments = parser.parse_args()
    if arguments.events < 1:
        sys.exit("--events must be at least 1")
    print(json.dumps(run(arguments.events, arguments.rate), indent=2))


if __name__ == "__main__":
    main()
