"""Simulated Tripleseat and Revel APIs on loopback, with seed data and fault injection.

Used by the README's first command, the end-to-end tests and the benchmarks;
the engine never imports it. Standard library only.

    from tsync.sandbox import Sandbox

    with Sandbox(folder) as sandbox:
        settings = settings_from_values(sandbox.settings_values())
        ...
        orders = sandbox.revel_orders()
"""

from tsync.sandbox.events_file import load_events_file
from tsync.sandbox.faults import FaultInjector
from tsync.sandbox.sandbox import SANDBOX_WEBHOOK_SECRET, Sandbox

__all__ = ["Sandbox", "FaultInjector", "load_events_file", "SANDBOX_WEBHOOK_SECRET"]
