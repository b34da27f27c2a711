"""The migrations build the same schema the models declare, on SQLite and on PostgreSQL."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from portal.extensions import db
from tests.conftest import make_app


def _upgrade_and_compare(app):
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"render_as_batch": True, "compare_type": True})
            differences = compare_metadata(context, db.metadata)
        db.session.remove()
        db.engine.dispose()
    return differences


def test_migrations_match_models_on_sqlite(tmp_path):
    assert _upgrade_and_compare(make_app(f"sqlite:///{tmp_path / 'migrated.db'}", tmp_path)) == []


@pytest.mark.postgres
def test_migrations_match_models_on_postgres(postgres_url, tmp_path):
    app = make_app(postgres_url, tmp_path)
    try:
        assert _upgrade_and_compare(app) == []
    finally:
        with app.app_context():
            db.drop_all()
            with db.engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            db.engine.dispose()
