"""Connecting a store, shared by the wizard (``views/stores.py``) and ``flask stores``.

* ``Draft`` is step 1 as typed. Between the wizard's two steps it waits in Redis, encrypted
  with the credentials key and gone after ``DRAFT_SECONDS``, so a password typed in step 1
  is never sent back to the browser (R-CON-8) and an abandoned wizard leaves no row behind.
  Beside it, under the same token, step 1 as last sent (``Typed``): a failed Next and Back
  from step 2 keep every field, the password too without showing it (R-CON-4).
* ``check`` verifies URL and credentials live through the adapter (R-CON-4) and reads the
  platform's statuses for step 2 (R-CON-5).
* ``suggested_status`` pre-selects a back-office status for each platform status by name.
* ``save`` turns a draft and its mapping into the Store row.
* ``shop_refusal``, ``reconnect_note`` and ``settle_shop``: a shop's identity outlives its
  store (R-REL-1). A shop is connected by one live store at a time; connecting a shop whose
  store was deleted takes over the orders already imported from it; editing a store's URL
  (the shop moved) moves its shop's address with it.
"""
from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field

from sqlalchemy import func, select, update

from webapp.extensions import db, redis_client
from webapp.models import Employee, Order, Role, Shop, Status, StatusGroup, Store
from webapp.models.stores import shop_for
from webapp.phones import clean_country
from webapp.platforms import PLATFORMS
from webapp.platforms.base import RemoteStatus, shop_address
from webapp.secrets import SecretUnreadable, decrypt, encrypt
from webapp.sync.platform import http_for_web, platform_from

DRAFT_SECONDS = 30 * 60
SHOP_COUNTRY = "shop"
"""R-CLI-5: the store's country choice "the shop's own": ``check`` asks the shop for it."""
DRAFT_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")

# Suggestions by name, first match wins: "Not delivered" is a failure before "delivered" is
# a success, and "Awaiting shipment" is delivery before "awaiting" is pending.
GROUP_WORDS = (
    (StatusGroup.CLOSED_FAIL, ("not deliver", "cancel", "refund", "fail", "trash", "void")),
    (StatusGroup.DELIVERY, ("delivering", "shipping", "shipment", "courier")),
    (StatusGroup.CLOSED_SUCCESS, ("deliver", "complet", "fulfil", "done")),
    (StatusGroup.PENDING, ("hold", "wait")),
    (StatusGroup.IN_PROGRESS, ("process", "paid")),
)


@dataclass
class Draft:
    """Step 1 of the wizard; ``store_id`` is set when an existing store is being edited."""

    platform: str
    name: str
    url: str
    location_id: int
    order_type_id: int
    credentials: dict[str, str]
    enabled: bool = True
    language: str = ""
    identify_by: str = ""
    managers_all: bool = True
    manager_ids: list[int] = field(default_factory=list)
    timezone: str = ""
    store_id: int | None = None
    statuses: list[dict[str, str]] = field(default_factory=list)  # read live in step 1
    country: str | None = None  # R-CLI-5; None: the platform's default (Store.country)

    def remote_statuses(self) -> list[RemoteStatus]:
        return [RemoteStatus(**status) for status in self.statuses]


def _draft_key(token: str, employee_id: int) -> str:
    return f"orderdock:wizard:{employee_id}:{token}"


def _typed_key(token: str, employee_id: int) -> str:
    return f"{_draft_key(token, employee_id)}:typed"


def draft_token(value: str | None) -> str | None:
    """A token as ``keep_draft`` makes them, from a form or a URL; None for anything else."""
    return value if value and DRAFT_TOKEN.fullmatch(value) else None


def keep_draft(draft: Draft, employee_id: int, token: str | None = None) -> str:
    """Keep the draft for step 2; the token that names it (only for this employee). The
    wizard's own token is reused, so what it kept so far stays with the draft."""
    token = token or secrets.token_urlsafe(16)
    redis_client().set(_draft_key(token, employee_id), encrypt(json.dumps(asdict(draft))), ex=DRAFT_SECONDS)
    return token


@dataclass
class Typed:
    """Step 1 as last sent in one wizard: the fields as posted (never a secret one) and the
    secrets typed so far, which a password field never shows again (R-CON-8)."""

    platform: str
    store_id: int | None
    fields: dict[str, list[str]]
    secrets: dict[str, str]


