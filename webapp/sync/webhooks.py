"""Role in ``sync/``: the shops' webhooks (R-HOOK-1..7), platform-agnostic; what differs per
platform is the adapter's (``Platform.read_webhook``, ``list_webhooks``, ``create_webhook``,
``delete_webhook``, ``WEBHOOK_TOPICS``).

Receiving (``accept``, called by ``views/hooks.py`` once a delivery is verified): the delivery is
recorded under its unique key (R-HOOK-3: a repeat, or two copies at once, fail to insert and
are only counted), the order's id joins the store's pending set in Redis and one job per store
is enqueued under a fixed id, so a burst of deliveries is one job. The request never calls the
shop: it answers within milliseconds, and 503 when Redis is away (the shop then delivers again).

Processing (``jobs.webhook_orders``): under the store's lock the job takes the whole pending set
(``take``), re-reads those orders from the shop by id and imports them, as the Update button
does (R-ORD-3). The content always comes from the shop, never from the delivery's body, so a
late or out-of-order delivery cannot move an order back, and a forged one can only cause a
re-read. Ids stay pending until imported: a job that fails gives them back (``give_back``), one
that finds the store busy (a long import) is enqueued again ``BUSY_AGAIN`` later, and the
scheduler's tick enqueues any store whose ids wait (``enqueue_waiting``). The poll stays as the
reconciler (R-HOOK-6) and slows to WEBHOOK_POLL_MINUTES while deliveries arrive
(``poll_every``).

Registering (``register``, a job): with PUBLIC_BASE_URL set, the store's topics are subscribed at
``/hooks/<store token>/<platform>``: listed first, ours kept when they deliver there and still
deliver, ours elsewhere (an old address, a disabled one) replaced, so it can run any number of
times. Saving a store (wizard, ``flask stores add``) runs it, and the tick runs it for stores
whose subscriptions are not at the current address (PUBLIC_BASE_URL set or changed later, a
failure an hour ago). Deleting a store removes them (``unregister_later``): the job gets the
credentials still encrypted, as the store clears its own at once.
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db, redis_client
from webapp.models import LogLevel, Store, SyncLogEntry, WebhookDelivery
from webapp.models.types import utcnow
from webapp.platforms import PLATFORMS
from webapp.platforms.base import Platform, PlatformError, RemoteWebhook, WebhookEvent
from webapp.secrets import SecretUnreadable, decrypt
from webapp.sync.platform import http_for_worker, platform_for, platform_from
from webapp.sync.queues import job_state, queue

log = logging.getLogger(__name__)

ORDERS_JOB = "webapp.sync.jobs.webhook_orders"  # by name: jobs.py imports this module
REGISTER_JOB = "webapp.sync.jobs.register_webhooks"
UNREGISTER_JOB = "webapp.sync.jobs.unregister_webhooks"
WORKING_WITHIN = timedelta(hours=1)
"""A store whose last verified delivery came within this is polled every WEBHOOK_POLL_MINUTES."""
REGISTER_AGAIN = timedelta(hours=1)  # a failed registration is tried again by the tick after this
BUSY_AGAIN = timedelta(seconds=30)  # a job that found the store busy runs again after this
REFUSALS_LOGGED_EVERY = 600  # seconds: one sync log line per store for a run of refused deliveries
POLL_EVERY = 5  # minutes: schedule.SYNC_EVERY, named here for the page's sentences

ACCEPTED, DUPLICATE, IGNORED = "accepted", "duplicate", "ignored"


def _key(store_id: int, what: str) -> str:
    return f"orderdock:hooks:{store_id}:{what}"


# ---------------------------------------------------------------------------------------------
# Receiving (the web request's side)
# ---------------------------------------------------------------------------------------------


def store_for_token(token: str) -> Store | None:
    """The live store this webhook address belongs to; None for an unknown or deleted one."""
    if not token or len(token) > 64:
        return None
    return db.session.scalar(select(Store).where(Store.hook_token == token, Store.deleted_at.is_(None)))


def delivery_key(store_id: int, event: WebhookEvent) -> str:
    """R-HOOK-3: the platform's delivery id, else a hash of store, topic, orders and the state
    the body describes (its modification time, or a digest of the body)."""
    if event.delivery_id:
        return "id:" + event.delivery_id[:120]
    parts = (str(store_id), event.topic, ",".join(event.order_ids), event.changed_at)
    return "hash:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


def accept(store: Store, event: WebhookEvent) -> str:
    """Record a verified delivery once and have its orders re-read: ACCEPTED, DUPLICATE (seen
    before: counted, nothing else) or IGNORED (names no order, or the store is switched off).
    Commits. Raises RedisError with nothing recorded: the caller answers 503, the shop retries."""
    if not store.enabled:
        return IGNORED
    store_id = store.id
    row = WebhookDelivery(store_id=store_id, delivery_key=delivery_key(store_id, event), topic=event.topic[:64],
                          external_id=event.order_ids[0][:64] if event.order_ids else None)
    try:
        # Flushed, not committed: the row is kept only once its ids are in Redis. (No SAVEPOINT:
        # releasing one outside a transaction would commit it on SQLite, see importer.py.)
        db.session.add(row)
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        _count_duplicate(store_id)
        return DUPLICATE
    try:
        if event.order_ids:
            _note_pending(store_id, event.order_ids)
            enqueue(store_id)
    except RedisError:
        db.session.rollback()  # the delivery is not recorded: its retry is not a duplicate
        raise
    db.session.commit()
    return ACCEPTED if event.order_ids else IGNORED


def _note_pending(store_id: int, order_ids: Sequence[str]) -> None:
    pipe = redis_client().pipeline(transaction=True)
    pipe.sadd(_key(store_id, "pending"), *order_ids)
    pipe.hincrby(_key(store_id, "counts"), "deliveries", 1)
    pipe.hset(_key(store_id, "counts"), "last", f"{utcnow().timestamp():.3f}")
    pipe.sadd("orderdock:hooks:stores", store_id)
    pipe.execute()


def _count_duplicate(store_id: int) -> None:
    try:
        redis_client().hincrby(_key(store_id, "counts"), "duplicates", 1)
    except RedisError:
        log.info("store %s: a repeated webhook delivery was not counted (Redis away)", store_id)


def enqueue(store_id: int) -> None:
    """One job per store: none is enqueued while one waits (it will take every pending id when
    it runs); while one runs, a second id takes what arrives meanwhile."""
    job_ids = (f"hooks-{store_id}", f"hooks-{store_id}-next")
    guard = redis_client().lock(f"orderdock:enqueue:hooks-{store_id}", timeout=30, blocking_timeout=10)
    with guard:
        states = {job_id: job_state(job_id) for job_id in job_ids}
        if "waiting" in states.values():
            return
        free = next((job_id for job_id, state in states.items() if state is None), None)
        if free is not None:
            queue("hooks").enqueue(ORDERS_JOB, store_id, job_id=free, job_timeout=600,
                                   result_ttl=600, failure_ttl=7 * 86400)


def refused(store: Store | None, message: str) -> None:
    """R-HOOK-2: a refused delivery gets a line in the store's sync log, one per
    REFUSALS_LOGGED_EVERY for a run of them (the worker's log has each)."""
    log.warning("webhook refused for store %s: %s", store.id if store else "(unknown address)", message)
    if store is None:
        return
    try:
        first = redis_client().set(_key(store.id, "refused"), 1, nx=True, ex=REFUSALS_LOGGED_EVERY)
    except RedisError:
        first = True
    if first:
        db.session.add(SyncLogEntry(store_id=store.id, level=LogLevel.REFUSED, reason=(
            f"{message} Nothing was imported from it. Further refusals within {REFUSALS_LOGGED_EVERY // 60} "
            "minutes are not listed here.")))
        db.session.commit()


# ---------------------------------------------------------------------------------------------
# Processing (the job's side; jobs.webhook_orders runs it under the store's lock)
# ---------------------------------------------------------------------------------------------


@dataclass
class Batch:
    """What a job took: the orders to re-read and the deliveries they came with."""

    ids: list[str]
    deliveries: int
    duplicates: int
    last: datetime | None


def has_pending(store_id: int) -> bool:
    redis = redis_client()
    return bool(redis.exists(_key(store_id, "pending"), _key(store_id, "processing")))


def take(store_id: int) -> Batch:
    """Every pending id (and those a failed or killed job left), moved aside in one step, with
    the counts of the deliveries that brought them. Only under the store's lock."""
    pending, processing, counts = _key(store_id, "pending"), _key(store_id, "processing"), _key(store_id, "counts")
    pipe = redis_client().pipeline(transaction=True)
    pipe.sunionstore(processing, [processing, pending])
    pipe.delete(pending)
    pipe.smembers(processing)
    pipe.hgetall(counts)
    pipe.delete(counts)
    _, _, members, numbers, _ = pipe.execute()
    numbers = {key.decode(): value.decode() for key, value in numbers.items()}
    last = numbers.get("last")
    return Batch(ids=sorted((m.decode() for m in members), key=lambda i: (len(i), i)),
                 deliveries=int(numbers.get("deliveries", 0)), duplicates=int(numbers.get("duplicates", 0)),
                 last=datetime.fromtimestamp(float(last), utcnow().tzinfo) if last else None)


def give_back(store_id: int, batch: Batch) -> None:
    """The ids (and counts) of a job that did not finish, pending again for the next one."""
    pending, processing, counts = _key(store_id, "pending"), _key(store_id, "processing"), _key(store_id, "counts")
    pipe = redis_client().pipeline(transaction=True)
    pipe.sunionstore(pending, [pending, processing])
    pipe.delete(processing)
    pipe.hincrby(counts, "deliveries", batch.deliveries)
    pipe.hincrby(counts, "duplicates", batch.duplicates)
    if batch.last is not None:
        pipe.hsetnx(counts, "last", f"{batch.last.timestamp():.3f}")
    pipe.execute()


def done(store_id: int) -> None:
    redis = redis_client()
    redis.delete(_key(store_id, "processing"))
    if not redis.exists(_key(store_id, "pending")):
        redis.srem("orderdock:hooks:stores", store_id)


def drop(store_id: int) -> None:
    """The store is deleted or switched off: what its deliveries named is not imported."""
    redis_client().delete(_key(store_id, "pending"), _key(store_id, "processing"), _key(store_id, "counts"))
    redis_client().srem("orderdock:hooks:stores", store_id)


def again_later(store_id: int) -> None:
    """The store was busy (a long import holds its lock): the ids stay pending, a job runs later."""
    job_id = f"hooks-{store_id}-later"
    if job_state(job_id) is None:
        queue("hooks").enqueue_in(BUSY_AGAIN, ORDERS_JOB, store_id, job_id=job_id, job_timeout=600,
                                  result_ttl=600, failure_ttl=7 * 86400)


def summary(batch: Batch, created: int, updated: int, unchanged: int, skipped: int, failed: int) -> str:
    """R-HOOK-7: the sync log's line for a job's batch."""
    orders = _plural(len(batch.ids), "order")
    text = (f"Webhook: {orders} re-read from the shop after {_plural(batch.deliveries, 'delivery', 'deliveries')}"
            f": {created} new, {updated} changed, {unchanged} unchanged")
    extra = [f"{skipped} not imported (see their lines)" if skipped else "",
             f"{failed} failed (tried again by the next sync)" if failed else "",
             f"{_plural(batch.duplicates, 'repeated delivery', 'repeated deliveries')} ignored"
             if batch.duplicates else ""]
    return "; ".join([text, *filter(None, extra)]) + "."


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def note_received(store: Store, batch: Batch) -> None:
    """When the last verified delivery came (the store page, ``poll_every``)."""
    moment = batch.last or utcnow()
    if store.hook_received_at is None or moment > store.hook_received_at:
        store.hook_received_at = moment


def waiting_stores() -> list[int]:
    """Stores whose deliveries named orders not imported yet (a job failed or was lost)."""
    return sorted(int(member) for member in redis_client().smembers("orderdock:hooks:stores"))


# ---------------------------------------------------------------------------------------------
# Polling less while webhooks work (R-HOOK-6)
# ---------------------------------------------------------------------------------------------


def working(store: Store, now: datetime | None = None) -> bool:
    """A delivery was verified within WORKING_WITHIN."""
    received = store.hook_received_at
    return received is not None and received >= (now or utcnow()) - WORKING_WITHIN


def poll_every(store: Store, now: datetime | None = None) -> timedelta:
    """The poll's interval: WEBHOOK_POLL_MINUTES while the store's webhooks work, else 5 minutes."""
    if working(store, now):
        return timedelta(minutes=current_app.config["WEBHOOK_POLL_MINUTES"])
    return timedelta(minutes=POLL_EVERY)


# ---------------------------------------------------------------------------------------------
# Registering and removing (R-HOOK-4)
# ---------------------------------------------------------------------------------------------


def hook_address(store: Store) -> str | None:
    """Where the shop delivers this store's webhooks; None without PUBLIC_BASE_URL."""
    base = current_app.config.get("PUBLIC_BASE_URL") or ""
    return f"{base}/hooks/{store.hook_token}/{store.platform}" if base else None


def register_later(store: Store) -> bool:
    """After a store is saved: its webhooks registered in the background (when PUBLIC_BASE_URL
    is set and the platform has them); True when a job was enqueued. Never raises for Redis: the
    tick registers them then."""
    if hook_address(store) is None or not PLATFORMS[store.platform].WEBHOOK_TOPICS:
        return False
    try:
        job_id = f"webhooks-{store.id}"
        if job_state(job_id) is None:  # one waiting or running will see the store as saved
            queue("hooks").enqueue(REGISTER_JOB, store.id, job_id=job_id, job_timeout=300, result_ttl=600,
                                   failure_ttl=86400)
    except RedisError as error:
        log.warning("store %s: webhook registration not enqueued (%s); the tick does it", store.id, error)
        return False
    return True


def due_for_registration(store: Store, now: datetime) -> bool:
    """The tick's test: registered at another address (PUBLIC_BASE_URL changed) at once; never
    registered, failed or not possible (no Shopify client secret) once per REGISTER_AGAIN."""
    address = hook_address(store)
    if address is None or not PLATFORMS[store.platform].WEBHOOK_TOPICS:
        return False
    if store.hook_error is None and store.hook_address is not None:
        return store.hook_address != address or not store.hook_ids
    return store.hook_checked_at is None or store.hook_checked_at <= now - REGISTER_AGAIN


def register(store_id: int) -> str:
    """The job's body: the store's subscriptions made right at its address; what was done."""
    store = db.session.get(Store, store_id)
    address = hook_address(store) if store is not None and store.deleted_at is None else None
    if address is None:
        return "nothing to do"
    adapter = PLATFORMS[store.platform]
    lock = redis_client().lock(f"orderdock:webhooks:{store_id}", timeout=300, blocking_timeout=60)
    with lock:
        before = list(store.hook_ids or [])
        kept = list(before)
        try:
            if adapter.webhooks_unavailable(store.credentials) is not None:
                if kept:  # e.g. the Shopify client secret was removed: ours could not be verified
                    _remove(platform_for(store), store, kept)
                return _registered(store, [], None, None)
            platform = platform_for(store)
            fresh = adapter.WEBHOOK_OWN_SECRET and not store.hook_secret
            if fresh:  # on record before the shop signs anything with it
                store.hook_secret = secrets.token_urlsafe(32)
                db.session.commit()
            ids = _reconcile(platform, store, address, fresh, kept)
        except (PlatformError, SecretUnreadable) as error:
            made_here = bool(set(kept) - set(before))  # then ``kept`` deliver to the new address
            return _registration_failed(store, kept, address if made_here else None,
                                        getattr(error, "message", None) or str(error))
        return _registered(store, ids, address, None)


def _reconcile(platform: Platform, store: Store, address: str, fresh: bool, kept: list[str]) -> list[str]:
    """Ours kept where right, the rest replaced; ``kept`` follows what exists on the shop, so a
    failure half-way still knows what to remove later."""
    topics = type(platform).WEBHOOK_TOPICS
    listed = platform.list_webhooks()
    if listed is None:  # Cartum: ours are the ids we kept
        if store.hook_address == address and len(kept) == len(topics) and not fresh:
            return kept
        for ident in list(kept):
            platform.delete_webhook(ident, store.hook_address or address)
            kept.remove(ident)
        return _create(platform, store, address, topics, kept)
    right: dict[str, str] = {}
    for hook in (hook for hook in listed if _ours(hook, store, kept)):
        if hook.address == address and hook.topic in topics and hook.active and hook.topic not in right and not fresh:
            right[hook.topic] = hook.id
            continue
        platform.delete_webhook(hook.id, hook.address)
        if hook.id in kept:
            kept.remove(hook.id)
    kept[:] = list(right.values())
    return _create(platform, store, address, [t for t in topics if t not in right], kept)


def _create(platform: Platform, store: Store, address: str, topics: Sequence[str], kept: list[str]) -> list[str]:
    for topic in topics:
        kept.append(platform.create_webhook(topic, address, store.hook_secret))
    return kept


def _ours(hook: RemoteWebhook, store: Store, kept: Sequence[str]) -> bool:
    """A subscription we made for this store: one of its ids, or one delivering to its token."""
    return hook.id in kept or f"/hooks/{store.hook_token}/" in hook.address


def _remove(platform: Platform, store: Store, kept: list[str]) -> None:
    listed = platform.list_webhooks() or []
    addresses = {hook.id: hook.address for hook in listed if _ours(hook, store, kept)}
    for ident in dict.fromkeys([*kept, *addresses]):
        platform.delete_webhook(ident, addresses.get(ident) or store.hook_address or "")
    kept.clear()


def _registered(store: Store, ids: list[str], address: str | None, error: str | None) -> str:
    store.hook_ids, store.hook_address, store.hook_error = list(ids), address, error
    store.hook_checked_at = utcnow()
    db.session.commit()
    return f"registered {len(ids)}" if ids else "none registered"


def _registration_failed(store: Store, kept: list[str], address: str | None, message: str) -> str:
    db.session.rollback()
    store = db.session.get(Store, store.id)
    if address is not None:
        store.hook_address = address  # where the ones made before the failure deliver (Cartum removes by it)
    text = (f"The shop's webhooks could not be registered: {message.rstrip('.')}. Updates arrive by polling "
            f"every {POLL_EVERY} minutes meanwhile; registering is tried again within the hour, or now when the "
            "store is saved (Edit, Next, Save).")
    store.hook_ids, store.hook_error, store.hook_checked_at = list(kept), text, utcnow()
    db.session.add(SyncLogEntry(store_id=store.id, level=LogLevel.ERROR, reason=text))
    db.session.commit()
    log.warning("store %s: webhooks not registered: %s", store.id, message)
    return "failed"


def unregister_later(store: Store) -> bool:
    """Before a store's credentials are cleared (deleting it): its subscriptions removed in the
    background, by a job that gets the credentials still encrypted. Never raises for Redis; False
    when nothing could be enqueued (the store page's caller says to remove them by hand)."""
    if not (store.hook_ids or store.hook_address) or not store.credentials_encrypted:
        return True
    snapshot = {"platform": store.platform, "url": store.url, "credentials": store.credentials_encrypted,
                "timezone": store.timezone or "", "language": store.language or "",
                "token": store.hook_token, "ids": list(store.hook_ids or []), "address": store.hook_address or ""}
    try:
        queue("hooks").enqueue(UNREGISTER_JOB, json.dumps(snapshot), job_id=f"webhooks-gone-{store.id}",
                               job_timeout=300, result_ttl=60, failure_ttl=86400,
                               retry=Retry(max=3, interval=[60, 600, 3600]))
    except RedisError as error:
        log.warning("store %s: webhook removal not enqueued (%s)", store.id, error)
        return False
    return True


def unregister(snapshot_json: str) -> int:
    """The job's body: a deleted store's subscriptions removed from its shop; how many."""
    snap = json.loads(snapshot_json)
    credentials = json.loads(decrypt(snap["credentials"]))
    platform = platform_from(snap["platform"], snap["url"], credentials, snap["timezone"], snap["language"],
                             http_for_worker())
    listed = platform.list_webhooks() or []
    mine = {hook.id: hook.address for hook in listed
            if hook.id in snap["ids"] or f"/hooks/{snap['token']}/" in hook.address}
    targets = list(dict.fromkeys([*snap["ids"], *mine]))
    for ident in targets:
        platform.delete_webhook(ident, mine.get(ident) or snap["address"])
    log.info("deleted store on %s: %d webhook subscriptions removed", snap["url"], len(targets))
    return len(targets)


# ---------------------------------------------------------------------------------------------
# What the store page says (R-HOOK-4)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HookState:
    """``kind``: polling, unavailable, failed, pending or registered; ``text`` the line shown,
    ``advice`` what to do (may be ""), ``note`` the platform's own remark."""

    kind: str
    text: str
    advice: str = ""
    note: str = ""


def state(store: Store, now: datetime | None = None) -> HookState:
    adapter, now = PLATFORMS[store.platform], now or utcnow()
    polling = f"Updates arrive by polling every {POLL_EVERY} minutes."
    if not adapter.WEBHOOK_TOPICS:
        return HookState("unavailable", polling)
    address = hook_address(store)
    if address is None:
        return HookState("polling", polling, (
            "To see changes within seconds, set PUBLIC_BASE_URL to the https:// address the shops can reach "
            "Orderdock at and restart it (README, Configuration): the stores' webhooks are then registered by "
            "themselves."), adapter.WEBHOOK_NOTE)
    try:
        unavailable = adapter.webhooks_unavailable(store.credentials)
    except SecretUnreadable as error:
        unavailable = str(error)
    if unavailable:
        return HookState("unavailable", polling, unavailable)
    if store.hook_error:
        return HookState("failed", store.hook_error)
    if store.hook_address != address or not store.hook_ids:
        return HookState("pending", "Webhooks: being registered with the shop (a background job does it "
                                    "within a minute).", polling, adapter.WEBHOOK_NOTE)
    received = f"last received {_ago(store.hook_received_at, now)}" if store.hook_received_at else "none received yet"
    minutes = poll_every(store, now).total_seconds() // 60
    return HookState("registered", f"Webhooks: registered ({len(store.hook_ids)}) · {received}",
                     f"The poll runs every {minutes:.0f} minutes as well, for anything a webhook missed.",
                     adapter.WEBHOOK_NOTE)


def _ago(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return "just now" if seconds < 10 else f"{seconds} seconds ago"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            return f"{_plural(seconds // size, unit)} ago"
    return "just now"  # pragma: no cover
