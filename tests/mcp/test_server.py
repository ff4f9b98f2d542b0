"""Our MCP server over real transports: stdio (the SDK client starts it) and streamable HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from agent.known_errors import ErrorIndex, LookupErrorArgs
from agent.mcp.server import build_server
from agent.settings import Settings
from agent.testing import ScriptedServer, reply
from agent.triage import TriageReport, TriageRequest, triage

NUMPY_TRACEBACK = """\
Traceback (most recent call last):
  File "/home/me/proj/train.py", line 33, in main
    features = np.asarray(rows, dtype=np.float)
  File "/home/me/.venv/lib/python3.11/site-packages/numpy/__init__.py", line 324, in __getattr__
    raise AttributeError(__former_attrs__[attr])
AttributeError: module 'numpy' has no attribute 'float'.
`np.float` was a deprecated alias for the builtin `float`. To avoid this error in existing code, \
use `float` by itself.
"""


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory, llm: ScriptedServer) -> dict[str, str]:
    """One data dir for the module (seeded once; servers run one at a time) and a cache of
    embeddings shared with the other test modules."""
    return {
        **os.environ,
        "AGENT_DATA_DIR": str(tmp_path_factory.mktemp("mcp-server")),
        "AGENT_CACHE_DIR": str(tmp_path_factory.getbasetemp() / "shared-cache"),
        "AGENT_LLM_BASE_URL": llm.url,
        "AGENT_LLM_MODEL": "scripted-model",
        "AGENT_TOOL_CALL_MODE": "native",
        "AGENT_LLM_MAX_RETRIES": "0",
        "AGENT_MCP_SERVERS": "[]",
        "HF_HUB_OFFLINE": "1",
    }


def text_of(result: object) -> str:
    content = getattr(result, "content", [])
    return "\n".join(getattr(block, "text", "") for block in content)


async def test_stdio_session(server_env: dict[str, str], llm: ScriptedServer) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "agent.mcp.server"], env=server_env
    )
    # legacy mode: the classic initialize handshake, as MCP 1.x clients do it
    async with Client(params, mode="legacy", read_timeout_seconds=300) as client:
        assert client.server_info is not None
        assert client.server_info.name == "agent-runtime-errors"

        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {"lookup_error", "triage"}
        schema = tools["lookup_error"].input_schema
        assert schema["required"] == ["text"]
        assert schema["additionalProperties"] is False
        assert schema["properties"]["top_k"]["maximum"] == 20
        hints = tools["lookup_error"].annotations
        assert hints is not None and hints.read_only_hint and hints.idempotent_hint

        result = await client.call_tool("lookup_error", {"text": NUMPY_TRACEBACK, "top_k": 3})
        assert not result.is_error
        matches = json.loads(text_of(result))["matches"]
        assert matches[0]["id"] == "numpy-float-alias-removed"
        assert matches[0]["matched_by"][0] == "signature"
        assert "np.float64" in matches[0]["fix"]
        assert len(matches) == 3
        assert matches[0]["evidence"] is True  # its signature matched
        chatter = await client.call_tool("lookup_error", {"text": "INFO service started, all ok"})
        nearest = json.loads(text_of(chatter))["matches"]  # still listed, none as evidence
        assert nearest and not any(m["evidence"] for m in nearest)

        bad_calls = {
            "top_k": {"text": "x", "top_k": 0},
            "topk": {"text": "x", "topk": 3},
            "text": {"top_k": 3},
        }
        for field, arguments in bad_calls.items():
            bad = await client.call_tool("lookup_error", arguments)
            assert bad.is_error, arguments
            message = text_of(bad)
            assert field in message and "validation error for lookup_error" in message
            assert "errors.pydantic.dev" not in message  # short: the URL line is dropped
        blank = await client.call_tool("lookup_error", {"text": "   "})
        assert blank.is_error and "text is blank" in text_of(blank)
        unknown = await client.call_tool("no_such_tool", {})
        assert unknown.is_error and "Unknown tool" in text_of(unknown)

        resources = (await client.list_resources()).resources
        uris = {str(r.uri) for r in resources}
        assert "kb://errors" in uris and "kb://errors/numpy-float-alias-removed" in uris
        entry = await client.read_resource("kb://errors/python-py-ssize-t-clean")
        data = json.loads(entry.contents[0].text)  # type: ignore[union-attr]
        assert "#define PY_SSIZE_T_CLEAN" in data["fix"]
        with pytest.raises(MCPError, match="no known error with id 'nope'"):
            await client.read_resource("kb://errors/nope")

        # triage: lookup, then one structured LLM call that cites among the retrieved ids
        llm.push(reply(NUMPY_EXPLANATION))
        triaged = await client.call_tool("triage", {"log": NUMPY_TRACEBACK})
        assert not triaged.is_error, text_of(triaged)
        report = json.loads(text_of(triaged))
        assert report["matches"][0]["id"] == "numpy-float-alias-removed"
        assert report["cause"] == "np.float was removed in NumPy 1.24."
        assert report["fix"] == "use np.float64 or float."
        assert report["cited_ids"] == ["numpy-float-alias-removed"]
        llm.assert_done()
        request = llm.requests[-1]
        assert "tools" not in request and "numpy-float-alias-removed" in str(request["messages"])
    # the server exits once the client closes its stdin (reaped while this loop still runs)
    for _ in range(300):  # up to 30 s
        if not server_children():
            break
        await asyncio.sleep(0.1)
    assert server_children() == []


def server_children() -> list[int]:
    """Pids of live child processes of this test process running agent.mcp.server."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(stat[1]) == os.getpid() and b"agent.mcp.server" in cmdline and stat[0] != "Z":
            found.append(int(entry))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port} after {timeout_s} s")


