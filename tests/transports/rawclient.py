"""A WebSocket client that reads only when told to: what a server must not trust."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import uuid

from websockets.frames import Frame, Opcode


class RawClient:
    """A WebSocket client that reads only when told to: what a server must not trust."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, path: str) -> RawClient:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast when unread
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(uuid.uuid4().bytes).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer sk-anything\r\n\r\n".encode()
        )
        assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
        return cls(reader, writer)

    async def send_text(self, text: str) -> None:
        self.writer.write(Frame(Opcode.TEXT, text.encode()).serialize(mask=True))
        await self.writer.drain()

    async def read_for(self, seconds: float) -> None:
        """Read (and drop) whatever comes for ``seconds``, answering nothing (no pongs).

        A server that drops the client may reset the connection: that ends the reading too.
        """
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            async with asyncio.timeout(seconds):
                while await self.reader.read(65536):
                    pass

    def abort(self) -> None:
        self.writer.transport.abort()


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20
