"""CPU priority between the local models: speech work first, token generation fills the gaps.

On a small machine llama.cpp, Piper and Whisper each want every core; run together they slow
each other down threefold. A phrase being voiced or an utterance being transcribed is what a
user waits for, while the language model is usually ahead of playback, so generation pauses
between tokens while speech work runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

MAX_PAUSE_S = 1.0
"""Longest a generation step waits, so a stream of speech work cannot starve it."""


def one_blas_thread() -> None:
    """Run numpy's BLAS on the calling thread only, from now on, in this process.

    The models' feature extraction (Whisper's and Smart Turn's log-mel filterbank) is one
    small matrix product, which OpenBLAS splits over every core; its worker then spins for
    ~70 ms after each call, stealing a core from the language model's prompt evaluation
    while the transcript goes on to it (measured: Whisper's call 38 ms on one thread as on
    two, and 70 ms of a spinning core after it; a turn's first token 60 ms later for it).
    """
    threadpool_limits(limits=1, user_api="blas")


class Foreground:
    """Held by latency-critical work; background work waits while anyone holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._idle = threading.Event()
        self._idle.set()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Run the body in the foreground."""
        with self._lock:
            self._holders += 1
            self._idle.clear()
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    self._idle.set()

    @property
    def busy(self) -> bool:
        """Whether speech work runs now."""
        return not self._idle.is_set()

    def yield_to(self, timeout: float = MAX_PAUSE_S) -> None:
        """Background work calls this between steps: returns once the foreground is idle."""
        self._idle.wait(timeout)
