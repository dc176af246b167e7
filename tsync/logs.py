"""Operator logs on stderr, each line tagged with the run's correlation id and the event id.

The ids travel in context variables, so code deep in the engine or the API
clients logs with plain `logger.info(...)` and still carries them:

    with log_context(run_id="sync-3f2a9c1d", event_id=48213377):
        logger.info("creating order")
    # 2026-12-04T19:46:27Z INFO [sync-3f2a9c1d] event=48213377 creating order
"""

import logging
import secrets
import sys
import time
from contextlib import contextmanager
from contextvars import ContextVar

run_id_var: ContextVar[str] = ContextVar("run_id", default="-")
event_id_var: ContextVar[int | None] = ContextVar("event_id", default=None)


def new_run_id(prefix: str = "sync") -> str:
    """Return a fresh correlation id such as 'sync-3f2a9c1d'."""
    return f"{prefix}-{secrets.token_hex(4)}"


@contextmanager
def log_context(*, run_id: str | None = None, event_id: int | None = None):
    """Tag every log line inside the block with the given run and event ids."""
    tokens = []
    if run_id is not None:
        tokens.append((run_id_var, run_id_var.set(run_id)))
    if event_id is not None:
        tokens.append((event_id_var, event_id_var.set(event_id)))
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = run_id_var.get()
        event_id = event_id_var.get()
        record.event_part = f"event={event_id} " if event_id is not None else ""
        return True


class UtcFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record, datefmt=None):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", self.converter(record.created))


def configure_logging(verbose: bool = False, stream=None) -> None:
    """Send tsync's logs to stderr (or `stream`) in the operator format, replacing earlier handlers."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(UtcFormatter("%(asctime)s %(levelname)s [%(run_id)s] %(event_part)s%(message)s"))

    logger = logging.getLogger("tsync")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
