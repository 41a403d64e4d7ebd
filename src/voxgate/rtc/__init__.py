"""WebRTC media, below the transports and the engines that both carry audio over WebRTC.

The agent's voice as a paced Opus track (``track``), the caller's track as PCM16 24 kHz
(``microphone``), aiortc's audio receivers made to decode in the event loop as packets
arrive (``decode``), and data-channel messages no larger than the other side takes
(``channel``). Importing this package installs that receiver patch (idempotent), so every
peer connection of the process (the gateway's, the ``openai`` engine's, a test client's)
receives audio the same way, whoever imports it first.
"""

from voxgate.rtc import decode
from voxgate.rtc.microphone import read_microphone
from voxgate.rtc.track import FRAME_MS, AgentAudioTrack, encode_opus

decode.install()

__all__ = ["FRAME_MS", "AgentAudioTrack", "encode_opus", "read_microphone"]
