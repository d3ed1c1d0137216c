"""Sessions the server can end (R-SEC-2): each employee's session version, part of the id that
the session and remember-me cookies carry.

Existing employees start at 0. Cookies issued before this upgrade carry no version and are
refused, so everyone signs in once more after it.

Revision ID: 0006_session_version
Revises: 0005_shop_identity
"""
from alembic import op
import sqlalchemy as sa

revision = "0006_session_version"
down_revision = "0005_shop_identity"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.drop_column("session_version")
