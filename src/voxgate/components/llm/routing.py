"""How a tiny model (SmolLM2-135M) uses tools: the prompts, grammars and history it needs.

Asked to pick a tool by name, or to write a tool call freely, a 135M model answers almost at
random. What it does well is judge how likely a sentence is. So the choice is made the other way
round (a "channel" classifier): for each option, how likely is the user's request after a short
text stating what the option does? The most likely option wins; "reply" (just talk) is one of
the options. Arguments are then generated under a JSON grammar made from the tool's schema.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from voxgate.components.llm import ChatMessage, Tool, ToolChoice

REPLY_DESCRIPTION = "Small talk: greetings, thanks, goodbyes, or questions about the assistant."
"""What the "just reply" option is scored against."""
MAX_ARGUMENT_CHARS = 80
"""Longest string argument the grammar allows when there is no request to copy from."""
MAX_SPAN_WORDS = 12
_CATCH_ALL = re.compile(
    r"[\s,;:-]+(?:for|with|about)?\s*(?:anything|everything|all|any request)\b.*?"
    r"\b(?:not|else|other)\b.*$",
    re.IGNORECASE | re.DOTALL,
)
_EDGE_PUNCTUATION = ".,;:!?\"'()"


@dataclass(frozen=True)
class Option:
    """One choice of the routing step: a tool, or ``tool=None`` for a spoken reply."""

    tool: Tool | None
    description: str


def options(tools: list[Tool], tool_choice: ToolChoice) -> list[Option]:
    """What the routing step may choose, given ``tool_choice``."""
    if tool_choice == "none" or not tools:
        return [Option(None, REPLY_DESCRIPTION)]
    if isinstance(tool_choice, dict):
        tools = [t for t in tools if t["name"] == tool_choice.get("name")]
    choices = [Option(t, scored_description(t)) for t in tools]
    if tool_choice == "auto":
        choices.append(Option(None, REPLY_DESCRIPTION))
    return choices


def scored_description(tool: Tool) -> str:
    """The text a tool is scored by: its description, minus what it is *not* for.

    A small model cannot read negation: "Hand off to triage_agent for anything that is not an
    airline FAQ" scores high exactly on FAQ questions. Such a catch-all is scored by the part
    before the negation ("Hand off to triage_agent."), so it wins when nothing else fits.
    """
    description = str(tool.get("description") or tool["name"].replace("_", " "))
    positive = _CATCH_ALL.sub("", description).rstrip(" .,;:")
    return positive + "." if positive != description.rstrip(" .") else description


def option_context(description: str) -> str:
    """The text that precedes the request when option ``description`` is scored."""
    return f'The customer needs this: {description}\nThe customer says: "'


def last_user_text(messages: list[ChatMessage], tools: Sequence[Tool] = ()) -> str | None:
    """The latest user message still to be routed, or None: a tool result came after it.

    One exception: a result of a tool that is not among ``tools`` answered another agent's
    call (a handoff), so the user's request is this agent's to route. Only one such result
    is passed over, so two agents never hand a request back and forth.
    """
    names = {
        call["id"]: call["function"]["name"]
        for message in messages
        if message["role"] == "assistant"
        for call in message.get("tool_calls") or []
    }
    current = {tool["name"] for tool in tools}
    passed_over = 0
    for message in reversed(messages):
        if message["role"] == "tool":
            if names.get(message.get("tool_call_id", "")) in current or passed_over or not current:
                return None
            passed_over += 1
        elif message["role"] == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return None


def has_arguments(tool: Tool) -> bool:
    """Whether the tool's schema declares any property."""
    return bool((tool.get("parameters") or {}).get("properties"))


def arguments_schema(tool: Tool, request: str) -> dict[str, Any]:
    """The tool's parameters, every property required, free strings copied from ``request``.

    A 135M model asked to write a booking code invents one; asked to pick one among the
    request's own words, it picks well. So a plain string argument must be a run of the
    request's words (an ``enum`` of its spans; the whole request is one of them).
    """
    schema = copy.deepcopy(tool.get("parameters") or {"type": "object", "properties": {}})
    properties = schema.get("properties") or {}
    schema["required"] = list(properties)
    words = spans(request)
    for prop in properties.values():
        if prop.get("type") == "string" and not (
            {"enum", "const", "pattern", "format"} & set(prop)
        ):
            if words:
                prop["enum"] = words
            else:
                prop.setdefault("maxLength", MAX_ARGUMENT_CHARS)
    return schema


def ungrounded(tool: Tool, arguments: str) -> bool:
    """Whether two of the tool's string properties got the same value.

    Distinct slots filled with one value (both the seat and the booking code "14C", or both the
    whole sentence) mean the request did not hold them: better to ask than to call.
    """
    properties = (tool.get("parameters") or {}).get("properties") or {}
    try:
        values = json.loads(arguments)
    except ValueError:
        return True
    strings = [
        values.get(key)
        for key, prop in properties.items()
        if prop.get("type") == "string" and isinstance(values.get(key), str)
    ]
    return len(strings) != len(set(strings))


def spans(text: str, *, max_words: int = MAX_SPAN_WORDS) -> list[str]:
    """Runs of up to ``max_words`` words of ``text`` (edge punctuation off), and ``text``."""
    words = [w.strip(_EDGE_PUNCTUATION) for w in text.split()]
    found: list[str] = []
    for start in range(len(words)):
        for end in range(start + 1, min(start + max_words, len(words)) + 1):
            run = " ".join(w for w in words[start:end] if w)
            if run and run not in found:
                found.append(run)
    whole = text.strip()
    if whole and whole not in found:
        found.append(whole)
    return found


def arguments_prompt(tool: Tool, request: str) -> str:
    """A ChatML prompt asking for ``tool``'s arguments, copied from ``request``."""
    keys = ", ".join(tool["parameters"]["properties"])
    system = (
        f"Extract the arguments of {tool['name']} ({tool.get('description', '')}) "
        f"from the user's message as JSON with the keys: {keys}."
    )
    return chatml(
        [
            {"role": "system", "content": system},
            *_ARGUMENTS_EXAMPLE,
            {"role": "user", "content": request},
        ]
    )


_ARGUMENTS_EXAMPLE: list[ChatMessage] = [
    # one worked example (another tool, other keys): which value goes to which key
    {"role": "user", "content": "My order number is K4X2P, deliver it to room 12B for Anna."},
    {"role": "assistant", "content": '{"order_number": "K4X2P", "room": "12B", "name": "Anna"}'},
]


def chatml(messages: list[ChatMessage]) -> str:
    """SmolLM2's chat format, ready for the assistant to continue."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def plain_history(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Tool calls and results as plain text turns, which SmolLM2 (no tool template) follows."""
    names: dict[str, str] = {}
    plain: list[ChatMessage] = []
    for message in messages:
        if message["role"] == "assistant" and message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = call["function"]
                names[call["id"]] = function["name"]
                calls.append(f"I called {function['name']}({_compact(function['arguments'])}).")
            text = (message.get("content") or "").strip()
            plain.append({"role": "assistant", "content": " ".join([text, *calls]).strip()})
        elif message["role"] == "tool":
            name = names.get(message.get("tool_call_id", ""), "the tool")
            plain.append(
                {
                    "role": "user",
                    "content": f"Result of {name}: {message['content']}\n"
                    "Tell me this result in one short sentence.",
                }
            )
        else:
            plain.append(message)
    return plain


def _compact(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), separators=(", ", ": "))
    except ValueError:
        return arguments
