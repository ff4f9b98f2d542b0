"""Our MCP server: error lookup and triage over the known-error KB (official ``mcp`` SDK 2.x).

Tools::

    lookup_error(text, top_k=5)   known errors for a message / trace / log (read-only)
    triage(log)                   the agent explains cause and fix, citing KB ids

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
from typing import Annotated, Any, Literal

import mcp_types
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.tools import Tool as MCPTool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from pydantic import ConfigDict, Field

from agent.errors import AgentError
from agent.known_errors.lookup import ErrorIndex, LookupResult, summarize
from agent.settings import Settings
from agent.triage import TriageReport, triage_log
from tools.lookup_error import (
    LOOKUP_ERROR,
    LOOKUP_ERROR_DESCRIPTION,
    MAX_TEXT_CHARS,
    make_local_lookup_error_tool,
)

SERVER_NAME = "agent-runtime-errors"
Transport = Literal["stdio", "http"]
TRIAGE_DESCRIPTION = (
    "Triage an error: give the log, stack trace or error message. Returns the matched known "
    "errors, an explanation of the cause, the fix, and the KB ids it cites. Uses the LLM "
    "configured for the server (AGENT_LLM_BASE_URL)."
)


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


def _strict(tool: MCPTool) -> MCPTool:
    """Reject undeclared argument keys: the SDK drops them silently, which would hide a
    caller's typo (``topk``) behind a default."""
    base = tool.fn_metadata.arg_model
    strict: type[ArgModelBase] = type(
        tool.name,
        (base,),
        {  # pydantic names the model in errors: "for triage"
            "model_config": ConfigDict(extra="forbid", arbitrary_types_allowed=True),
            "__module__": __name__,
        },
    )
    tool.fn_metadata.arg_model = strict
    tool.parameters = strict.model_json_schema(by_alias=True)
    return tool


class ErrorServer(MCPServer[Any]):
    """``MCPServer`` whose ``resources/list`` also lists every KB entry."""

    def __init__(self, holder: IndexHolder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.holder = holder

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


def build_server(settings: Settings, *, index: ErrorIndex | None = None) -> ErrorServer:
    """The server, on ``index`` if given (else the index of ``settings``, opened lazily)."""
    holder = IndexHolder(settings, index)

    async def lookup_error(
        text: Annotated[
            str,
            Field(
                min_length=1,
                max_length=MAX_TEXT_CHARS,
                description="error message, log line, stack trace or log",
            ),
        ],
        top_k: Annotated[int, Field(ge=1, le=20, description="how many known errors (1-20)")] = 5,
    ) -> LookupResult:
        if not text.strip():
            raise ToolError("text is blank: pass the error message, stack trace or log")
        idx = await holder.aget()
        return summarize(await idx.alookup(text, top_k=top_k))

    async def triage(
        log: Annotated[
            str,
            Field(
                min_length=1,
                max_length=MAX_TEXT_CHARS,
                description="the log, stack trace or error message",
            ),
        ],
    ) -> TriageReport:
        if not log.strip():
            raise ToolError("log is blank: pass the log, stack trace or error message")
        idx = await holder.aget()
        try:
            return await triage_log(
                log,
                settings=settings,
                lookup=lambda text, k: idx.alookup(text, top_k=k),
                known_ids=set(idx.ids()),
                lookup_tool=make_local_lookup_error_tool(idx),
            )
        except AgentError as exc:
            raise ToolError(str(exc)) from None

    read_only = mcp_types.ToolAnnotations(read_only_hint=True, idempotent_hint=True)
    tools = [
        _strict(
            MCPTool.from_function(
                lookup_error,
                name=LOOKUP_ERROR,
                description=LOOKUP_ERROR_DESCRIPTION,
                annotations=read_only,
            )
        ),
        _strict(
            MCPTool.from_function(
                triage,
                name="triage",
                description=TRIAGE_DESCRIPTION,
                annotations=mcp_types.ToolAnnotations(read_only_hint=True),
            )
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
    settings: Settings, *, transport: Transport = "stdio", host: str = "127.0.0.1", port: int = 8765
) -> None:
    """Run the server until it is stopped (stdin closes, or SIGINT/SIGTERM for HTTP)."""
    os.environ.setdefault("PYDANTIC_ERRORS_INCLUDE_URL", "0")  # argument errors stay short
    server = build_server(settings)
    server.holder.start()  # warm up while the client initializes
    try:
        if transport == "stdio":
            server.run("stdio")
        else:
            server.run("streamable-http", host=host, port=port)
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
