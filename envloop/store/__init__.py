"""The database: SQLAlchemy models, engine set-up and Alembic upgrades."""
