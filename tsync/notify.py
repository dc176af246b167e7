"""E-mail reports of sync runs and alerts that need a person, sent with smtplib.

A failed e-mail (an SMTP or network error, or any other exception while the
message is built or sent) is logged in one line and reported as False, so it
does not fail the sync that triggered it.
"""

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from tsync.config import SmtpSettings
from tsync.errors import ConfigError
from tsync.logs import log_context
from tsync.models import EventResult, RunResult

logger = logging.getLogger(__name__)

POLICIES = ("failures", "all", "off")
SMTP_TIMEOUT = 15.0  # seconds, for the connection and each SMTP command


class Notifier:
    """Sends run reports by `policy` ("failures", "all" or "off") and alerts to NOTIFY_TO."""

    def __init__(self, smtp: SmtpSettings | None, policy: str = "failures", *, timeout: float = SMTP_TIMEOUT):
        if policy not in POLICIES:
            raise ConfigError(f"NOTIFY_POLICY {policy!r} is not valid: use one of {', '.join(POLICIES)}")
        self.smtp = smtp
        self.policy = policy
        self.timeout = timeout

    @property
    def enabled(self) -> bool:
        return self.smtp is not None and self.policy != "off"

    def run_finished(self, result: RunResult, *, context: str) -> bool:
        """Send the report of a finished run when the policy requires it; return whether it was sent.

        `context` names what started the run, such as "webhook STATUS_CHANGE_EVENT".
        """
        if not self.enabled:
            return False
        if self.policy == "failures" and result.success:
            return False
        return self._send(run_subject(result), run_body(result, context), correlation_id=result.run_id)

    def alert(self, subject: str, body: str, *, correlation_id: str) -> bool:
        """Send an alert under every policy except "off"; return whether it was sent."""
        if not self.enabled:
            return False
        prefixed = subject if subject.startswith("[tsync]") else f"[tsync] {subject}"
        return self._send(f"{prefixed} ({correlation_id})", body, correlation_id=correlation_id)

    def _send(self, subject: str, body: str, *, correlation_id: str) -> bool:
        smtp = self.smtp
        with log_context(run_id=correlation_id):
            # Every Exception is caught, not only SMTP and network errors, because a non-ASCII
            # username or password makes smtplib raise UnicodeEncodeError and a sender address
            # with a line break raises ValueError while the headers are built.
            try:
                message = _build_message(smtp, subject, body)
                with self._connect() as client:
                    if smtp.username:
                        client.login(smtp.username, smtp.password or "")
                    client.send_message(message)
            except Exception as error:
                logger.error(
                    "sending e-mail through %s:%s (%s) failed: %s: %s",
                    smtp.host, smtp.port, smtp.security, type(error).__name__, _redacted(str(error), smtp.password),
                )
                return False
            logger.info("e-mail sent to %d recipient(s): %s", len(smtp.recipients), subject)
        return True

    def _connect(self) -> smtplib.SMTP:
        smtp = self.smtp
        if smtp.security == "tls":
            return smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=self.timeout, context=ssl.create_default_context())

        client = smtplib.SMTP(smtp.host, smtp.port, timeout=self.timeout)
        if smtp.security == "starttls":
            try:
                client.starttls(context=ssl.create_default_context())
            except BaseException:
                client.close()
                raise
        return client


def _build_message(smtp: SmtpSettings, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
    message.set_content(body)
    return message


def _redacted(text: str, password: str | None) -> str:
    """Return `text` with the SMTP password replaced, in case an error message quotes it."""
    if password:
        text = text.replace(password, "***")
    return " ".join(text.split())


def run_subject(result: RunResult) -> str:
    """Return a subject such as "[tsync] 2 of 14 events failed (sync-3f2a9c1d)"."""
    summary = result.summary
    total = summary["queried"]
    noun = "event" if total == 1 else "events"
    prefix = "dry run: " if result.dry_run else ""
    if summary["failed"]:
        text = f"{summary['failed']} of {total} {noun} failed"
    else:
        text = f"{total} {noun} synced, {summary['injected']} injected, {summary['skipped']} skipped"
    return f"[tsync] {prefix}{text} ({result.run_id})"


def run_body(result: RunResult, context: str) -> str:
    """Return the plain-text report of a run: the outcome of each event, the summary and the trigger."""
    summary = result.summary
    lines = [
        f"Run {result.run_id} ({result.mode}), started by {context}.",
        (
            f"Summary: {summary['queried']} queried, {summary['injected']} injected, "
            f"{summary['skipped']} skipped, {summary['failed']} failed."
        ),
    ]
    if result.dry_run:
        lines.append("Dry run: nothing was written to Revel.")

    for status, title in (("failed", "Failed"), ("injected", "Injected"), ("skipped", "Skipped")):
        events = [event for event in result.events if event.status == status]
        if not events:
            continue
        lines.append("")
        lines.append(f"{title}:")
        lines.extend(f"  {_describe_event(event)}" for event in events)

    lines.append("")
    lines.append(f"Correlation id: {result.run_id} (search the tsync log for it).")
    return "\n".join(lines) + "\n"


def _describe_event(event: EventResult) -> str:
    parts = [f"event {event.id}"]
    if event.name:
        parts.append(f'"{event.name}"')
    parts.append(event.status)
    if event.revel_order_id is not None:
        parts.append(f"Revel order {event.revel_order_id}")
    text = ", ".join(parts)
    if event.reason:
        text += f": {event.reason}"
    if event.status == "failed" and event.retryable:
        text += " (temporary error: a later run may succeed)"
    return text
