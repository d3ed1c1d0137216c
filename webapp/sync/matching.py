"""Finding or creating the client, products and categories of an imported order.

Role in ``sync/``: the *binder* between platform records and our catalogue and contacts.
Clients are found by normalized phone (read in the buyer's country, else the store's, else
PHONE_REGION: R-CLI-5) and, where ``PlatformRules.client_match_keys`` says so, by e-mail
(R-CLI-1..4); products by the store's "Identify products by" field through
``PlatformRules.match_fields`` (R-PRD-1..8); categories by name (R-PRD-5, R-PRD-6). The pure
decisions (which key, which fields, which category) are plain functions tested without a
database; the rest reads and writes rows and never commits.

Concurrent imports never duplicate a row:

* a client's phone and a category's name are UNIQUE: the insert runs in a SAVEPOINT, and an
  IntegrityError means another worker got there first, so its row is read and used;
* products and e-mail-only clients have no unique key. A Redis lock around find-or-create
  would not help, because a new row stays invisible to other workers until the caller
  commits the whole page, after the lock is gone. ``hold_key`` takes PostgreSQL's advisory
  *transaction* lock instead, released exactly at that commit (or rollback), also when a
  worker dies. SQLite admits one writing transaction at a time, so there a second worker's
  insert waits or fails (and is retried by the next run); it cannot duplicate.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import PIECE, Category, Client, Product
from webapp.phones import to_e164
from webapp.platforms.base import PlatformRules, RemoteBuyer, RemoteItem

# Column widths, so that a long platform text is cut instead of failing the order.
PRODUCT_WIDTHS = {"name": 255, "sku": 64, "code": 64, "item_number": 64}
CLIENT_WIDTHS = {"first_name": 120, "last_name": 120, "phone_raw": 64, "email": 254, "address": 500}
CATEGORY_WIDTH = 120
NAME_FIELDS = ("first_name", "last_name")


def fit(value: str, width: int) -> str:
    return value.strip()[:width]


# ---------------------------------------------------------------------------------------------
# Locks
# ---------------------------------------------------------------------------------------------


def lock_name(kind: str, value: str) -> str:
    """What a find-or-create lock is about; the database adds the schema (see ``hold_key``)."""
    return f"orderdock:{kind}:{value}"


def hold_key(kind: str, value: str) -> None:
    """Serialize find-or-create of (kind, value) until this transaction ends (see module doc).

    PostgreSQL's advisory locks belong to the whole database, not to a schema: the key is hashed
    with the current schema, so installations that share one database in schemas of their own
    (and the parallel test processes) never wait for, or deadlock with, each other's products."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || :name, 0))"),
                       {"name": lock_name(kind, value)})


def _insert_or_existing(row, find):
    """Insert ``row`` in a savepoint; if a unique key says it exists already, return ``find()``."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
        return row
    except IntegrityError:
        existing = find()
        if existing is None:
            raise
        return existing


# ---------------------------------------------------------------------------------------------
# Categories (R-PRD-5, R-PRD-6)
# ---------------------------------------------------------------------------------------------


def choose_category(paths: Iterable[Sequence[str]]) -> tuple[str, ...]:
    """R-PRD-6: one category among several, each a path of names from the root.

    A path that is the ancestor of another ticked path only stands for that chain, so a
    chain gives its deepest level; of what remains, the shallowest level wins (the more
    general category), and among several on that level the alphabetically first.
    """
    cleaned = {tuple(part.strip() for part in path) for path in paths}
    cleaned = {path for path in cleaned if path and all(path)}
    ends = [path for path in cleaned if not any(_is_ancestor(path, other) for other in cleaned)]
    if not ends:
        return ()
    top = min(len(path) for path in ends)
    return min((path for path in ends if len(path) == top), key=lambda path: (path[-1].casefold(), path))


def _is_ancestor(path: tuple[str, ...], other: tuple[str, ...]) -> bool:
    return len(other) > len(path) and other[:len(path)] == path


def category_name(item: RemoteItem, rules: PlatformRules) -> str | None:
    """The name of the category the item's product lands in, None without one."""
    path = choose_category(item.categories) if rules.category_choice == "woocommerce_tree" else item.category_path
    if not path:
        return None
    return fit(path[-1], CATEGORY_WIDTH) or None


def category_named(name: str | None, finder: Finder | None = None) -> Category | None:
    """R-PRD-5: the existing category of that name, else a new one."""
    if not name:
        return None
    return (finder or DATABASE).category(name)


# ---------------------------------------------------------------------------------------------
# Products (R-PRD-1..4, R-PRD-7)
# ---------------------------------------------------------------------------------------------


