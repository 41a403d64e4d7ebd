"""``voxgate bench``: figures measured over real sockets, printed, never asserted."""
