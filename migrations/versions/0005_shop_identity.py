"""A shop's identity outlives its store (R-REL-1), failed orders kept for retry (R-REL-5),
the run behind each feed entry and the shop's own order total (R-REL-4).

Existing stores get their shop (several stores of one shop share it); their orders get the
shop too. Where a shop was connected twice before this (each order imported twice), the
newest store's copy owns the external id and the older copies keep no shop id, so the new
unique key holds and no order is deleted.

Revision ID: 0005_shop_identity
Revises: 0004_notifications
"""
from alembic import op
import sqlalchemy as sa

import webapp.models.types
from webapp.platforms.base import shop_address

revision = "0005_shop_identity"
down_revision = "0004_notifications"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "shops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("created_at", webapp.models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shops")),
        sa.UniqueConstraint("platform", "address", name="uq_shops_platform_address"),
    )
    op.create_table(
        "failed_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("platform_number", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", webapp.models.types.UTCDateTime(), nullable=False),
        sa.Column("last_failed_at", webapp.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_failed_orders_store_id_stores"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failed_orders")),
        sa.UniqueConstraint("store_id", "external_id", name="uq_failed_orders_store_external"),
    )
    op.create_index(op.f("ix_failed_orders_store_id"), "failed_orders", ["store_id"], unique=False)
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shop_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_stores_shop_id"), ["shop_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_stores_shop_id_shops"), "shops", ["shop_id"], ["id"])
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shop_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("platform_total", sa.Numeric(precision=12, scale=2), nullable=True))
        batch_op.drop_constraint("uq_orders_store_external", type_="unique")
        batch_op.create_index(batch_op.f("ix_orders_shop_id"), ["shop_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_orders_shop_id_shops"), "shops", ["shop_id"], ["id"])
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_feed_entries_run_id_sync_runs"), "sync_runs", ["run_id"], ["id"],
                                    ondelete="SET NULL")
    _backfill_shops()
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_orders_shop_external", ["shop_id", "external_id"])


def _backfill_shops():
    bind = op.get_bind()
    stores = bind.execute(sa.text("SELECT id, platform, url FROM stores ORDER BY id")).all()
    for store_id, platform, url in stores:
        address = shop_address(url)
        shop_id = bind.execute(sa.text("SELECT id FROM shops WHERE platform = :p AND address = :a"),
                               {"p": platform, "a": address}).scalar()
        if shop_id is None:
            bind.execute(sa.text("INSERT INTO shops (platform, address, created_at) "
                                 "VALUES (:p, :a, CURRENT_TIMESTAMP)"), {"p": platform, "a": address})
            shop_id = bind.execute(sa.text("SELECT id FROM shops WHERE platform = :p AND address = :a"),
                                   {"p": platform, "a": address}).scalar()
        bind.execute(sa.text("UPDATE stores SET shop_id = :s WHERE id = :i"), {"s": shop_id, "i": store_id})
    # Newest store first: its copy of a twice-imported order owns the external id.
    for (store_id,) in reversed(stores):
        bind.execute(sa.text(
            "UPDATE orders SET shop_id = (SELECT shop_id FROM stores WHERE stores.id = orders.store_id) "
            "WHERE store_id = :i AND external_id IS NOT NULL AND NOT EXISTS ("
            "  SELECT 1 FROM orders AS o2 WHERE o2.shop_id = (SELECT shop_id FROM stores WHERE id = :i)"
            "  AND o2.external_id = orders.external_id)"), {"i": store_id})


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint("uq_orders_shop_external", type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_orders_shop_id_shops"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_orders_shop_id"))
        batch_op.drop_column("platform_total")
        batch_op.drop_column("shop_id")
        batch_op.create_unique_constraint("uq_orders_store_external", ["store_id", "external_id"])
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_feed_entries_run_id_sync_runs"), type_="foreignkey")
        batch_op.drop_column("run_id")
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_stores_shop_id_shops"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_stores_shop_id"))
        batch_op.drop_column("shop_id")
    op.drop_index(op.f("ix_failed_orders_store_id"), table_name="failed_orders")
    op.drop_table("failed_orders")
    op.drop_table("shops")
