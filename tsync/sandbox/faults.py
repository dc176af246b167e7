"""Fault injection for the sandbox servers: slow, failing, cut-off and login-page responses.

A test registers a fault for one API, one HTTP method and a path prefix. The
next `times` matching requests get it, and then the fault is used up:

    sandbox.faults.add(api="revel", method="POST", path="/resources/Order/", kind="drop_after")

Kinds and their options:

- latency: wait `delay` seconds (default 1), then handle the request normally.
- status: respond with `status` and the JSON `body` (default {"error": <reason phrase>})
  and, when `retry_after` is given, a Retry-After header. The request is not handled.
- html: answer `status` (default 200) with an HTML login page, or an HTML error
  page for a status of 400 or more, as a misconfigured proxy or an expired
  session does. The request is not handled.
- drop_after: handle the request normally (so a POST does create the object),
  then close the connection without sending a response.
- delay_after: handle the request normally, then wait `delay` seconds before
  answering (default 1), so a client with a shorter read timeout times out after the write.
"""

import threading
from dataclasses import dataclass, field

APIS = ("tripleseat", "revel")
KINDS = ("latency", "status", "html", "drop_after", "delay_after")
ANY_METHOD = "*"


@dataclass
class Fault:
    api: str
    method: str  # upper case, or "*" for any method
    path: str  # prefix of the request path, without the query string
    kind: str
    times: int
    options: dict = field(default_factory=dict)

    def matches(self, api: str, method: str, path: str) -> bool:
        if self.api != api:
            return False
        if self.method not in (ANY_METHOD, method.upper()):
            return False
        return path.startswith(self.path)

    @property
    def delay(self) -> float:
        return float(self.options.get("delay", 1.0))

    @property
    def status(self) -> int:
        default = 200 if self.kind == "html" else 500
        return int(self.options.get("status", default))


class FaultInjector:
    """Registered faults; the request handlers take them one request at a time. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, *, api: str, method: str = ANY_METHOD, path: str = "/", kind: str, times: int = 1, **options) -> Fault:
        """Register a fault for the next `times` requests that match api, method and path prefix."""
        if api not in APIS:
            raise ValueError(f"fault api {api!r} is not valid: use one of {', '.join(APIS)}")
        if kind not in KINDS:
            raise ValueError(f"fault kind {kind!r} is not valid: use one of {', '.join(KINDS)}")
        if times < 1:
            raise ValueError(f"fault times {times!r} is too small: use 1 or more")
        if kind in ("latency", "delay_after") and float(options.get("delay", 1.0)) < 0:
            raise ValueError(f"fault delay {options['delay']!r} is negative: use seconds of 0 or more")

        fault = Fault(api, method.upper(), path, kind, times, dict(options))
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, api: str, method: str, path: str) -> Fault | None:
        """Return the oldest fault that matches the request and count one use of it, or None."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(api, method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        """Return the faults not used up yet (copies of their current state)."""
        with self._lock:
            return [Fault(f.api, f.method, f.path, f.kind, f.times, dict(f.options)) for f in self._faults]
