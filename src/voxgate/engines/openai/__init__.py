"""Engine ``openai``: OpenAI Realtime (or Azure OpenAI, or any server of the protocol) upstream."""

from voxgate.engines.openai.engine import OpenAIEngine, describe_session

__all__ = ["OpenAIEngine", "describe_session"]
