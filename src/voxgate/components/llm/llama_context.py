"""The llama.cpp context as voxgate runs it.

Weights loaded as stored, lean saved states, a prefix cache, and prompts evaluated a chunk at
a time (halted when their turn is dropped; on fewer threads while other speech work runs).
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import Llama, LlamaRAMCache, LlamaState

from voxgate.components.priority import Foreground


@contextlib.contextmanager
def plain_weights() -> Iterator[None]:
    """Load weights as stored, not repacked for the CPU's wider kernels.

    llama.cpp's repacked kernels ("extra buffer types") crash on AVX-512 CPUs (llama-cpp-python
    0.3.36) and round differently from the plain ones, which flips a 135M model's close tool
    choices. ``Llama`` takes no such option, so its default parameters change while it loads.
    """
    module: Any = llama_cpp.llama_cpp
    defaults = module.llama_model_default_params

    def params() -> Any:
        found = defaults()
        found.use_extra_bufts = False
        return found

    module.llama_model_default_params = params
    try:
        yield
    finally:
        module.llama_model_default_params = defaults


_EVAL_CHUNK = 32
"""Tokens per llama.cpp call when evaluating a prompt (as fast as one batch, measured)."""


class Halted(Exception):
    """An evaluation was stopped: the turn it was for was dropped."""


class LeanStateLlama(Llama):
    """``Llama`` whose saved states hold the KV cache and the tokens, not the logits.

    llama-cpp-python's own states also copy the logits of every position (a vocabulary of
    floats per token: ~60 MB for 300 tokens of SmolLM2) and clear them on load. A lean
    state's last token is evaluated again on restore, as after any prefix match, so the
    logits are not needed.

    A prompt is evaluated a chunk at a time. Between chunks, ``halt`` set stops it, and the
    thread count follows the other speech work: llama.cpp's threads wait for each other at
    every layer, so one of two threads sharing a core with Smart Turn or Whisper stalls both
    (20 new tokens: 52 ms alone on two threads; beside Smart Turn 170 ms median and 2.3 s at
    p90 on two, 124 ms on one).
    """

    halt: threading.Event | None = None
    foreground: Foreground | None = None
    threads = (1, 1)
    """Threads alone, and beside foreground work."""
    _threads_now = 0

    def eval(self, tokens: Sequence[int]) -> None:
        """Evaluate ``tokens``; ``Halted`` once ``halt`` is set."""
        for start in range(0, len(tokens), _EVAL_CHUNK):
            if self.halt is not None and self.halt.is_set():
                raise Halted
            alone, beside = self.threads
            threads = beside if self.foreground is not None and self.foreground.busy else alone
            if threads != self._threads_now:
                llama_cpp.llama_set_n_threads(self._ctx.ctx, threads, threads)
                self._threads_now = threads
            super().eval(tokens[start : start + _EVAL_CHUNK])

    def save_state(self) -> LlamaState:
        """The context's KV cache and tokens."""
        ctx = self._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(ctx, buffer, size)
        return LlamaState(
            input_ids=self.input_ids[: self.n_tokens].copy(),
            scores=np.empty((0, 0), dtype=np.single),
            n_tokens=self.n_tokens,
            llama_state=ctypes.string_at(buffer, written),
            llama_state_size=written,
            seed=self._seed,
        )

    def load_state(self, state: LlamaState) -> None:
        """Restore a state from ``save_state``; the next evaluation refreshes the logits."""
        data = (ctypes.c_uint8 * state.llama_state_size).from_buffer_copy(state.llama_state)
        if llama_cpp.llama_state_set_data(self._ctx.ctx, data, state.llama_state_size) != len(data):
            raise RuntimeError("llama.cpp could not restore a saved state")
        self.input_ids[: state.n_tokens] = state.input_ids
        self.n_tokens = state.n_tokens
        self._requires_eval = True
        self._seed = state.seed


class PromptCache(LlamaRAMCache):
    """LRU states by token prefix; a state is dropped once a longer one continues it."""

    def __setitem__(self, key: Sequence[int], value: LlamaState) -> None:
        key = tuple(key)
        for kept in [k for k in self.cache_state if len(k) <= len(key) and key[: len(k)] == k]:
            del self.cache_state[kept]
        super().__setitem__(key, value)
