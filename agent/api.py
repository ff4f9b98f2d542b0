"""The public Python API: ``Agent`` runs the graph, sync or async, streaming or not.

::

    from agent.api import Agent
    with Agent() as agent:                      # settings from AGENT_* env / .env
        result = agent.run("What is (1234 + 5678) / 2?")
        print(result.answer, result.tool_calls, result.usage)

Threads persist in SQLite (``Settings.threads_db``): pass the same ``thread_id`` to continue a
conversation, also from a new process. A run that stopped on an error (say the LLM server was
down) keeps its state; ``resume(thread_id)`` finishes it, and a new question on the thread closes
the interrupted calls first so the conversation stays valid.

Async resources (HTTP pool, SQLite connection) belong to one event loop, so the agent keeps one
set per loop; the sync methods run on a private loop in a background thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import aiosqlite
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from agent.builtins import default_tools, default_toolset
from agent.errors import AgentError, RunError, ThreadError
from agent.events import (
    AgentEvent,
    ApproveHook,
    ErrorEvent,
    FinalEvent,
    RunResult,
    ToolCallRecord,
    Usage,
)
from agent.llm.client import LLMClient
from agent.loop.final_answer import FINAL_ANSWER
from agent.loop.prompts import system_prompt_for
from agent.mcp.client import MCPToolset
from agent.settings import Settings
from agent.tooling.tool import Tool, ToolRegistry
from graphs.agent_graph import (
    AgentContext,
    AgentState,
    build_agent_graph,
    current_run,
    make_context,
)

T = TypeVar("T")
Persistence = Literal["sqlite", "memory", "none"]

_INTERRUPTED = "Cancelled: the previous run stopped before this call ran."


@dataclass
class _LoopResources:
    llm: LLMClient
    graph: Any  # CompiledStateGraph; Any keeps mypy from chasing langgraph's generics
    conn: aiosqlite.Connection | None


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """A saved conversation, as ``threads()`` lists it."""

    thread_id: str
    first_question: str
    updated_at: datetime | None
    messages: int


class Agent:
    """A tool-calling agent over an OpenAI-compatible LLM server."""

    def __init__(
        self,
        settings: Settings | None = None,
        tools: Sequence[Tool] | None = None,
        *,
        persistence: Persistence = "sqlite",
        system_prompt: str | None = None,
    ) -> None:
        self.settings = settings or Settings.load()
        self._toolset: MCPToolset | None = None
        if tools is None:
            tools = default_tools(self.settings)
            self._toolset = default_toolset(self.settings)
            if self._toolset is not None:
                try:
                    tools = [*tools, *self._toolset.tools()]
                except BaseException:
                    self._toolset.close()
                    raise
        self.tools = ToolRegistry(tools)
        self.persistence: Persistence = persistence
        self.system_prompt = system_prompt or system_prompt_for(
            self.settings.resolved_tool_call_mode()
        )
        self._per_loop: dict[asyncio.AbstractEventLoop, _LoopResources] = {}
        self._memory = InMemorySaver() if persistence == "memory" else None
        self._sync_loop: asyncio.AbstractEventLoop | None = None
        self._sync_thread: threading.Thread | None = None

    # ---- resources ---------------------------------------------------------------------------

    async def _resources(self) -> _LoopResources:
        loop = asyncio.get_running_loop()
        res = self._per_loop.get(loop)
        if res is None:
            conn = None
            saver: BaseCheckpointSaver[Any] | None = self._memory
            if self.persistence == "sqlite":
                conn, saver = await self._open_sqlite()
            res = _LoopResources(LLMClient(self.settings), build_agent_graph(saver), conn)
            self._per_loop[loop] = res
        return res

    async def _open_sqlite(self) -> tuple[aiosqlite.Connection, AsyncSqliteSaver]:
        path = self.settings.threads_db
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(str(path), timeout=10.0)
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
        except (OSError, sqlite3.Error) as exc:
            raise ThreadError(
                f"cannot open the thread database {path}: {exc}. If another process holds it "
                "locked, wait for it or set AGENT_CHECKPOINT_PATH to another file."
            ) from exc
        return conn, saver

    async def aclose(self) -> None:
        """Close this event loop's resources (HTTP connections, SQLite connection)."""
        res = self._per_loop.pop(asyncio.get_running_loop(), None)
        if res is not None:
            await res.llm.aclose()
            if res.conn is not None:
                await res.conn.close()
        if not self._per_loop and self._toolset is not None:  # the last loop closes the servers
            toolset, self._toolset = self._toolset, None
            await asyncio.to_thread(toolset.close)

    async def __aenter__(self) -> Agent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def close(self) -> None:
        if self._sync_loop is not None and self._sync_thread is not None:
            self._call(self.aclose())
            self._sync_loop.call_soon_threadsafe(self._sync_loop.stop)
            self._sync_thread.join()
            self._sync_loop.close()
            self._sync_loop = self._sync_thread = None
        if self._toolset is not None:
            toolset, self._toolset = self._toolset, None
            toolset.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- running -----------------------------------------------------------------------------

    def _config(self, thread_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": 10_000}

    async def _input(self, res: _LoopResources, question: str, thread_id: str) -> dict[str, Any]:
        new: list[AnyMessage] = []
        if self.persistence != "none":
            snapshot = await res.graph.aget_state(self._config(thread_id))
            new = _uncommitted_messages(snapshot.tasks)
            new += _close_interrupted_calls(snapshot.values.get("messages", []))
        new.append(HumanMessage(question))
        return {"messages": new, "steps": 0, "repairs": 0, "usage": {}, "answer": None}

    def _context(
        self, res: _LoopResources, approve: ApproveHook | None, *, stream_tokens: bool = False
    ) -> AgentContext:
        return make_context(
            llm=res.llm,
            tools=self.tools,
            settings=self.settings,
            system_prompt=self.system_prompt,
            stream_tokens=stream_tokens,
            approve=approve,
        )

    async def arun(
        self, question: str, *, thread_id: str | None = None, approve: ApproveHook | None = None
    ) -> RunResult:
        """Answer ``question`` (on ``thread_id``, continuing it if it exists)."""
        thread_id = thread_id or uuid.uuid4().hex
        res = await self._resources()
        ctx = self._context(res, approve)
        inputs = await self._input(res, question, thread_id)
        with _tag_thread(thread_id):
            state = await res.graph.ainvoke(inputs, self._config(thread_id), context=ctx)
        return _result(state, thread_id)

    async def aresume(self, thread_id: str, *, approve: ApproveHook | None = None) -> RunResult:
        """Finish the run on ``thread_id`` that stopped on an error."""
        res = await self._resources()
        if self.persistence == "none":
            raise ThreadError("resume needs persistence ('sqlite' or 'memory')")
        config = self._config(thread_id)
        snapshot = await res.graph.aget_state(config)
        if not snapshot.next:
            raise ThreadError(f"thread {thread_id!r} has no unfinished run to resume")
        ctx = self._context(res, approve)
        with _tag_thread(thread_id):
            state = await res.graph.ainvoke(None, config, context=ctx)
        return _result(state, thread_id)

    async def astream(
        self, question: str, *, thread_id: str | None = None, approve: ApproveHook | None = None
    ) -> AsyncIterator[AgentEvent]:
        """Events as they happen; ends with a ``FinalEvent`` or an ``ErrorEvent``."""
        thread_id = thread_id or uuid.uuid4().hex
        try:
            res = await self._resources()
            ctx = self._context(res, approve, stream_tokens=True)
            inputs = await self._input(res, question, thread_id)
            state: dict[str, Any] = {}
            with _tag_thread(thread_id):
                async for mode, chunk in res.graph.astream(
                    inputs,
                    self._config(thread_id),
                    context=ctx,
                    stream_mode=["custom", "values"],
                ):
                    if mode == "custom":
                        yield chunk
                    else:
                        state = chunk
        except AgentError as exc:
            yield ErrorEvent(exc)
            return
        yield FinalEvent(_result(state, thread_id))

    async def ahistory(self, thread_id: str) -> list[AnyMessage]:
        """Every message of a thread (empty for an unknown thread)."""
        res = await self._resources()
        snapshot = await res.graph.aget_state(self._config(thread_id))
        return list(snapshot.values.get("messages", []))

    async def athreads(self, limit: int | None = 20) -> list[ThreadInfo]:
        """Saved threads, most recently updated first, each with its first question."""
        res = await self._resources()
        if res.conn is not None:
            # Checkpoint ids are time-ordered uuid6 strings: a thread's largest is its newest.
            sql = (
                "SELECT thread_id FROM checkpoints WHERE checkpoint_ns = '' "
                "GROUP BY thread_id ORDER BY MAX(checkpoint_id) DESC LIMIT ?"
            )
            async with res.conn.execute(sql, (-1 if limit is None else limit,)) as cursor:
                ids = [str(row[0]) for row in await cursor.fetchall()]
        elif self._memory is not None:
            ids = list(self._memory.storage)
        else:
            return []
        infos = [await self._thread_info(res, thread_id) for thread_id in ids]
        infos.sort(key=lambda t: t.updated_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return infos if limit is None else infos[:limit]

    async def _thread_info(self, res: _LoopResources, thread_id: str) -> ThreadInfo:
        snapshot = await res.graph.aget_state(self._config(thread_id))
        messages: list[AnyMessage] = snapshot.values.get("messages", [])
        first = next((m.text for m in messages if isinstance(m, HumanMessage)), "")
        updated = datetime.fromisoformat(snapshot.created_at) if snapshot.created_at else None
        return ThreadInfo(thread_id, first, updated, len(messages))

    # ---- sync wrappers -----------------------------------------------------------------------

    def _loop(self) -> asyncio.AbstractEventLoop:
        if self._sync_loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="agent-loop", daemon=True)
            thread.start()
            self._sync_loop, self._sync_thread = loop, thread
        return self._sync_loop

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop()).result()

    def run(
        self, question: str, *, thread_id: str | None = None, approve: ApproveHook | None = None
    ) -> RunResult:
        return self._call(self.arun(question, thread_id=thread_id, approve=approve))

    def resume(self, thread_id: str, *, approve: ApproveHook | None = None) -> RunResult:
        return self._call(self.aresume(thread_id, approve=approve))

    def history(self, thread_id: str) -> list[AnyMessage]:
        return self._call(self.ahistory(thread_id))

    def threads(self, limit: int | None = 20) -> list[ThreadInfo]:
        return self._call(self.athreads(limit))

    def stream(
        self, question: str, *, thread_id: str | None = None, approve: ApproveHook | None = None
    ) -> Iterator[AgentEvent]:
        """Sync ``astream``. Closing the iterator early (or Ctrl-C) cancels the run."""
        events: queue.Queue[AgentEvent | None] = queue.Queue()

        async def pump() -> None:
            try:
                async for event in self.astream(question, thread_id=thread_id, approve=approve):
                    events.put(event)
            finally:
                events.put(None)

        future = asyncio.run_coroutine_threadsafe(pump(), self._loop())
        try:
            while (event := events.get()) is not None:
                yield event
            future.result()
        finally:
            if not future.done():
                future.cancel()
                # Wait for the cancellation to land; its outcome is of no interest.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    future.result(timeout=10)


