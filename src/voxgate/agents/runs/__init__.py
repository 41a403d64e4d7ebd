"""Background runs: long work handed to an agent team, a CLI agent or a Python function."""

from voxgate.agents.runs.command import CommandRunner
from voxgate.agents.runs.function import FunctionRunner
from voxgate.agents.runs.manager import RunManager, SessionRuns, UnknownRunner
from voxgate.agents.runs.run import Run, RunStatus
from voxgate.agents.runs.runner import RunControl, RunEvent, Runner, text_message
from voxgate.agents.runs.tools import DelegationTool, delegate, run_control_tools

__all__ = [
    "CommandRunner",
    "DelegationTool",
    "FunctionRunner",
    "Run",
    "RunControl",
    "RunEvent",
    "RunManager",
    "RunStatus",
    "Runner",
    "SessionRuns",
    "UnknownRunner",
    "delegate",
    "run_control_tools",
    "text_message",
]
