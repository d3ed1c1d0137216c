"""Connecting a store, shared by the wizard (``views/stores.py``) and ``flask stores``.

* ``Draft`` is step 1 as typed. Between the wizard's two steps it waits in Redis, encrypted
  with the credentials key and gone after ``DRAFT_SECONDS``, so a password typed in step 1
  is never sent back to the browser (R-CON-8) and an abandoned wizard leaves no row behind.
* ``check`` verifies URL and credentials live through the adapter (R-CON-4) and reads the
  platform's statuses for step 2 (R-CON-5).
* ``suggested_status`` pre-selects a back-office status for each platform status by name.
* ``save`` turns a draft and its mapping into the Store row.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field

from sqlalchemy import select

from webapp.extensions import db, redis_client
from webapp.models import Employee, Role, Status, StatusGroup, Store
from webapp.platforms import PLATFORMS
from webapp.platforms.base import RemoteStatus
from webapp.secrets import SecretUnreadable, decrypt, encrypt
from webapp.sync.platform import http_for_web, platform_from

DRAFT_SECONDS = 30 * 60

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

    def remote_statuses(self) -> list[RemoteStatus]:
        return [RemoteStatus(**status) for status in self.statuses]


def _draft_key(token: str, employee_id: int) -> str:
    return f"orderdock:wizard:{employee_id}:{token}"


def keep_draft(draft: Draft, employee_id: int) -> str:
    """Keep the draft for step 2; the token that names it (only for this employee)."""
    token = secrets.token_urlsafe(16)
    redis_client().set(_draft_key(token, employee_id), encrypt(json.dumps(asdict(draft))), ex=DRAFT_SECONDS)
    return token


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
    redis_client().delete(_draft_key(token, employee_id))


def check(draft: Draft) -> list[RemoteStatus]:
    """R-CON-4/5: sign in to the shop and read its statuses; raises PlatformError."""
    platform = platform_from(draft.platform, draft.url, draft.credentials, draft.timezone, draft.language,
                             http_for_web())
    platform.verify()
    return platform.statuses() if PLATFORMS[draft.platform].RULES.statuses_in else []


def offered_managers(location_id: int | None) -> list[Employee]:
    """R-CON-2: active employees with the Manager role who may see the location."""
    if not location_id:
        return []
    query = select(Employee).where(Employee.active.is_(True), Employee.role == Role.MANAGER).order_by(Employee.name)
    return [person for person in db.session.scalars(query) if person.can_access(location_id)]


def our_statuses() -> list[Status]:
    return list(db.session.scalars(select(Status).order_by(Status.position, Status.id)))


def suggested_status(platform_name: str, ours: list[Status]) -> Status | None:
    """Our first status of the group a platform status name suggests; "new" when unsure."""
    text = platform_name.lower()
    exact = next((status for status in ours if status.name.lower() == text), None)
    if exact is not None:
        return exact
    group = next((g for g, words in GROUP_WORDS if any(w in text for w in words)), StatusGroup.NEW)
    fitting = [s for s in ours if s.group == group] or [s for s in ours if s.group == StatusGroup.NEW] or ours
    return fitting[0] if fitting else None


def suggested_mapping(remote: list[RemoteStatus], current: dict[str, int] | None = None) -> dict[str, int]:
    """Platform status id -> our status id: what is saved, else a suggestion by name."""
    ours, current = our_statuses(), current or {}
    known = {status.id for status in ours}
    mapping = {}
    for status in remote:
        if current.get(status.id) in known:
            mapping[status.id] = current[status.id]
        elif (suggestion := suggested_status(status.name, ours)) is not None:
            mapping[status.id] = suggestion.id
    return mapping


def save(draft: Draft, mapping: dict[str, int]) -> Store:
    """The store from the draft (new, or the one being edited); not committed."""
    store = db.session.get(Store, draft.store_id) if draft.store_id else Store(platform=draft.platform)
    store.enabled, store.name, store.url = draft.enabled, draft.name, draft.url
    store.location_id, store.order_type_id = draft.location_id, draft.order_type_id
    store.language, store.identify_by, store.timezone = draft.language, draft.identify_by, draft.timezone
    store.credentials = draft.credentials
    store.status_map = mapping
    store.managers_all = draft.managers_all
    chosen = set(draft.manager_ids)
    store.managers = [] if draft.managers_all else [p for p in offered_managers(draft.location_id) if p.id in chosen]
    db.session.add(store)
    return store
