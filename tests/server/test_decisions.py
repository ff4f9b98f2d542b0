"""Approval over HTTP: a run on ``agent serve`` stops before a call that needs approval, and
``POST /threads/{id}/decisions`` approves, rejects or edits it; the run goes on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.testing import Response, ScriptedServer, call
from tests.server.test_serve import Served, _free_port, start_serve, stop, wait_healthy


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[Served, ScriptedServer]]:
    with ScriptedServer() as llm:
        port = _free_port()
        proc = start_serve(
            llm, tmp_path, "--port", str(port), env={"AGENT_APPROVE_TOOLS": '["calculator"]'}
        )
        try:
            wait_healthy(proc, port)
            yield Served(proc, port, None), llm
        finally:
            stop(proc)
        llm.assert_done()


def tool_results(llm: ScriptedServer) -> list[str]:
    return [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "tool"]


def test_decisions_over_http_approve_reject_and_edit(
    gated: tuple[Served, ScriptedServer],
) -> None:
    served, llm = gated
    llm.push(call("calculator", expression="2+3"))
    paused = served.client().chat.completions.create(
        model="agent",
        messages=[{"role": "user", "content": "2+3?"}],
        extra_body={"thread_id": "t"},
    )
    assert "Waiting for approval of: calculator" in (paused.choices[0].message.content or "")
    [pending] = (paused.model_extra or {})["pending_approval"]
    assert pending["arguments"] == {"expression": "2+3"}
    with served.http() as http:
        bad = http.post("/threads/t/decisions", json={"decisions": {"x": {"action": "maybe"}}})
        assert bad.status_code == 400 and "action" in bad.json()["error"]["message"]
        unknown = http.post(
            "/threads/t/decisions", json={"decisions": {"x": {"action": "approve"}}}
        )
        assert unknown.status_code == 400
        assert "no pending call 'x'" in unknown.json()["error"]["message"]

        llm.push(Response(content="5"))
        done = http.post(
            "/threads/t/decisions", json={"decisions": {pending["call_id"]: {"action": "approve"}}}
        )
        assert done.status_code == 200, done.text
        assert (done.json()["answer"], done.json()["pending"]) == ("5", [])
        assert tool_results(llm) == ["5"]

        # a run over SSE stops the same way; this time the person edits, then rejects
        llm.push(call("calculator", expression="10*10"))
        with http.stream("POST", "/threads/t/runs", json={"input": "10*10?"}) as stream:
            events = [
                json.loads(line[len("data: ") :])
                for line in stream.iter_lines()
                if line.startswith("data: ")
            ]
        [second] = events[-1]["pending"]
        llm.push(call("calculator", expression="1+1"))
        edited = http.post(
            "/threads/t/decisions",
            json={
                "decisions": {
                    second["call_id"]: {"action": "edit", "arguments": {"expression": "10*11"}}
                }
            },
        ).json()
        assert tool_results(llm)[-1] == "110"  # the edited call ran
        [third] = edited["pending"]
        llm.push(Response(content="stopped"))
        rejected = http.post(
            "/threads/t/decisions",
            json={"decisions": {third["call_id"]: {"action": "reject", "reason": "enough"}}},
        ).json()
        assert rejected["answer"] == "stopped"
        assert "The user did not allow this call: enough" in tool_results(llm)[-1]
        again = http.post(
            "/threads/t/decisions", json={"decisions": {third["call_id"]: {"action": "approve"}}}
        )
        assert again.status_code == 400 and "no unfinished run" in again.json()["error"]["message"]
