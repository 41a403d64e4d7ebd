"""The store: users, keys, conversations and their items, turn metrics, usage (SQLAlchemy)."""

from voxgate.store.database import Database, database_url

__all__ = ["Database", "database_url"]
