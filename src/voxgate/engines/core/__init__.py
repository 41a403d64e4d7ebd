"""What every engine shares: the conversation, the GA response writer, the playback tracker."""
