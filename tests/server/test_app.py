import asyncio
import dataclasses
from typing import Any

from tests.conftest import serve_app
from voxgate.agents.demo import build
from voxgate.server.app import create_app


async def test_start_up_prepares_the_model_for_every_agent_the_starting_one_last(settings, models):
    prepared: list[str] = []
    prepare = models.llm.prepare

    async def spy(instructions: str, tools: list[dict[str, Any]]) -> None:
        prepared.append(instructions)
        await prepare(instructions, tools)

    models_with_spy = dataclasses.replace(models, llm=_Wrapped(models.llm, prepare=spy))
    graph = list(build().graph())
    async with serve_app(create_app(settings, models=models_with_spy)):
        for _ in range(600):
            if len(prepared) == len(graph):
                break
            await asyncio.sleep(0.1)
    assert sorted(prepared) == sorted(agent.instructions for agent in graph)
    assert prepared[-1] == graph[0].instructions  # the starting agent's scoring stays cached


class _Wrapped:
    """``llm`` with another ``prepare``."""

    def __init__(self, llm: Any, *, prepare: Any) -> None:
        self._llm = llm
        self.prepare = prepare

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)
