from voxgate.bench.tools import CASES, demo_agents


def test_the_demo_graph_matches_the_shared_contract():
    agents = demo_agents()
    tools = {name: [t["name"] for t in agent.tools] for name, agent in agents.items()}
    assert tools == {
        "triage_agent": ["get_weather", "transfer_to_faq_agent", "transfer_to_seat_booking_agent"],
        "faq_agent": ["faq_lookup_tool", "transfer_to_triage_agent"],
        "seat_booking_agent": ["update_seat", "transfer_to_triage_agent"],
    }
    for agent in agents.values():
        for tool in agent.tools:
            assert tool["type"] == "function" and tool["description"]
            params = tool["parameters"]
            assert params["type"] == "object"
            if tool["name"].startswith("transfer_to_"):
                assert params["properties"] == {}


def test_cases_cover_every_agent_and_name_real_tools():
    agents = demo_agents()
    assert len(CASES) >= 30
    assert {c.agent for c in CASES} == set(agents)
    assert any(c.tool is None for c in CASES)
    for case in CASES:
        tools = {t["name"]: t for t in agents[case.agent].tools}
        if case.tool is not None:
            assert case.tool in tools
            assert set(case.arguments) <= set(tools[case.tool]["parameters"]["properties"])
