"""Google-style docstrings: the summary a model reads, and each argument's description."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_SECTION = re.compile(r"^(\w[\w ]*):\s*$")
_ARG = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass
class Docstring:
    """What a tool's docstring tells the model."""

    description: str = ""
    args: dict[str, str] = field(default_factory=dict)


def parse(doc: str | None) -> Docstring:
    """Split a docstring into its description (text before the first section) and ``Args:``.

    Sections other than ``Args:`` (``Returns:``, ``Raises:``, ...) are not for the model.
    """
    if not doc:
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    args: dict[str, list[str]] = {}
    section: str | None = None
    current: str | None = None
    arg_indent = 0
    for line in lines:
        stripped = line.strip()
        header = _SECTION.match(line)
        if header and not line.startswith(" "):
            section = header.group(1).lower()
            current = None
            continue
        if section is None:
            description.append(line)
        elif section in ("args", "arguments", "parameters", "params") and stripped:
            indent = len(line) - len(line.lstrip())
            match = _ARG.match(stripped)
            if match and (current is None or indent <= arg_indent):
                current, arg_indent = match.group(1).lstrip("*"), indent
                args[current] = [match.group(2)]
            elif current is not None:
                args[current].append(stripped)
    return Docstring(
        description=" ".join(" ".join(description).split()),
        args={name: " ".join(" ".join(text).split()) for name, text in args.items()},
    )
