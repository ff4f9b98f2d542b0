"""``agent serve``, a real process, driven by the official ``openai`` client and plain HTTP, the
LLM behind it scripted at the wire."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from agent.testing import Response, ScriptedServer, call, reply

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    def __init__(self, proc: subprocess.Popen[str], port: int, token: str | None) -> None:
        self.proc = proc
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.headers = {"authorization": f"Bearer {token}"} if token else {}

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base}/v1", api_key=TOKEN, max_retries=0, timeout=60)

    def http(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=self.headers, timeout=60, **kw)


def start_serve(
    llm: ScriptedServer, data: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_")}
    environ.update(
        AGENT_LLM_BASE_URL=llm.url,
        AGENT_LLM_MODEL="scripted-model",
        AGENT_TOOL_CALL_MODE="native",
        AGENT_TOOLS="calculator",
        AGENT_MCP_SERVERS="[]",
        AGENT_ANSWER_CHECKS="0",
        AGENT_LLM_MAX_RETRIES="0",
        AGENT_DATA_DIR=str(data),
        AGENT_THREAD_WAIT_S="3",
        **(env or {}),
    )
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "agent"), "serve", *args],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_healthy(proc: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"agent serve exited {proc.returncode}: {err}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("agent serve did not come up within 60 s")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="module")
def served(llm: ScriptedServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = _free_port()
    proc = start_serve(
        llm, tmp_path_factory.mktemp("serve"), "--port", str(port), env={"AGENT_SERVE_TOKEN": TOKEN}
    )
    try:
        wait_healthy(proc, port)
        yield Served(proc, port, TOKEN)
    finally:
        stop(proc)


@pytest.fixture(autouse=True)
def script_used_up(llm: ScriptedServer) -> Iterator[None]:
    yield
    llm.assert_done()


def test_the_openai_client_gets_the_agents_answer_and_its_thread(
    served: Served, llm: ScriptedServer
) -> None:
    llm.push(call("calculator", expression="17*23+4"), Response(content="It is 395."))
    client = served.client()
    reply = client.chat.completions.create(
        model="agent", messages=[{"role": "user", "content": "What is 17*23+4?"}]
    )
    assert reply.choices[0].message.content == "It is 395."
    assert reply.choices[0].finish_reason == "stop"
    thread_id = (reply.model_extra or {})["thread_id"]
    assert (reply.model_extra or {})["sources"] == []  # no document excerpts were read
    # the tool ran in the agent: its result went back to the model
    assert any(m["role"] == "tool" and "395" in m["content"] for m in llm.requests[-1]["messages"])

    llm.push(Response(content="79."))
    again = client.chat.completions.create(
        model="agent",
        messages=[{"role": "user", "content": "Now divide that by 5"}],
        extra_body={"thread_id": thread_id},
    )
    assert again.choices[0].message.content == "79."
    sent = json.dumps(llm.requests[-1]["messages"])
    assert "What is 17*23+4?" in sent and "It is 395." in sent  # the thread's history

    with served.http() as http:
        history = http.get(f"/threads/{thread_id}").json()
    roles = [m["role"] for m in history["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    assert history["messages"][1]["tool_calls"][0]["function"]["name"] == "calculator"


def test_streaming_sends_the_answer_as_deltas_and_tool_steps_as_extra_chunks(
    served: Served, llm: ScriptedServer
) -> None:
    llm.push(call("calculator", expression="2**10"), Response(content="Two to the tenth is 1024."))
    stream = served.client().chat.completions.create(
        model="agent",
        messages=[{"role": "user", "content": "What is 2**10?"}],
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Two to the tenth is 1024."
    events = [(c.model_extra or {}).get("agent_event") for c in chunks if not c.choices]
    kinds = [e["kind"] for e in events if e]
    assert kinds == ["tool_call", "tool_result"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_a_call_the_model_writes_in_its_text_is_not_streamed_as_content(
    served: Served, llm: ScriptedServer
) -> None:
    # Qwen2.5-Coder writes its calls in the text, then a result it made up; the agent runs the
    # call, and a client reading the deltas must see neither as the answer
    written = '<tools>\n{"name": "calculator", "arguments": {"expression": "6*7"}}\n</tools>'
    llm.push(reply(f"Let me compute.\n{written}\nThe result is 41."), reply("6*7 is 42."))
    stream = served.client().chat.completions.create(
        model="agent", messages=[{"role": "user", "content": "6*7?"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Let me compute.\n6*7 is 42."
    events = [(c.model_extra or {}).get("agent_event") for c in chunks if not c.choices]
    assert [(e["kind"], e["name"]) for e in events if e] == [
        ("tool_call", "calculator"), ("tool_result", "calculator"),
    ]  # fmt: skip


def test_a_stream_marks_a_looping_reply_as_not_the_answer(
    served: Served, llm: ScriptedServer
) -> None:
    # the server stopped a reply that repeated itself; its text was already sent as deltas
    llm.push(reply("The port is 8080.\n" * 4, finish_reason="repetition"), reply("It is 3."))
    stream = served.client().chat.completions.create(
        model="agent", messages=[{"role": "user", "content": "1+2?"}], stream=True
    )
    chunks = list(stream)
    marks = [
        i for i, c in enumerate(chunks) if (c.model_extra or {}).get("agent_event") is not None
    ]
    assert len(marks) == 1
    rescue = (chunks[marks[0]].model_extra or {})["agent_event"]
    assert rescue["kind"] == "rescue" and "AGENT_REPEAT_STOP" in rescue["reason"]
    after = "".join(c.choices[0].delta.content or "" for c in chunks[marks[0] :] if c.choices)
    assert after == "It is 3."


def test_a_run_streams_its_events_over_sse(served: Served, llm: ScriptedServer) -> None:
    llm.push(call("calculator", expression="6*7"), Response(content="42"))
    with served.http() as http:
        response = http.post("/threads/sse-1/runs", json={"input": "6*7?"})
    assert response.status_code == 200
    assert response.headers["x-agent-thread-id"] == "sse-1"
    events = [
        json.loads(line.removeprefix("data: "))
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    assert [e["kind"] for e in events if e["kind"] != "token"] == [
        "tool_call", "tool_result", "final",
    ]  # fmt: skip
    assert "".join(e["text"] for e in events if e["kind"] == "token") == "42"
    assert events[-1]["answer"] == "42" and events[-1]["thread_id"] == "sse-1"
    assert events[-1]["sources"] == []


def test_bad_requests_get_openai_shaped_errors(served: Served) -> None:
    client = served.client()
    with pytest.raises(openai.BadRequestError, match="last message must be a user message"):
        client.chat.completions.create(
            model="agent", messages=[{"role": "assistant", "content": "hi"}]
        )
    with served.http() as http:
        not_json = http.post(
            "/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 400
        assert "not JSON" in not_json.json()["error"]["message"]
        huge = http.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "x" * 1_100_000}]},
        )
        assert huge.status_code == 413
        assert "AGENT_SERVE_MAX_BODY_BYTES" in huge.json()["error"]["message"]
        missing = http.get("/threads/never-used")
        assert missing.status_code == 404


def test_every_request_but_healthz_needs_the_token_and_an_allowed_host(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=10) as anonymous:
        assert anonymous.get("/healthz").status_code == 200  # the load balancer's probe
        denied = anonymous.get("/v1/models")
        assert denied.status_code == 401 and "AGENT_SERVE_TOKEN" in denied.text
        wrong = anonymous.get("/v1/models", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
    with served.http() as http:
        models = http.get("/v1/models").json()
        assert [m["id"] for m in models["data"]] == ["agent"]
        rebound = http.get("/v1/models", headers={"host": "evil.example"})
        assert rebound.status_code == 421
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"llm": "ok", "threads": "ok"}


def test_a_client_that_disconnects_cancels_its_run_and_frees_the_thread(
    served: Served, llm: ScriptedServer
) -> None:
    llm.push(Response(content="too late", delay_s=30))
    with served.http() as http, pytest.raises(httpx.ReadTimeout):
        http.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "slow?"}], "thread_id": "dc-1"},
            timeout=1.5,
        )
    llm.push(Response(content="fast"))
    started = time.monotonic()
    with served.http() as http:
        reply = http.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "again"}], "thread_id": "dc-1"},
        )
    # the cancelled run let go of the thread: no wait for the 30 s reply, no "thread busy"
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "fast"
    assert time.monotonic() - started < 10


def test_a_non_loopback_bind_without_a_token_is_refused(
    llm: ScriptedServer, tmp_path: Path
) -> None:
    proc = start_serve(llm, tmp_path, "--host", "0.0.0.0", "--port", str(_free_port()))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "AGENT_SERVE_TOKEN" in err and "0.0.0.0" in err


def test_response_format_makes_the_answer_json_the_openai_client_parses(
    served: Served, llm: ScriptedServer
) -> None:
    class Product(BaseModel):
        value: int

    llm.push(
        call("calculator", expression="17*23"),
        Response(content="It is 391."),
        Response(content='{"value": 391}'),
    )
    parsed = served.client().chat.completions.parse(
        model="agent",
        messages=[{"role": "user", "content": "What is 17*23?"}],
        response_format=Product,
    )
    assert parsed.choices[0].message.parsed == Product(value=391)
    sent = llm.requests[-1]["response_format"]["json_schema"]["schema"]
    assert sent["properties"] == {"value": {"type": "integer"}} and sent["required"] == ["value"]

    llm.push(Response(content="Eight."), Response(content='{"value": 8}'))
    stream = served.client().chat.completions.create(
        model="agent",
        messages=[{"role": "user", "content": "2**3?"}],
        response_format={"type": "json_object"},
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert json.loads(text) == {"value": 8}  # the JSON, not the text answer before it

    with pytest.raises(openai.BadRequestError, match="JSON Schema is not usable"):
        served.client().chat.completions.create(
            model="agent",
            messages=[{"role": "user", "content": "?"}],
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "x",
                    "schema": {"type": "object", "properties": {"a": {"type": "nope"}}},
                },
            },
        )
