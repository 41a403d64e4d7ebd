"""Agents that act: tools and handoffs run server-side on any engine, and background runs.

```python
from voxgate.agents import Agent, tool

@tool
def get_weather(city: str) -> str:
    '''Get the current weather for a city.'''
    return f"Sunny in {city}."

agent = Agent(name="assistant", instructions="Be brief.", tools=[get_weather])
```
"""

from voxgate.agents.agent import Agent, Handoff, handoff
from voxgate.agents.narration import NarrationPolicy
from voxgate.agents.runs import (
    CommandRunner,
    FunctionRunner,
    Run,
    RunManager,
    Runner,
    delegate,
)
from voxgate.agents.runtime import AgentRuntime
from voxgate.agents.tool import Tool, ToolContext, ToolError, function_tool, tool

__all__ = [
    "Agent",
    "AgentRuntime",
    "CommandRunner",
    "FunctionRunner",
    "Handoff",
    "NarrationPolicy",
    "Run",
    "RunManager",
    "Runner",
    "Tool",
    "ToolContext",
    "ToolError",
    "delegate",
    "function_tool",
    "handoff",
    "tool",
]
