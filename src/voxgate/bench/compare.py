"""What ``bench relay --compare pipecat`` measures voxgate against: Pipecat, in a venv of its own.

Pipecat never enters voxgate's process or venv (there it is installed ``--no-deps`` for one
model file). :func:`pipecat_python` makes a venv under the user's cache directory on first use,
installs :data:`PIPECAT_REQUIREMENTS` from the package index into it, and reuses it after (a
marker file names what was installed). :func:`pipecat_serve` runs ``bench/pipecat_server.py``
with that venv's Python, on a free 127.0.0.1 port, pointed at the simulator.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from voxgate.bench.server import Served

PIPECAT_VERSION = "1.14.0"
PIPECAT_REQUIREMENTS = (
    # websocket: FastAPI for its FastAPIWebsocketTransport; openai: the realtime service's extras
    f"pipecat-ai[websocket,openai]=={PIPECAT_VERSION}",
    # uvloop, httptools and websockets, as voxgate serve runs
    "uvicorn[standard]",
    "fastapi",
)
_MARKER = "voxgate-bench.json"
SERVER_SCRIPT = Path(__file__).with_name("pipecat_server.py")


class CompareError(RuntimeError):
    """The other stack could not be installed or started (the message says why)."""


def default_venv() -> Path:
    """``$XDG_CACHE_HOME/voxgate/bench-pipecat-<version>`` (``~/.cache`` without it)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "voxgate" / f"bench-pipecat-{PIPECAT_VERSION}"


def pipecat_python(venv: Path, log: Callable[[str], None]) -> Path:
    """The Python of ``venv`` with Pipecat installed: made and installed now unless it was."""
    python = venv / "bin" / "python"
    marker = venv / _MARKER
    wanted = {"requirements": list(PIPECAT_REQUIREMENTS)}
    with contextlib.suppress(OSError, ValueError):
        if json.loads(marker.read_text()) == wanted and python.exists():
            log(f"Pipecat {PIPECAT_VERSION}: the bench venv {venv}")
            return python
    log(f"Pipecat {PIPECAT_VERSION}: making the bench venv {venv} (once; a minute or more)")
    made = subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=False)
    if made.returncode != 0:
        raise CompareError(f"could not make a venv in {venv} (python -m venv: {made.returncode})")
    log(f"  pip install {' '.join(repr(r) for r in PIPECAT_REQUIREMENTS)}")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--progress-bar", "off"]
    installed = subprocess.run([*pip, *PIPECAT_REQUIREMENTS], check=False)
    if installed.returncode != 0:
        raise CompareError(
            f"installing Pipecat into {venv} failed (pip exit {installed.returncode}, its "
            "output above); the package index must be reachable"
        )
    marker.write_text(json.dumps(wanted))
    log("  installed")
    return python


@contextlib.contextmanager
def pipecat_serve(
    python: Path, upstream_port: int, *, log: str, timeout: float = 120
) -> Iterator[Served]:
    """Run the Pipecat server until the block ends; wait for its /healthz.

    Its output goes to the file ``log`` (named in the error if it does not start).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    upstream = f"ws://127.0.0.1:{upstream_port}/v1/realtime"
    with open(log, "w") as out:
        # -I: the script's directory (voxgate/bench) stays off sys.path, so its modules never
        # shadow Pipecat's imports
        proc = subprocess.Popen(
            [str(python), "-I", str(SERVER_SCRIPT), "--port", str(port), "--upstream", upstream],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        tail = Path(log).read_text()[-2000:]
                        raise CompareError(
                            f"the Pipecat server did not start (its log, {log}):\n{tail}"
                        ) from None
                    time.sleep(0.2)
            yield Served(port, proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
