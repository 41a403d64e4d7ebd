"""Cluster tests run against the real Redis (127.0.0.1:6379), each under a key prefix of its own,
and, where Redis itself must stop, a ``redis-server`` of their own on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio as aredis
import websockets
from websockets.exceptions import ConnectionClosed

from tests.conftest import free_port, serve_app
from tests.server.test_participants import Client
from tests.server.wire import Clock, Served, bearer, loopback_settings
from voxgate.server.app import create_app

REDIS = "redis://127.0.0.1:6379/0"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
NO_DISK = ("--save", "", "--appendonly", "no")


def redis_or_skip() -> None:
    """Skip (fail in CI) when Redis is not running on 127.0.0.1:6379."""
    try:
        redis.from_url(REDIS).ping()
    except (OSError, redis.RedisError):
        if os.environ.get("VOXGATE_CI"):
            pytest.fail("CI runs the cluster tests against Redis on 127.0.0.1:6379")
        pytest.skip("Redis is not running on 127.0.0.1:6379")


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of the test's own, its keys deleted afterwards."""
    redis_or_skip()
    name = f"voxgate-test-{uuid.uuid4().hex[:8]}"
    yield name
    client = aredis.from_url(REDIS)
    keys = [k async for k in client.scan_iter(f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


class RedisServer:
    """A ``redis-server`` of the test's own on a free port, which it may stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [REDIS_SERVER, *("--port", str(self.port), "--bind", "127.0.0.1"), *NO_DISK],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError, redis.RedisError):
                if redis.from_url(self.url).ping():
                    return
            assert self._proc.poll() is None and time.monotonic() < deadline, "no redis-server"
            time.sleep(0.05)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A ``redis-server`` of the test's own (skipped without the binary, failed in CI)."""
    if not os.path.exists(REDIS_SERVER):
        if os.environ.get("VOXGATE_CI"):
            pytest.fail("CI runs the cluster tests with redis-server installed")
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def nodes(
    prefix: str, *names: str, redis_url: str = REDIS, **extra: object
) -> AsyncIterator[list[Served]]:
    """Loopback gateways in this process, one per name, in one cluster and one store.

    Heartbeats every 0.2 s; a node silent for 1 s is dead.
    """
    store = tempfile.mkdtemp(prefix="cluster-", dir=os.environ.get("VOXGATE_DATA_DIR"))
    async with contextlib.AsyncExitStack() as stack:
        served = []
        for name in names:
            port = free_port()
            settings = loopback_settings(
                data_dir=store,
                redis_url=redis_url,
                cluster_prefix=prefix,
                node_id=name,
                node_url=f"http://127.0.0.1:{port}",
                cluster_heartbeat_s=0.2,
                cluster_node_ttl_s=1.0,
                **extra,
            )
            app = create_app(settings)
            await stack.enter_async_context(serve_app(app, port))
            served.append(Served(port, Clock(), app.state.gateway))
        yield served


async def refused(url: str, key: str | None = None) -> tuple[int, str, list[dict[str, Any]]]:
    """The close code, reason and events of a ``/ws`` connection the server ends."""
    events: list[dict[str, Any]] = []
    async with websockets.connect(url, additional_headers=bearer(key)) as ws:
        try:
            async with asyncio.timeout(10):
                async for message in ws:
                    if isinstance(message, str):
                        events.append(json.loads(message))
        except ConnectionClosed:
            pass
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason, events


async def say(client: Client, text: str) -> None:
    """A typed turn the loopback engine answers with the same words."""
    done = len([e for e in client.events if e["type"] == "response.done"])
    await client.ws.send(json.dumps({"type": "text", "text": text}))
    await client.until(lambda c: len([e for e in c.events if e["type"] == "response.done"]) > done)
