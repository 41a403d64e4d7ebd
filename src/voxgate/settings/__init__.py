"""Settings from the environment (``VOXGATE_*``) or a ``.env`` file, in one ``Settings``.

Its fields come by area, each in a module of its own: ``server`` (the node), ``engines`` (what
answers), ``access`` (credentials, roles, limits), ``bounds`` (client messages and queues) and
``cluster``; each field documents itself for ``--help`` and the docs.
"""

from __future__ import annotations

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from voxgate.settings.access import ROLES, AccessSettings, Feature, Role, RouteGroup, UsageLimit
from voxgate.settings.bounds import BoundSettings
from voxgate.settings.cluster import ClusterSettings
from voxgate.settings.engines import EngineSettings
from voxgate.settings.server import IceServer, ServerSettings

__all__ = ["ROLES", "Feature", "IceServer", "Role", "RouteGroup", "Settings", "UsageLimit"]


class Settings(ClusterSettings, BoundSettings, AccessSettings, EngineSettings, ServerSettings):
    """Everything a deployment may tune (fields listed by area: server, engines, access, ...)."""

    model_config = SettingsConfigDict(env_prefix="VOXGATE_", env_file=".env", extra="ignore")

    @model_validator(mode="after")
    def _engine_has_credentials(self) -> Settings:
        if self.engine == "openai" or self.direct_mode_enabled:
            if self.azure_openai_endpoint and not self.azure_openai_api_key:
                raise ValueError(
                    "engine 'openai' / direct mode on Azure need VOXGATE_AZURE_OPENAI_API_KEY"
                )
            if not self.azure_openai_endpoint and not self.openai_api_key:
                raise ValueError("engine 'openai' / direct mode need VOXGATE_OPENAI_API_KEY")
        if self.redis_url and self.cluster_node_ttl_s <= self.cluster_heartbeat_s:
            raise ValueError("cluster_node_ttl_s must be longer than cluster_heartbeat_s")
        cartesia = self.engine == "openai" and self.openai_voice_provider == "cartesia"
        if cartesia and not (self.cartesia_api_key and self.cartesia_voice_id):
            raise ValueError(
                "openai_voice_provider 'cartesia' needs VOXGATE_CARTESIA_API_KEY and "
                "VOXGATE_CARTESIA_VOICE_ID"
            )
        return self
