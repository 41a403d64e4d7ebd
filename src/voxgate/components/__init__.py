"""Speech and language parts the local engine composes: a protocol per kind, a module per vendor."""