def keep_typed(token: str | None, employee_id: int, typed: Typed) -> str:
    """Keep step 1 as sent (encrypted, ``DRAFT_SECONDS``), for a failed Next and for Back: the
    token that names it (a new one when ``token`` is None)."""
    token = token or secrets.token_urlsafe(16)
    redis_client().set(_typed_key(token, employee_id), encrypt(json.dumps(asdict(typed))), ex=DRAFT_SECONDS)
    return token


def load_typed(token: str | None, employee_id: int) -> Typed | None:
    """What ``keep_typed`` kept; None when expired, someone else's or unreadable."""
    stored = redis_client().get(_typed_key(token, employee_id)) if token else None
    if stored is None:
        return None
    try:
        return Typed(**json.loads(decrypt(stored.decode())))
    except (SecretUnreadable, TypeError, ValueError):
        return None


def load_draft(token: str, employee_id: int) -> Draft | None:
    """The kept draft, or None when it expired, belongs to someone else or cannot be read."""
    stored = redis_client().get(_draft_key(token, employee_id))
    if stored is None:
        return None
    try:
        return Draft(**json.loads(decrypt(stored.decode())))
    except (SecretUnreadable, TypeError, ValueError):
        return None


def drop_draft(token: str, employee_id: int) -> None:
    redis_client().delete(_draft_key(token, employee_id), _typed_key(token, employee_id))


def check(draft: Draft) -> list[RemoteStatus]:
    """R-CON-4/5: sign in to the shop and read its statuses; raises PlatformError. A draft whose
    country is ``SHOP_COUNTRY`` gets the shop's own, or none when the shop does not say (R-CLI-5)."""
    platform = platform_from(draft.platform, draft.url, draft.credentials, draft.timezone, draft.language,
                             http_for_web())
    platform.verify()
    if draft.country == SHOP_COUNTRY:
        draft.country = clean_country(platform.shop_country())
    return platform.statuses() if PLATFORMS[draft.platform].RULES.statuses_in else []


def offered_managers(location_id: int | None) -> list[Employee]:
    """R-CON-2: active employees with the Manager role who may see the location."""
    if not location_id:
        return []
    query = select(Employee).where(Employee.active.is_(True), Employee.role == Role.MANAGER).order_by(Employee.name)
    return [person for person in db.session.scalars(query) if person.can_access(location_id)]


def our_statuses() -> list[Status]:
    return list(db.session.scalars(select(Status).order_by(Status.position, Status.id)))


def suggested_status(platform_name: str, ours: list[Status], *, stand_in: bool = True) -> Status | None:
    """Our status of the same name, else our first status of the group the name suggests; "new"
    when the name suggests none. A name that suggests a group we have no status of ("Delivered"
    with no closed status) gets a stand-in from another group only with ``stand_in`` (the CLI's
    --guess-statuses); the wizard leaves it for the employee to choose rather than import
    delivered orders as new ones."""
    text = platform_name.lower()
    exact = next((status for status in ours if status.name.lower() == text), None)
    if exact is not None:
        return exact
    group = next((g for g, words in GROUP_WORDS if any(w in text for w in words)), StatusGroup.NEW)
    fitting = [s for s in ours if s.group == group]
    if not fitting and stand_in:
        fitting = [s for s in ours if s.group == StatusGroup.NEW] or ours
    return fitting[0] if fitting else None


def suggested_mapping(remote: list[RemoteStatus], current: dict[str, int] | None = None) -> dict[str, int]:
    """Platform status id -> our status id: what is saved, else a suggestion by name."""
    ours, current = our_statuses(), current or {}
    known = {status.id for status in ours}
    mapping = {}
    for status in remote:
        if current.get(status.id) in known:
            mapping[status.id] = current[status.id]
        elif (suggestion := suggested_status(status.name, ours, stand_in=False)) is not None:
            mapping[status.id] = suggestion.id
    return mapping


