"""The client side of sessions: how audio and events reach voxgate."""
