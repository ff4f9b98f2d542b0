"""Our MCP server: error lookup and triage over the known-error KB (official ``mcp`` SDK 2.x).

Tools::

    lookup_error(text, top_k=5)           known errors for a message / trace / log (read-only)
    triage(log, top_k=3, llm=true)        ``agent.triage.triage``: matches, and the agent's
                                          cause and fix citing KB ids

Each tool's arguments and result are the Python API's models (``LookupErrorArgs`` ->
``LookupResult``, ``TriageRequest`` -> ``TriageReport``): the server only carries them.

Resources: ``kb://errors`` (the index: id, title, tags) and ``kb://errors/{id}`` (one entry as
JSON); every entry is also listed by ``resources/list``.

Run it with ``agent mcp serve`` (stdio) or ``agent mcp serve --transport http --port 8765``
(streamable HTTP at ``/mcp``), or ``python -m agent.mcp.server`` (stdio; what the MCP client
starts for ``builtin:errors``). Arguments are validated against the published schema,
undeclared keys included: a bad call gets a tool error naming the field, never a crash.

The index (Milvus Lite file + embedding model) opens in a background thread at start-up, so
``initialize`` and ``tools/list`` answer at once; the first lookup waits for it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar, cast

import anyio
import mcp_types
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.tools import Tool as MCPTool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import BaseModel, ValidationError

from agent.errors import AgentError
from agent.known_errors import (
    LOOKUP_ERROR,
    LOOKUP_ERROR_DESCRIPTION,
    ErrorIndex,
    LookupErrorArgs,
    LookupResult,
    lookup_known_errors,
)
from agent.mcp.http_guard import HttpGuard
from agent.settings import Settings
from agent.triage import TriageReport, TriageRequest, triage

SERVER_NAME = "agent-runtime-errors"
Transport = Literal["stdio", "http"]
TRIAGE_DESCRIPTION = (
    "Triage an error: give the log, stack trace or error message. Returns the matched known "
    "errors, an explanation of the cause, the fix, and the KB ids it cites. Uses the LLM "
    "configured for the server (AGENT_LLM_BASE_URL); llm=false returns the matches alone."
)
ArgsT = TypeVar("ArgsT", bound=BaseModel)


class IndexHolder:
    """Opens the ``ErrorIndex`` once, in a background thread; ``get`` waits for it."""

    def __init__(self, settings: Settings, index: ErrorIndex | None = None) -> None:
        self.settings = settings
        self._index = index
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._started = index is not None
        if index is not None:
            self._done.set()

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._open, name="errors-index", daemon=True).start()

    def _open(self) -> None:
        try:
            self._index = ErrorIndex.open(self.settings)
        except BaseException as exc:  # reported to every caller, not lost in a thread
            self._error = exc
        finally:
            self._done.set()

    def get(self) -> ErrorIndex:
        self.start()
        self._done.wait()
        if self._index is None:
            raise ToolError(f"the known-error index could not be opened: {self._error}")
        return self._index

    async def aget(self) -> ErrorIndex:
        return await asyncio.to_thread(self.get)

    def close(self) -> None:
        if self._index is not None:
            self._index.close()


class _WholeArgs(ArgModelBase):
    """Hands the validated arguments to the tool function as one model, its ``args``."""

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"args": self}


def _tool(
    run: Callable[[ArgsT], Awaitable[BaseModel]],
    args_model: type[ArgsT],
    *,
    name: str,
    description: str,
    annotations: mcp_types.ToolAnnotations,
) -> MCPTool:
    """An MCP tool whose arguments are ``args_model`` itself (its fields, limits, validators
    and ``extra="forbid"``: the SDK would drop undeclared keys silently, hiding a caller's
    typo like ``topk`` behind a default) and whose result is ``run``'s return type."""
    tool = MCPTool.from_function(run, name=name, description=description, annotations=annotations)
    arg_model = cast(
        type[ArgModelBase],
        # named after the tool: pydantic names the model in errors ("for lookup_error")
        type(name, (args_model, _WholeArgs), {"__module__": __name__}),
    )
    tool.fn_metadata.arg_model = arg_model
    tool.parameters = arg_model.model_json_schema(by_alias=True)
    return tool


class ErrorServer(MCPServer[Any]):
    """``MCPServer`` whose ``resources/list`` also lists every KB entry, and whose stdio
    transport answers a line that is not JSON-RPC instead of dropping it."""

    def __init__(self, holder: IndexHolder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.holder = holder

    async def run_stdio_async(self) -> None:
        """stdio, as the SDK's, except that a line that does not parse gets the JSON-RPC 2.0
        answer (-32700 for bad JSON, -32600 for JSON that is not a message, id null): the SDK
        drops it, leaving a client that sent garbage waiting for a reply that never comes."""
        lowlevel = self._lowlevel_server
        async with stdio_server() as (read_stream, write_stream):
            send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)

            async def answer_garbage() -> None:
                async with send:
                    async for item in read_stream:
                        if isinstance(item, Exception):
                            await write_stream.send(SessionMessage(_unparsable(item)))
                        else:
                            await send.send(item)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(answer_garbage)
                await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())

    async def list_resources(self) -> list[mcp_types.Resource]:
        listed = await super().list_resources()
        index = await self.holder.aget()
        listed.extend(
            mcp_types.Resource(
                uri=f"kb://errors/{entry.id}",
                name=entry.id,
                title=entry.title,
                mime_type="application/json",
            )
            for entry in index.entries()
        )
        return listed


