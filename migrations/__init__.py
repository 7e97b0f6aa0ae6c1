"""Alembic migration environment and revisions for the envloop database."""
