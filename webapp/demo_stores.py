"""Demo stores for `make run`: one store per platform, connected to the simulator the launcher
started, so that a newcomer sees imported orders within a minute.

The launcher (scripts/run.py) says where each simulator listens and how to sign in to it in a
JSON object on the stdin of `flask stores demo`, ``{"<platform>": {"url": "...", "credentials":
{...}, "timezone": "...", "language": "..."}}``: never in arguments or environment variables,
where any process list or child process would show the credentials (R-SEC-6). The product
itself knows nothing of the simulators. Idempotent: a second run updates the same stores (a
port taken meanwhile is replaced by a new one), and enqueues the initial import (after the
commit) of each store not imported yet. The launcher's spare shops, one per platform, are not
sent here: they are left for a newcomer to connect in the wizard.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ImportState, Store
from webapp.platforms import PLATFORMS
from webapp.stores_cli import ConnectError, StoreSpec, connect

DEMO = {  # platform: (store name, location); the demo data's locations (webapp/demo.py)
    "cartum": ("Demo Cartum shop", "Main workshop"),
    "shopify": ("Demo Shopify shop", "City shop"),
    "woocommerce": ("Demo WooCommerce shop", "Main workshop"),
}
ORDER_TYPE = "Online order"


class DemoShopsInvalid(ValueError):
    """The demo shops' description is not what the launcher sends; the message says what is wrong."""


def read_demo_shops(text: str) -> dict[str, dict]:
    """The launcher's JSON object, checked; its values are never part of a message."""
    try:
        shops = json.loads(text or "{}")
    except ValueError:
        raise DemoShopsInvalid("The demo shops on stdin are not JSON; scripts/run.py sends "
                               '{"<platform>": {"url": ..., "credentials": {...}}}.') from None
    if not isinstance(shops, dict) or not all(isinstance(shop, dict) for shop in shops.values()):
        raise DemoShopsInvalid("The demo shops on stdin must be a JSON object of one object per platform.")
    return shops


def seed_demo_stores(shops: Mapping[str, dict]) -> Iterator[str]:
    """Connect (or update) the demo store of every simulator announced; a line per store."""
    from webapp.sync import webhooks
    from webapp.sync.enqueue import enqueue_initial_import

    for platform in PLATFORMS:
        spec = _spec(platform, shops.get(platform))
        if spec is None:
            continue
        store = db.session.scalar(select(Store).filter_by(name=spec.name, deleted_at=None))
        try:
            store = connect(spec, store)
        except ConnectError as error:
            db.session.rollback()
            yield f"{spec.name}: not connected. {error}"
            continue
        db.session.add(store)
        db.session.commit()
        if store.import_state != ImportState.DONE:
            enqueue_initial_import(store)
        webhooks.register_later(store)  # R-HOOK-4: when PUBLIC_BASE_URL is set (make run sets it)
        yield f"{spec.name} ({PLATFORMS[platform].title}) connected to {store.url}."


def _spec(platform: str, shop: dict | None) -> StoreSpec | None:
    if not shop or not shop.get("url") or platform not in DEMO:
        return None
    name, location = DEMO[platform]
    return StoreSpec(platform=platform, name=name, url=shop["url"], location=location, order_type=ORDER_TYPE,
                     credentials=shop.get("credentials", {}), guess_statuses=True,
                     language=shop.get("language", ""), timezone=shop.get("timezone", ""))
