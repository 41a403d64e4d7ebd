"""``voxgate serve --workers N``: one process per core, each session held by one of them.

A session lives in one process (its engine, its clients, its ephemeral keys, its runs), so every
connection that names it must reach that process. The front process owns the listening socket:
it accepts a connection, reads (without consuming: ``MSG_PEEK``) its request head — and the
small JSON body of the routes that name a session there — finds the id it is about
(``route_key``) and passes the socket itself to the worker that holds the id
(``voxgate.affinity.owner``) over a Unix socket (``SCM_RIGHTS``). The worker serves it as if it
had accepted it: the front never touches a byte of audio. A connection naming no session goes
to the next worker in turn, and whatever id that worker makes for it hashes to itself.
Workers answer HTTP with ``Connection: close``, so a browser's next request, which may name
another session, comes through the front again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate import affinity
from voxgate.server.auth import CLIENT_SECRET_PREFIX, INSECURE_KEY_PROTOCOL

log = logging.getLogger(__name__)

MAX_PEEK = 64 * 1024
"""Bytes of a request the front reads to route it (an SDP offer's JSON fits)."""
PEEK_TIMEOUT_S = 10.0
"""A connection that has not sent its request head by then goes to the next worker."""
MAX_PENDING = 1024
"""Connections the front waits on at once; past it, new ones are passed on unread."""
_BODY_ROUTES = {
    b"/api/webrtc/offer": "session_id",
    b"/v1/realtime/client_secrets": "session_id",
    b"/api/voice/chat": "conversation_id",
}
"""Routes whose small JSON body names the session, and the field that does."""
_PATH_ROUTES = ("/ws/", "/v1/realtime/calls/", "/api/runs/", "/api/sessions/")


def route_key(request: bytes) -> str | None:
    """The session (or run, or ephemeral key) a request is about, from its first bytes.

    None when it names none (any worker will do) or when the head is incomplete.
    """
    head, sep, body = request.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    target = urlsplit(parts[1])
    path = unquote(target.path)
    for prefix in _PATH_ROUTES:
        if path.startswith(prefix) and len(path) > len(prefix):
            return path[len(prefix) :].split("/", 1)[0]
    query = parse_qs(target.query)
    for name in ("call_id", "conversation_id"):  # a call's sideband; record-and-send's clips
        if query.get(name):
            return query[name][0]
    if (field := _BODY_ROUTES.get(path.encode())) and body:
        with contextlib.suppress(ValueError, AttributeError):
            session_id = json.loads(body).get(field)
            if isinstance(session_id, str) and session_id:
                return session_id
    for ticket in query.get("ticket", []):
        if ticket.startswith(CLIENT_SECRET_PREFIX):
            return ticket
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "authorization":
            key = value.partition(" ")[2].strip()
            if key.startswith(CLIENT_SECRET_PREFIX):
                return key
        elif name == "sec-websocket-protocol":
            for protocol in value.split(","):
                key = protocol.strip().removeprefix(INSECURE_KEY_PROTOCOL)
                if key.startswith(CLIENT_SECRET_PREFIX):
                    return key
    return None


def _complete(request: bytes) -> bool:
    """Whether ``request`` holds all the front needs to route it."""
    head, sep, body = request.partition(b"\r\n\r\n")
    if not sep:
        return len(request) >= MAX_PEEK
    path = head.split(b" ", 2)[1].split(b"?", 1)[0] if head.count(b" ") >= 2 else b""
    if path not in _BODY_ROUTES:
        return True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            with contextlib.suppress(ValueError):
                return len(body) >= min(int(value), MAX_PEEK - len(head) - 4)
    return True


class Front:
    """Accepts connections and hands each to the worker that holds what it names."""

    def __init__(self, listener: socket.socket, channels: list[socket.socket]) -> None:
        self._listener = listener
        self._channels = channels
        self._turn = itertools.cycle(range(len(channels)))
        self._pending: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Accept until cancelled."""
        loop = asyncio.get_running_loop()
        self._listener.setblocking(False)
        while True:
            conn, _ = await loop.sock_accept(self._listener)
            if len(self._pending) >= MAX_PENDING:
                self._hand_over(conn, None)
                continue
            task = loop.create_task(self._route(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _route(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        request = b""
        deadline = time.monotonic() + PEEK_TIMEOUT_S
        loop.add_reader(conn.fileno(), readable.set)
        try:
            while not _complete(request):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                readable.clear()
                try:
                    await asyncio.wait_for(readable.wait(), remaining)
                except TimeoutError:
                    break
                try:
                    peeked = conn.recv(MAX_PEEK, socket.MSG_PEEK)
                except BlockingIOError:
                    continue
                except OSError:
                    conn.close()
                    return
                if not peeked:  # closed before it asked for anything
                    conn.close()
                    return
                if peeked == request:  # still readable: the peeked bytes wait unread
                    await asyncio.sleep(0.02)
                request = peeked
        finally:
            loop.remove_reader(conn.fileno())
        self._hand_over(conn, route_key(request))

    def _hand_over(self, conn: socket.socket, key: str | None) -> None:
        index = affinity.owner(key, len(self._channels)) if key else next(self._turn)
        try:
            socket.send_fds(self._channels[index], [b"c"], [conn.fileno()])
        except OSError as exc:
            log.error("worker %d did not take a connection: %s", index, exc)
        finally:
            conn.close()


class ConnectionClose:
    """ASGI middleware: every HTTP response says ``Connection: close`` (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the header to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)


class WorkerServer(uvicorn.Server):
    """uvicorn serving the connections the front passes over ``channel``; it binds nothing."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self._channel = channel

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start the app, then take connections from the front."""
        await super().startup(sockets=[])
        config = self.config

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        loop = asyncio.get_running_loop()
        self._channel.setblocking(False)
        adopting: set[asyncio.Task[Any]] = set()

        def receive() -> None:
            while True:
                try:
                    _, fds, _, _ = socket.recv_fds(self._channel, 1, 16)
                except BlockingIOError:
                    return
                except OSError:
                    loop.remove_reader(self._channel.fileno())
                    self.should_exit = True
                    return
                if not fds:  # the front has gone
                    loop.remove_reader(self._channel.fileno())
                    self.should_exit = True
                    return
                for fd in fds:
                    conn = socket.socket(fileno=fd)
                    conn.setblocking(False)
                    task = loop.create_task(loop.connect_accepted_socket(protocol, conn))
                    adopting.add(task)
                    task.add_done_callback(adopting.discard)

        loop.add_reader(self._channel.fileno(), receive)


def run_worker(app: Any, options: dict[str, Any], channel_fd: int, index: int, count: int) -> None:
    """A worker process: ids it makes hash to ``index``; connections come over ``channel_fd``."""
    affinity.configure(index, count)
    channel = socket.socket(fileno=channel_fd)
    options = {k: v for k, v in options.items() if k not in ("host", "port")}
    config = uvicorn.Config(ConnectionClose(app), **options)
    WorkerServer(config, channel).run()


def run_front(host: str, port: int, count: int, worker_args: list[str]) -> int:
    """Bind, start ``count`` workers (``voxgate serve worker_args``), route until stopped.

    Returns 0 when stopped by a signal, 1 when a worker died (so a service manager restarts
    the server: systemd's ``Restart=on-failure``).
    """
    listener = socket.create_server((host, port), backlog=2048)
    channels, procs = [], []
    for index in range(count):
        front_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "voxgate.cli",
                    "serve",
                    *worker_args,
                    "--worker",
                    f"{index}/{count}/{worker_end.fileno()}",
                ],
                pass_fds=[worker_end.fileno()],
            )
        )
        worker_end.close()
        channels.append(front_end)
    log.info("voxgate front on http://%s:%d, %d workers", host, port, count)

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        front = asyncio.create_task(Front(listener, channels).run())
        watch = asyncio.create_task(_watch(procs, stop))
        await stop.wait()
        front.cancel()
        lost = watch.done()  # it ends only when a worker died
        watch.cancel()
        return lost

    try:
        lost_a_worker = asyncio.run(main())
    finally:
        listener.close()
        for channel in channels:
            channel.close()  # each worker drains and exits
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)
            if proc.poll() is None:
                proc.kill()
    return 1 if lost_a_worker else 0


async def _watch(procs: list[subprocess.Popen[bytes]], stop: asyncio.Event) -> None:
    """Stop the front when a worker dies: its sessions are gone, and so should the server be."""
    while all(p.poll() is None for p in procs):  # noqa: ASYNC110 - polling child processes
        await asyncio.sleep(0.5)
    log.error("a worker exited (%s); stopping", [p.returncode for p in procs])
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
    stop.set()
