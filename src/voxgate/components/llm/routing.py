"""How a tiny model (SmolLM2-135M) uses tools: the options, prompts, grammars and history.

Asked to pick a tool by name, or to write a tool call freely, a 135M model answers almost at
random. So the choice is made apart from it: each option (a tool, or "reply": just talk) is
described by its description and example requests (``router``), and the request goes to the
closest. Arguments come from the request (``arguments``).

What the model reads of the conversation holds no scaffolding it could imitate: no call syntax,
no tool names, no raw results (``plain_history``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from voxgate.components.llm import ChatMessage, Tool, ToolChoice

REPLY_DESCRIPTION = "Small talk: greetings, thanks, goodbyes, or questions about the assistant."
"""What the "just reply" option is scored against."""
REPLY_EXAMPLES = (
    "Hi, how's it going?",
    "Good morning!",
    "Great, thanks for your help.",
    "Thank you, that's everything.",
    "Goodbye!",
    "What's your name?",
    "What can you do?",
    "My name is Anna.",
    "I'm travelling to London next week.",
    "Can you say that again, please?",
    "Sorry, I didn't catch that.",
    "Okay, great.",
    "Yes please.",
    "No, that's fine.",
    "I need some help.",
)
"""Requests the "just reply" option stands for: talk that needs no tool."""
EXAMPLES_MARK = "For example:"
"""Where a description's example requests start (``with_examples``)."""
_CATCH_ALL = re.compile(
    r"[\s,;:-]+(?:for|with|about)?\s*(?:anything|everything|all|any request)\b.*?"
    r"\b(?:not|else|other)\b.*$",
    re.IGNORECASE | re.DOTALL,
)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


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
    description, _ = split_examples(str(tool.get("description") or ""))
    description = description or tool["name"].replace("_", " ")
    positive = _CATCH_ALL.sub("", description).rstrip(" .,;:")
    return positive + "." if positive != description.rstrip(" .") else description


def with_examples(description: str, examples: Sequence[str]) -> str:
    """``description`` followed by example requests, as a tool's description carries them.

    Examples travel inside the description (a GA tool has no other place for them): a large
    model reads them as guidance, and the router (``split_examples``) takes them apart again.
    """
    quoted = " ".join(json.dumps(e.strip(), ensure_ascii=False) for e in examples if e.strip())
    return f"{description.rstrip()} {EXAMPLES_MARK} {quoted}" if quoted else description


def split_examples(description: str) -> tuple[str, list[str]]:
    """A description and the example requests ``with_examples`` appended to it."""
    head, mark, tail = description.partition(EXAMPLES_MARK)
    if not mark:
        return description.strip(), []
    return head.strip(), [json.loads(m) for m in _QUOTED.findall(tail)]


def option_context(description: str) -> str:
    """The text that precedes the request when option ``description`` is scored."""
    return f'The customer needs this: {description}\nThe customer says: "'


def last_user_text(messages: list[ChatMessage], tools: Sequence[Tool] = ()) -> str | None:
    """The latest user message still to be routed, or None: it was answered already.

    A result of one of ``tools`` coming last is this agent's to say. A result of another
    tool coming last answered another agent's call (a handoff), so the user's request is this
    agent's to route: a request reaches the agent it belongs to through as many handoffs as it
    takes (``called_since_request`` keeps it from going round).
    """
    if messages and messages[-1]["role"] == "tool":
        name = _call_names(messages).get(messages[-1].get("tool_call_id", ""))
        if not tools or name in {tool["name"] for tool in tools}:
            return None
    for message in reversed(messages):
        if message["role"] == "assistant" and (message.get("content") or "").strip():
            return None  # answered in words
        if message["role"] == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return None


def called_since_request(messages: list[ChatMessage]) -> set[str]:
    """Tools called since the latest user message: a request is not routed to one twice.

    So a request handed from agent to agent visits each handoff once, and ends in words
    rather than going round the graph.
    """
    called: set[str] = set()
    for message in reversed(messages):
        if message["role"] == "user":
            break
        if message["role"] == "assistant":
            called.update(call["function"]["name"] for call in message.get("tool_calls") or [])
    return called


def last_tool_result(messages: list[ChatMessage]) -> tuple[str, str] | None:
    """(tool name, output) of the result the reply must speak, if a result came last."""
    if not messages or messages[-1]["role"] != "tool":
        return None
    last = messages[-1]
    name = _call_names(messages).get(last.get("tool_call_id", ""), "")
    return name, str(last.get("content") or "")


def _call_names(messages: list[ChatMessage]) -> dict[str, str]:
    return {
        call["id"]: call["function"]["name"]
        for message in messages
        if message["role"] == "assistant"
        for call in message.get("tool_calls") or []
    }


def chatml(messages: list[ChatMessage]) -> str:
    """SmolLM2's chat format, ready for the assistant to continue."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def talking_instructions(instructions: str) -> str:
    """The instructions without their sentences about tools and handoffs.

    They matter to the routing step, which has already run when the model talks; left in,
    a 135M model repeats them ("I will use get_weather").
    """
    sentences = _SENTENCE.split(" ".join(str(instructions).split()))
    kept = [s for s in sentences if not _ABOUT_TOOLS.search(s)]
    return " ".join(kept) if kept else str(instructions)


_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_ABOUT_TOOLS = re.compile(
    r"\w_\w|\btools?\b|\bfunctions?\b|\btransfer|\bhand(?:s|ed)? (?:off|back|over)\b", re.I
)


def plain_history(
    messages: list[ChatMessage], facts: str | None = None, *, turns: int | None = None
) -> list[ChatMessage]:
    """The conversation as plain turns, with nothing of the tool machinery in it.

    SmolLM2 has no tool template, and it imitates whatever its prompt holds: calls written as
    text ("I called faq_lookup_tool({})") came back as its reply. So calls and their results
    are left out (what the agent said about a result is in the conversation as its own turn),
    so are the instructions' sentences about tools (``talking_instructions``), and ``facts``,
    the sentence a reply must draw on, joins the system message. ``turns`` keeps only the
    last user turns: every token of history costs evaluation time before a word is said.
    """
    plain: list[ChatMessage] = []
    for message in messages:
        if message["role"] == "system" and not plain:
            plain.append({"role": "system", "content": talking_instructions(message["content"])})
            continue
        if message["role"] == "tool":
            continue
        if message["role"] == "assistant" and message.get("tool_calls"):
            text = (message.get("content") or "").strip()
            if text:
                plain.append({"role": "assistant", "content": text})
            continue
        plain.append(message)
    if turns is not None:
        starts = [i for i, m in enumerate(plain) if m["role"] == "user"]
        if len(starts) > turns:
            head = plain[:1] if plain and plain[0]["role"] == "system" else []
            plain = head + plain[starts[-turns] :]
    if facts and plain and plain[0]["role"] == "system":
        system = f"{plain[0]['content']}\nWhat you found out: {facts}"
        plain[0] = {"role": "system", "content": system}
    return plain
