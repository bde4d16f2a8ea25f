"""Persistence: one SQLAlchemy metadata for every table, SQLite by default, PostgreSQL in production."""
