"""Webhook deliveries already taken in, so that each is processed once (R-HOOK-3).

A delivery's key is the platform's own delivery id where it sends one (Shopify
``X-Shopify-Webhook-Id``, WooCommerce ``X-WC-Webhook-Delivery-ID``), else a hash of the topic,
the order and what the body says of its state (Cartum, see ``sync/webhooks.delivery_key``).
The unique key (store, delivery key) makes a repeated delivery, or two copies arriving at once,
fail to insert: the second is answered 200 and does nothing. Rows older than
RETAIN_WEBHOOK_DELIVERIES_DAYS (7) are deleted by the hourly prune (``sync/retention``): the
platforms retry for hours (Shopify 4, WooCommerce less), not for days.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime, utcnow


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("store_id", "delivery_key", name="uq_webhook_deliveries_store_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    delivery_key: Mapped[str] = mapped_column(String(128))
    topic: Mapped[str] = mapped_column(String(64), default="")
    external_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
