"""A tool's arguments, from the request alone: copied, asked for, never invented.

A 135M model asked to write a booking code invents one; asked to pick one among the request's
own words, it picks well. So arguments are generated under a JSON grammar in which a plain
string must be a run of the request's words; a tool that takes the question takes the request
whole; and a request that holds nothing for a tool's slots ("I want to change my seat") gets a
question for them instead of a call.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

from voxgate.components.llm import ChatMessage, Tool
from voxgate.components.llm.routing import chatml, split_examples

FREE_TEXT_PARAMETERS = frozenset({"question", "query", "request", "message", "text", "utterance"})
"""A tool whose only parameter is one of these takes the user's request as it was said."""
MAX_ARGUMENT_CHARS = 80
"""Longest string argument the grammar allows when there is no request to copy from."""
MAX_SPAN_WORDS = 12
_EDGE_PUNCTUATION = ".,;:!?\"'()"


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
    vocabulary = _tool_words(tool)
    for prop in properties.values():
        if _patterned(prop) and (values := pattern_values(prop["pattern"], request, vocabulary)):
            prop["enum"] = values  # each matches the pattern
            del prop["pattern"]
        elif prop.get("type") == "string" and not _constrained(prop):
            if words:
                prop["enum"] = words
            else:
                prop.setdefault("maxLength", MAX_ARGUMENT_CHARS)
    return schema


def free_text_arguments(tool: Tool, request: str) -> str | None:
    """The arguments of a tool that takes the request itself (a ``question``), else None.

    Copying the whole request needs no model: a FAQ lookup gets what the user asked.
    """
    properties = (tool.get("parameters") or {}).get("properties") or {}
    if len(properties) != 1 or not request.strip():
        return None
    ((name, prop),) = properties.items()
    if name not in FREE_TEXT_PARAMETERS or prop.get("type") != "string" or _constrained(prop):
        return None
    return json.dumps({name: request.strip()}, ensure_ascii=False)


def missing_arguments(tool: Tool, request: str) -> list[str]:
    """The tool's free string properties the request holds nothing for.

    A request holds something for a property when it has a word that is neither a common
    word nor the tool's own vocabulary: "I want to change my seat" names the seat, it gives
    none.
    """
    properties = (tool.get("parameters") or {}).get("properties") or {}
    vocabulary = _tool_words(tool)
    given = [w for w in _words(request) if w not in vocabulary]
    return [
        key
        for key, prop in properties.items()
        if (prop.get("type") == "string" and not _constrained(prop) and not given)
        or (_patterned(prop) and not pattern_values(prop["pattern"], request, vocabulary))
    ]


def pattern_values(pattern: str, request: str, vocabulary: set[str] | None = None) -> list[str]:
    """The values ``request`` gives that match a string property's ``pattern``.

    Each run of the request's words is tried as said, and a run of a code's pieces (digits,
    digit words, capital letters) also joined: speech recognition writes "ABC123" as
    "ABC 123" or "A B C one two three". Letters are upper-cased only beside a digit ("14c").
    A run of only common and tool words (``vocabulary``: "number", "seat") is none.
    """
    try:
        compiled = re.compile(pattern)
    except re.error:
        return []
    found: list[str] = []
    for span in spans(request, max_words=MAX_CODE_PIECES):
        if not [w for w in _words(span) if w not in (vocabulary or set())]:
            continue
        forms = [span]
        pieces = re.split(r"[\s-]+", span)
        if len(pieces) > 1 and (" " not in span or all(_code_piece(p) for p in pieces)):
            forms.append("".join(_DIGITS.get(p.lower(), p) for p in pieces))  # or "abc-123"
        for form in forms:
            cased = [form, form.upper()] if re.search(r"\d", form) else [form]
            match = next((f for f in cased if compiled.search(f)), None)
            if match is not None and match not in found:
                found.append(match)
    return found


def _code_piece(piece: str) -> bool:
    return (
        piece.lower() in _DIGITS
        or any(c.isdigit() for c in piece)
        or (piece.isalpha() and piece.isupper() and len(piece) <= 3)
    )


