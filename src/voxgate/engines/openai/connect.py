"""Opening a Realtime WebSocket upstream with the ``openai`` SDK: OpenAI, Azure, or any server."""

from __future__ import annotations

from typing import Protocol

from openai import AsyncAzureOpenAI, AsyncOpenAI

from voxgate.settings import Settings


class Upstream(Protocol):
    """The part of the SDK's ``AsyncRealtimeConnection`` the engine uses."""

    async def send_raw(self, data: str | bytes) -> None:
        """Send one text frame."""
        ...

    async def recv_bytes(self) -> bytes:
        """The next frame; raises ``websockets.ConnectionClosed`` when the connection drops."""
        ...

    async def close(self, *, code: int = 1000, reason: str = "") -> None:
        """Close the connection."""
        ...


def realtime_client(settings: Settings) -> AsyncOpenAI:
    """The SDK client for the configured upstream."""
    if settings.azure_openai_endpoint:
        return AsyncAzureOpenAI(
            azure_endpoint=settings.azure_openai_endpoint,
            azure_deployment=settings.azure_openai_deployment or settings.openai_model,
            api_version=settings.azure_openai_api_version,
            api_key=settings.azure_openai_api_key,
            websocket_base_url=settings.openai_websocket_base_url,
            max_retries=0,
        )
    return AsyncOpenAI(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        websocket_base_url=settings.openai_websocket_base_url,
        max_retries=0,
    )


async def open_upstream(settings: Settings) -> Upstream:
    """A new Realtime WebSocket connection (the SDK's own reconnects are left off)."""
    client = realtime_client(settings)
    model = settings.openai_model
    if settings.azure_openai_endpoint:
        model = settings.azure_openai_deployment or model
    connection = await client.realtime.connect(model=model).enter()
    return connection
