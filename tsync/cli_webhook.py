"""CLI commands for webhooks: `tsync serve-webhook` and `tsync sandbox deliver`."""

import json
from datetime import datetime, timezone

import click

from tsync.errors import ConfigError
import requests

from tsync.cli import CliState
from tsync.webhook.payload import BOOKING_TRIGGERS, DOCUMENT_TRIGGERS, RELEVANT_TRIGGERS
from tsync.webhook.server import DEFAULT_PATH, serve
from tsync.webhook.signature import SCHEMES, SIGNATURE_HEADER, sign

DEFAULT_DELIVERY_URL = f"http://127.0.0.1:8000{DEFAULT_PATH}"
DELIVERY_TIMEOUT = 10.0  # seconds


@click.command("serve-webhook")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Use 0.0.0.0 only behind a TLS proxy.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port to listen on.")
@click.option("--path", default=DEFAULT_PATH, show_default=True, help="URL path that Tripleseat posts deliveries to.")
@click.option("--signature-scheme", type=click.Choice(SCHEMES), default="auto", show_default=True,
              help="X-Signature format to accept. auto tries t_v1, then hex, then base64; "
                   "the log names the one that matched so you can pin it.")
@click.option("--no-signature-check", is_flag=True,
              help="INSECURE: accept deliveries without checking X-Signature. For local testing only.")
@click.option("--max-connections", type=click.IntRange(min=1), default=64, show_default=True,
              help="Requests handled at once; more get 503.")
@click.option("--request-timeout", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="Seconds a client has to send its whole request; slower ones get 408.")
@click.option("--max-body", type=click.IntRange(min=1024), default=1024 * 1024, show_default=True,
              help="Largest request body in bytes; larger ones get 413.")
@click.pass_obj
def serve_webhook(state: CliState, host, port, path, signature_scheme, no_signature_check, max_connections,
                  request_timeout, max_body):
    """Receive Tripleseat webhooks and sync every event they name.

    Each signed delivery is stored in the ledger's inbox before the 200 reply
    and synced by a background worker, with retries. The server also offers
    GET /healthz and, with TSYNC_API_TOKEN set, GET /api/sync/tripleseat.
    SIGTERM or Ctrl-C stops it after the delivery in hand.

    \b
    Example:
        tsync serve-webhook --port 8000 --signature-scheme t_v1
    """
    settings = state.settings()
    store = state.store()
    notifier = state.notifier()

    def announce(server) -> None:
        click.echo(f"Listening on {server.url} (Ctrl-C to stop)")

    serve(
        settings,
        host=host,
        port=port,
        path=path,
        signature_scheme=signature_scheme,
        allow_unsigned=no_signature_check,
        engine_factory=lambda: state.build_engine(notifier=notifier),
        notifier=notifier,
        store=store,
        ready=announce,
        max_connections=max_connections,
        request_timeout=request_timeout,
        max_body=max_body,
    )


@click.command("deliver")
@click.argument("event_id", type=click.IntRange(min=1))
@click.option("--url", default=DEFAULT_DELIVERY_URL, show_default=True, help="Webhook URL of a running serve-webhook.")
@click.option("--trigger", type=click.Choice(sorted(RELEVANT_TRIGGERS), case_sensitive=False),
              default="STATUS_CHANGE_EVENT", show_default=True, help="webhook_trigger_type to send.")
@click.option("--secret", help="Signing key [default: TRIPLESEAT_WEBHOOK_SECRET, or the sandbox's key with --sandbox].")
@click.pass_obj
def deliver(state: CliState, event_id, url, trigger, secret):
    """Send a signed webhook delivery for one event, as Tripleseat would.

    The body names the event and a fresh updated_at, so each call is a new
    delivery. It is signed with the t_v1 scheme.

    \b
    Example:
        tsync --sandbox serve-webhook &
        tsync --sandbox sandbox deliver 55500101 --trigger STATUS_CHANGE_EVENT
    """
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint="--url")
    if not secret and state.use_sandbox:
        # The sandbox's listener uses a fixed key, so there is no need to start a second sandbox to read it.
        from tsync.sandbox import SANDBOX_WEBHOOK_SECRET

        secret = SANDBOX_WEBHOOK_SECRET
    if not secret:
        secret = (state.values().get("TRIPLESEAT_WEBHOOK_SECRET") or "").strip()
    if not secret:
        raise ConfigError("TRIPLESEAT_WEBHOOK_SECRET is missing: set it or pass --secret to sign the delivery")

    body = json.dumps(delivery_payload(trigger.upper(), event_id), separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)}
    try:
        response = requests.post(url, data=body, headers=headers, timeout=DELIVERY_TIMEOUT)
    except requests.RequestException as error:
        raise click.ClickException(f"delivery to {url} failed: {error} (is `tsync serve-webhook` running there?)") from None

    click.echo(f"HTTP {response.status_code} {response.reason}")
    click.echo(response.text.rstrip())
    if response.status_code >= 400:
        raise click.ClickException(f"the webhook server rejected the delivery with HTTP {response.status_code}")


def delivery_payload(trigger: str, event_id: int) -> dict:
    """Build a minimal payload of the shape Tripleseat sends for `trigger`."""
    updated_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if trigger in BOOKING_TRIGGERS:
        return {"webhook_trigger_type": trigger, "booking": {"event_ids": [event_id], "updated_at": updated_at}}
    if trigger in DOCUMENT_TRIGGERS:
        return {"webhook_trigger_type": trigger, "document": {"event_id": event_id, "updated_at": updated_at}}
    return {"webhook_trigger_type": trigger, "event": {"id": event_id, "updated_at": updated_at}}
