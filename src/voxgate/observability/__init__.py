"""What voxgate tells about itself: per-turn figures, Prometheus metrics, traces, JSON logs.

``turn.TurnMetrics`` is the one shape of a turn's measurements; ``observer.SessionObserver`` is
what a session tells (``prometheus.Metrics``, ``tracing.Tracing``); ``logs`` carries the
session and participant ids into every log line.
"""

from voxgate.observability.observer import Observers, SessionObserver
from voxgate.observability.turn import METRICS, Tokens, ToolTiming, TurnMetrics, TurnTrace

__all__ = [
    "METRICS",
    "Observers",
    "SessionObserver",
    "Tokens",
    "ToolTiming",
    "TurnMetrics",
    "TurnTrace",
]