def save(draft: Draft, mapping: dict[str, int]) -> Store:
    """The store from the draft (new, or the one being edited), with its shop (``settle_shop``);
    flushed, not committed. Raises ShopTaken."""
    store = db.session.get(Store, draft.store_id) if draft.store_id else Store(platform=draft.platform)
    store.enabled, store.name, store.url = draft.enabled, draft.name, draft.url
    store.location_id, store.order_type_id = draft.location_id, draft.order_type_id
    store.language, store.identify_by, store.timezone = draft.language, draft.identify_by, draft.timezone
    store.credentials = draft.credentials
    if draft.country is not None and draft.country != SHOP_COUNTRY:  # R-CLI-5
        store.country = clean_country(draft.country)
    store.status_map = mapping
    store.managers_all = draft.managers_all
    chosen = set(draft.manager_ids)
    store.managers = [] if draft.managers_all else [p for p in offered_managers(draft.location_id) if p.id in chosen]
    db.session.add(store)
    settle_shop(store)
    return store


# ---------------------------------------------------------------------------------------------
# The shop behind a store (R-REL-1)
# ---------------------------------------------------------------------------------------------


class ShopTaken(ValueError):
    """The store cannot be saved with this address; the message says why and what to do."""


def shop_refusal(platform: str, url: str, store: Store | None = None) -> str | None:
    """Why ``store`` (None: a new one) cannot have the shop at ``url``; None when it can.

    A shop has one live store: a second one would sync the same orders twice. A store being
    edited keeps its shop (and the orders it imported), so it cannot take another shop's
    address: that shop's orders would then have two owners."""
    shop = _shop_at(platform, url)
    if shop is None or (store is not None and shop.id == store.shop_id):
        return None
    live_stores = select(Store).where(Store.shop_id == shop.id, Store.deleted_at.is_(None))
    if store is not None and store.id is not None:
        live_stores = live_stores.where(Store.id != store.id)
    live = db.session.scalar(live_stores.limit(1))
    if live is not None:
        return (f'This shop is connected already as the store "{live.name}", and a shop can be connected '
                f"only once. Edit that store instead (Settings > Stores > {live.name} > Edit).")
    if store is None:
        return None  # a shop whose store was deleted: connecting it again takes its orders over
    orders = _orders_of(shop.id)
    return (f"Another shop with this address is known here ({orders} of its orders were imported by a "
            "deleted store), and this store cannot take over its orders. To connect that address, add it "
            "as a new store (its orders are kept and updated), then delete this store if it is no longer needed.")


def reconnect_note(platform: str, url: str) -> str | None:
    """What connecting this shop again keeps (R-REL-1), for step 1 and ``flask stores add``."""
    shop = _shop_at(platform, url)
    orders = _orders_of(shop.id) if shop else 0
    if not orders:
        return None
    names = db.session.scalars(select(Store.name).where(Store.shop_id == shop.id, Store.deleted_at.is_not(None))
                               .order_by(Store.id.desc())).all()
    by = f" (imported by the deleted store {', '.join(dict.fromkeys(names))})" if names else ""
    plural = "orders from this shop are" if orders != 1 else "order from this shop is"
    return (f"{orders} {plural} already here{by}. They will be kept and updated by this store, "
            "not imported a second time.")


def settle_shop(store: Store) -> int:
    """Give the store its shop as it is saved (R-REL-1), and flush: a new store takes the shop at
    its address and the orders its deleted stores imported; an edited one keeps its shop, which
    moves to the new address. The number of orders taken over; raises ShopTaken."""
    with db.session.no_autoflush:  # a new store flushed now would count as the shop's live store
        refusal = shop_refusal(store.platform, store.url, store if store.id else None)
    if refusal is not None:
        raise ShopTaken(refusal)
    if store.shop is None:
        store.shop = shop_for(db.session, store.platform, store.url)
    else:
        store.shop.address = shop_address(store.url)
    db.session.flush()
    deleted = select(Store.id).where(Store.shop_id == store.shop_id, Store.deleted_at.is_not(None))
    taken = db.session.execute(update(Order).where(Order.shop_id == store.shop_id, Order.store_id.in_(deleted))
                               .values(store_id=store.id), execution_options={"synchronize_session": False})
    return taken.rowcount


def _shop_at(platform: str, url: str) -> Shop | None:
    return db.session.scalar(select(Shop).filter_by(platform=platform, address=shop_address(url)))


def _orders_of(shop_id: int) -> int:
    return db.session.scalar(select(func.count(Order.id)).where(Order.shop_id == shop_id)) or 0
