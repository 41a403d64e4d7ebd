"""Test agents in plain pytest: a scripted engine plays the model, the runtime runs for real.

```python
async with ScriptedSession(agent, script=[call("get_weather", city="Paris"), say("Sunny.")]) as s:
    result = await s.run("What's the weather in Paris?")
    result.expect.next_event().is_function_call(name="get_weather", arguments={"city": "Paris"})
    result.expect.next_event().is_function_call_output(contains="Paris")
    result.expect.next_event().is_message(role="assistant").contains("sunny")
    result.expect.no_more_events()
```
"""

from voxgate.agents.testing.engine import (
    FunctionCall,
    Reply,
    ScriptedEngine,
    ScriptedModel,
    Step,
    call,
    last_output,
    say,
)
from voxgate.agents.testing.result import (
    EventAssert,
    FunctionCallEvent,
    FunctionCallOutputEvent,
    HandoffEvent,
    MessageEvent,
    RunExpect,
    RunResult,
)
from voxgate.agents.testing.session import ScriptedSession

__all__ = [
    "EventAssert",
    "FunctionCall",
    "FunctionCallEvent",
    "FunctionCallOutputEvent",
    "HandoffEvent",
    "MessageEvent",
    "Reply",
    "RunExpect",
    "RunResult",
    "ScriptedEngine",
    "ScriptedModel",
    "ScriptedSession",
    "Step",
    "call",
    "last_output",
    "say",
]
