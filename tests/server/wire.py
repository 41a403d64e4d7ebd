"""Helpers for the server's auth tests: a loopback server with keys, and what a route answers."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import serve_app
from voxgate.server.app import create_app
from voxgate.server.gateway import Gateway
from voxgate.settings import Settings

API_KEY = "sk-auth-test"
OPEN = "open"
"""What a WebSocket route answers when it serves the connection."""


class Clock:
    """A settable wall clock for the client-secret store."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def loopback_settings(**extra: Any) -> Settings:
    """No models, no agents, no rate limits (unless given), WebRTC sessions not parked, sessions
    closed with their last client (no grace period), a store of its own (users one test adds
    never close another's server)."""
    fields: dict[str, Any] = {
        "data_dir": tempfile.mkdtemp(prefix="store-", dir=os.environ.get("VOXGATE_DATA_DIR")),
        "engine": "loopback",
        "agents": "none",
        "session_grace_seconds": 0,
        "sessions_per_minute": 0,
        "offers_per_minute": 0,
        "client_secrets_per_minute": 0,
        **extra,
    }
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg]


@dataclass
class Served:
    port: int
    clock: Clock
    gateway: Gateway

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.http, timeout=10)

    async def mint(
        self,
        session: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        seconds: int = 600,
        key: str | None = API_KEY,
    ) -> dict[str, Any]:
        """A client secret minted over HTTP (the response body)."""
        body: dict[str, Any] = {
            "session": session or {"type": "realtime"},
            "expires_after": {"anchor": "created_at", "seconds": seconds},
        }
        if session_id is not None:
            body["session_id"] = session_id
        async with self.client() as http:
            r = await http.post("/v1/realtime/client_secrets", json=body, headers=bearer(key))
        assert r.status_code == 200, r.text
        return dict(r.json())


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Served]:
    app = create_app(settings)
    clock = Clock()
    gateway: Gateway = app.state.gateway
    gateway.client_secrets.clock = clock
    async with serve_app(app) as port:
        yield Served(port, clock, gateway)


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def key_protocols(key: str | None) -> list[str] | None:
    """What a browser offers: ``realtime`` and the key as ``openai-insecure-api-key.<key>``."""
    return ["realtime", f"openai-insecure-api-key.{key}"] if key else None


async def ws_answer(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    subprotocols: list[str] | None = None,
    first: str = "not json",
) -> Any:
    """``OPEN`` (served: a message came back), ``(close code, reason)``, or an HTTP status."""
    try:
        async with websockets.connect(
            url,
            additional_headers=headers,
            subprotocols=subprotocols,  # type: ignore[arg-type]
            open_timeout=10,
        ) as ws:
            try:
                await ws.send(first)
                async with asyncio.timeout(10):
                    json.loads(await ws.recv())
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                return (closed.rcvd.code, closed.rcvd.reason)
            return OPEN
    except InvalidStatus as refused:
        return refused.response.status_code
