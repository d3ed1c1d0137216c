"""In-app notifications of new imported orders (R-ORD-8).

Revision ID: 0004_notifications
Revises: 0003_status_push
"""
from alembic import op
import sqlalchemy as sa
import webapp.models.types

revision = "0004_notifications"
down_revision = "0003_status_push"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("created_at", webapp.models.types.UTCDateTime(), nullable=False),
        sa.Column("read_at", webapp.models.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["employee_id"], ["employees.id"], name=op.f("fk_notifications_employee_id_employees"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_notifications_order_id_orders"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("employee_id", "order_id", name=op.f("uq_notifications_employee_id")),
    )
    op.create_index("ix_notifications_unread", "notifications", ["employee_id", "read_at"], unique=False)


def downgrade():
    op.drop_index("ix_notifications_unread", table_name="notifications")
    op.drop_table("notifications")
