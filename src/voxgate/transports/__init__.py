"""The client side of sessions: how audio and events reach voxgate.

The protocol machinery only (the WebSocket loop, the WebRTC peer, ``/v1/realtime``'s edge audio
and event loop, message parsing): the app's routes (``server/``) authenticate, open the session
with its agent, and hand the connection over.
"""
