"""The store: users, keys, conversations and their items, turn metrics, usage (SQLAlchemy)."""

from voxgate.store.conversations import ConversationRef, Conversations
from voxgate.store.database import Database, database_url
from voxgate.store.recorder import ConversationRecorder, Recorder

__all__ = [
    "ConversationRecorder",
    "ConversationRef",
    "Conversations",
    "Database",
    "Recorder",
    "database_url",
]
