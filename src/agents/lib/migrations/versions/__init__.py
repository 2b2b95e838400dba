"""Alembic revision scripts of the framework's schema (loaded by Alembic, not imported)."""
