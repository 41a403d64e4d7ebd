"""The seam between engine ``openai`` and its upstream: Realtime events, whatever carries them.

``Upstream`` speaks in-process events (audio fields are PCM16 bytes). ``SDKUpstream`` is the
``openai`` SDK's WebSocket connection behind it (JSON and base64 are done here, at the wire);
the WebRTC upstream (``webrtc.py``) puts audio on its Opus track and the rest on a data channel.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import weakref
from typing import Protocol

from openai import AsyncAzureOpenAI, AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.websocket_connection_options import WebsocketConnectionOptions
from websockets.asyncio.client import ClientConnection as WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from voxgate.protocol import Event, ProtocolError, from_wire, to_wire
from voxgate.settings import Settings

log = logging.getLogger(__name__)


class UpstreamClosed(ConnectionError):
    """The upstream connection ended or could not be made (the engine reconnects)."""


class Upstream(Protocol):
    """One connection to a Realtime server, as events."""

    async def send(self, ev: Event) -> None:
        """Send one client event; raises ``UpstreamClosed`` when the connection has ended."""
        ...

    async def recv(self) -> Event:
        """The next server event; raises ``UpstreamClosed`` when the connection ends."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


def decode(text: str | bytes) -> Event | None:
    """A wire frame as an in-process server event; None (logged) when it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        log.warning("upstream sent a frame that is not JSON: %.200r", text)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        log.warning("upstream sent a frame that is not an event: %.200r", data)
        return None
    try:
        return from_wire(data)
    except ProtocolError as exc:
        log.warning("upstream sent a bad event: %s", exc)
        return None


_APPEND = '{"type":"input_audio_buffer.append","audio":"'


def encode(ev: Event) -> str:
    """A client event as JSON (its audio base64).

    A plain append of PCM, every 20 ms of every session, is written as a string: a third of
    what ``json.dumps`` costs it.
    """
    audio = ev.get("audio")
    if ev["type"] == "input_audio_buffer.append" and len(ev) == 2 and isinstance(audio, bytes):
        return _APPEND + base64.b64encode(audio).decode("ascii") + '"}'
    return json.dumps(to_wire(ev))


class SDKUpstream:
    """The SDK's ``AsyncRealtimeConnection`` as an ``Upstream``.

    The SDK connects (URL, keys, Azure); frames then go straight to and from its websockets
    connection: the SDK's send queue and reconnect bookkeeping, for a connection voxgate
    reconnects itself, cost ~4 µs a frame (``bench relay`` sends 50 a second per session).
    """

    def __init__(self, connection: AsyncRealtimeConnection) -> None:
        self._connection = connection
        socket = getattr(connection, "_connection", None)
        self.websocket: WebSocket | None = socket if isinstance(socket, WebSocket) else None
        # websockets 16 and later: what ``send`` itself checks before writing a frame
        self._writes_direct = hasattr(self.websocket, "send_in_progress")

    async def send(self, ev: Event) -> None:
        """One client event, as JSON (its audio base64)."""
        try:
            if (ws := self.websocket) is None:
                await self._connection.send_raw(encode(ev))
            elif (
                self._writes_direct
                and ws.protocol.state is State.OPEN
                and ws.send_in_progress is None
                and not ws.paused
            ):
                # what ``send`` does on an open connection that keeps up, without its context
                # manager's checks for a closing one: ~1.3 us of the ~5 a frame costs
                ws.protocol.send_text(encode(ev).encode())
                ws.send_data()
            else:
                await ws.send(encode(ev))
        except (ConnectionClosed, OSError) as exc:
            raise UpstreamClosed(f"the upstream connection dropped: {exc}") from exc

    async def recv(self) -> Event:
        """The next server event (frames that are not one are logged and skipped)."""
        while True:
            try:
                if self.websocket is not None:
                    raw: str | bytes = await self.websocket.recv()
                else:
                    raw = await self._connection.recv_bytes()
            except (ConnectionClosed, OSError) as exc:
                raise UpstreamClosed(f"the upstream connection dropped: {exc}") from exc
            if (ev := decode(raw)) is not None:
                return ev

    async def close(self) -> None:
        """Close the WebSocket."""
        await self._connection.close()


_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[object, ...], AsyncOpenAI]
]
_clients = weakref.WeakKeyDictionary()


def realtime_client(settings: Settings) -> AsyncOpenAI:
    """The SDK client for the configured upstream: one per event loop and upstream.

    Made once, not per session: an ``AsyncOpenAI`` builds an httpx client whose TLS context
    loads the system's CA certificates, ~40 ms of blocking work in the event loop and ~1 MB
    each (``bench relay`` at 100 sessions: loop stalls of 1-2 s while connections opened).
    """
    key = (
        settings.azure_openai_endpoint,
        settings.azure_openai_deployment,
        settings.azure_openai_api_version,
        settings.azure_openai_api_key,
        settings.openai_api_key,
        settings.openai_base_url,
        settings.openai_websocket_base_url,
        settings.openai_model,
    )
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _new_client(settings)
    clients = _clients.setdefault(loop, {})
    client = clients.get(key)
    if client is None:
        client = clients[key] = _new_client(settings)
    return client


def _new_client(settings: Settings) -> AsyncOpenAI:
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


async def open_upstream(settings: Settings, *, call_id: str | None = None) -> Upstream:
    """A new Realtime WebSocket connection (the SDK's own reconnects are left off).

    With ``call_id`` it joins that call (a browser-direct call's sideband) instead.
    """
    client = realtime_client(settings)
    if call_id is not None:
        return SDKUpstream(
            await client.realtime.connect(call_id=call_id, websocket_connection_options=_WS).enter()
        )
    model = settings.openai_model
    if settings.azure_openai_endpoint:
        model = settings.azure_openai_deployment or model
    return SDKUpstream(
        await client.realtime.connect(model=model, websocket_connection_options=_WS).enter()
    )


_WS: WebsocketConnectionOptions = {"compression": None}
"""No permessage-deflate: audio barely compresses, and each connection would hold ~300 KB of
zlib state and spend CPU on every append (older SDKs offered it by default)."""
