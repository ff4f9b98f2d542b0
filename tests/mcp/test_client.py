"""MCP servers' tools as agent tools: one session per toolset, re-opened when the server dies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import Agent
from agent.errors import ConfigError, MCPError, ToolError
from agent.mcp import MCPToolset, parse_server
from agent.settings import Settings
from agent.testing import ScriptedServer, call, reply
from agent.text import unframe_untrusted
from agent.tooling import JsonSchemaTool, ToolArgumentsError

# A small third-party-style server: no model to load, so kills and restarts are cheap.
ECHO_SERVER = """
import os, sys
from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("echo", log_level="WARNING")

@server.tool(description="Echo the text back, with this server's process id.")
def echo(text: str) -> str:
    return f"{text} from {os.getpid()}"

@server.tool(description="Same, marked read-only: safe to retry.",
             annotations=ToolAnnotations(read_only_hint=True))
def echo_safe(text: str) -> str:
    return f"{text} from {os.getpid()}"

@server.tool(description="Always fails.")
def broken() -> str:
    raise ValueError("broken on purpose")

if __name__ == "__main__":
    if len(sys.argv) > 1:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
    else:
        server.run("stdio")
"""


@pytest.fixture
def echo_script(tmp_path: Path) -> Path:
    path = tmp_path / "echo_server.py"
    path.write_text(ECHO_SERVER, encoding="utf-8")
    return path


def children_running(marker: str) -> list[int]:
    """Pids of this process's children whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if int(stat[1]) == os.getpid() and marker in cmdline and stat[0] != "Z":
            found.append(int(entry))
    return found


def kill_children(marker: str) -> None:
    pids = children_running(marker)
    assert pids, f"no child process running {marker}"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while children_running(marker) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_server_entries_parse() -> None:
    settings = Settings.load()
    builtin = parse_server("builtin:errors", settings)
    assert builtin.command == sys.executable and builtin.args == ("-m", "agent.mcp.server")
    assert builtin.env is not None and builtin.env["AGENT_MCP_SERVERS"] == "[]"
    assert parse_server("https://tools.example/mcp", settings).url == "https://tools.example/mcp"
    cmd = parse_server("npx -y '@scope/server x'", settings)
    assert cmd.command == "npx" and cmd.args == ("-y", "@scope/server x")
    with pytest.raises(ConfigError, match="builtin:errors"):
        parse_server("builtin:nope", settings)


async def test_tools_are_strict_json_schema_tools_on_one_session(echo_script: Path) -> None:
    settings = Settings.load(mcp_servers=[f"{sys.executable} {echo_script}"])
    with MCPToolset(settings) as toolset:
        tools = {t.name: t for t in await toolset.atools()}
        assert set(tools) == {"echo", "echo_safe", "broken"}
        echo = tools["echo"]
        assert isinstance(echo, JsonSchemaTool)
        with pytest.raises(ToolArgumentsError, match="text"):
            echo.validate({"txt": "hi"})
        first = await echo.ainvoke(echo.validate({"text": "a"}))
        second = await echo.ainvoke(echo.validate({"text": "b"}))
        assert isinstance(first, str) and isinstance(second, str)
        assert first.split()[-1] == second.split()[-1]  # same server process
        assert toolset.sessions_opened == 1
        with pytest.raises(ToolError, match="Error executing tool broken"):
            await tools["broken"].ainvoke(tools["broken"].validate({}))


