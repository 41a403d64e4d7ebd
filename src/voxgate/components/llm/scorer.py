"""Score one continuation under several contexts at once, on llama.cpp's shared weights.

A second, small llama.cpp context beside the chat one (the weights are shared, the KV cache is
not, so the chat's cached prompt survives). Each context is a sequence of its own; contexts are
cached between calls, so a call evaluates little more than the continuation once per context,
all in one batch.
"""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp
import numpy as np

MAX_TOKENS = 64
"""Contexts and the continuation are cut to this many tokens."""


class ChannelScorer:
    """``score(contexts, text)``: log P(text | context) for each context. Not thread-safe."""

    def __init__(self, llama: Any, *, n_seq: int = 8, n_threads: int | None = None) -> None:
        self._llama = llama
        self._n_seq = n_seq
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_seq * 2 * MAX_TOKENS
        params.n_batch = params.n_ctx
        params.n_ubatch = params.n_ctx
        params.n_seq_max = n_seq
        params.kv_unified = True
        if n_threads:
            params.n_threads = params.n_threads_batch = n_threads
        self._ctx = llama_cpp.llama_init_from_model(llama.model, params)
        if self._ctx is None:
            raise RuntimeError("llama.cpp could not create the scoring context")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(params.n_ctx, 0, 1)
        self._cached: list[list[int]] = [[] for _ in range(n_seq)]
        self._n_vocab = llama.n_vocab()

    def close(self) -> None:
        """Free the context."""
        if self._ctx is not None:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
            self._ctx = None

    def __del__(self) -> None:
        self.close()

    def _evaluate_context(self, seq: int, context: list[int]) -> None:
        """Sequence ``seq`` holds ``context`` but its last token (kept from before if it can)."""
        if self._cached[seq] == context[:-1]:
            return
        llama_cpp.llama_memory_seq_rm(self._memory, seq, 0, -1)
        self._cached[seq] = []
        batch = self._batch
        batch.n_tokens = 0
        for position, token in enumerate(context[:-1]):
            batch.token[position] = token
            batch.pos[position] = position
            batch.n_seq_id[position] = 1
            batch.seq_id[position][0] = seq
            batch.logits[position] = False
            batch.n_tokens += 1
        if batch.n_tokens:
            self._decode(batch)
        self._cached[seq] = context[:-1]

    def _decode(self, batch: Any) -> None:
        if llama_cpp.llama_decode(self._ctx, batch) != 0:
            for seq in range(self._n_seq):
                self._cached[seq] = []
                llama_cpp.llama_memory_seq_rm(self._memory, seq, 0, -1)
            raise RuntimeError("llama.cpp could not evaluate the scoring batch")

    def tokens(self, text: str, *, special: bool = False) -> list[int]:
        """``text`` tokenized as the model does (no BOS), cut to ``MAX_TOKENS``."""
        toks: list[int] = self._llama.tokenize(text.encode(), add_bos=False, special=special)
        return toks[-MAX_TOKENS:] if not special else toks[:MAX_TOKENS]

    def score(self, contexts: list[str], text: str) -> list[float]:
        """Sum of the log-probabilities of ``text``'s tokens after each context."""
        continuation = self.tokens(text)
        scores: list[float] = []
        for start in range(0, len(contexts), self._n_seq):
            chunk = [self.tokens(c, special=True) for c in contexts[start : start + self._n_seq]]
            scores += self._score_chunk(chunk, continuation)
        return scores

    def _score_chunk(self, contexts: list[list[int]], continuation: list[int]) -> list[float]:
        # Each context but its last token is evaluated in a batch of its own, once; the scoring
        # batch is then always each context's last token and the continuation. So a score is
        # the same whatever was cached before (a batch's make-up shifts llama.cpp's rounding,
        # and a close choice between options would flip with it).
        for seq, context in enumerate(contexts):
            self._evaluate_context(seq, context)
            llama_cpp.llama_memory_seq_rm(self._memory, seq, len(context) - 1, -1)  # last call's
        batch = self._batch
        batch.n_tokens = 0
        spans: list[tuple[int, int]] = []  # (first output row, rows) per context
        for seq, context in enumerate(contexts):
            for offset, token in enumerate([context[-1], *continuation]):
                i = batch.n_tokens
                batch.token[i] = token
                batch.pos[i] = len(context) - 1 + offset
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = offset < len(continuation)  # what predicts continuation
                batch.n_tokens += 1
            spans.append((seq * len(continuation), len(continuation)))
        outputs = len(contexts) * len(continuation)
        self._decode(batch)
        pointer = llama_cpp.llama_get_logits(self._ctx)
        logits = np.ctypeslib.as_array(
            ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(outputs, self._n_vocab)
        )
        top = logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
        target = np.array(continuation * len(contexts))
        picked = logits[np.arange(outputs), target] - log_norm
        return [float(picked[first : first + rows].sum()) for first, rows in spans]
