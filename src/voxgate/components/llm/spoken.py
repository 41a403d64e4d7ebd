"""A tool's result as words for the user: the tool's own sentence, or its facts in a line.

A function's output is written for a model: JSON, notes to the model ("Confirm the new seat
to the user."), error objects. A 135M model asked to retell it reads its prompt aloud or
imitates the call instead, and asking it costs a model turn. So a result that already is a
sentence is said as it is, minus what was meant for the model; a result that carries a
``spoken`` form (``{"spoken": ...}``, as voxgate's ``@tool`` results and ``ToolError``s can)
is said in that form; only structured data is left for the model to phrase, with ``facts``
as its material and its fallback.
"""

from __future__ import annotations

import json
import re
from typing import Any

SPOKEN_KEY = "spoken"
"""The key of a result's spoken form in a JSON object output."""
FAILED = "Sorry, that did not work."
TIMED_OUT = "Sorry, that is taking too long."
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_FOR_THE_MODEL = re.compile(
    r"\b(?:the (?:user|customer|caller)|ask (?:them|the)|tell (?:them|the)|you must|do not)\b",
    re.IGNORECASE,
)
_MAX_FACTS = 6


def sentence(output: str) -> str | None:
    """What the user hears of a tool's ``output``; None when it is data for the model to phrase."""
    value = _json(output)
    if isinstance(value, dict):
        if isinstance(value.get(SPOKEN_KEY), str) and value[SPOKEN_KEY].strip():
            return value[SPOKEN_KEY].strip()
        if "error" in value and set(value) <= {"error", "status"}:
            if value.get("status") == "timeout":
                return TIMED_OUT
            said = clean(str(value["error"]))
            return f"{FAILED} {said}" if said else FAILED
        return None
    if value is not None and not isinstance(value, str):
        return None  # a list, a number: data
    text = clean(value if isinstance(value, str) else output)
    return text or None


def clean(text: str) -> str:
    """``text`` without what was written for the model: notes to it, brackets, code."""
    if re.search(r"[{}\[\]<>`]|\w\(|\w_\w", text):
        return ""
    text = text.replace("(", ", ").replace(")", ",")
    kept = [s for s in _SENTENCE_END.split(" ".join(text.split())) if not _FOR_THE_MODEL.search(s)]
    text = " ".join(kept)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"[,;:]\s*(?=[.!?]|$)", "", text)
    text = re.sub(r"([.!?])[,;:]+", r"\1", text)
    return text.strip(" ,;:")


def facts(output: str) -> str:
    """A tool's output as one plain line of facts ("temperature 21, sky sunny")."""
    value = _json(output)
    if value is None:
        return clean(output)
    pieces = list(_flatten(value))[:_MAX_FACTS]
    return ", ".join(pieces)


def _flatten(value: Any, key: str = "") -> Any:
    label = key.replace("_", " ")
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _flatten(v, key)
    elif value is not None and str(value).strip():
        text = clean(str(value)) or ""
        if text:
            yield f"{label} {text}" if label else text


def _json(output: str) -> Any:
    stripped = output.strip()
    if not stripped or stripped[0] not in '{["0123456789-tfn':
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None