def ungrounded(tool: Tool, arguments: str) -> list[str]:
    """The string properties whose values the request did not give; empty when all did.

    A value of common words and the tool's own vocabulary only ("seat", "my") fills no slot;
    distinct slots filled with one value (both the seat and the booking code "14C", or both
    the whole sentence) mean the request did not hold them. Better to ask than to call.
    """
    properties = (tool.get("parameters") or {}).get("properties") or {}
    try:
        values = json.loads(arguments)
    except ValueError:
        return [key for key, prop in properties.items() if prop.get("type") == "string"]
    vocabulary = _tool_words(tool)
    strings = {
        key: values.get(key)
        for key, prop in properties.items()
        if prop.get("type") == "string" and isinstance(values.get(key), str)
    }
    empty = [k for k, v in strings.items() if not [w for w in _words(v) if w not in vocabulary]]
    repeated = [k for k, v in strings.items() if list(strings.values()).count(v) > 1]
    return [k for k in strings if k in empty or k in repeated]


def ask_for(tool: Tool, keys: Sequence[str]) -> str:
    """A question asking the user for the arguments ``keys`` of ``tool``."""
    properties = (tool.get("parameters") or {}).get("properties") or {}
    names = [_spoken_name(key, properties.get(key) or {}) for key in keys]
    if not names:
        return "Could you tell me a little more?"
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"Sure, I can help with that. What is your {listed}?"


def _spoken_name(key: str, prop: dict[str, Any]) -> str:
    description = str(prop.get("description") or "").split(",")[0].split(".")[0].strip()
    if description and len(description.split()) <= 4:
        return re.sub(r"^(?:the|a|an|your)\s+", "", description, flags=re.IGNORECASE).lower()
    return key.replace("_", " ")


def string_choice(prop: dict[str, Any]) -> bool:
    """Whether a property of ``arguments_schema`` is a string out of a list (``enum``).

    The request's spans are such a list, and so is a tool's own ``enum``.
    """
    return (
        prop.get("type") == "string"
        and isinstance(prop.get("enum"), list)
        and all(isinstance(v, str) for v in prop["enum"])
        and not (_CONSTRAINTS - {"enum"}) & set(prop)
    )


def as_span(value: str, spans: Sequence[str]) -> str | None:
    """The one of ``spans`` that ``value`` is, punctuation and case aside; None if none."""
    key = _span_key(value)
    return next((span for span in spans if _span_key(span) == key), None) if key else None


def _span_key(text: str) -> str:
    return " ".join(w.strip(_EDGE_PUNCTUATION) for w in text.lower().split())


_CONSTRAINTS = frozenset({"enum", "const", "pattern", "format"})


def _constrained(prop: dict[str, Any]) -> bool:
    return bool(_CONSTRAINTS & set(prop))


def _patterned(prop: dict[str, Any]) -> bool:
    """A string property whose only constraint is a ``pattern`` (its values are copied too)."""
    return prop.get("type") == "string" and _CONSTRAINTS & set(prop) == {"pattern"}


_DIGIT_WORDS = "zero oh one two three four five six seven eight nine"
_DIGITS = dict(zip(_DIGIT_WORDS.split(), "00123456789", strict=True))
MAX_CODE_PIECES = 8
"""Most pieces a spoken code is heard in ("A B C one two three" is six)."""


_COMMON_WORDS = """a an the i i'm i'd i'll me my mine we our you your it its it's is are was
were be been am do does did can could would will shall should may might must to of in on at for
from by with about into and or but so if then than that this these those there here what what's
which who whom whose when where why how please thanks thank hi hello hey yes no not okay ok sure
like want wanted need needs just also too very much many some any all one new change tell give
get know let let's help make have has had today now right"""
_COMMON = frozenset(_COMMON_WORDS.split())


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in _COMMON]


def _tool_words(tool: Tool) -> set[str]:
    description, _ = split_examples(str(tool.get("description") or ""))
    properties = (tool.get("parameters") or {}).get("properties") or {}
    text = " ".join(
        [
            tool.get("name", ""),
            description,
            *properties,
            *(str(p.get("description") or "") for p in properties.values()),
        ]
    )
    words = set(_words(text.replace("_", " ")))
    return words | {w.rstrip("s") for w in words} | {w + "s" for w in words}


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
    description, _ = split_examples(str(tool.get("description") or ""))
    system = (
        f"Extract the arguments of {tool['name']} ({description}) "
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
