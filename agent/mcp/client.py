"""MCP client tools: the tools of configured MCP servers, as agent tools.

``Settings.mcp_servers`` lists the servers, each one string::

    builtin:errors                       our server (agent.mcp.server) over stdio: lookup_error
    http://127.0.0.1:8765/mcp            any server over streamable HTTP
    npx -y @modelcontextprotocol/server-everything     any command, started over stdio

``MCPToolset(settings)`` connects to each, lists its tools and wraps every one as a
``JsonSchemaTool`` (validated strictly against the tool's input schema before the call is sent).
One toolset holds ONE session per server, reused by every call; give one toolset to one agent::

    with MCPToolset(settings) as toolset:
        agent = Agent(settings, tools=[*default_tools(settings), *toolset.tools()])

Sessions live on the toolset's own event loop in a background thread, so the tools work from
any caller (``Agent.run`` and ``Agent.arun`` use different loops) and anyio's task-bound cancel
scopes stay in the task that opened them. When a server dies (process killed, HTTP server
restarted), the failed call reports it and the next call opens a new session; calls to tools
the server marks read-only or idempotent are retried once on the new session right away.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import shlex
import sys
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import mcp_types
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError as SDKMCPError
from pydantic import SecretStr

from agent.closing import Closing
from agent.errors import ConfigError, MCPError, ToolError
from agent.tooling import JsonSchemaTool, Tool, ToolOutput

if TYPE_CHECKING:
    from agent.settings import Settings

BUILTIN_ERRORS = "builtin:errors"
# Our server's triage tool runs an agent itself: an agent calling it would nest LLM loops.
BUILTIN_AGENT_TOOLS = frozenset({"lookup_error"})
T = TypeVar("T")

# Failures that mean the transport is gone (as opposed to an error the server sent back).
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
    ConnectionError,
    EOFError,
    OSError,
)


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """One configured MCP server: a command over stdio or a streamable-HTTP URL."""

    label: str
    url: str | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None

    def target(self) -> StdioServerParameters | str:
        if self.url is not None:
            return self.url
        assert self.command is not None
        return StdioServerParameters(
            command=self.command, args=list(self.args), env=dict(self.env or os.environ)
        )


def settings_env(settings: Settings) -> dict[str, str]:
    """This process's environment plus ``settings`` as AGENT_* variables, for a child server."""
    env = dict(os.environ)
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, list | dict):
            value = json.dumps(value)
        env[f"AGENT_{name.upper()}"] = str(value)
    env["AGENT_ERRORS_MILVUS_URI"] = settings.errors_store_uri
    env["AGENT_MCP_SERVERS"] = "[]"  # the server's own agent (triage) must not start servers
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def parse_server(text: str, settings: Settings) -> ServerSpec:
    """A ``ServerSpec`` from one ``mcp_servers`` entry (see the module docstring)."""
    text = text.strip()
    if text == BUILTIN_ERRORS:
        return ServerSpec(
            label=BUILTIN_ERRORS,
            command=sys.executable,
            args=("-m", "agent.mcp.server"),
            env=settings_env(settings),
        )
    if text.startswith(("http://", "https://")):
        return ServerSpec(label=text, url=text)
    if text.startswith("builtin:"):
        raise ConfigError(f"unknown MCP server {text!r}: the built-in one is {BUILTIN_ERRORS!r}")
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"MCP server command {text!r} cannot be parsed: {exc}") from None
    if not argv:
        raise ConfigError("an entry of AGENT_MCP_SERVERS is empty")
    return ServerSpec(label=text, command=argv[0], args=tuple(argv[1:]), env=dict(os.environ))


