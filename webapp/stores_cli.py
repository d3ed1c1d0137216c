"""`flask stores ...`: connect shops, list them and run their syncs in the foreground, for
operators (the settings pages do the same for employees).

``connect`` is the one place a store's fields are checked and its credentials verified live
through the adapter's ``verify()`` (R-CON-4); the demo stores use it too. Secrets are never
echoed: errors name the field, and platform messages never contain credentials. Nor are they
arguments (R-SEC-6): ``add`` asks for them or reads them from stdin or the environment
(webapp/credential_input.py), and ``demo`` reads the demo shops from stdin.
"""
from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field

import click
from sqlalchemy import select

from webapp.credential_input import gather, refuse_secrets_in_argv
from webapp.extensions import db
from webapp.models import ImportState, Location, OrderType, RunState, Status, Store, SyncRun
from webapp.platforms import PLATFORMS
from webapp.platforms.base import PlatformError, RemoteStatus, normalize_store_url, time_zone_name
from webapp.phones import clean_country
from webapp.store_setup import SHOP_COUNTRY, ShopTaken, reconnect_note, settle_shop, shop_refusal, suggested_status
from webapp.sync import webhooks
from webapp.sync.platform import platform_for

stores = click.Group("stores", help="Connect shops and run their imports and syncs.")

class ConnectError(ValueError):
    """A store cannot be saved as given; the message says which field and why."""


@dataclass
class StoreSpec:
    """What `stores add` (and the demo) asks for; names refer to existing rows."""

    platform: str
    name: str
    url: str
    location: str
    order_type: str
    credentials: dict[str, str]
    status_names: dict[str, str] = field(default_factory=dict)  # platform id or name -> ours
    guess_statuses: bool = False  # map the statuses not named by their name (R-CON-5 help)
    identify_by: str = ""
    language: str = ""
    timezone: str = ""
    country: str | None = None  # R-CLI-5: ISO code, "shop" (its own), "none"; None: the platform's default


def connect(spec: StoreSpec, store: Store | None = None) -> Store:
    """A new (or the given) store filled from ``spec``, verified live, with its shop (R-REL-1:
    a new store takes over the orders of its shop's deleted stores, an edited one moves its
    shop to the new address); flushed, not committed."""
    adapter = PLATFORMS.get(spec.platform)
    if adapter is None:
        raise ConnectError(f"Unknown platform {spec.platform!r}; choose one of {', '.join(sorted(PLATFORMS))}.")
    refusal = shop_refusal(spec.platform, _url(spec.url), store)
    if refusal is not None:  # before the live check: nothing to ask the shop
        raise ConnectError(refusal)
    store = store or Store()
    _fill(store, spec, adapter.RULES)
    platform = platform_for(store)
    try:
        platform.verify()
        remote = platform.statuses() if adapter.RULES.statuses_in else []
    except PlatformError as error:
        raise ConnectError(f"The shop did not accept the connection: {error.message}") from None
    store.status_map = _status_map(remote, spec, adapter.RULES.needs_status_mapping)
    if spec.country is not None:
        store.country = _country(spec.country, platform)
    db.session.add(store)
    try:
        settle_shop(store)
    except ShopTaken as error:  # taken between the check above and now
        raise ConnectError(str(error)) from None
    return store


def _fill(store: Store, spec: StoreSpec, rules) -> None:
    name = spec.name.strip()
    if not name or len(name) > 64:
        raise ConnectError("The store name must have 1 to 64 characters (R-CON-2).")
    unknown = set(spec.credentials) - {f.name for f in rules.credential_fields}
    if unknown:
        raise ConnectError(f"Unknown credential(s) {', '.join(sorted(unknown))}; this platform takes "
                           f"{', '.join(f.name for f in rules.credential_fields)}.")
    identify_by = spec.identify_by or rules.identify_by[0]
    if identify_by not in rules.identify_by:
        raise ConnectError(f"Products can be identified by {', '.join(rules.identify_by)} on this platform.")
    store.platform, store.name, store.identify_by = spec.platform, name, identify_by
    store.url = _url(spec.url)
    store.location = _named(Location, spec.location, "location")
    store.order_type = _named(OrderType, spec.order_type, "order type")
    store.credentials = spec.credentials
    try:
        store.language, store.timezone = spec.language, time_zone_name(spec.timezone)  # R-IMP-8
    except ValueError as error:
        raise ConnectError(f"--timezone: {error}") from None
    store.managers_all, store.enabled = True, True
    if spec.country is not None and spec.country.strip().lower() not in (SHOP_COUNTRY, "none"):
        _iso_country(spec.country)  # a typo is refused before the shop is asked anything