class _tag_thread:  # noqa: N801 - used as a context manager, reads as a statement
    """Attach the thread id to any ``RunError`` leaving the block."""

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, _t: object, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, RunError) and exc.thread_id is None:
            exc.thread_id = self.thread_id


def _uncommitted_messages(tasks: Sequence[Any]) -> list[AnyMessage]:
    """Messages of steps that finished in a run cut short (cancelled) before its commit.

    The state snapshot shows them, but a new input starts from the last commit and would drop
    them, leaving the tool calls they answer unanswered: carry them into the new input.
    """
    out: list[AnyMessage] = []
    for task in tasks:
        if isinstance(task.result, dict) and isinstance(task.result.get("messages"), list):
            out.extend(task.result["messages"])
    return out


def _close_interrupted_calls(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """Tool messages answering the calls a stopped run left open (the API requires an answer).

    A tool step saves all its messages at once, so only a trailing AI message can have
    unanswered calls.
    """
    last = messages[-1] if messages else None
    if not isinstance(last, AIMessage):
        return []
    ids = [c["id"] for c in last.tool_calls] + [c["id"] for c in last.invalid_tool_calls]
    return [ToolMessage(_INTERRUPTED, tool_call_id=i or "", status="error") for i in ids]


def _result(state: AgentState | dict[str, Any], thread_id: str) -> RunResult:
    messages: list[AnyMessage] = list(state.get("messages", []))
    run = current_run(messages)
    answer = state.get("answer")
    if answer is None:
        last = run[-1] if run else None
        answer = last.text if isinstance(last, AIMessage) else ""
    results = {m.tool_call_id: m for m in run if isinstance(m, ToolMessage)}
    records: list[ToolCallRecord] = []
    for m in run:
        if not isinstance(m, AIMessage):
            continue
        calls: list[tuple[str, str, dict[str, Any] | str]] = [
            (c["id"] or "", c["name"], c["args"]) for c in m.tool_calls
        ]
        calls += [(c["id"] or "", c["name"] or "", c["args"] or "") for c in m.invalid_tool_calls]
        for call_id, name, args in calls:
            if name == FINAL_ANSWER:  # how the run ended, reported as the answer instead
                continue
            tm = results.get(call_id)
            records.append(
                ToolCallRecord(
                    call_id=call_id,
                    name=name,
                    arguments=args,
                    content=str(tm.content) if tm else "",
                    is_error=tm is None or tm.status == "error",
                    duration_s=float(tm.response_metadata.get("duration_s", 0.0)) if tm else 0.0,
                )
            )
    usage = state.get("usage") or {}
    return RunResult(
        answer=answer,
        thread_id=thread_id,
        steps=int(state.get("steps", 0)),
        usage=Usage(
            usage.get("input_tokens", 0),
            usage.get("output_tokens", 0),
            usage.get("total_tokens", 0),
        ),
        tool_calls=records,
        messages=list[BaseMessage](messages),
    )
