"""A ``voxgate serve`` process on a free 127.0.0.1 port, for the benchmarks to measure."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Served:
    """Where the server listens, and its process id (for CPU readings)."""

    port: int
    pid: int
    process: subprocess.Popen[bytes] | None = field(default=None, compare=False, repr=False)
    """The process (to signal it, or read how it exited)."""

    @property
    def http(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        """``ws://127.0.0.1:<port>``."""
        return f"ws://127.0.0.1:{self.port}"


@contextlib.contextmanager
def serve(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, log: str | None = None
) -> Iterator[Served]:
    """Run ``voxgate serve ARGS`` with ``env`` added until the block ends; wait until ready.

    Ready: /healthz answers, and says the model is prepared for every agent.

    Its output goes to the file ``log`` if given.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxgate.cli", "serve", "--port", str(port), *args],
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if json.load(r).get("ready", True):
                        break
            except (OSError, ValueError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("voxgate serve did not start")
            time.sleep(0.2)
        yield Served(port, proc.pid, proc)
    finally:
        proc.terminate()
        proc.wait(10)
        if log:
            out.close()  # type: ignore[union-attr]
