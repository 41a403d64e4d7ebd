"""Background runs narrated into a session (scripted engine), and controlled by voice."""

import asyncio

from voxgate.agents import Agent, FunctionRunner, delegate
from voxgate.agents.testing import ScriptedSession, call, say


def texts(events, role="system"):
    return [
        item["content"][0]["text"]
        for ev in events
        if ev["type"] == "conversation.item.added"
        and (item := ev["item"]).get("type") == "message"
        and item.get("role") == role
    ]


def gated_runner():
    gate = asyncio.Event()

    async def research(task: str):
        yield f"looking into {task}"
        await gate.wait()
        yield f"{task}: three results"

    return FunctionRunner("researcher", research, description="researches things"), gate


def agent_with(runner):
    return Agent("assistant", "Be brief.", tools=[delegate(runner)])


async def test_delegation_returns_at_once_and_the_final_message_is_narrated():
    runner, gate = gated_runner()
    agent = agent_with(runner)
    tools = [t.name for t in agent.all_tools()]
    assert tools == [
        "delegate_to_researcher",
        "run_status",
        "pause_run",
        "resume_run",
        "cancel_run",
    ]
    script = [call("delegate_to_researcher", task="flights to Rome"), say("On it.")]
    async with ScriptedSession(agent, script) as s:
        result = await s.run("Find me flights to Rome")  # idle while the run goes on
        output = result.expect.skip_next().next_event().is_function_call_output(status="ok")
        assert '"status": "running"' in output.event.output and "run_" in output.event.output
        result.expect.next_event().is_message().contains("On it")
        (run,) = s.runtime.run_manager.runs.values()
        assert run.session_id == "scripted" and not run.finished
        assert [ev["type"] for ev in s.events if ev["type"].startswith("voxgate.run")] == [
            "voxgate.run.started",
            "voxgate.run.event",
        ]
        s.add_script(say("Found three results."))
        mark = len(s.events)
        gate.set()
        await run.wait()
        narrated = await s.settle(since=mark)
        (note,) = texts(narrated.raw)
        assert "flights to Rome: three results" in note and "Tell the user" in note
        narrated.expect.contains_message("Found three results")
        shown = [ev for ev in s.events if ev["type"].startswith("voxgate.run")]
        assert shown[-1]["type"] == "voxgate.run.status" and shown[-1]["status"] == "completed"


async def test_every_message_policy_and_narration_waits_while_the_agent_speaks():
    runner, gate = gated_runner()
    agent = agent_with(runner)
    script = [call("delegate_to_researcher", task="hotels"), say("Started.", hold=True)]
    async with ScriptedSession(agent, script, narration="every") as s:
        await s.run("Find hotels", wait=False)
        await s.wait_for("voxgate.run.started")
        await asyncio.sleep(0.05)  # the run's first message arrives while "Started." is held
        assert not texts(s.events)  # queued: the agent is speaking
        s.add_script(say("Update told."), say("Result told."))
        await s.session.interrupt()  # ends the held reply
        await s.settle()
        assert len(texts(s.events)) == 1 and "looking into hotels" in texts(s.events)[0]
        gate.set()
        await s.runtime.run_manager.latest().wait()
        await s.settle()
        notes = texts(s.events)
        assert "hotels: three results" in notes[1]


async def test_summary_policy_collects_all_messages():
    runner, gate = gated_runner()
    gate.set()
    script = [call("delegate_to_researcher", task="cars"), say("Sure."), say("Summary told.")]
    async with ScriptedSession(agent_with(runner), script, narration="summary") as s:
        await s.run("Find cars")
        await s.runtime.run_manager.latest().wait()
        await s.settle()
        (note,) = texts(s.events)
        assert "- looking into cars" in note and "- cars: three results" in note
        assert "Summarise" in note


async def test_voice_asks_status_and_says_stop_that():
    runner, _ = gated_runner()
    script = [
        call("delegate_to_researcher", task="trains"),
        say("Started."),
        call("run_status"),
        say("Still looking."),
        call("cancel_run"),
        say("Stopped."),
    ]
    async with ScriptedSession(agent_with(runner), script) as s:
        await s.run("Find trains")
        status = await s.run("how is it going?")
        out = status.expect.skip_next().next_event().is_function_call_output(status="ok")
        assert '"status": "running"' in out.event.output
        assert "looking into trains" in out.event.output
        stop = await s.run("stop that")
        stop.expect.skip_next().next_event().is_function_call_output(contains='"cancelled"')
        run = s.runtime.run_manager.latest()
        assert run.status == "cancelled"
        await s.settle()
        assert not texts(s.events)  # a run the user stopped is not narrated
        assert s.events[-1]["type"] != "error"


async def test_run_controls_without_a_run_answer_with_an_error():
    runner, _ = gated_runner()
    async with ScriptedSession(agent_with(runner), [call("run_status"), say("None.")]) as s:
        result = await s.run("how is it going?")
        result.expect.skip_next().next_event().is_function_call_output(
            contains="no background task", status="error"
        )


async def test_narration_waits_for_the_user_to_finish_speaking():
    from voxgate.protocol import event

    runner, gate = gated_runner()
    script = [call("delegate_to_researcher", task="bikes"), say("Sure."), say("Told.")]
    async with ScriptedSession(agent_with(runner), script) as s:
        await s.run("Find bikes")
        s.engine.speech_started()  # the user talks while the run finishes
        gate.set()
        await s.runtime.run_manager.latest().wait()
        await asyncio.sleep(0.05)
        assert s.runtime.narrator.pending and not texts(s.events)
        s.engine.speech_stopped()
        s.engine._put(  # a turn that was only noise: no reply comes from it
            event(
                "conversation.item.input_audio_transcription.completed",
                item_id="item_x",
                content_index=0,
                transcript="",
            )
        )
        await s.settle()
        assert "bikes: three results" in texts(s.events)[0]
        assert s.events[-1]["type"] == "response.done"
