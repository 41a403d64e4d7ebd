"""A command-line agent (a coding agent CLI, a script) as a background agent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

from voxgate.agents.runs.runner import RunControl, RunEvent, text_message

LINE_LIMIT = 1 << 20
"""Longest output line (bytes) a command may print."""
_PASSTHROUGH = {"textmessage", "toolcallrequest", "toolcallexecution"}


class CommandFailed(Exception):
    """The command exited with a non-zero status."""


class CommandRunner:
    """Runs ``command`` in a subprocess; each line it prints is a ``textmessage``.

    The task goes where an argument holds ``{task}``, else on stdin. A line that is a JSON
    run event (``{"type": "toolcallrequest", "data": ...}``) passes through as it is, so a CLI
    can report its tool calls. Pausing stops the process group (SIGSTOP), resuming continues
    it; cancelling terminates it (SIGTERM, then SIGKILL after ``kill_after`` seconds).
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        description: str = "",
        default_task: str = "",
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        kill_after: float = 5.0,
    ) -> None:
        if not command:
            raise ValueError("command must name a program")
        self.name = name
        self.command = list(command)
        self.description = description or f"runs {Path(self.command[0]).name}"
        self.default_task = default_task
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.kill_after = kill_after

    async def stream(self, task: str, control: RunControl) -> AsyncIterator[RunEvent]:
        """The process's output lines as run events."""
        via_argument = any("{task}" in arg for arg in self.command)
        argv = [arg.replace("{task}", task) for arg in self.command]
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL if via_argument else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.cwd,
            env={**os.environ, **self.env} if self.env is not None else None,
            start_new_session=True,  # its own process group: signals reach its children too
            limit=LINE_LIMIT,
        )
        control.on_pause(
            lambda: _signal(process, signal.SIGSTOP), lambda: _signal(process, signal.SIGCONT)
        )
        stderr: deque[str] = deque(maxlen=20)
        drain = asyncio.create_task(_collect(process.stderr, stderr))
        try:
            if not via_argument and process.stdin is not None:
                process.stdin.write(task.encode() + b"\n")
                with contextlib.suppress(ConnectionError):
                    await process.stdin.drain()
                process.stdin.close()
            assert process.stdout is not None
            async for raw in process.stdout:
                line = raw.decode(errors="replace").rstrip("\r\n")
                if line.strip():
                    yield self._event(line)
            code = await process.wait()
            await drain
            if code != 0:
                tail = " | ".join(stderr) or "no output on stderr"
                raise CommandFailed(f"{self.command[0]} exited with status {code}: {tail}")
        finally:
            if process.returncode is None:
                await self._stop(process)
            drain.cancel()

    def _event(self, line: str) -> RunEvent:
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                data = json.loads(line)
                if isinstance(data, dict) and data.get("type") in _PASSTHROUGH:
                    return data
        return text_message(self.name, line)

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        _signal(process, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        _signal(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), self.kill_after)
        except TimeoutError:
            _signal(process, signal.SIGKILL)
            await process.wait()


def _signal(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


async def _collect(stream: asyncio.StreamReader | None, into: deque[str]) -> None:
    if stream is None:
        return
    async for raw in stream:
        into.append(raw.decode(errors="replace").rstrip())