async def test_killed_stdio_server_next_call_opens_a_new_session(echo_script: Path) -> None:
    settings = Settings.load(mcp_servers=[f"{sys.executable} {echo_script}"])
    with MCPToolset(settings) as toolset:
        tools = {t.name: t for t in await toolset.atools()}
        echo, safe = tools["echo"], tools["echo_safe"]
        before = await echo.ainvoke({"text": "a"})
        kill_children(str(echo_script))
        # not marked safe to retry: this call reports the loss, the next one reconnects
        with pytest.raises(ToolError, match="lost during the call to echo; a new session"):
            await echo.ainvoke({"text": "b"})
        after = await echo.ainvoke({"text": "c"})
        assert isinstance(before, str) and isinstance(after, str)
        assert before.split()[-1] != after.split()[-1]
        assert toolset.sessions_opened == 2
        # marked read-only: retried on a new session at once, the caller sees no error
        kill_children(str(echo_script))
        retried = await safe.ainvoke({"text": "d"})
        assert isinstance(retried, str) and retried.startswith("d from")
        assert toolset.sessions_opened == 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_http(script: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("echo server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=10)


async def test_http_server_restarted_next_call_opens_a_new_session(echo_script: Path) -> None:
    port = free_port()
    proc = start_http(echo_script, port)
    try:
        settings = Settings.load(mcp_servers=[f"http://127.0.0.1:{port}/mcp"], mcp_timeout_s=20)
        with MCPToolset(settings) as toolset:
            safe = toolset.tool("echo_safe")
            first = await safe.ainvoke({"text": "a"})
            stop(proc)
            proc = start_http(echo_script, port)
            second = await safe.ainvoke({"text": "b"})
            assert isinstance(first, str) and isinstance(second, str)
            assert first.split()[-1] != second.split()[-1]  # answered by the new process
    finally:
        stop(proc)


def test_unreachable_server_is_an_mcp_error() -> None:
    settings = Settings.load(
        mcp_servers=[f"http://127.0.0.1:{free_port()}/mcp"], mcp_connect_timeout_s=20
    )
    with MCPToolset(settings) as toolset, pytest.raises(MCPError, match="cannot connect"):
        toolset.tools()


NUMPY_LINE = "AttributeError: module 'numpy' has no attribute 'float'."


@pytest.fixture
def errors_settings(
    scripted_llm: ScriptedServer, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    yield Settings.load(
        llm_base_url=scripted_llm.url,
        llm_model="scripted-model",
        tool_call_mode="native",
        llm_max_retries=0,
        data_dir=tmp_path / "data",
        cache_dir=tmp_path_factory.getbasetemp() / "shared-cache",
        mcp_servers=["builtin:errors"],
        mcp_timeout_s=300,
    )


def test_agent_calls_lookup_error_over_mcp_in_a_loop_and_survives_a_server_kill(
    scripted_llm: ScriptedServer, errors_settings: Settings
) -> None:
    with MCPToolset(errors_settings) as toolset:
        tools = toolset.tools()
        assert [t.name for t in tools] == ["lookup_error"]  # not triage: no nested agents
        scripted_llm.push(
            call("lookup_error", text=NUMPY_LINE, top_k=0),  # invalid: repaired next step
            call("lookup_error", text=NUMPY_LINE, top_k=2),
            reply("Use np.float64 [numpy-float-alias-removed]."),
        )
        with Agent(errors_settings, tools=tools, persistence="none") as agent:
            first = agent.run("Why does my script fail with: " + NUMPY_LINE)
            assert [c.is_error for c in first.tool_calls] == [True, False]
            assert "top_k" in first.tool_calls[0].content
            assert first.tool_calls[1].content.startswith("<untrusted_data")  # framed as data
            matches = json.loads(unframe_untrusted(first.tool_calls[1].content))["matches"]
            assert [m["id"] for m in matches][0] == "numpy-float-alias-removed"
            assert len(matches) == 2
            assert first.answer == "Use np.float64 [numpy-float-alias-removed]."

            kill_children("agent.mcp.server")
            scripted_llm.push(
                call(
                    "lookup_error",
                    text="SystemError: PY_SSIZE_T_CLEAN macro must be defined for '#' formats",
                ),
                reply("Define PY_SSIZE_T_CLEAN [python-py-ssize-t-clean]."),
            )
            second = agent.run("My C extension fails with PY_SSIZE_T_CLEAN")
            assert [c.is_error for c in second.tool_calls] == [False]
            found = json.loads(unframe_untrusted(second.tool_calls[0].content))["matches"]
            assert found[0]["id"] == "python-py-ssize-t-clean"
        assert toolset.sessions_opened == 2
        scripted_llm.assert_done()
        # the model saw the MCP tool's schema
        sent = {t["function"]["name"]: t for t in scripted_llm.requests[0]["tools"]}
        assert sent["lookup_error"]["function"]["parameters"]["required"] == ["text"]
