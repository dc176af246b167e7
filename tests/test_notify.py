import email
import logging
import socket
from email import policy as email_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tsync.config import SmtpSettings
from tsync.errors import ConfigError
from tsync.models import EventResult, RunResult
from tsync.notify import Notifier, run_subject


class Inbox:
    """aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self):
        return [email.message_from_bytes(envelope.content, policy=email_policy.default) for envelope in self.envelopes]


def free_port() -> int:
    # aiosmtpd's Controller cannot report the port it bound for port 0, so pick one first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def tsync_logs(caplog, monkeypatch):
    # configure_logging() stops propagation to the root logger, where caplog listens.
    monkeypatch.setattr(logging.getLogger("tsync"), "propagate", True)
    caplog.set_level(logging.INFO, logger="tsync")
    return caplog


def smtp_settings(port: int, *, security: str = "none", username: str | None = None, password: str | None = None):
    return SmtpSettings(
        host="127.0.0.1",
        port=port,
        username=username,
        password=password,
        security=security,
        sender="tsync@venue.example",
        recipients=("kitchen@venue.example", "manager@venue.example"),
    )


def mixed_result() -> RunResult:
    return RunResult("sync-3f2a9c1d", "recent", events=[
        EventResult(48213377, "Café Zoë Rehearsal Dinner", "failed", reason="MAPPING - item 'Oysters' has no Revel product"),
        EventResult(48213378, "Harbor Tech Offsite", "injected", revel_order_id=99123),
        EventResult(48213379, "Tentative Lunch", "skipped", reason="STATUS - TENTATIVE is not eligible"),
    ])


def clean_result() -> RunResult:
    return RunResult("sync-00000001", "single", events=[
        EventResult(48213378, "Harbor Tech Offsite", "injected", revel_order_id=99123),
    ])


def test_run_finished_failures_sends_on_failure(smtp_server):
    inbox, port = smtp_server
    notifier = Notifier(smtp_settings(port), "failures")

    assert notifier.run_finished(mixed_result(), context="recent --hours-back 48") is True
    assert len(inbox.envelopes) == 1
    assert inbox.envelopes[0].rcpt_tos == ["kitchen@venue.example", "manager@venue.example"]
    assert inbox.envelopes[0].mail_from == "tsync@venue.example"


def test_run_finished_failures_skips_success(smtp_server):
    inbox, port = smtp_server
    notifier = Notifier(smtp_settings(port), "failures")

    assert notifier.run_finished(clean_result(), context="webhook STATUS_CHANGE_EVENT") is False
    assert inbox.envelopes == []


def test_run_finished_all_sends_success(smtp_server):
    inbox, port = smtp_server
    notifier = Notifier(smtp_settings(port), "all")

    assert notifier.run_finished(clean_result(), context="webhook STATUS_CHANGE_EVENT") is True
    message = inbox.messages()[0]
    assert message["Subject"] == "[tsync] 1 event synced, 1 injected, 0 skipped (sync-00000001)"
    assert "Revel order 99123" in message.get_content()


def test_policy_off_sends_nothing(smtp_server):
    inbox, port = smtp_server
    notifier = Notifier(smtp_settings(port), "off")

    assert notifier.run_finished(mixed_result(), context="recent --hours-back 48") is False
    assert notifier.alert("Void Revel order 1", "body", correlation_id="hook-1") is False
    assert inbox.envelopes == []


def test_no_smtp_sends_nothing():
    notifier = Notifier(None, "all")

    assert notifier.run_finished(mixed_result(), context="recent --hours-back 48") is False
    assert notifier.alert("subject", "body", correlation_id="hook-1") is False


def test_report_headers_and_body(smtp_server):
    inbox, port = smtp_server
    Notifier(smtp_settings(port)).run_finished(mixed_result(), context="recent --hours-back 48")

    message = inbox.messages()[0]
    assert message["Subject"] == "[tsync] 1 of 3 events failed (sync-3f2a9c1d)"
    assert message["To"] == "kitchen@venue.example, manager@venue.example"
    assert message["From"] == "tsync@venue.example"

    body = message.get_content()
    assert "started by recent --hours-back 48" in body
    assert "3 queried, 1 injected, 1 skipped, 1 failed" in body
    assert 'event 48213377, "Café Zoë Rehearsal Dinner", failed: MAPPING - item \'Oysters\' has no Revel product' in body
    assert 'event 48213378, "Harbor Tech Offsite", injected, Revel order 99123' in body
    assert "STATUS - TENTATIVE is not eligible" in body
    assert "sync-3f2a9c1d" in body


def test_report_marks_retryable_and_dry_run():
    result = RunResult("sync-1", "single", dry_run=True, events=[
        EventResult(5, "Gala", "failed", reason="Revel timed out", retryable=True),
    ])
    assert run_subject(result) == "[tsync] dry run: 1 of 1 event failed (sync-1)"

    from tsync.notify import run_body
    body = run_body(result, "manual sync event 5")
    assert "Dry run: nothing was written to Revel." in body
    assert "Revel timed out (temporary error" in body


def test_alert_sent_under_failures_policy(smtp_server):
    inbox, port = smtp_server
    notifier = Notifier(smtp_settings(port), "failures")

    assert notifier.alert("Void Revel order 99123: event 5 cancelled", "Void it by hand.\n", correlation_id="hook-ab12") is True
    message = inbox.messages()[0]
    assert message["Subject"] == "[tsync] Void Revel order 99123: event 5 cancelled (hook-ab12)"
    assert message.get_content().strip() == "Void it by hand."


def test_alert_keeps_existing_prefix(smtp_server):
    inbox, port = smtp_server
    Notifier(smtp_settings(port)).alert("[tsync] Void Revel order 1", "body\n", correlation_id="hook-1")

    assert inbox.messages()[0]["Subject"] == "[tsync] Void Revel order 1 (hook-1)"


def test_login_when_username_set():
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port,
                            authenticator=authenticator, auth_require_tls=False)
    controller.start()
    try:
        notifier = Notifier(smtp_settings(port, username="alerts", password="s3cret"))
        assert notifier.alert("subject", "body\n", correlation_id="hook-1") is True
    finally:
        controller.stop()

    assert logins == [(b"alerts", b"s3cret")]
    assert len(inbox.envelopes) == 1


def test_unreachable_server_returns_false(tsync_logs):
    notifier = Notifier(smtp_settings(free_port()), timeout=2)

    assert notifier.run_finished(mixed_result(), context="recent --hours-back 48") is False
    errors = [record for record in tsync_logs.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "failed" in errors[0].getMessage()
    assert "ConnectionRefusedError" in errors[0].getMessage()


def test_starttls_unsupported_returns_false(smtp_server, tsync_logs):
    inbox, port = smtp_server
    notifier = Notifier(smtp_settings(port, security="starttls"), timeout=2)

    assert notifier.alert("subject", "body", correlation_id="hook-1") is False
    assert inbox.envelopes == []
    assert any("SMTPNotSupportedError" in record.getMessage() for record in tsync_logs.records)


def test_tls_against_plain_server_returns_false(smtp_server, tsync_logs):
    inbox, port = smtp_server
    notifier = Notifier(smtp_settings(port, security="tls"), timeout=2)

    assert notifier.alert("subject", "body", correlation_id="hook-1") is False
    assert inbox.envelopes == []
    assert any(record.levelno == logging.ERROR for record in tsync_logs.records)


def test_password_never_logged(tsync_logs):
    notifier = Notifier(smtp_settings(free_port(), username="alerts", password="s3cret"), timeout=2)

    notifier.alert("subject", "body", correlation_id="hook-1")
    assert all("s3cret" not in record.getMessage() for record in tsync_logs.records)


def test_invalid_policy_rejected():
    with pytest.raises(ConfigError, match="NOTIFY_POLICY 'sometimes' is not valid"):
        Notifier(None, "sometimes")


@pytest.fixture
def auth_smtp_server():
    """An SMTP server that accepts any login over plain text and records each one."""
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False)
    controller.start()
    try:
        yield inbox, port, logins
    finally:
        controller.stop()


def test_non_ascii_password_returns_false(auth_smtp_server, tsync_logs):
    inbox, port, _ = auth_smtp_server
    notifier = Notifier(smtp_settings(port, username="alerts", password="pässwörd"), timeout=2)

    assert notifier.alert("subject", "body\n", correlation_id="hook-1") is False

    assert inbox.envelopes == []
    errors = [record.getMessage() for record in tsync_logs.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "UnicodeEncodeError" in errors[0]
    assert "\n" not in errors[0]
    assert all("pässwörd" not in record.getMessage() for record in tsync_logs.records)


def test_non_ascii_username_returns_false(auth_smtp_server, tsync_logs):
    inbox, port, logins = auth_smtp_server
    notifier = Notifier(smtp_settings(port, username="prüfer", password="s3cret"), timeout=2)

    assert notifier.run_finished(mixed_result(), context="recent --hours-back 48") is False

    assert logins == []
    assert inbox.envelopes == []
    assert any("UnicodeEncodeError" in record.getMessage() for record in tsync_logs.records)


def test_invalid_sender_returns_false(smtp_server, tsync_logs):
    inbox, port = smtp_server
    settings = smtp_settings(port)
    settings = SmtpSettings(settings.host, settings.port, None, None, "none", "tsync@venue.example\nBcc: x@y.example",
                            settings.recipients)

    assert Notifier(settings).alert("subject", "body\n", correlation_id="hook-1") is False

    assert inbox.envelopes == []
    errors = [record.getMessage() for record in tsync_logs.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "ValueError" in errors[0]
