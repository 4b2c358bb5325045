"""Alembic migrations of the gridgis schema."""
