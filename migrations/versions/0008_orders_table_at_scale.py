"""The orders table at 100,000 orders (issue 13): an index for each of its filters in its date
order, and its text search served by an index.

Indexes: the date (with the id, which breaks ties), and status, location and store each
followed by the date, so a page of any filter is read in order and stops after one page. They
replace the single-column indexes on those columns, which they also serve.

Text search: ``orders.search_text`` holds what the search looks in on an order (its number and
platform number), ``clients.search_text`` what it looks in on a client ("first last", e-mail,
phone in E.164), with separators that no search text holds (FIELD and PHONE below), so that one
LIKE on these columns finds exactly the orders that the LIKEs on each column found before. The
database keeps them, whatever writes an order or a client (the office, a sync's bulk inserts,
a merge of clients): on PostgreSQL BEFORE INSERT/UPDATE triggers, on SQLite AFTER triggers that
do the same. Each reads only its own row, so a later migration may recreate either table in
batch mode (SQLite); that drops the table's triggers with the old table, and such a migration
must create them again as below (tests/integration/test_orders_table_at_scale.py fails if not).
Existing rows are filled here.

On PostgreSQL ``ix_orders_search_text`` and ``ix_clients_search_text`` are GIN trigram indexes
(pg_trgm), which serve ``ILIKE '%…%'``. The extension is created in the schema ``public`` when it
is not there yet (PostgreSQL 13+ lets a database's owner create it; a downgrade leaves it, as
other things may use it). When it cannot be created (no permission, no contrib package), the
migration does not fail: it logs a warning and makes both plain B-tree indexes, which the search
cannot use, so search still works but reads every order and client. For the trigram indexes
later, as a superuser, for each of the two tables:
    CREATE EXTENSION pg_trgm;
    DROP INDEX ix_orders_search_text;
    CREATE INDEX ix_orders_search_text ON orders USING gin (search_text gin_trgm_ops);
On SQLite they are B-tree indexes too: the search reads them whole, one narrow column each.

Revision ID: 0008_orders_table_at_scale
Revises: 0007_store_country
"""
import logging

from alembic import op
import sqlalchemy as sa

revision = "0008_orders_table_at_scale"
down_revision = "0007_store_country"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

OLD_INDEXES = {"ix_orders_created_at": ["created_at"], "ix_orders_status_id": ["status_id"],
               "ix_orders_location_id": ["location_id"], "ix_orders_store_id": ["store_id"]}
NEW_INDEXES = {"ix_orders_created": ["created_at", "id"], "ix_orders_status_created": ["status_id", "created_at", "id"],
               "ix_orders_location_created": ["location_id", "created_at", "id"],
               "ix_orders_store_created": ["store_id", "created_at", "id"]}

# The layout of search_text, fixed here rather than shared with the models (a migration must
# mean the same thing forever; models/orders.py names the two characters too): each field
# followed by the unit separator (U+001F), then the record separator (U+001E) and, for a
# client, the phone. A search text holds neither: it matches within one field, before PHONE;
# the phone is searched by its digits, after PHONE, as it always was.
FIELD, PHONE = "\x1f", "\x1e"
SEARCH_TEXT = {  # table: (its text from its own row, {r} the row's prefix; the columns it is made of)
    "orders": (f"{{r}}number || '{FIELD}' || coalesce({{r}}platform_number, '') || '{FIELD}{PHONE}'",
               "number, platform_number"),
    "clients": (f"coalesce({{r}}first_name, '') || ' ' || coalesce({{r}}last_name, '') || '{FIELD}' || "
                f"coalesce({{r}}email, '') || '{FIELD}{PHONE}' || coalesce({{r}}phone, '')",
                "first_name, last_name, email, phone"),
}


def upgrade():
    for name in OLD_INDEXES:
        op.drop_index(name, table_name="orders")
    for name, columns in NEW_INDEXES.items():
        op.create_index(name, "orders", columns, unique=False)
    postgres = op.get_bind().dialect.name == "postgresql"
    trigram = _trigram_schema() if postgres else None
    for table, (text, columns) in SEARCH_TEXT.items():
        op.add_column(table, sa.Column("search_text", sa.Text(), server_default="", nullable=False))
        op.execute(f"UPDATE {table} SET search_text = {text.format(r='')}")
        if postgres:
            op.execute(f"CREATE FUNCTION {table}_search_text() RETURNS trigger LANGUAGE plpgsql AS $$ "
                       f"BEGIN NEW.search_text := {text.format(r='NEW.')}; RETURN NEW; END $$")
            op.execute(f"CREATE TRIGGER {table}_search_text BEFORE INSERT OR UPDATE OF {columns} ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION {table}_search_text()")
        else:
            refresh = f"UPDATE {table} SET search_text = {text.format(r='')} WHERE id = NEW.id;"
            op.execute(f"CREATE TRIGGER {table}_search_text_insert AFTER INSERT ON {table} BEGIN {refresh} END")
            op.execute(f"CREATE TRIGGER {table}_search_text_update AFTER UPDATE OF {columns} ON {table} "
                       f"BEGIN {refresh} END")
        if trigram:
            op.execute(f"CREATE INDEX ix_{table}_search_text ON {table} USING gin (search_text {trigram}.gin_trgm_ops)")
        else:
            op.create_index(f"ix_{table}_search_text", table, ["search_text"], unique=False)


def _trigram_schema() -> str | None:
    """The schema pg_trgm is in, creating it in ``public`` if it is not there; None if it cannot be.

    ``public``, not the current schema: an extension lives once per database, and one created
    in a schema that is dropped later (a test run's) would take every index using it along."""
    bind = op.get_bind()
    find = sa.text("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'")
    schema = bind.execute(find).scalar()
    if schema is None:
        try:
            with bind.begin_nested():  # a failure (or another migration creating it at once) undoes only this
                bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public"))
        except sa.exc.DBAPIError as error:
            log.warning("PostgreSQL's pg_trgm extension could not be created (%s); the orders search "
                        "works without it but reads every order. See migration 0008 for how to add it.",
                        str(error.orig).strip().splitlines()[0])
        schema = bind.execute(find).scalar()
    return schema


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in SEARCH_TEXT:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_search_text ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_search_text()")
        else:  # IF EXISTS: a later migration's batch mode may have dropped them
            op.execute(f"DROP TRIGGER IF EXISTS {table}_search_text_insert")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_search_text_update")
        op.drop_index(f"ix_{table}_search_text", table_name=table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("search_text")
    for name in NEW_INDEXES:
        op.drop_index(name, table_name="orders")
    for name, columns in OLD_INDEXES.items():
        op.create_index(name, "orders", columns, unique=False)
