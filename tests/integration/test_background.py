"""Migrations match the models (the health of the background side: test_ops_health.py)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from webapp.extensions import db


def test_migrations_match_the_models(app):
    """A model change without its migration fails here, on SQLite and PostgreSQL alike."""
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []
