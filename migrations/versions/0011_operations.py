"""The operations page (issue 15): each store's newest order as the shop has shown it to a sync
(``stores.shop_newest_order_at``, the order's own created time, set by the importer and never
moved back), which the page sets against the newest order imported to show the store's lag.

Existing stores start without it (NULL, "not known yet" on the page) rather than with the newest
order imported: that would claim they are up to date before any sync has said so. The next sync
that reads an order from the shop sets it.

Revision ID: 0011_operations
Revises: 0010_webhooks
"""
from alembic import op
import sqlalchemy as sa

from webapp.models.types import UTCDateTime

revision = "0011_operations"
down_revision = "0010_webhooks"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shop_newest_order_at", UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_column("shop_newest_order_at")
