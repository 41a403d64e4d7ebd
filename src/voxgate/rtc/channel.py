"""The ``oai-events`` data channel's messages: no larger than the other side takes.

A peer's SDP says its largest message (``a=max-message-size``; browsers and aiortc take
256 KiB, 65,536 bytes when it says nothing); aiortc refuses to send more. An item event over
it (an image another client sent over a WebSocket) goes without its images' ``image_url``;
any other becomes an ``error`` saying it was not delivered.
"""

from __future__ import annotations

import json
import logging
import re

from voxgate.images import without_image_data
from voxgate.protocol import Event, error_event

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE = 65536
"""The largest message of a peer whose SDP says none (RFC 8841)."""
_MAX_MESSAGE = re.compile(r"^a=max-message-size:(\d+)", re.MULTILINE)


def max_message_size(sdp: str) -> int:
    """The largest data-channel message an SDP takes (0: any size)."""
    match = _MAX_MESSAGE.search(sdp)
    return int(match.group(1)) if match else DEFAULT_MAX_MESSAGE


def fit_message(ev: Event, max_message: int) -> str:
    """``ev`` as JSON of at most ``max_message`` bytes (0: any size)."""
    text = json.dumps(ev)  # ASCII: one byte a character
    if not 0 < max_message < len(text):
        return text
    bare = without_image_data(ev)
    if bare is not ev:
        fitted = json.dumps(bare)
        if len(fitted) <= max_message:
            return fitted
    log.warning("a %s of %d bytes is too large for its data channel", ev.get("type"), len(text))
    refused = error_event(
        f"a {ev.get('type')} event of {len(text)} bytes was not delivered: this data channel "
        f"takes messages of at most {max_message} bytes",
        code="event_too_large",
        type_="server_error",
    )
    return json.dumps(refused)
