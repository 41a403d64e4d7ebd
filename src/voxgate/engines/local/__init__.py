"""The embedded offline engine."""

from voxgate.engines.core.config import SessionConfig
from voxgate.engines.local.engine import LocalEngine
from voxgate.engines.local.models import LocalModels, load_models

__all__ = ["LocalEngine", "LocalModels", "SessionConfig", "load_models"]
