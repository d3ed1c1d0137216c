"""Demo stores for `make run`: one store per platform, connected to the simulator the launcher
started, so that a newcomer sees imported orders within a minute.

The launcher (scripts/run.py) says where each simulator listens and how to sign in to it:
``ORDERDOCK_DEMO_<PLATFORM>_URL`` and ``ORDERDOCK_DEMO_<PLATFORM>_SETTINGS``, a JSON object
``{"credentials": {...}, "timezone": "...", "language": "..."}``; the product itself knows
nothing of the simulators. Idempotent: a second run updates the same stores (new ports),
and enqueues the initial import (after the commit) of each store not imported yet.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator

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


def seed_demo_stores() -> Iterator[str]:
    """Connect (or update) the demo store of every simulator announced; a line per store."""
    from webapp.sync.enqueue import enqueue_initial_import

    for platform in PLATFORMS:
        spec = _spec(platform)
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
        yield f"{spec.name} ({PLATFORMS[platform].title}) connected to {store.url}."


def _spec(platform: str) -> StoreSpec | None:
    url = os.environ.get(f"ORDERDOCK_DEMO_{platform.upper()}_URL")
    if not url or platform not in DEMO:
        return None
    settings = json.loads(os.environ.get(f"ORDERDOCK_DEMO_{platform.upper()}_SETTINGS") or "{}")
    name, location = DEMO[platform]
    return StoreSpec(platform=platform, name=name, url=url, location=location, order_type=ORDER_TYPE,
                     credentials=settings.get("credentials", {}), guess_statuses=True,
                     language=settings.get("language", ""), timezone=settings.get("timezone", ""))
