"""Conversations, their participants, and the registry that finds them."""

from voxgate.session.participants import (
    REMOVED_CLOSE_CODE,
    ROLES,
    Disconnect,
    Participant,
    Role,
    parse_role,
)
from voxgate.session.registry import SessionRegistry
from voxgate.session.session import (
    ENDED,
    ENDED_CLOSE_CODE,
    AgentFactory,
    EngineFactory,
    RecorderFactory,
    Session,
    SessionAgent,
    SessionRecorder,
)
from voxgate.session.writer import EventWriter

__all__ = [
    "ENDED",
    "ENDED_CLOSE_CODE",
    "REMOVED_CLOSE_CODE",
    "ROLES",
    "AgentFactory",
    "Disconnect",
    "EngineFactory",
    "EventWriter",
    "Participant",
    "RecorderFactory",
    "Role",
    "Session",
    "SessionAgent",
    "SessionRecorder",
    "SessionRegistry",
    "parse_role",
]
