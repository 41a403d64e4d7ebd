import asyncio

from voxgate.session.writer import EventWriter


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
