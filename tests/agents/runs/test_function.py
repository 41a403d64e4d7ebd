import asyncio

import pytest

from voxgate.agents.runs import FunctionRunner, RunManager, UnknownRunner


async def test_async_generator_messages_pause_at_yield():
    progress = []

    async def count(task: str):
        for i in range(3):
            progress.append(i)
            yield f"{task} {i}"

    manager = RunManager([FunctionRunner("counter", count, default_task="count")])
    run = manager.start("counter")
    await run.pause()
    await asyncio.sleep(0.05)
    assert len(progress) <= 1  # held at its first yield
    await run.resume()
    assert await asyncio.wait_for(run.wait(), 5) == "completed"
    assert run.messages() == ["count 0", "count 1", "count 2"]
    assert manager.get(run.id) is run and manager.latest() is run


async def test_coroutine_result_is_the_final_message_and_errors_fail_the_run():
    async def answer(task: str) -> str:
        return f"answer to {task}"

    async def broken(task: str) -> str:
        raise ValueError("no")

    manager = RunManager([FunctionRunner("answer", answer), FunctionRunner("broken", broken)])
    ok = manager.start("answer", "life")
    bad = manager.start("broken", "x")
    assert await ok.wait() == "completed" and ok.last_message == "answer to life"
    assert await bad.wait() == "failed" and bad.error == "ValueError: no"
    with pytest.raises(UnknownRunner, match="known: answer, broken"):
        manager.start("nope")
    with pytest.raises(ValueError, match="two runners"):
        manager.add_runner(FunctionRunner("answer", answer))
