"""The graph's shape is a reviewed artefact: a change shows up as a snapshot diff."""

from __future__ import annotations

import os
from pathlib import Path

from agent.loop import ANSWER_CHECK
from graphs.agent_graph import (
    build_agent_graph,
    route_after_check,
    route_after_model,
    route_after_tools,
)

SNAPSHOT = Path(__file__).parent / "snapshots" / "agent_graph.mmd"


def test_mermaid_drawing_matches_snapshot() -> None:
    drawing = build_agent_graph().get_graph().draw_mermaid()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(drawing)
    assert SNAPSHOT.exists(), "no snapshot: run with UPDATE_SNAPSHOTS=1, review, commit"
    assert drawing == SNAPSHOT.read_text(), (
        "the agent graph changed shape; if intended, re-run with UPDATE_SNAPSHOTS=1 and commit "
        "tests/graphs/snapshots/agent_graph.mmd"
    )


def test_routers_name_only_real_nodes() -> None:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    base = {"steps": 0, "repairs": 0, "usage": {}, "answer": None}
    with_call = AIMessage("", tool_calls=[{"id": "1", "name": "x", "args": {}}])
    assert route_after_model({**base, "messages": [HumanMessage("q"), with_call]}) == "tools"
    # act ran the calls and checked the answer in the same step
    assert route_after_model({**base, "messages": [AIMessage("done")]}) == "__end__"
    result = ToolMessage("4", tool_call_id="1")
    assert route_after_model({**base, "messages": [with_call, result]}) == "agent"
    answered = {**base, "messages": [with_call, result], "answer": "4"}  # by final_answer
    assert route_after_model(answered) == "__end__"
    check = HumanMessage("wrong: 2 + 2 = 4, not 5", name=ANSWER_CHECK)
    assert route_after_model({**base, "messages": [AIMessage("2 + 2 = 5"), check]}) == "agent"
    assert route_after_tools({**base, "messages": [], "answer": "42"}) == "check"
    assert route_after_tools({**base, "messages": []}) == "agent"
    assert route_after_check({**base, "messages": [AIMessage("2 + 2 = 5"), check]}) == "agent"
    assert route_after_check({**base, "messages": [AIMessage("2 + 2 = 4")]}) == "__end__"
