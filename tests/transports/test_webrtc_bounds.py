"""A WebRTC peer's bounds, without a network: the data channel's backlog and the inbox."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from voxgate.session import SessionRegistry
from voxgate.settings import Settings
from voxgate.transports.webrtc import CHANNEL, CHANNEL_HIGH_WATER, MAX_INBOX, Peer, Peers


class FakeChannel:
    """The parts of aiortc's ``RTCDataChannel`` a peer uses; its backlog is set by the test."""

    label = CHANNEL
    readyState = "open"

    def __init__(self) -> None:
        self.bufferedAmount = 0
        self.bufferedAmountLowThreshold = 0
        self.sent: list[str] = []
        self.handlers: dict[str, Any] = {}
        self.transport = SimpleNamespace(transport=SimpleNamespace(state="connected"))

    def on(self, name: str, handler: Any) -> None:
        self.handlers[name] = handler

    def send(self, text: str) -> None:
        self.sent.append(text)


def make_peer() -> Peer:
    settings = Settings(_env_file=None, engine="loopback", agents="none")  # type: ignore[call-arg]
    registry = SessionRegistry(lambda config=None: None)  # type: ignore[arg-type,return-value]
    peers = Peers(settings, registry, asyncio.create_task)
    return Peer(peers, registry.open("s1"))


async def test_events_wait_while_the_channel_holds_a_backlog():
    peer = make_peer()
    channel = FakeChannel()
    peer._on_datachannel(channel)  # type: ignore[arg-type]
    channel.sent.clear()  # voxgate.webrtc.connected
    channel.bufferedAmount = CHANNEL_HIGH_WATER + 1  # the client is not taking its events
    delivering = asyncio.create_task(peer._deliver({"type": "response.done", "response": {}}))
    await asyncio.sleep(0.05)
    assert not delivering.done() and not channel.sent  # aiortc's own queue does not grow
    channel.bufferedAmount = 0
    channel.handlers["bufferedamountlow"]()
    await asyncio.wait_for(delivering, 1)
    assert len(channel.sent) == 1
    await peer.pc.close()


async def test_the_inbox_is_bounded():
    peer = make_peer()
    for _ in range(MAX_INBOX + 10):  # nobody is handling them yet
        peer._on_message('{"type": "response.cancel"}')
    assert peer._inbox.qsize() == MAX_INBOX
    assert peer.writer.pending == 10  # ten refusals, event_queue_full
    await peer.pc.close()
