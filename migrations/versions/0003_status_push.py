"""Status push-back: the platform status an order was last seen in or sent to (R-STA-1/3).

Orders imported before this column exist keep NULL, which the importer reads as "not known
yet": the platform's status is applied as before, and remembered from then on.

Revision ID: 0003_status_push
Revises: 7185d86edfc3
Create Date: 2026-11-30 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003_status_push"
down_revision = "7185d86edfc3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform_status", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("platform_status")