def agent_command() -> list[str]:
    return [sys.executable, "-c", "from agent.cli import main; main()"]


@contextlib.contextmanager
def serving_http(env: dict[str, str], log_path: Path, *args: str) -> Iterator[int]:
    """`agent mcp serve --transport http ARGS` on a free port (output to ``log_path``);
    stopped at the end of the block."""
    port = free_port()
    argv = [*agent_command(), "mcp", "serve", "--transport", "http", *args, "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, proc)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def http_server(server_env: dict[str, str], tmp_path: Path) -> Iterator[int]:
    """`agent mcp serve --transport http` on a free port; stopped after the test."""
    with serving_http(server_env, tmp_path / "server.log") as port:
        yield port


async def test_streamable_http_session(http_server: int) -> None:
    async with Client(f"http://127.0.0.1:{http_server}/mcp", read_timeout_seconds=300) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"lookup_error", "triage"}
        result = await client.call_tool(
            "lookup_error",
            {
                "text": "pymilvus.exceptions.MilvusException: <MilvusException: (code=101, "
                "message=failed to search: collection not loaded[collection=docs])>"
            },
        )
        assert not result.is_error
        assert json.loads(text_of(result))["matches"][0]["id"] == "milvus-collection-not-loaded"
        bad = await client.call_tool("lookup_error", {"text": 42})
        assert bad.is_error and "text" in text_of(bad)


