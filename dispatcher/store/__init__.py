"""The store: SQLAlchemy Core on SQLite or PostgreSQL."""