def product_key(item: RemoteItem, rules: PlatformRules, identify_by: str) -> tuple[str, str] | None:
    """(our Product field, value) the line's product is found by; None: no catalogue product.

    A line without the store's identifying value (identify by SKU, and the line has none;
    by ID, and the product was deleted on the platform) falls back to its name, so it is
    still imported once and found again, never duplicated.
    """
    if rules.catalog_needs_sku and not item.sku:
        return None  # R-PRD-1 (Cartum): only products with a code join the catalogue
    attr, field = rules.match_fields(identify_by)
    value = fit(getattr(item, attr), PRODUCT_WIDTHS[field])
    if value:
        return field, value
    name = fit(item.name, PRODUCT_WIDTHS["name"])
    return ("name", name) if name else None


def product_fields(item: RemoteItem, rules: PlatformRules) -> dict[str, str]:
    """R-PRD-3/4: what a new product gets from the line (category aside)."""
    values = {"name": fit(item.name or item.sku, PRODUCT_WIDTHS["name"]), "description": item.description,
              "unit": PIECE}
    if item.sku:
        values[rules.sku_field] = fit(item.sku, PRODUCT_WIDTHS[rules.sku_field])
    if rules.code_field and item.product_id:
        values[rules.code_field] = fit(item.product_id, PRODUCT_WIDTHS[rules.code_field])
    return values


def product_for(item: RemoteItem, rules: PlatformRules, identify_by: str,
                finder: Finder | None = None) -> Product | None:
    """The catalogue product of an order line, found or created; None for a line without one."""
    key = product_key(item, rules, identify_by)
    if key is None:
        return None
    finder = finder or DATABASE
    product = finder.product(*key)
    if product is None:
        product = Product(**product_fields(item, rules), category=category_named(category_name(item, rules), finder))
        finder.added_product(key, product)
        return product
    _fill_product(product, item, rules, finder)
    return product


def _fill_product(product: Product, item: RemoteItem, rules: PlatformRules, finder: Finder) -> None:
    # A product found by name may lack what this platform knows; what we have is kept.
    for name, value in product_fields(item, rules).items():
        if name != "unit" and value and not getattr(product, name):
            setattr(product, name, value)
    if product.category is None:
        product.category = category_named(category_name(item, rules), finder)


# ---------------------------------------------------------------------------------------------
# Clients (R-CLI-1..4)
# ---------------------------------------------------------------------------------------------


def normalized_email(value: str) -> str | None:
    email = value.strip().lower()
    return email[:CLIENT_WIDTHS["email"]] if "@" in email else None


def phone_regions(buyer: RemoteBuyer, region: str | Sequence[str]) -> tuple[str, ...]:
    """R-CLI-5: where the buyer's phone is read when written without a country code: the
    order's own country, then ``region`` (the store's country, then PHONE_REGION)."""
    return (buyer.country, *((region,) if isinstance(region, str) else region))


def client_values(buyer: RemoteBuyer, region: str | Sequence[str], keep_address: bool) -> dict:
    """A buyer as our client's fields: phone in E.164 (None if unreadable) and as typed."""
    return dict(_client_values(buyer, region if isinstance(region, str) else tuple(region), keep_address))


@lru_cache(maxsize=1024)
def _client_values(buyer: RemoteBuyer, region: str | tuple[str, ...], keep_address: bool) -> dict:
    # A page reads each buyer twice (its keys, then its client); buyers are frozen, so it is kept.
    typed = {"first_name": buyer.first_name, "last_name": buyer.last_name, "phone_raw": buyer.phone,
             "address": buyer.address if keep_address else ""}
    values = {name: fit(value, CLIENT_WIDTHS[name]) for name, value in typed.items()}
    return {**values, "email": normalized_email(buyer.email),
            "phone": to_e164(buyer.phone, phone_regions(buyer, region))}


def fill_changes(current: Mapping[str, object], incoming: Mapping[str, object], name_edited: bool) -> dict:
    """What a later order adds to an existing client: only fields we do not have yet.

    Nothing we have is blanked or overwritten (a returning buyer spells things differently
    each time), and a name an employee edited is left alone, even an empty part of it.
    The readable phone travels with the way it was typed.
    """
    changes = {}
    for name in ("first_name", "last_name", "email", "address"):
        if incoming.get(name) and not current.get(name) and not (name_edited and name in NAME_FIELDS):
            changes[name] = incoming[name]
    if incoming.get("phone") and not current.get("phone"):
        changes.update(phone=incoming["phone"], phone_raw=incoming["phone_raw"])
    elif incoming.get("phone_raw") and not current.get("phone_raw") and not current.get("phone"):
        changes["phone_raw"] = incoming["phone_raw"]
    return changes


