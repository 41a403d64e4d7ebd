"""``voxgate serve --agents FILE``: find the starting agent in a user's Python file.

The file defines, at module level, ``agent`` or ``starting_agent``: an ``Agent``, or a
function (no arguments) returning one. ``FILE:name`` picks another variable or function.
``demo`` is the bundled airline agents.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from voxgate.agents.agent import Agent

NAMES = ("agent", "starting_agent")


class AgentLoadError(Exception):
    """The file has no usable starting agent; the message says what to fix."""


def load_agent(spec: str) -> Agent:
    """The starting agent named by ``spec``: ``demo``, ``path/to/agents.py`` or ``...py:name``."""
    if spec == "demo":
        from voxgate.agents import demo

        return demo.build()
    path_text, _, name = spec.partition(":") if spec.count(":") == 1 else (spec, "", "")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise AgentLoadError(f"agents file {str(path)!r} does not exist")
    module_name = f"voxgate_user_agents_{abs(hash(path.resolve()))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise AgentLoadError(f"{str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise AgentLoadError(f"{path} failed to import: {type(exc).__name__}: {exc}") from exc
    names = (name,) if name else NAMES
    for candidate in names:
        if not hasattr(module, candidate):
            continue
        value = getattr(module, candidate)
        if callable(value) and not isinstance(value, Agent):
            value = value()
        if not isinstance(value, Agent):
            raise AgentLoadError(
                f"{path}: {candidate!r} is a {type(value).__name__}, not a voxgate Agent"
            )
        return value
    wanted = " or ".join(repr(n) for n in names)
    raise AgentLoadError(
        f"{path} defines no {wanted}: set one to your starting Agent (or a function returning it)"
    )
