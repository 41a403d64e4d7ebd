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
from voxgate.session.seams import (
    ENDED,
    ENDED_CLOSE_CODE,
    AgentFactory,
    EngineFactory,
    RecorderFactory,
    SessionAgent,
    SessionRecorder,
)
from voxgate.session.session import Session
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
