"""Webhook deliveries from the shops (R-HOOK-1..3): ``POST|PUT /hooks/<store token>/<platform>``.

No sign-in and no CSRF token (the shop is not a browser): a delivery is accepted only when it
proves it comes from the store's shop. The token in the address is random and unguessable; on
top of it Shopify and WooCommerce sign the raw body (HMAC-SHA256 with the app's client secret,
or with the secret we gave the WooCommerce subscription), checked in constant time by the
adapter (``Platform.read_webhook``). Cartum signs nothing: there the token is the only proof,
and a forged delivery could only make us re-read an order from the shop.

Every refusal is 401 with a short plain answer, whether the address is unknown, belongs to a
deleted store or another platform, or the signature is wrong, so an answer never tells which;
a refusal for a known store gets a line in its sync log (``webhooks.refused``), never a job.
The handler only verifies, records the delivery and enqueues (``webhooks.accept``): it answers
within milliseconds, as Shopify expects within 5 seconds, and asks the shop nothing. Redis away
gets 503, so the shop delivers again later.
"""
from __future__ import annotations

import logging

from flask import Blueprint, request
from redis.exceptions import RedisError

from webapp.extensions import csrf, db
from webapp.platforms import PLATFORMS
from webapp.platforms.base import WebhookRefused
from webapp.secrets import SecretUnreadable
from webapp.sync import webhooks

bp = Blueprint("hooks", __name__)
csrf.exempt(bp)
log = logging.getLogger(__name__)

MAX_BODY = 2 * 1024 * 1024
"""Bytes a delivery may have: an order with hundreds of lines is a few hundred kilobytes."""
WRONG_KEYS = ("A webhook could not be verified: the store's saved credentials open with none of this server's "
              "encryption keys. Edit the store and enter its credentials again.")


@bp.route("/hooks/<hook_token>/<platform>", methods=["POST", "PUT"])
def receive(hook_token: str, platform: str):
    """One delivery: verified, recorded once, its order re-read by a background job."""
    body = _body()
    if body is None:
        return _answer(413, "Too large.")
    store = webhooks.store_for_token(hook_token)
    if store is None or store.platform != platform or platform not in PLATFORMS:
        if store is not None:
            webhooks.refused(store, f"A webhook for {platform[:20]!r} came to this {PLATFORMS[store.platform].title} "
                                    "store's address and was refused. Check the webhooks in the shop's admin.")
        else:
            log.info("webhook refused: unknown address")
        return _answer(401, "Refused.")
    adapter = PLATFORMS[platform]
    try:
        key = adapter.webhook_key(store.credentials, store.hook_secret)
        event = adapter.read_webhook(request.headers, body, key)
    except WebhookRefused as error:
        webhooks.refused(store, error.message)
        return _answer(401, "Refused.")
    except SecretUnreadable:
        webhooks.refused(store, WRONG_KEYS)
        return _answer(401, "Refused.")
    if event.ping:
        return _answer(200, "OK")  # WooCommerce's test call when the webhook is created
    try:
        webhooks.accept(store, event)
    except RedisError as error:
        db.session.rollback()
        log.warning("store %s: webhook not taken in, Redis is away (%s); the shop will deliver it again",
                    store.id, error)
        return _answer(503, "Busy; deliver again later.")
    return _answer(200, "OK")


def _body() -> bytes | None:
    """The raw body (the signature is over its exact bytes), None beyond MAX_BODY."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    body = request.stream.read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else body


def _answer(status: int, text: str):
    return text, status, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
