"""Conversations, their participants, and the registry that finds them."""

from voxgate.session.registry import SessionRegistry
from voxgate.session.session import EngineFactory, Session
from voxgate.session.writer import EventWriter

__all__ = ["EngineFactory", "EventWriter", "Session", "SessionRegistry"]
