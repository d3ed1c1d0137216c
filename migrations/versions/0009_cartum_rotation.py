"""When each order was last re-read by its id (``orders.reread_at``): a Cartum sync cannot list
changed orders, so it re-reads its open ones in rotation, oldest re-read first, a bounded number
of requests per sync (issue 13); the rotation goes on where it was after a restart. Existing
orders start as never re-read (NULL), so the first syncs after the upgrade take them in order.

Revision ID: 0009_cartum_rotation
Revises: 0008_orders_table_at_scale
"""
from alembic import op
import sqlalchemy as sa

from webapp.models.types import UTCDateTime

revision = "0009_cartum_rotation"
down_revision = "0008_orders_table_at_scale"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reread_at", UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("reread_at")
