"""``@tool``: a Python function the model may call, its JSON schema read from its signature.

The schema comes from type hints (built with pydantic, so anything pydantic validates works:
``Literal``, ``Annotated[..., Field(...)]``, models, defaults) and the description from the
docstring: the summary for the tool, Google-style ``Args:`` for each argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from voxgate.agents import docstring
from voxgate.components.llm.routing import with_examples
from voxgate.components.llm.spoken import SPOKEN_KEY

if TYPE_CHECKING:
    from voxgate.agents.agent import Agent
    from voxgate.agents.runs.manager import SessionRuns
    from voxgate.protocol import Event

ToolFunction = Callable[..., Any]
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ToolError(Exception):
    """A call the tool could not serve; its message goes back to the model.

    ``spoken`` is what the user hears when the model does not phrase the error itself (a
    small local model does not): "Which city?" rather than the message meant for the model.
    """

    def __init__(self, message: str, *, spoken: str | None = None) -> None:
        super().__init__(message)
        self.spoken = spoken


@dataclass(frozen=True)
class ToolResult:
    """A tool's return value with the sentence the user hears of it.

    The model reads ``value``; a model that does not phrase results (a small local one) says
    ``spoken`` instead. A plain string result needs none: it is said as it is, less any
    sentence addressed to the model ("Confirm the seat to the user.").
    """

    value: Any
    spoken: str


@dataclass(frozen=True)
class ToolContext:
    """What a tool may ask for by annotating a parameter with this type (not in its schema).

    Only what a tool may do: know its call, show events, start and control background runs.
    """

    call_id: str
    """The model's ``call_id`` for this call."""
    session_id: str
    """The session the call came from."""
    agent: Agent
    """The agent in charge when the model made the call."""
    runs: SessionRuns
    """This session's background runs: ``start(runner, task)``, ``get(run_id)``, ``latest()``."""
    _broadcast: Callable[[Event], None] = field(repr=False)

    def broadcast(self, ev: Event) -> None:
        """Show one of voxgate's own events (type ``voxgate.*``) to every participant."""
        if not str(ev.get("type", "")).startswith("voxgate."):
            raise ValueError(f"a tool may broadcast voxgate.* events only, not {ev.get('type')!r}")
        self._broadcast(ev)


