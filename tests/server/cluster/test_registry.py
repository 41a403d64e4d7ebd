"""Cluster mode's registry against the real Redis (127.0.0.1:6379), each test under its own prefix."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable

import pytest
import redis.asyncio as redis

from tests.server.cluster.conftest import REDIS, RedisServer
from voxgate.server.cluster import Cluster, Command, OwnerLimit

TTL_S = 1.5


@pytest.fixture
def node(prefix: str) -> Callable[..., Cluster]:
    def make(name: str, url: str = REDIS, **options: object) -> Cluster:
        return Cluster(
            url,
            node_id=name,
            node_url=f"http://{name}.example:8000",
            prefix=prefix,
            heartbeat_s=0.1,
            # a loaded CI machine stalls an event loop for half a second now and then
            node_ttl_s=TTL_S,
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


async def test_an_owners_sessions_are_counted_across_nodes_and_limited(node) -> None:
    a, b = node("a"), node("b")
    await a.start()
    await b.start()
    try:
        assert await a.claim("s1", owner="user:u", limit=2) is None
        assert await b.claim("s2", owner="user:u", limit=2) is None
        assert await a.count("user:u") == 2
        with pytest.raises(OwnerLimit) as refused:
            await b.claim("s3", owner="user:u", limit=2)
        assert refused.value.count == 2
        assert await b.locate("s3") is None  # nothing claimed
        assert await a.claim("s1", owner="user:u", limit=2) is None  # held already: no new one
        assert await b.claim("s4", owner="user:other", limit=2) is None
        await a.release("s1")
        assert await a.count("user:u") == 1
        assert await b.claim("s3", owner="user:u", limit=2) is None
    finally:
        await a.stop()
        await b.stop()
    assert await _count_after_stop(b, "user:u") == 0  # stopped nodes hold nothing


async def test_a_dead_nodes_sessions_stop_counting_against_their_owner(node) -> None:
    a, b = node("a"), node("b")
    await a.start()
    await b.start()
    await a.claim("s1", owner="user:u", limit=1)
    for task in a._tasks:  # a dies
        task.cancel()
    await a._redis.aclose()
    try:
        with pytest.raises(OwnerLimit):
            await b.claim("s2", owner="user:u", limit=1)

        async def freed() -> bool:
            return await b.count("user:u") == 0

        await _until(freed)
        assert await b.claim("s2", owner="user:u", limit=1) is None
    finally:
        await b.stop()


async def test_a_session_taken_over_keeps_counting_for_its_new_holder(node) -> None:
    a, b = node("a"), node("b")
    await a.start()
    await b.start()
    await a.claim("s1", owner="user:u")
    for task in a._tasks:  # a dies; b takes s1 over before a is reaped
        task.cancel()
    await a._redis.aclose()
    try:

        async def taken() -> bool:
            return await b.claim("s1", owner="user:u") is None

        await _until(taken)
        await asyncio.sleep(TTL_S + 0.5)  # a is reaped meanwhile: s1 is b's, still counted
        assert (await b.locate("s1")).id == "b"
        assert await b.count("user:u") == 1
    finally:
        await b.stop()
    assert await _count_after_stop(b, "user:u") == 0


async def _count_after_stop(cluster: Cluster, owner: str) -> int:
    client = redis.from_url(REDIS)
    try:
        return int(await client.scard(f"{cluster._prefix}:owner:{owner}"))
    finally:
        await client.aclose()


async def test_a_request_is_answered_by_the_node_it_was_sent_to(node) -> None:
    async def answer(command: Command) -> Command | None:
        if command.get("op") == "slow":
            await asyncio.sleep(5)
        return {"status": 200, "body": {"echo": command["value"]}}

    a, b = node("a", on_command=answer), node("b")
    await a.start()
    await b.start()
    try:

        async def answered() -> bool:
            reply = await b.request("a", {"op": "echo", "value": 7}, timeout=1)
            return reply == {"status": 200, "body": {"echo": 7}}

        await _until(answered)
        assert await b.request("a", {"op": "slow", "value": 1}, timeout=0.3) is None
        assert await b.request("nobody", {"op": "echo", "value": 1}, timeout=0.3) is None
    finally:
        await a.stop()
        await b.stop()


async def test_claims_made_while_redis_is_down_are_recorded_once_it_is_up(
    node, own_redis: RedisServer
) -> None:
    a = node("a", url=own_redis.url)
    await a.start()  # Redis is not running yet: the node starts anyway
    try:
        assert await a.claim("s1", owner="user:u", limit=1) is None  # served here meanwhile
        own_redis.start()
        b = node("b", url=own_redis.url)
        await b.start()
        try:

            async def recorded() -> bool:
                found = await b.locate("s1")
                return found is not None and found.id == "a"

            await _until(recorded)
            assert await b.count("user:u") == 1
        finally:
            await b.stop()
    finally:
        await a.stop()