def _country(choice: str, platform) -> str:
    """R-CLI-5, as the wizard's choice: "shop" asks the shop (after ``verify``; "" when it does not
    say), "none" leaves phones to PHONE_REGION, else an ISO 3166 alpha-2 code."""
    text = choice.strip()
    if text.lower() == SHOP_COUNTRY:
        return clean_country(platform.shop_country())
    if text.lower() == "none":
        return ""
    return _iso_country(text)


def _iso_country(text: str) -> str:
    code = clean_country(text)
    if not code:
        raise ConnectError(f"--country: {text!r} is not a country code such as UA or DE; or give 'shop' (the "
                           "shop's own) or 'none' (the back office's PHONE_REGION).")
    return code


def _url(text: str) -> str:
    try:
        return normalize_store_url(text)
    except ValueError as error:
        raise ConnectError(str(error)) from None


def _named(model, name: str, what: str):
    row = db.session.scalar(select(model).filter_by(name=name))
    if row is None:
        known = ", ".join(db.session.scalars(select(model.name).order_by(model.name)))
        raise ConnectError(f"There is no {what} named {name!r}; known: {known or 'none'}.")
    return row


def _status_map(remote: list[RemoteStatus], spec: StoreSpec, required: bool) -> dict[str, int]:
    """Platform status id -> our status id (R-CON-5), from names the operator gave."""
    ours = list(db.session.scalars(select(Status).order_by(Status.position, Status.id)))
    mapping: dict[str, int] = {}
    for key, our_name in spec.status_names.items():
        theirs = _remote(remote, key)
        mine = next((s for s in ours if s.name.lower() == our_name.strip().lower()), None)
        if mine is None:
            raise ConnectError(f"There is no back-office status named {our_name!r}.")
        mapping[theirs.id] = mine.id
    for status in remote:
        if status.id not in mapping and spec.guess_statuses:
            suggestion = suggested_status(status.name, ours)
            if suggestion is None:
                raise ConnectError("There are no back-office statuses yet; create them in the settings first.")
            mapping[status.id] = suggestion.id
    missing = [s for s in remote if s.id not in mapping]
    if required and missing:
        wanted = " ".join(f'--map "{s.id}=<our status>"' for s in missing)
        raise ConnectError(f"Map every platform status (R-CON-5): {_names(missing)}. Add {wanted}, "
                           "or --guess-statuses.")
    # In the platform's order, as the wizard saves it: a push picks the first of several
    # platform statuses mapped to one of ours (status_push.platform_status_for).
    return {status.id: mapping[status.id] for status in remote if status.id in mapping}


def _remote(remote: list[RemoteStatus], key: str) -> RemoteStatus:
    key = key.strip()
    found = next((s for s in remote if key in (s.id, s.name) or key.lower() == s.name.lower()), None)
    if found is None:
        raise ConnectError(f"The shop has no status {key!r}; it has {_names(remote) or 'none to map'}.")
    return found


def _names(statuses: list[RemoteStatus]) -> str:
    return ", ".join(f"{s.id} ({s.name})" for s in statuses)


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            # The value is not echoed: it may be a password.
            raise click.BadParameter("expected KEY=VALUE", param_hint=f"--{what}")
        pairs[key.strip()] = rest
    return pairs


@stores.command("add")
@click.option("--platform", required=True, type=click.Choice(sorted(PLATFORMS)))
@click.option("--name", required=True, help="Store name, at most 64 characters.")
@click.option("--url", required=True, help="The shop's web address.")
@click.option("--location", required=True, help="Location the imported orders go to.")
@click.option("--order-type", required=True, help="Order type of the imported orders.")
@click.option("--credential", "credentials", multiple=True, metavar="KEY=VALUE",
              help="A non-secret field: login=... (Cartum), client_id=... (Shopify), consumer_key=... "
                   "(WooCommerce). Secret ones (password, access_token, client_secret, consumer_secret) are "
                   "refused here: they are asked for, hidden, or come from the two options below.")
@click.option("--credentials-from-stdin", "from_stdin", is_flag=True,
              help="Read credentials from stdin: KEY=VALUE lines or a JSON object.")
@click.option("--credential-env", "credential_env", multiple=True, metavar="KEY=VARIABLE",
              help="Take a credential from an environment variable, e.g. password=SHOP_PASSWORD.")
@click.option("--map", "mappings", multiple=True, metavar="PLATFORM_STATUS=OUR_STATUS",
              help="Status mapping, platform status id or name = our status name.")
@click.option("--guess-statuses", is_flag=True, help="Map the statuses not given with --map by their names.")
@click.option("--identify-by", default="", help="Product matching field (default: the platform's first).")
@click.option("--language", default="", help="Cartum: language of product names, e.g. en.")
@click.option("--timezone", default="", help="Cartum: the shop's IANA time zone, which its order times are "
                                              "written in (default Europe/Kyiv; never the back office's).")
