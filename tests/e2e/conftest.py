import pytest

from tsync.config import settings_from_values
from tsync.engine import build_engine
from tsync.sandbox import Sandbox
from tsync.store import Store


class RecordingNotifier:
    """Collects alerts and run reports in memory; e-mail delivery has its own tests."""

    def __init__(self):
        self.alerts = []
        self.reports = []

    def alert(self, subject, body, *, correlation_id):
        self.alerts.append((subject, body, correlation_id))
        return True

    def run_finished(self, result, *, context):
        self.reports.append((result, context))
        return True


@pytest.fixture
def sandbox(tmp_path):
    with Sandbox(tmp_path / "sandbox") as running:
        yield running


@pytest.fixture
def settings(sandbox):
    return settings_from_values(sandbox.settings_values())


@pytest.fixture
def notifier():
    return RecordingNotifier()


@pytest.fixture
def make_engine(settings, notifier):
    """Build engines on one ledger file, as separate processes would share it."""
    stores = []

    def make(**overrides):
        engine_settings = settings.with_overrides(**overrides) if overrides else settings
        store = Store(engine_settings.db_path)
        stores.append(store)
        return build_engine(engine_settings, store=store, notifier=notifier)

    yield make
    for store in stores:
        store.close()
