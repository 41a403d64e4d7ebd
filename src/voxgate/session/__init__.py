"""Conversations, their participants, and the registry that finds them."""

from voxgate.session.registry import SessionRegistry
from voxgate.session.session import (
    ENDED,
    ENDED_CLOSE_CODE,
    AgentFactory,
    EngineFactory,
    ObserverFactory,
    Session,
    SessionAgent,
    SessionObserver,
)
from voxgate.session.writer import EventWriter

__all__ = [
    "ENDED",
    "ENDED_CLOSE_CODE",
    "AgentFactory",
    "EngineFactory",
    "EventWriter",
    "ObserverFactory",
    "Session",
    "SessionAgent",
    "SessionObserver",
    "SessionRegistry",
]
