"""Benchmark how fast serve-webhook responds to a signed delivery while the APIs are slow.

Tripleseat re-sends a webhook that does not get a 200 in time, so the
listener must respond once the delivery is in its inbox, never after the
sync. This script starts the sandbox with 2 s of latency on every Revel and
Tripleseat call and starts the listener on loopback. It posts N signed
deliveries one after another and prints the response times (median, 95th
percentile, maximum) in ms.

    python bench/bench_webhook_ack.py --deliveries 200
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from tsync.config import settings_from_values
from tsync.engine import build_engine
from tsync.sandbox import SANDBOX_WEBHOOK_SECRET, Sandbox
from tsync.store import Store
from tsync.webhook.server import WebhookServer
from tsync.webhook.signature import sign

API_LATENCY_SECONDS = 2.0


def run(count: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        with Sandbox(Path(folder) / "sandbox") as sandbox:
            for api in ("revel", "tripleseat"):
                for method in ("GET", "POST", "PATCH"):
                    sandbox.faults.add(api=api, method=method, path="/", kind="latency", delay=API_LATENCY_SECONDS, times=10**6)
            settings = settings_from_values(sandbox.settings_values())
            store = Store(settings.db_path)
            event_ids = sorted(sandbox.tripleseat_events())

            def engine_factory():
                return build_engine(settings, store=store)

            server = WebhookServer(settings, port=0, store=store, engine_factory=engine_factory)
            server.start()
            session = requests.Session()
            timings = []
            try:
                for number in range(count):
                    event_id = event_ids[number % len(event_ids)]
                    body = json.dumps({"webhook_trigger_type": "UPDATE_EVENT",
                                       "event": {"id": event_id, "updated_at": f"12/04/2026 {number}"}}).encode()
                    started = time.perf_counter()
                    response = session.post(server.url, data=body, headers={"X-Signature": sign(body, SANDBOX_WEBHOOK_SECRET)}, timeout=10)
                    timings.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200:
                        sys.exit(f"delivery {number} answered {response.status_code}: {response.text}")
            finally:
                server.shutdown()
                store.close()

    timings.sort()
    return {
        "deliveries": count,
        "api_latency_seconds": API_LATENCY_SECONDS,
        "answer_ms": {
            "median": round(statistics.median(timings), 2),
            "p95": round(timings[int(len(timings) * 0.95) - 1], 2),
            "max": round(timings[-1], 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200, help="signed deliveries to post (default 200)")
    arguments = parser.parse_args()
    if arguments.deliveries < 1:
        sys.exit("--deliveries must be at least 1")
    print(json.dumps(run(arguments.deliveries), indent=2))


if __name__ == "__main__":
    main()
