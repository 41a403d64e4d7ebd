import asyncio

import pytest

from voxgate.session.writer import MAX_PENDING_ERRORS, EventWriter


async def test_a_slow_client_loses_deltas_but_never_final_events():
    delivered = []
    gate = asyncio.Event()

    async def deliver(ev):
        await gate.wait()
        delivered.append(ev["type"])

    writer = EventWriter(deliver, max_pending=4)
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0)
    for _ in range(20):
        writer.offer({"type": "response.output_audio.delta"})
    writer.offer({"type": "response.output_audio.done"})
    writer.offer({"type": "response.done"})
    gate.set()
    while "response.done" not in delivered:
        await asyncio.sleep(0.01)
    assert writer.dropped >= 15
    assert delivered[-2:] == ["response.output_audio.done", "response.done"]
    writer.close()
    await asyncio.wait_for(task, 1)


async def test_events_arrive_in_order():
    delivered = []

    async def deliver(ev):
        delivered.append(ev["n"])

    writer = EventWriter(deliver, max_pending=100)
    task = asyncio.create_task(writer.run())
    for n in range(50):
        writer.offer({"type": "x", "n": n})
    while len(delivered) < 50:
        await asyncio.sleep(0.01)
    assert delivered == list(range(50))
    writer.close()
    await asyncio.wait_for(task, 1)


async def test_errors_are_capped_for_a_client_that_does_not_read():
    async def stuck(ev):
        await asyncio.Event().wait()

    writer = EventWriter(stuck, max_pending=4, max_queued=100)
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0)
    for _ in range(100_000):  # a client sending garbage while never reading
        writer.offer({"type": "error", "error": {"code": "invalid_json"}})
    assert writer.pending <= MAX_PENDING_ERRORS
    assert writer.dropped >= 100_000 - MAX_PENDING_ERRORS - 1
    assert writer.failure is None  # errors alone are shed, not fatal
    writer.close()
    task.cancel()


async def test_a_client_too_far_behind_is_given_up_and_its_queue_released():
    async def stuck(ev):
        await asyncio.Event().wait()

    writer = EventWriter(stuck, max_pending=4, max_queued=50)
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0)
    for n in range(1000):
        writer.offer({"type": "response.done", "n": n})
    assert writer.failure is not None and "too slow" in writer.failure
    assert writer.pending == 0
    task.cancel()


async def test_a_send_slower_than_the_timeout_ends_the_writer():
    async def stuck(ev):
        await asyncio.Event().wait()

    writer = EventWriter(stuck, max_pending=4, send_timeout_s=0.05)
    task = asyncio.create_task(writer.run())
    writer.offer({"type": "session.updated"})
    writer.offer({"type": "response.done"})
    await asyncio.wait_for(task, 2)  # run() returns: the transport then closes the connection
    assert writer.failure is not None and "0.05 s" in writer.failure
    assert writer.pending == 0
    writer.offer({"type": "response.done"})  # a closed writer takes nothing more
    assert writer.pending == 0


async def test_queued_events_a_merge_accepts_go_as_one_delivery_in_order():
    delivered = []

    async def deliver(ev):
        delivered.append(ev["n"])

    def merge(first, then):
        if first["type"] == then["type"] == "delta":
            return {**first, "n": first["n"] + then["n"]}
        return None

    writer = EventWriter(deliver, max_pending=100, merge=merge)
    for n in ["a", "b", "c"]:
        writer.offer({"type": "delta", "n": n})
    writer.offer({"type": "done", "n": "d"})
    writer.offer({"type": "delta", "n": "e"})
    task = asyncio.create_task(writer.run())
    while "e" not in delivered:
        await asyncio.sleep(0.01)
    assert delivered == ["abc", "d", "e"]
    writer.close()
    await asyncio.wait_for(task, 1)


async def test_a_writer_cancelled_from_outside_is_cancelled_not_given_up():
    async def stuck(ev):
        await asyncio.Event().wait()

    writer = EventWriter(stuck, max_pending=4, send_timeout_s=10)
    task = asyncio.create_task(writer.run())
    writer.offer({"type": "response.done"})
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert writer.failure is None