def _result_output(result: mcp_types.CallToolResult) -> tuple[str, bool]:
    """The text of a tool result and whether the server flagged it as an error."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if text is not None else f"[binary resource {resource.uri}]")
        else:
            parts.append(f"[{block.type} content omitted]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(parts)
    if len(parts) == 1 and text.lstrip().startswith(("{", "[")):
        # servers pretty-print structured results; indentation costs the model tokens
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    return text, bool(result.is_error)


class MCPConnection:
    """One session with one server, opened on demand and re-opened after the server died.
    Runs on the owning toolset's event loop only."""

    def __init__(self, spec: ServerSpec, *, connect_timeout_s: float, call_timeout_s: float):
        self.spec = spec
        self.connect_timeout_s = connect_timeout_s
        self.call_timeout_s = call_timeout_s
        self.sessions_opened = 0
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None

    async def _hold(self, ready: asyncio.Event, failure: list[BaseException]) -> None:
        # The Client's anyio task group must be entered and exited in this same task.
        try:
            async with Client(self.spec.target()) as client:
                self._client = client
                self.sessions_opened += 1
                ready.set()
                assert self._stop is not None
                await self._stop.wait()
        except Exception as exc:  # the server died or never came up
            failure.append(exc)
        finally:
            self._client = None
            ready.set()

    async def _ensure(self) -> Client:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is not None and self._task is not None and not self._task.done():
                return self._client
            await self._drop()
            ready, failure = asyncio.Event(), list[BaseException]()
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._hold(ready, failure))
            try:
                await asyncio.wait_for(ready.wait(), self.connect_timeout_s)
            except TimeoutError:
                await self._drop()
                raise MCPError(
                    f"MCP server {self.spec.label} did not finish starting within "
                    f"{self.connect_timeout_s:.0f} s (AGENT_MCP_CONNECT_TIMEOUT_S)"
                ) from None
            if self._client is None:
                cause = failure[0] if failure else None
                await self._drop()
                raise MCPError(
                    f"cannot connect to MCP server {self.spec.label}: {_describe(cause)}"
                ) from cause
            return self._client

    async def _drop(self) -> None:
        """Close the current session (if any); the next call opens a new one."""
        task, self._task = self._task, None
        if self._stop is not None:
            self._stop.set()
        if task is not None and not task.done():
            try:
                # the SDK closes stdin, waits 2 s, then SIGTERMs and SIGKILLs the process tree
                await asyncio.wait_for(asyncio.shield(task), 15.0)
            except (TimeoutError, Exception):
                task.cancel()
        self._client = None

    async def list_tools(self) -> list[mcp_types.Tool]:
        client = await self._ensure()
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, retry_safe: bool
    ) -> mcp_types.CallToolResult:
        for attempt in (1, 2):
            client = await self._ensure()
            try:
                with anyio.fail_after(self.call_timeout_s):
                    result = await client.call_tool(name, arguments)
            except TimeoutError:
                raise ToolError(
                    f"the MCP tool {name} did not answer within {self.call_timeout_s:.0f} s"
                ) from None
            except SDKMCPError as exc:
                if exc.code != mcp_types.CONNECTION_CLOSED:
                    raise ToolError(
                        f"MCP server {self.spec.label} refused the call: {exc.message}"
                    ) from None
                await self._drop()
            except _TRANSPORT_ERRORS:
                await self._drop()
            else:
                if not isinstance(result, mcp_types.CallToolResult):
                    raise MCPError(
                        f"MCP server {self.spec.label} answered {name} with "
                        f"{type(result).__name__}, not a tool result"
                    )
                return result
            if not retry_safe or attempt == 2:
                raise ToolError(
                    f"the connection to MCP server {self.spec.label} was lost during the call "
                    f"to {name}; a new session opens on the next call, so you may call it again"
                )
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._drop()


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "it closed the connection"
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class MCPToolset(Closing):
    """The tools of several MCP servers, one session each, on a private event loop."""

    def __init__(self, settings: Settings, servers: Sequence[str] | None = None) -> None:
        self.settings = settings
        entries = settings.mcp_servers if servers is None else list(servers)
        self.connections = [
            MCPConnection(
                parse_server(e, settings),
                connect_timeout_s=settings.mcp_connect_timeout_s,
                call_timeout_s=settings.mcp_timeout_s,
            )
            for e in entries
        ]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._tools: list[Tool] | None = None

    # --- the private loop -----------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="mcp-client", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            coro, self._ensure_loop()
        )
        return asyncio.wrap_future(future)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop()).result()

    # --- tools ------------------------------------------------------------------------------

    async def _discover(self) -> list[Tool]:
        tools: list[Tool] = []
        for conn in self.connections:
            for spec in await conn.list_tools():
                if conn.spec.label == BUILTIN_ERRORS and spec.name not in BUILTIN_AGENT_TOOLS:
                    continue
                tools.append(self._wrap(conn, spec))
        return tools

    def _wrap(self, conn: MCPConnection, spec: mcp_types.Tool) -> Tool:
        hints = spec.annotations
        retry_safe = bool(hints and (hints.read_only_hint or hints.idempotent_hint))
        name = spec.name

        async def call(**arguments: Any) -> ToolOutput:
            result = await self._submit(conn.call_tool(name, arguments, retry_safe=retry_safe))
            text, is_error = _result_output(result)
            if is_error:
                raise ToolError(text or f"the MCP tool {name} failed without a message")
            return text

        return JsonSchemaTool(
            name=name,
            description=spec.description or spec.title or name,
            parameters=spec.input_schema,
            fn=call,
            timeout_s=self.settings.mcp_timeout_s + 5.0,  # our own timeout reports first
            untrusted_output=True,  # another process's text: data, not instructions
        )

    def tools(self) -> list[Tool]:
        """Connect to every server (once) and return their tools as agent tools."""
        if self._tools is None:
            self._tools = self._run(self._discover())
        return list(self._tools)

    async def atools(self) -> list[Tool]:
        if self._tools is None:
            self._tools = await self._submit(self._discover())
        return list(self._tools)

    def tool(self, name: str) -> Tool:
        for tool in self.tools():
            if tool.name == name:
                return tool
        names = ", ".join(t.name for t in self.tools()) or "none"
        raise ConfigError(f"no MCP server offers a tool named {name!r} (offered: {names})")

    @property
    def sessions_opened(self) -> int:
        return sum(c.sessions_opened for c in self.connections)

    # --- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close every session (stdio servers exit) and stop the private loop."""
        with self._start_lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            for conn in self.connections:
                await conn.aclose()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(
            timeout=20 * max(1, len(self.connections))
        )
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
