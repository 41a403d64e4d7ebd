"""Speech and language parts the local engine composes: one protocol per kind, one module per vendor."""
