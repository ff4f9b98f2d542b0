"""Two ``agent serve`` replicas on one PostgreSQL database: any replica serves any thread, and a
replica killed in the middle of a run leaves the thread whole for the other."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agent.testing import Response, ScriptedServer, call
from tests.server.test_serve import Served, _free_port, start_serve, stop, wait_healthy

pytestmark = pytest.mark.postgres


def replica(llm: ScriptedServer, data: Path, postgres_url: str) -> Served:
    port = _free_port()
    proc = start_serve(llm, data, "--port", str(port), env={"AGENT_CHECKPOINT_URL": postgres_url})
    try:
        wait_healthy(proc, port)
    except BaseException:
        stop(proc)
        raise
    return Served(proc, port, None)


def test_a_replica_killed_mid_run_leaves_the_thread_whole_for_the_other(
    tmp_path: Path, postgres_url: str
) -> None:
    with ScriptedServer() as llm:
        a = replica(llm, tmp_path / "a", postgres_url)
        b = replica(llm, tmp_path / "b", postgres_url)
        try:
            # replica a calls the calculator, then waits on the model: killed there
            llm.push(call("calculator", expression="2+3"), Response(content="late", delay_s=60))
            outcome: dict[str, Any] = {}

            def ask_a() -> None:
                try:
                    a.client().chat.completions.create(
                        model="agent",
                        messages=[{"role": "user", "content": "2+3?"}],
                        extra_body={"thread_id": "t"},
                    )
                except Exception as exc:  # noqa: BLE001 - the expected end: its server died
                    outcome["error"] = exc

            asker = threading.Thread(target=ask_a)
            asker.start()
            deadline = time.monotonic() + 60
            while len(llm.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(llm.requests) == 2, "the run never reached its second model call"
            os.kill(a.proc.pid, signal.SIGKILL)
            asker.join(30)
            assert "error" in outcome  # the client saw its server go, not an answer

            llm.push(Response(content="picked up"))
            started = time.monotonic()
            answer = b.client().chat.completions.create(
                model="agent",
                messages=[{"role": "user", "content": "and now?"}],
                extra_body={"thread_id": "t"},
            )
            assert answer.choices[0].message.content == "picked up"
            assert time.monotonic() - started < 10  # no wait for the dead replica's lock
            with b.http() as http:
                messages = http.get("/threads/t").json()["messages"]
        finally:
            stop(a.proc)
            stop(b.proc)
        llm.assert_done()
    # the killed turn's question once, its finished tool call with its result, then the new turn
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user", "assistant"]
    assert [m["content"] for m in messages if m["role"] == "user"] == ["2+3?", "and now?"]
    (call_id,) = [c["id"] for c in messages[1]["tool_calls"]]
    assert messages[2]["tool_call_id"] == call_id and messages[2]["content"] == "5"
    # the replica that picked the thread up sent the model the whole of it
    sent = llm.requests[-1]["messages"]
    assert [m["role"] for m in sent if m["role"] != "system"] == [
        "user",
        "assistant",
        "tool",
        "user",
    ]
