"""Tripleseat webhooks: signature checks, the HTTP listener and the durable inbox worker."""

from tsync.webhook.server import WebhookServer, serve
from tsync.webhook.signature import SignatureError, sign, verify
from tsync.webhook.worker import InboxWorker

__all__ = ["InboxWorker", "SignatureError", "WebhookServer", "serve", "sign", "verify"]