def test_stdio_answers_garbage_with_json_rpc_errors(server_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [*agent_command(), "mcp", "serve"],
        env=server_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    with proc:  # closes the pipes
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(
                'this is not json\n{"hello": 1}\n{"jsonrpc":"2.0","id":7,"method":"ping"}\n'
            )
            proc.stdin.flush()
            replies = [json.loads(proc.stdout.readline()) for _ in range(3)]
        finally:
            proc.kill()
    assert [r.get("error", {}).get("code") for r in replies] == [-32700, -32600, None]
    assert replies[0]["id"] is None and replies[2] == {"jsonrpc": "2.0", "id": 7, "result": {}}


def test_a_non_loopback_bind_without_a_token_refuses_to_start(
    server_env: dict[str, str],
) -> None:
    env = {k: v for k, v in server_env.items() if k != "AGENT_MCP_HTTP_TOKEN"}
    done = subprocess.run(
        [*agent_command(), "mcp", "serve", "--transport", "http", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "AGENT_MCP_HTTP_TOKEN" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture
def exposed_server(server_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`agent mcp serve --transport http --host 0.0.0.0` with a token; (port, its log)."""
    env = {**server_env, "AGENT_MCP_HTTP_TOKEN": "s3cret-token"}
    log_path = tmp_path / "server.log"
    with serving_http(env, log_path, "--host", "0.0.0.0") as port:
        yield port, log_path


async def test_an_exposed_server_requires_the_token_and_checks_the_host(
    exposed_server: tuple[int, Path],
) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    port, log_path = exposed_server
    url = f"http://127.0.0.1:{port}/mcp"
    async with httpx2.AsyncClient() as http:
        anonymous = await http.post(url, json={})
        wrong = await http.post(url, json={}, headers={"Authorization": "Bearer nope"})
        rebound = await http.post(
            url,
            json={},
            headers={"Authorization": "Bearer s3cret-token", "Host": "evil.example:80"},
        )
    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert rebound.status_code in (400, 403, 421)  # Host not in the allow-list
    headers = {"Authorization": "Bearer s3cret-token"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=300) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == {"lookup_error", "triage"}
    assert "bearer token required" in log_path.read_text()


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrorIndex]:
    settings = Settings.load(
        data_dir=tmp_path_factory.mktemp("mcp-in-process"),
        cache_dir=tmp_path_factory.getbasetemp() / "shared-cache",
    )
    with ErrorIndex.open(settings) as idx:
        yield idx


def published(model: type[LookupErrorArgs] | type[TriageRequest], name: str) -> dict[str, object]:
    """The model's schema as the server publishes it: named after the tool, no docstring."""
    schema = {**model.model_json_schema(), "title": name}
    schema.pop("description", None)
    return schema


async def test_tools_publish_the_python_contracts(index: ErrorIndex) -> None:
    server = build_server(Settings.load(mcp_servers=[]), index=index)
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["lookup_error"].input_schema == published(LookupErrorArgs, "lookup_error")
    assert tools["triage"].input_schema == published(TriageRequest, "triage")
    assert tools["triage"].output_schema is not None
    assert (
        tools["triage"].output_schema["properties"]
        == (TriageReport.model_json_schema()["properties"])
    )


NUMPY_EXPLANATION = json.dumps(
    {
        "cause": "np.float was removed in NumPy 1.24.",
        "fix": "use np.float64 or float.",
        "cited": ["numpy-float-alias-removed"],
        "confidence": "high",
    }
)


def same_report(report: TriageReport) -> dict[str, object]:
    """The report without its timings, which differ from one run to the next."""
    return report.model_dump(mode="json", exclude={"timings_ms"})


@pytest.mark.parametrize("explain", [False, True], ids=["lookup-only", "explained"])
async def test_triage_tool_returns_what_the_python_api_returns(
    index: ErrorIndex, llm: ScriptedServer, explain: bool
) -> None:
    settings = Settings.load(
        mcp_servers=[], llm_base_url=llm.url, llm_model="scripted-model", llm_max_retries=0
    )
    if explain:
        llm.push(reply(NUMPY_EXPLANATION), reply(NUMPY_EXPLANATION))
    server = build_server(settings, index=index)
    async with Client(server) as client:
        result = await client.call_tool("triage", {"log": NUMPY_TRACEBACK, "llm": explain})
        blank = await client.call_tool("triage", {"log": "  \n"})
    assert not result.is_error, text_of(result)
    over_mcp = TriageReport.model_validate_json(text_of(result))
    direct = await triage(
        TriageRequest(log=NUMPY_TRACEBACK, llm=explain), settings=settings, index=index
    )
    llm.assert_done()
    assert same_report(over_mcp) == same_report(direct)
    assert result.structured_content is not None
    assert result.structured_content["cited_ids"] == direct.cited_ids
    assert direct.matches[0].id == "numpy-float-alias-removed"
    if explain:
        assert direct.cause == "np.float was removed in NumPy 1.24." and not direct.fallback
        assert [c.id for c in direct.citations] == ["numpy-float-alias-removed"]
    else:
        assert direct.answer is None and direct.cause is None and direct.timings_ms["lookup"] > 0
    assert blank.is_error and "the log is empty" in text_of(blank)