@dataclass(eq=False)
class Tool:
    """A function tool: its GA ``session.tools`` definition and how to run it."""

    name: str
    description: str
    parameters: dict[str, Any]
    fn: ToolFunction
    timeout: float | None = None
    """Seconds before the call is abandoned with a ``timeout`` output; None: the session's."""
    cancel_on_barge_in: bool = False
    """Whether the user speaking over the agent cancels a running call."""
    examples: tuple[str, ...] = ()
    """Requests this tool answers ("Is it raining in Oslo?"): they route a request to it."""
    arguments_model: type[BaseModel] | None = field(default=None, repr=False)
    context_parameter: str | None = field(default=None, repr=False)

    def definition(self) -> dict[str, Any]:
        """The tool as the GA ``session.tools`` list holds it."""
        return {
            "type": "function",
            "name": self.name,
            "description": with_examples(self.description, self.examples),
            "parameters": self.parameters,
        }

    async def invoke(self, arguments: str, context: ToolContext) -> Any:
        """Validate the model's JSON ``arguments`` and call the function (sync: in a thread)."""
        kwargs = self.parse_arguments(arguments)
        if self.context_parameter is not None:
            kwargs[self.context_parameter] = context
        if inspect.iscoroutinefunction(self.fn):
            return await self.fn(**kwargs)
        result = await run_in_thread(self.fn, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result

    def parse_arguments(self, arguments: str) -> dict[str, Any]:
        """Keyword arguments for the function, or a ToolError naming what is wrong."""
        try:
            data = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ToolError(f"arguments are not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ToolError("arguments must be a JSON object")
        if self.arguments_model is None:
            return dict(data)
        try:
            parsed = self.arguments_model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ToolError(f"invalid arguments: {problems}") from None
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}


def output_text(value: Any) -> str:
    """A tool's return value as the ``output`` string of a ``function_call_output``.

    Strings go as they are; anything else as JSON (pydantic models included); a
    ``ToolResult`` as ``{"result": ..., "spoken": ...}``.
    """
    if isinstance(value, ToolResult):
        inner = value.value
        result = inner if isinstance(inner, str) else json.loads(output_text(inner))
        return json.dumps({"result": result, SPOKEN_KEY: value.spoken}, ensure_ascii=False)
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ToolError(
            f"the tool returned a {type(value).__name__}, which is not JSON-serialisable: {exc}"
        ) from None


def error_output(message: str, *, status: str = "error", spoken: str | None = None) -> str:
    """The output the model gets when a call failed: a JSON object it can read aloud from."""
    output = {"error": message, "status": status}
    if spoken:
        output[SPOKEN_KEY] = spoken
    return json.dumps(output, ensure_ascii=False)


async def run_in_thread(fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Run a sync function in its own daemon thread.

    Not the default executor: a tool that never returns must not hold a pool worker, nor
    keep the process from exiting.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    ctx = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            result = ctx.run(fn, **kwargs)
            outcome = (True, result)
        except SystemExit as exc:  # would end the event loop if re-raised there
            outcome = (False, ToolError(f"the tool called exit({exc.code!r})"))
        except BaseException as exc:
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed while the tool ran
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, name=f"tool {getattr(fn, '__name__', fn)}", daemon=True).start()
    return await future


def function_tool(
    fn: ToolFunction,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    cancel_on_barge_in: bool = False,
    examples: Sequence[str] = (),
) -> Tool:
    """A Tool from a function: schema from its type hints, text from its docstring."""
    doc = docstring.parse(fn.__doc__)
    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    context_parameter = None
    for param in inspect.signature(fn).parameters.values():
        annotation = hints.get(param.name, Any)
        if annotation is ToolContext:
            context_parameter = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__!r}: *args and **kwargs cannot be described")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (
            annotation,
            Field(default, description=doc.args.get(param.name)),
        )
    tool_name = name or fn.__name__
    if not _TOOL_NAME.match(tool_name):
        raise ValueError(f"tool name {tool_name!r}: use 1-64 letters, digits, '_' or '-'")
    model = create_model(f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
    return Tool(
        name=tool_name,
        description=description if description is not None else doc.description,
        parameters=_clean_schema(model.model_json_schema()),
        fn=fn,
        timeout=timeout,
        cancel_on_barge_in=cancel_on_barge_in,
        examples=tuple(examples),
        arguments_model=model,
        context_parameter=context_parameter,
    )


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's generated ``title``s: noise to a model, tokens to a small one."""

    def clean(node: Any, *, in_properties: bool = False) -> Any:
        if isinstance(node, dict):
            return {
                k: clean(v, in_properties=k in ("properties", "$defs"))
                for k, v in node.items()
                if in_properties or k != "title"
            }
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    cleaned: dict[str, Any] = clean(schema)
    cleaned.setdefault("properties", {})
    return cleaned


@overload
def tool(fn: ToolFunction, /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    cancel_on_barge_in: bool = False,
    examples: Sequence[str] = (),
) -> Callable[[ToolFunction], Tool]: ...


def tool(
    fn: ToolFunction | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    cancel_on_barge_in: bool = False,
    examples: Sequence[str] = (),
) -> Tool | Callable[[ToolFunction], Tool]:
    """Make a sync or async function a tool: ``@tool`` or ``@tool(timeout=5, ...)``.

    ``examples`` are requests the tool answers; a small local model routes by them.
    """

    def make(f: ToolFunction) -> Tool:
        return function_tool(
            f,
            name=name,
            description=description,
            timeout=timeout,
            cancel_on_barge_in=cancel_on_barge_in,
            examples=examples,
        )

    return make(fn) if fn is not None else make
