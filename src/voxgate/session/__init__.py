"""Conversations, their participants, and the registry that finds them."""

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
    "AgentFactory",
    "EngineFactory",
    "EventWriter",
    "RecorderFactory",
    "Session",
    "SessionAgent",
    "SessionRecorder",
    "SessionRegistry",
]