def client_for(buyer: RemoteBuyer | None, rules: PlatformRules, region: str | Sequence[str],
               finder: Finder | None = None) -> Client:
    """R-CLI-1..3: the order's client; "Not specified" when the platform gave no buyer."""
    finder = finder or DATABASE
    if buyer is None:
        return finder.not_specified()
    values = client_values(buyer, region, rules.buyer_address_kept)
    if "email" in rules.client_match_keys and values["email"]:
        finder.hold_email(values["email"])
    client = finder.find_client(values, rules.client_match_keys)
    if client is None:
        return finder.new_client(values)
    fill_client(client, values, finder)
    return client


def client_on_update(current: Client, buyer: RemoteBuyer | None, rules: PlatformRules,
                     region: str | Sequence[str], finder: Finder | None = None) -> Client:
    """An imported order keeps its client (an employee may have changed it). A buyer the
    platform withheld before is resolved now; the same person's empty fields are filled."""
    if buyer is None:
        return current  # withheld now (a plan change) is no reason to forget who it was
    if current.is_not_specified:
        return client_for(buyer, rules, region, finder)
    values = client_values(buyer, region, rules.buyer_address_kept)
    if is_same_person(current, values):
        fill_client(current, values, finder)
    return current


def is_same_person(client: Client, values: Mapping[str, object]) -> bool:
    same_phone = values["phone"] is not None and values["phone"] == client.phone
    same_email = values["email"] is not None and values["email"] == client.email
    return same_phone or same_email


def find_client(values: Mapping[str, object], keys: Sequence[str]) -> Client | None:
    """R-CLI-2: the first client found by the platform's keys, in their order."""
    # The phone is unique whatever the platform matches by: one phone is one client.
    for key in dict.fromkeys((*keys, "phone")):
        found = _by_phone(values["phone"]) if key == "phone" else _by_email(values["email"])
        if found is not None:
            return found
    return None


def fill_client(client: Client, values: Mapping[str, object], finder: Finder | None = None) -> None:
    finder = finder or DATABASE
    current = {name: getattr(client, name) for name in (*CLIENT_WIDTHS, "phone")}
    changes = fill_changes(current, values, client.name_edited)
    if "phone" in changes and finder.by_phone(changes["phone"]) is not None:
        del changes["phone"], changes["phone_raw"]  # that phone is another client's
    for name, value in changes.items():
        setattr(client, name, value)
    if "phone" in changes:
        finder.client_phone_set(client)


def _by_phone(phone: object) -> Client | None:
    return db.session.scalar(select(Client).filter_by(phone=phone)) if phone else None


def _by_email(email: object) -> Client | None:
    if not email:
        return None
    query = select(Client).where(Client.email == email, Client.system_key.is_(None)).order_by(Client.id)
    return db.session.scalar(query)


def again_if_raced(get_or_create):
    """``get_or_create()`` in a savepoint; when another worker inserted the same row first (a
    unique key says so), once more, which then finds the winner's row."""
    try:
        with db.session.begin_nested():
            return get_or_create()
    except IntegrityError:
        return get_or_create()


def not_specified() -> Client:
    """R-CLI-3's "Not specified" client; created once, also when two workers need it at once."""
    return again_if_raced(Client.not_specified)


# ---------------------------------------------------------------------------------------------
# Finders: where look-ups go — the database at each one, or a page's rows read at once
# ---------------------------------------------------------------------------------------------


class Finder:
    """Look-ups and inserts of clients, products and categories, one statement each (the
    careful path: every insert in a savepoint of its own, so a race is settled on the spot)."""

    def product(self, field: str, value: str) -> Product | None:
        hold_key("product", f"{field}:{value}")
        return db.session.scalar(select(Product).where(getattr(Product, field) == value).order_by(Product.id))

    def added_product(self, key: tuple[str, str], product: Product) -> None:
        db.session.add(product)

    def category(self, name: str) -> Category:
        find = lambda: db.session.scalar(select(Category).filter_by(name=name))  # noqa: E731
        return find() or _insert_or_existing(Category(name=name), find)

    def hold_email(self, email: str) -> None:
        hold_key("client-email", email)

    def find_client(self, values: Mapping[str, object], keys: Sequence[str]) -> Client | None:
        return find_client(values, keys)

    def by_phone(self, phone: object) -> Client | None:
        return _by_phone(phone)

    def new_client(self, values: Mapping[str, object]) -> Client:
        return _insert_or_existing(Client(**values), lambda: _by_phone(values["phone"]))

    def client_phone_set(self, client: Client) -> None:
        """A known client got a phone (it had none)."""

    def not_specified(self) -> Client:
        return not_specified()


DATABASE = Finder()


