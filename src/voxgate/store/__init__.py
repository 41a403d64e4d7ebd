"""The store: users, keys, conversations and their items, turn metrics, usage (SQLAlchemy)."""

from voxgate.store.conversations import Conversations
from voxgate.store.database import Database, database_url
from voxgate.store.recorder import ConversationRecorder, Recorder
from voxgate.store.records import ConversationRef

__all__ = [
    "ConversationRecorder",
    "ConversationRef",
    "Conversations",
    "Database",
    "Recorder",
    "database_url",
]
