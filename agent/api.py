"""The public Python API: ``Agent`` runs the graph, sync or async, streaming or not.

::

    from agent import Agent
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
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, Durability

from agent._sync import SyncRunner
from agent.builtins import DefaultTools
from agent.errors import (
    AgentError,
    ConfigError,
    InputError,
    RunError,
    RunTimeoutError,
    ThreadError,
)
from agent.events import (
    AgentEvent,
    Approval,
    ApprovalPolicy,
    ApproveHook,
    ErrorEvent,
    FinalEvent,
    RunResult,
    ToolCallRequest,
)
from agent.llm import LLMClient
from agent.loop import (
    ServerProfile,
    close_interrupted_calls,
    first_question,
    pending_calls,
    run_result,
    server_profile,
    system_prompt_for,
    uncommitted_messages,
)
from agent.persistence import (
    Checkpoints,
    Persistence,
    ThreadInfo,
    default_persistence,
    open_checkpoints,
    thread_locks,
)
from agent.settings import Settings, ToolCallMode
from agent.tooling import Tool, ToolRegistry
from agent.tracing import AGENT_NAME, span
from graphs.agent_graph import AgentContext, Prefetch, build_agent_graph, make_context
from tools.arithmetic_check import find_miscalculations
from tools.rag_search import RagSearchTool

# Questions shorter than this fit any context a served model has (2,048 tokens at least):
# only longer ones cost a /tokenize request.
_COUNT_TOKENS_FROM_CHARS = 6000


@dataclass
class _LoopResources:
    llm: LLMClient
    graph: Any  # CompiledStateGraph; Any keeps mypy from chasing langgraph's generics
    checkpoints: Checkpoints


class Agent:
    """A tool-calling agent over an OpenAI-compatible LLM server."""

    def __init__(
        self,
        settings: Settings | None = None,
        tools: Sequence[Tool] | None = None,
        *,
        persistence: Persistence | None = None,
        system_prompt: str | None = None,
        instructions: str = "",
        needs_approval: ApprovalPolicy | None = None,
    ) -> None:
        self.settings = settings or Settings.load()
        self._defaults: DefaultTools | None = None
        if tools is None:
            self._defaults = DefaultTools(self.settings)
            tools = self._defaults.tools
        self.tools = ToolRegistry(tools)
        self.persistence: Persistence = persistence or default_persistence(self.settings)
        self._approval_policy = _approval_policy(self.tools, self.settings, needs_approval)
        asks = [
            t.name for t in self.tools if t.needs_approval or t.name in self.settings.approve_tools
        ]
        if self.persistence == "none" and (asks or needs_approval is not None):
            what = f"tools {', '.join(asks)}" if asks else "the needs_approval policy"
            raise ConfigError(
                f"{what} need approval, and a run waiting for it is kept in its thread: "
                "use persistence 'sqlite', 'postgres' or 'memory', not 'none'"
            )
        self._system_prompt = system_prompt
        self._instructions = instructions
        self._profile: ServerProfile | None = None  # measured once, on the first run
        self._per_loop: dict[asyncio.AbstractEventLoop, _LoopResources] = {}
        self._memory = InMemorySaver() if self.persistence == "memory" else None
        self._locks = thread_locks(self.persistence, self.settings)
        self._sync = SyncRunner("agent-loop")

    # ---- resources ---------------------------------------------------------------------------

    async def _resources(self) -> _LoopResources:
        loop = asyncio.get_running_loop()
        res = self._per_loop.get(loop)
        if res is None:
            checkpoints = await open_checkpoints(
                self.persistence, self.settings, memory=self._memory
            )
            graph = build_agent_graph(checkpoints.saver)
            res = _LoopResources(LLMClient(self.settings), graph, checkpoints)
            self._per_loop[loop] = res
        return res

    async def aclose(self) -> None:
        """Close this event loop's resources (HTTP connections, SQLite connection)."""
        res = self._per_loop.pop(asyncio.get_running_loop(), None)
        if res is not None:
            await res.llm.aclose()
            await res.checkpoints.aclose()
        await self._locks.aclose()
        if not self._per_loop and self._defaults is not None:  # the last loop stops MCP servers
            defaults, self._defaults = self._defaults, None
            await asyncio.to_thread(defaults.close)

    async def __aenter__(self) -> Agent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def close(self) -> None:
        self._sync.close(self.aclose() if self._sync.started else None)
        if self._defaults is not None:
            defaults, self._defaults = self._defaults, None
            defaults.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the server's tool calling -----------------------------------------------------------

    async def tool_call_mode(self) -> ToolCallMode:
        """The mode runs use: the setting, or for ``auto`` what probing the server found
        (``agent.llm.server_profile``: measured once per server and model, cached on disk)."""
        res = await self._resources()
        return await self._mode(res)

    async def _mode(self, res: _LoopResources) -> ToolCallMode:
        if self.settings.tool_call_mode != "auto":
            return self.settings.tool_call_mode
        if self._profile is None:
            self._profile = await server_profile(res.llm)
        return self._profile.mode

    def _named_choice(self) -> bool:
        if self.settings.repair_choice != "auto":
            return self.settings.repair_choice == "named"
        return self._profile is not None and self._profile.named_choice

    # ---- running -----------------------------------------------------------------------------

    @property
    def _durability(self) -> Durability | None:
        return None if self.persistence == "none" else self.settings.durability

    def _config(self, thread_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": 10_000}

    async def _check_length(self, res: _LoopResources, question: str) -> None:
        """Refuse a question longer than the model's context before it enters the thread: saved,
        it would make every later turn of the thread fail."""
        if len(question) < _COUNT_TOKENS_FROM_CHARS:
            return
        counted = await res.llm.count_tokens(question)
        if counted is None:
            return
        tokens, context = counted
        room = context - (self.settings.max_tokens or 0)
        if tokens > room:
            raise InputError(
                f"the question is {tokens:,} tokens, more than the model's context of "
                f"{context:,} tokens leaves after {self.settings.max_tokens or 0:,} for the "
                "answer (AGENT_MAX_TOKENS); it was not added to the thread. Shorten it, or add "
                "the text as a document (`agent docs add`) and ask about it"
            )

    async def _input(self, res: _LoopResources, question: str, thread_id: str) -> dict[str, Any]:
        await self._check_length(res, question)
        new: list[AnyMessage] = []
        if self.persistence != "none":
            snapshot = await res.graph.aget_state(self._config(thread_id))
            new = uncommitted_messages(snapshot.tasks)
            new += close_interrupted_calls(snapshot.values.get("messages", []))
        new.append(HumanMessage(question))
        return {
            "messages": new,
            "steps": 0,
            "repairs": 0,
            "usage": {},
            "answer": None,
            "repair_tool": None,
            "stopped": None,
            "rescued": None,
            "checks": 0,
        }

    async def _context(
        self, res: _LoopResources, approve: ApproveHook | None, *, stream_tokens: bool = False
    ) -> AgentContext:
        mode = await self._mode(res)
        return make_context(
            llm=res.llm,
            tools=self.tools,
            settings=self.settings,
            mode=mode,
            system_prompt=(self._system_prompt or system_prompt_for(mode)) + self._instructions,
            stream_tokens=stream_tokens,
            approve=approve,
            named_choice=self._named_choice(),
            check_answer=find_miscalculations,
            prefetch=self._prefetch(),
            approval_policy=self._approval_policy,
        )

    def _prefetch(self) -> tuple[str, Prefetch] | None:
        search = next((t for t in self.tools if isinstance(t, RagSearchTool)), None)
        return (search.name, search.prefetch) if search is not None else None

    @asynccontextmanager
    async def _run_on(self, thread_id: str) -> AsyncIterator[None]:
        """Hold the thread for one run (one run at a time per thread, across processes) and
        end the run at its deadline."""
        s = self.settings
        with span(
            f"invoke_agent {AGENT_NAME}",
            gen_ai__operation__name="invoke_agent",
            gen_ai__agent__name=AGENT_NAME,
            gen_ai__conversation__id=thread_id,
            gen_ai__request__model=s.llm_model,
        ):
            async with self._locks.hold(thread_id, wait_s=s.thread_wait_s):
                try:
                    async with asyncio.timeout(s.run_timeout_s) as deadline:
                        with _tag_thread(thread_id):
                            yield
                except TimeoutError as exc:
                    if not deadline.expired():
                        raise
                    raise RunTimeoutError(
                        f"the run on thread {thread_id!r} had not finished after "
                        f"{s.run_timeout_s:g} s (AGENT_RUN_TIMEOUT_S); the thread keeps every "
                        "step that finished",
                        thread_id=thread_id,
                    ) from exc

    async def arun(
        self, question: str, *, thread_id: str | None = None, approve: ApproveHook | None = None
    ) -> RunResult:
        """Answer ``question`` (on ``thread_id``, continuing it if it exists)."""
        thread_id = thread_id or uuid.uuid4().hex
        res = await self._resources()
        ctx = await self._context(res, approve)
        async with self._run_on(thread_id):
            inputs = await self._input(res, question, thread_id)
            state = await res.graph.ainvoke(
                inputs, self._config(thread_id), context=ctx, durability=self._durability
            )
        return run_result(state, thread_id)

    async def aresume(
        self,
        thread_id: str,
        *,
        decisions: Mapping[str, Approval] | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult:
        """Finish the run on ``thread_id`` that stopped: on an error, or before tool calls that
        need approval (``RunResult.pending``). For those, ``decisions`` maps every pending
        call id to ``Approval.approve()``, ``Approval.reject(reason)`` (the reason goes to the
        model) or ``Approval.edit(arguments)`` (validated like any call). Any process that
        shares the thread store may resume."""
        res = await self._resources()
        if self.persistence == "none":
            raise ThreadError("resume needs persistence ('sqlite', 'postgres' or 'memory')")
        config = self._config(thread_id)
        ctx = await self._context(res, approve)
        async with self._run_on(thread_id):
            snapshot = await res.graph.aget_state(config)
            if not snapshot.next:
                raise InputError(f"thread {thread_id!r} has no unfinished run to resume")
            command = _resume_command(thread_id, pending_calls(snapshot.interrupts), decisions)
            state = await res.graph.ainvoke(
                command, config, context=ctx, durability=self._durability
            )
        return run_result(state, thread_id)

    async def astream(
        self, question: str, *, thread_id: str | None = None, approve: ApproveHook | None = None
    ) -> AsyncIterator[AgentEvent]:
        """Events as they happen; ends with a ``FinalEvent`` or an ``ErrorEvent``."""
        thread_id = thread_id or uuid.uuid4().hex
        try:
            res = await self._resources()
            ctx = await self._context(res, approve, stream_tokens=True)
            state: dict[str, Any] = {}
            async with self._run_on(thread_id):
                inputs = await self._input(res, question, thread_id)
                async for mode, chunk in res.graph.astream(
                    inputs,
                    self._config(thread_id),
                    context=ctx,
                    stream_mode=["custom", "values"],
                    durability=self._durability,
                ):
                    if mode == "custom":
                        yield chunk
                    else:
                        state = chunk
        except AgentError as exc:
            yield ErrorEvent(exc)
            return
        yield FinalEvent(run_result(state, thread_id))

    async def acheck_ready(self) -> dict[str, str]:
        """Whether this agent can run now: ``{"llm": ..., "threads": ...}``, each ``"ok"`` or
        what is wrong (``agent serve``'s ``/readyz``)."""
        checks: dict[str, str] = {}
        try:
            res = await self._resources()
        except AgentError as exc:
            return {"llm": "not checked", "threads": str(exc)}
        try:
            served = await res.llm.served_models()
            model = self.settings.llm_model
            checks["llm"] = "ok" if model in served else f"the server does not serve {model!r}"
        except Exception as exc:  # any failure to reach it is the answer, not an error
            checks["llm"] = f"{self.settings.llm_base_url} does not answer: {type(exc).__name__}"
        try:
            await res.checkpoints.thread_ids(1)
            checks["threads"] = "ok"
        except Exception as exc:
            checks["threads"] = f"the thread store does not answer: {type(exc).__name__}: {exc}"
        return checks

    async def ahistory(self, thread_id: str) -> list[AnyMessage]:
        """Every message of a thread (empty for an unknown thread)."""
        res = await self._resources()
        snapshot = await res.graph.aget_state(self._config(thread_id))
        return list(snapshot.values.get("messages", []))

    async def athreads(self, limit: int | None = 20) -> list[ThreadInfo]:
        """Saved threads, most recently updated first, each with its first question."""
        res = await self._resources()
        ids = await res.checkpoints.thread_ids(limit)
        infos = [await self._thread_info(res, thread_id) for thread_id in ids]
        infos.sort(key=lambda t: t.updated_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return infos if limit is None else infos[:limit]

    async def _thread_info(self, res: _LoopResources, thread_id: str) -> ThreadInfo:
        snapshot = await res.graph.aget_state(self._config(thread_id))
        messages: list[AnyMessage] = snapshot.values.get("messages", [])
        updated = datetime.fromisoformat(snapshot.created_at) if snapshot.created_at else None
        return ThreadInfo(thread_id, first_question(messages), updated, len(messages))

    # ---- sync wrappers -----------------------------------------------------------------------

    def run(
        self, question: str, *, thread_id: str | None = None, approve: ApproveHook | None = None
    ) -> RunResult:
        return self._sync.call(self.arun(question, thread_id=thread_id, approve=approve))

    def resume(
        self,
        thread_id: str,
        *,
        decisions: Mapping[str, Approval] | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult:
        return self._sync.call(self.aresume(thread_id, decisions=decisions, approve=approve))

    def history(self, thread_id: str) -> list[AnyMessage]:
        return self._sync.call(self.ahistory(thread_id))

    def threads(self, limit: int | None = 20) -> list[ThreadInfo]:
        return self._sync.call(self.athreads(limit))

    def stream(
        self, question: str, *, thread_id: str | None = None, approve: ApproveHook | None = None
    ) -> Iterator[AgentEvent]:
        """Sync ``astream``. Closing the iterator early (or Ctrl-C) cancels the run."""
        return self._sync.iterate(
            lambda: self.astream(question, thread_id=thread_id, approve=approve)
        )


class _tag_thread:  # noqa: N801 - used as a context manager, reads as a statement
    """Attach the thread id to any ``RunError`` leaving the block."""

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, _t: object, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, RunError) and exc.thread_id is None:
            exc.thread_id = self.thread_id


def _resume_command(
    thread_id: str, pending: list[ToolCallRequest], decisions: Mapping[str, Approval] | None
) -> Command[Any] | None:
    """What resumes the run: the decisions on its pending calls, checked against them."""
    if not pending:
        if decisions:
            raise InputError(f"thread {thread_id!r} has no tool calls waiting for approval")
        return None
    waiting = {r.call_id: r for r in pending}
    shown = ", ".join(f"{r.call_id} ({r.name})" for r in pending)
    if decisions is None:
        raise InputError(
            f"thread {thread_id!r} waits for decisions on tool calls {shown}: pass decisions="
            "{call_id: Approval.approve() | Approval.reject(reason) | Approval.edit(arguments)}"
        )
    unknown = sorted(set(decisions) - set(waiting))
    missing = sorted(set(waiting) - set(decisions))
    if unknown or missing:
        problems = [f"no pending call {c!r}" for c in unknown]
        problems += [f"no decision for {c!r} ({waiting[c].name})" for c in missing]
        raise InputError(f"decisions for thread {thread_id!r}: {'; '.join(problems)}")
    return Command(resume={k: v.to_wire() for k, v in decisions.items()})


def _approval_policy(
    tools: ToolRegistry, settings: Settings, policy: ApprovalPolicy | None
) -> ApprovalPolicy | None:
    """The policy ``policy`` and ``AGENT_APPROVE_TOOLS`` make together (a name there that no
    tool has is refused: a typo must not quietly let calls through)."""
    listed = frozenset(settings.approve_tools)
    unknown = sorted(listed - set(tools.names))
    if unknown:
        raise ConfigError(
            f"AGENT_APPROVE_TOOLS names {', '.join(unknown)}, which this agent does not have "
            f"(its tools: {', '.join(tools.names) or 'none'})"
        )
    if not listed:
        return policy

    def combined(request: ToolCallRequest) -> bool:
        return request.name in listed or (policy is not None and policy(request))

    return combined
