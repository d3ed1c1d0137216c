"""The store's country (R-CLI-5): phones that an order gives without a country code, and without
a country of its own, are read in it, else in the back office's PHONE_REGION.

Existing Cartum stores get Ukraine, the platform's default (its orders name no country); the
others get none (their orders mostly name the buyer's country; edit the store to set one).
Clients split by the old reading are merged by `flask clients merge-phones`, which says what it
merges: a migration cannot show that to anyone.

Revision ID: 0007_store_country
Revises: 0006_session_version
"""
from alembic import op
import sqlalchemy as sa

revision = "0007_store_country"
down_revision = "0006_session_version"
branch_labels = None
depends_on = None

# Fixed here rather than read from the adapters: a migration must mean the same thing forever.
PLATFORM_COUNTRIES = {"cartum": "UA"}


def upgrade():
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("country", sa.String(length=2), server_default="", nullable=False))
    stores = sa.table("stores", sa.column("platform", sa.String), sa.column("country", sa.String))
    for platform, country in PLATFORM_COUNTRIES.items():
        op.execute(stores.update().where(stores.c.platform == platform).values(country=country))


def downgrade():
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_column("country")
