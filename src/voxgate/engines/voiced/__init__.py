"""A custom voice around any engine: text in from the inner engine, speech out."""

from voxgate.engines.voiced.engine import VoicedEngine

__all__ = ["VoicedEngine"]