def _unparsable(exc: Exception) -> mcp_types.JSONRPCError:
    not_json = isinstance(exc, ValidationError) and any(
        e["type"] == "json_invalid" for e in exc.errors()
    )
    code, what = (
        (mcp_types.PARSE_ERROR, "Parse error: the line is not JSON")
        if not_json
        else (mcp_types.INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message")
    )
    return mcp_types.JSONRPCError(
        jsonrpc="2.0", id=None, error=mcp_types.ErrorData(code=code, message=what)
    )


def build_server(settings: Settings, *, index: ErrorIndex | None = None) -> ErrorServer:
    """The server, on ``index`` if given (else the index of ``settings``, opened lazily)."""
    holder = IndexHolder(settings, index)

    async def lookup_error(args: LookupErrorArgs) -> LookupResult:
        index = await holder.aget()
        try:
            return await lookup_known_errors(index, args, settings)
        except AgentError as exc:
            raise ToolError(str(exc)) from None

    async def triage_log(args: TriageRequest) -> TriageReport:
        index = await holder.aget()
        try:
            return await triage(args, settings=settings, index=index)
        except AgentError as exc:
            raise ToolError(str(exc)) from None

    tools = [
        _tool(
            lookup_error,
            LookupErrorArgs,
            name=LOOKUP_ERROR,
            description=LOOKUP_ERROR_DESCRIPTION,
            annotations=mcp_types.ToolAnnotations(read_only_hint=True, idempotent_hint=True),
        ),
        _tool(
            triage_log,
            TriageRequest,
            name="triage",
            description=TRIAGE_DESCRIPTION,
            annotations=mcp_types.ToolAnnotations(read_only_hint=True),
        ),
    ]
    server = ErrorServer(
        holder,
        name=SERVER_NAME,
        instructions="Known-error lookup and triage. Call lookup_error with an error message.",
        tools=tools,
        log_level="WARNING",
    )

    @server.resource(
        "kb://errors",
        name="known-errors",
        mime_type="application/json",
        description="every known error: id, title, tags, uri",
    )
    async def kb_index() -> str:
        idx = await holder.aget()
        return json.dumps(
            [
                {"id": e.id, "title": e.title, "tags": e.tags, "uri": f"kb://errors/{e.id}"}
                for e in idx.entries()
            ],
            ensure_ascii=False,
        )

    @server.resource(
        "kb://errors/{entry_id}",
        name="known-error",
        mime_type="application/json",
        description="one known error: signature, examples, cause, fix, references",
    )
    async def kb_entry(entry_id: str) -> str:
        idx = await holder.aget()
        entry = idx.get(entry_id)
        if entry is None:
            raise ResourceError(f"no known error with id {entry_id!r}; see kb://errors")
        return entry.model_dump_json()

    return server


def serve(
    settings: Settings,
    *,
    transport: Transport = "stdio",
    host: str = "127.0.0.1",
    port: int = 8765,
    guard: HttpGuard | None = None,
) -> None:
    """Run the server until it is stopped (stdin closes, or SIGINT/SIGTERM for HTTP). Over HTTP,
    ``guard`` (default: from the settings, for ``host``) checks Host, Origin and the token."""
    os.environ.setdefault("PYDANTIC_ERRORS_INCLUDE_URL", "0")  # argument errors stay short
    if transport == "http" and guard is None:
        guard = HttpGuard.for_bind(host, settings.mcp_http_token, settings.mcp_allowed_hosts)
    server = build_server(settings)
    server.holder.start()  # warm up while the client initializes
    try:
        if transport == "stdio":
            server.run("stdio")
        else:
            assert guard is not None
            app = server.streamable_http_app(
                transport_security=guard.transport_security(), host=host
            )
            uvicorn.run(guard.wrap(app), host=host, port=port, log_level="warning")
    finally:
        server.holder.close()
    # Interpreter teardown (torch, gRPC threads, a model still loading in the warm-up thread)
    # takes 7-20 s; MCP clients give a server 2 s after closing stdin, then signal it. The
    # store is closed above, so nothing is left to flush.
    sys.stderr.flush()
    os._exit(0)


def main() -> None:
    serve(Settings.load())


if __name__ == "__main__":
    main()