class PageFinder(Finder):
    """The rows one page of orders may need, read in a few statements before the page; new rows
    are remembered, not flushed, so the page is written in one flush. No savepoints: a race
    (another worker inserted the same phone or category meanwhile) fails the whole page's
    flush, and the importer then goes order by order on the careful path (``DATABASE``).

    Products and e-mail clients have no unique key: their PostgreSQL advisory locks (see
    ``hold_key``) are all taken before the page's rows are read, in one statement and in a
    fixed order, so two workers cannot both miss the same product."""

    def __init__(self) -> None:
        self.products: dict[tuple[str, str], Product | None] = {}
        self.categories: dict[str, Category | None] = {}
        self.phones: dict[str, Client | None] = {}
        self.emails: dict[str, Client | None] = {}
        self._not_specified: Client | None = None

    @classmethod
    def read(cls, product_keys: Iterable[tuple[str, str]], category_names: Iterable[str],
             phones: Iterable[str], emails: Iterable[str], lock_emails: bool) -> PageFinder:
        finder = cls()
        product_keys, emails = set(product_keys), set(emails)
        hold_keys([lock_name("product", f"{field}:{value}") for field, value in product_keys]
                  + [lock_name("client-email", email) for email in (emails if lock_emails else ())])
        by_field: dict[str, set[str]] = {}
        for field, value in product_keys:
            by_field.setdefault(field, set()).add(value)
            finder.products[(field, value)] = None
        for field, values in by_field.items():
            column = getattr(Product, field)
            for product in db.session.scalars(select(Product).where(column.in_(values)).order_by(Product.id.desc())):
                finder.products[(field, getattr(product, field))] = product  # the lowest id wins, as in Finder
        finder.categories = dict.fromkeys(set(category_names))
        if finder.categories:
            for category in db.session.scalars(select(Category).where(Category.name.in_(finder.categories))):
                finder.categories[category.name] = category
        finder.phones = dict.fromkeys(set(phones))
        if finder.phones:
            for client in db.session.scalars(select(Client).where(Client.phone.in_(finder.phones))):
                finder.phones[client.phone] = client
        finder.emails = dict.fromkeys(emails)
        if emails:
            found = select(Client).where(Client.email.in_(emails), Client.system_key.is_(None)).order_by(Client.id.desc())
            for client in db.session.scalars(found):
                finder.emails[client.email] = client
        return finder

    def product(self, field: str, value: str) -> Product | None:
        if (field, value) not in self.products:  # not read before the page: the careful way
            self.products[(field, value)] = super().product(field, value)
        return self.products[(field, value)]

    def added_product(self, key: tuple[str, str], product: Product) -> None:
        db.session.add(product)
        self.products[key] = product

    def category(self, name: str) -> Category:
        if name not in self.categories:  # not read before the page
            self.categories[name] = db.session.scalar(select(Category).filter_by(name=name))
        if self.categories[name] is None:
            self.categories[name] = Category(name=name)
            db.session.add(self.categories[name])
        return self.categories[name]

    def hold_email(self, email: str) -> None:
        if email not in self.emails:
            super().hold_email(email)

    def find_client(self, values: Mapping[str, object], keys: Sequence[str]) -> Client | None:
        for key in dict.fromkeys((*keys, "phone")):
            found = self.by_phone(values["phone"]) if key == "phone" else self._by_email(values["email"])
            if found is not None:
                return found
        return None

    def by_phone(self, phone: object) -> Client | None:
        if not phone:
            return None
        if phone not in self.phones:
            self.phones[phone] = _by_phone(phone)
        return self.phones[phone]

    def _by_email(self, email: object) -> Client | None:
        if not email:
            return None
        if email not in self.emails:
            self.emails[email] = _by_email(email)
        return self.emails[email]

    def new_client(self, values: Mapping[str, object]) -> Client:
        client = Client(**values)
        db.session.add(client)
        self.client_phone_set(client)
        if client.email and self.emails.get(client.email) is None:
            self.emails[client.email] = client
        return client

    def client_phone_set(self, client: Client) -> None:
        if client.phone:
            self.phones[client.phone] = client

    def not_specified(self) -> Client:
        if self._not_specified is None:
            self._not_specified = not_specified()
        return self._not_specified


def hold_keys(names: Sequence[str]) -> None:
    """``hold_key`` for many at once, in one statement and a fixed order (no deadlock between
    two workers holding overlapping sets)."""
    if not names or db.session.get_bind().dialect.name != "postgresql":
        return
    db.session.execute(text(
        "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || name, 0)) "
        "FROM unnest(CAST(:names AS text[])) AS name"), {"names": sorted(set(names))})  # in the array's order
