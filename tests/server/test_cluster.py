"""Cluster mode's registry against the real Redis (127.0.0.1:6379), each test under its own prefix."""

from __future__ import annotations

import asyncio
import inspect
import os
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as redis

from voxgate.server.cluster import Cluster, Command

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    client = redis.from_url(REDIS)
    try:
        await client.ping()
    except OSError:
        if os.environ.get("VOXGATE_CI"):
            pytest.fail("CI runs the cluster tests against Redis on 127.0.0.1:6379")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    name = f"voxgate-test-{uuid.uuid4().hex[:8]}"
    yield name
    keys = [k async for k in client.scan_iter(f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def node(prefix: str) -> Callable[..., Cluster]:
    def make(name: str, **options: object) -> Cluster:
        return Cluster(
            REDIS,
            node_id=name,
            node_url=f"http://{name}.example:8000",
            prefix=prefix,
            heartbeat_s=0.1,
            node_ttl_s=0.5,
            **options,  # type: ignore[arg-type]
        )

    return make


async def _until(check: Callable[[], object], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.05)):
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_a_session_is_held_by_one_node_and_found_from_the_others(node) -> None:
    a, b = node("a"), node("b")
    await a.start()
    await b.start()
    try:
        assert await a.claim("s1") is None
        owner = await b.claim("s1")  # b may not take it: a holds it
        assert owner is not None and owner.id == "a" and owner.url == "http://a.example:8000"
        assert (await b.locate("s1")).id == "a"
        assert {n.id for n in await b.nodes()} == {"a", "b"}
        await a.release("s1")
        assert await b.locate("s1") is None
        assert await b.claim("s1") is None
    finally:
        await a.stop()
        await b.stop()


async def test_a_dead_nodes_sessions_are_cleaned_up_and_can_be_taken_over(node, prefix) -> None:
    a, b = node("a"), node("b")
    await a.start()
    await b.start()
    await a.claim("s1")
    await a.claim("s2")
    for task in a._tasks:  # a dies: no heartbeat, no goodbye
        task.cancel()
    await a._redis.aclose()
    try:
        assert await b.locate("s1") is not None  # still there right after

        async def gone() -> bool:
            return await b.locate("s1") is None and await b.locate("s2") is None

        await _until(gone)
        assert [n.id for n in await b.nodes()] == ["b"]
        assert await b.claim("s1") is None
    finally:
        await b.stop()


async def test_a_drained_node_says_so_and_a_stopped_one_leaves(node) -> None:
    a, b = node("a"), node("b")
    await a.start()
    await b.start()
    await a.claim("s1")
    await a.drain()
    assert (await b.locate("s1")).draining
    await a.stop()
    assert await b.locate("s1") is None
    assert [n.id for n in await b.nodes()] == ["b"]
    await b.stop()


async def test_a_node_registers_again_after_redis_loses_everything(node, prefix) -> None:
    a, b = node("a"), node("b")
    await a.start()
    await b.start()
    await a.claim("s1")
    client = redis.from_url(REDIS)
    keys = [k async for k in client.scan_iter(f"{prefix}:*")]
    await client.delete(*keys)  # what a restart of Redis (which keeps nothing on disk) does
    await client.aclose()
    try:

        async def back() -> bool:
            found = await b.locate("s1")
            return found is not None and found.id == "a"

        await _until(back)
    finally:
        await a.stop()
        await b.stop()


async def test_commands_reach_the_node_they_are_sent_to(node) -> None:
    got: list[Command] = []

    async def on_command(command: Command) -> None:
        got.append(command)

    a, b = node("a", on_command=on_command), node("b")
    await a.start()
    await b.start()
    try:

        async def delivered() -> bool:
            return await b.send("a", {"op": "end", "session_id": "s1"})

        await _until(delivered)
        await _until(lambda: got)
        assert got[0] == {"op": "end", "session_id": "s1"}
        assert not await b.send("nobody", {"op": "end"})
    finally:
        await a.stop()
        await b.stop()
