"""Webhooks (issue 14, R-HOOK-1..6): each store's part of its webhook address (``hook_token``,
random and unique; existing stores get one now), WooCommerce's signing secret (encrypted like
the credentials), the state of its subscriptions on the shop, and the table of deliveries
taken in, whose unique key (store, delivery key) makes each delivery count once (R-HOOK-3).

Revision ID: 0010_webhooks
Revises: 0009_cartum_rotation
"""
import secrets

from alembic import op
import sqlalchemy as sa

from webapp.models.types import UTCDateTime

revision = "0010_webhooks"
down_revision = "0009_cartum_rotation"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hook_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hook_secret_encrypted", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("hook_ids", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("hook_address", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("hook_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("hook_checked_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("hook_received_at", UTCDateTime(), nullable=True))
    bind = op.get_bind()
    for (store_id,) in bind.execute(sa.text("SELECT id FROM stores ORDER BY id")).all():
        bind.execute(sa.text("UPDATE stores SET hook_token = :token WHERE id = :id"),
                     {"token": secrets.token_urlsafe(32), "id": store_id})
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.alter_column("hook_token", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_stores_hook_token", ["hook_token"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("delivery_key", sa.String(length=128), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_webhook_deliveries_store_id_stores"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("store_id", "delivery_key", name="uq_webhook_deliveries_store_key"),
    )
    op.create_index(op.f("ix_webhook_deliveries_received_at"), "webhook_deliveries", ["received_at"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_webhook_deliveries_received_at"), table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_constraint("uq_stores_hook_token", type_="unique")
        for column in ("hook_received_at", "hook_checked_at", "hook_error", "hook_address", "hook_ids",
                       "hook_secret_encrypted", "hook_token"):
            batch_op.drop_column(column)