@click.option("--country", default=None, help="R-CLI-5: the country that reads phones written without a country "
              "code when an order names none: a code such as UA, 'shop' (the shop's own) or 'none' (PHONE_REGION). "
              "Default, as in the wizard: the platform's (Cartum UA), else the shop's own.")
def add(platform, name, url, location, order_type, credentials, from_stdin, credential_env, mappings,
        guess_statuses, identify_by, language, timezone, country) -> None:
    """Connect a store after checking its credentials live; its import starts with the next tick.

    A secret credential is never an argument, which the process list and the shell history
    would show: it is asked for, or read from stdin or a named environment variable."""
    rules = PLATFORMS[platform].RULES
    given = _pairs(credentials, "credential")
    refuse_secrets_in_argv(rules, given)  # before anything is sent or saved
    found = gather(rules, given, _pairs(credential_env, "credential-env"), from_stdin)
    spec = StoreSpec(platform, name, url, location, order_type, found, _pairs(mappings, "map"), guess_statuses,
                     identify_by, language, timezone, country or rules.default_country or SHOP_COUNTRY)
    try:
        note = reconnect_note(platform, _url(url))
        store = connect(spec)
    except ConnectError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    if note:
        click.echo(note)
    click.echo(f"Store {store.id} ({store.name}) connected; its initial import starts within a minute "
               f"(or now: flask stores sync {store.id} --initial).")
    if webhooks.register_later(store):  # R-HOOK-4
        click.echo("Its webhooks are being registered with the shop (PUBLIC_BASE_URL is set); the store page "
                   "shows their state.")


@stores.command("list")
def list_stores() -> None:
    """Every store with its import state and last sync result (never its credentials)."""
    rows = db.session.scalars(select(Store).order_by(Store.id)).all()
    if not rows:
        click.echo("No stores yet: flask stores add --help")
    for store in rows:
        state = "deleted" if store.deleted_at else ("disabled" if not store.enabled else store.import_state.value)
        success = f"{store.last_success_at:%Y-%m-%d %H:%M} UTC" if store.last_success_at else "never"
        click.echo(f"{store.id:>4}  {store.platform:<11} {store.name:<30} {state:<8} last success {success}  "
                   f"{store.url}")
        if store.last_error:
            click.echo(f"      last error: {store.last_error}")


@stores.command("sync")
@click.argument("store_id", type=int)
@click.option("--initial", is_flag=True, help="Run the initial import (R-IMP-2) instead of a sync.")
def sync(store_id: int, initial: bool) -> None:
    """Import or sync a store now, in the foreground, with a line per committed page."""
    from webapp.sync import jobs

    store = db.session.get(Store, store_id)
    if store is None or store.deleted_at is not None or not store.enabled:
        raise click.ClickException(f"There is no active store {store_id}; see flask stores list.")
    job = jobs.initial_import if initial or store.import_state != ImportState.DONE else jobs.sync_store
    click.echo(f"{'Initial import' if job is jobs.initial_import else 'Sync'} of store {store_id} ({store.name})...")
    pages = itertools.count(1)
    run_id = job(store_id, progress=lambda run: click.echo(f"  page {next(pages)}: {_counts(run)}"))
    _report(run_id)


def _counts(run: SyncRun) -> str:
    return (f"fetched {run.fetched}, created {run.created}, updated {run.updated}, unchanged {run.unchanged}, "
            f"skipped {run.skipped}, failed {run.failed}")


def _report(run_id: int | None) -> None:
    run = db.session.get(SyncRun, run_id) if run_id else None
    if run is None:
        raise click.ClickException("Another sync of this store is running; try again when it is done.")
    if run.state != RunState.SUCCEEDED:
        raise click.ClickException(f"Run {run.id} failed: {run.error}")
    click.echo(f"Run {run.id} succeeded: {_counts(run)}.")


@stores.command("demo")
def demo() -> None:
    """Connect the demo stores to the simulators `make run` started, described by a JSON object on
    stdin (webapp/demo_stores.py), never by arguments or variables: it holds their credentials."""
    from webapp.demo_stores import DemoShopsInvalid, read_demo_shops, seed_demo_stores

    stdin = sys.stdin
    if stdin.isatty():
        raise click.UsageError("Pipe the demo shops in as JSON on stdin, as `make run` (scripts/run.py) does.")
    try:
        shops = read_demo_shops(stdin.read())
    except DemoShopsInvalid as error:
        raise click.ClickException(str(error)) from None
    for line in seed_demo_stores(shops):
        click.echo(line)

