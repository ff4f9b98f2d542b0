"""What ``Agent`` stands on: its resources per event loop, and how a run is set up and held
(the tool-call mode, the context budget, the run's input and context, the thread lock and the
deadline)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Self

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Durability

from agent._sync import SyncRunner
from agent.api._heap import freeze_startup_heap
from agent.api._support import approval_policy, tag_thread
from agent.builtins import DefaultTools
from agent.errors import (
    ConfigError,
    InputError,
    RunTimeoutError,
)
from agent.events import (
    ApprovalPolicy,
    ApproveHook,
)
from agent.llm import ChatClient, make_client, probe_target
from agent.loop import (
    PROGRAM_TOOL,
    OutputSpec,
    ServerProfile,
    close_interrupted_calls,
    current_run,
    is_question,
    server_profile,
    system_prompt_for,
    uncommitted_messages,
    unused_givens,
)
from agent.loop.givens import looked_up_answer
from agent.loop.program_check import misreported_output
from agent.loop.unfinished import unfinished_answer
from agent.persistence import (
    Checkpoints,
    Persistence,
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
from tools.run_python import run_program

# Questions shorter than this fit any context a served model has (2,048 tokens at least):
# only longer ones cost a /tokenize request.
_COUNT_TOKENS_FROM_CHARS = 6000

# What ``output_type`` takes: a type pydantic validates, or a JSON Schema of an object.
OutputType = type[Any] | Mapping[str, Any]


@dataclass
class LoopResources:
    llm: ChatClient
    graph: Any  # CompiledStateGraph; Any keeps mypy from chasing langgraph's generics
    checkpoints: Checkpoints


class AgentCore:
    """What every ``Agent`` method stands on: settings, tools, persistence, one set of
    resources per event loop, and how a run is set up and held. Use ``Agent``."""

    def __init__(
        self,
        settings: Settings | None = None,
        tools: Sequence[Tool] | None = None,
        *,
        model: str | BaseChatModel | None = None,
        persistence: Persistence | None = None,
        system_prompt: str | None = None,
        instructions: str = "",
        needs_approval: ApprovalPolicy | None = None,
    ) -> None:
        self.settings = settings or Settings.load()
        self._chat_model: BaseChatModel | None = None
        if isinstance(model, str):
            self.settings = self.settings.model_copy(update={"llm_model": model})
        elif isinstance(model, BaseChatModel):
            self._chat_model = model
        elif model is not None:
            raise ConfigError(
                f"model must be a model name or a LangChain chat model (BaseChatModel), got "
                f"{type(model).__name__}"
            )
        self._defaults: DefaultTools | None = None
        if tools is None:
            self._defaults = DefaultTools(self.settings)
            tools = self._defaults.tools
        self.tools = ToolRegistry(tools)
        _check_code_mode(self.settings, self.tools)
        self.persistence: Persistence = persistence or default_persistence(self.settings)
        self._approval_policy = approval_policy(self.tools, self.settings, needs_approval)
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
        self._per_loop: dict[asyncio.AbstractEventLoop, LoopResources] = {}
        self._memory = InMemorySaver() if self.persistence == "memory" else None
        self._locks = thread_locks(self.persistence, self.settings)
        self._sync = SyncRunner("agent-loop")

    # ---- resources ---------------------------------------------------------------------------

    async def _resources(self) -> LoopResources:
        loop = asyncio.get_running_loop()
        res = self._per_loop.get(loop)
        if res is None:
            checkpoints = await open_checkpoints(
                self.persistence, self.settings, memory=self._memory
            )
            graph = build_agent_graph(checkpoints.saver)
            res = LoopResources(make_client(self.settings, self._chat_model), graph, checkpoints)
            self._per_loop[loop] = res
            if self.settings.gc_freeze:
                freeze_startup_heap()
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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def close(self) -> None:
        self._sync.close(self.aclose() if self._sync.started else None)
        if self._defaults is not None:
            defaults, self._defaults = self._defaults, None
            defaults.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the server's tool calling -----------------------------------------------------------

    async def tool_call_mode(self) -> ToolCallMode:
        """The mode runs use: the setting, or for ``auto`` what probing the server found
        (``agent.loop.server_profile``: measured once per server and model, cached on disk)."""
        res = await self._resources()
        return await self._mode(res)

    async def _mode(self, res: LoopResources) -> ToolCallMode:
        if self.settings.tool_call_mode != "auto":
            return self.settings.tool_call_mode
        if self._profile is None:
            self._profile = await server_profile(probe_target(res.llm), self.settings)
        return self._profile.mode

    def _named_choice(self) -> bool:
        if self.settings.repair_choice != "auto":
            return self.settings.repair_choice == "named"
        return self._profile is not None and self._profile.named_choice

    async def _context_budget(self, res: LoopResources) -> int | None:
        """Tokens one request may hold: ``AGENT_CONTEXT_TOKENS``, else the model's context as
        the server reports it less the reply's ``max_tokens``; ``None`` when unknown."""
        if self.settings.context_tokens is not None:
            return self.settings.context_tokens
        context = await res.llm.context_length()
        return None if context is None else context - (self.settings.max_tokens or 0)

    # ---- running -----------------------------------------------------------------------------

    @property
    def _durability(self) -> Durability | None:
        return None if self.persistence == "none" else self.settings.durability

    def _config(self, thread_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": 10_000}

    async def _check_length(self, res: LoopResources, question: str) -> None:
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

    async def _input(self, res: LoopResources, question: str, thread_id: str) -> dict[str, Any]:
        if not question.strip():  # the model would make up something to answer
            raise InputError("the question is empty: give the agent something to answer")
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
            "tool_calls": 0,
            "output": None,
        }

    async def _context(
        self,
        res: LoopResources,
        approve: ApproveHook | None,
        *,
        stream_tokens: bool = False,
        output: OutputSpec | None = None,
    ) -> AgentContext:
        mode = await self._mode(res)
        return make_context(
            llm=res.llm,
            tools=self.tools,
            settings=self.settings,
            mode=mode,
            system_prompt=(self._system_prompt or system_prompt_for(mode, self.tools.names))
            + self._instructions,
            stream_tokens=stream_tokens,
            approve=approve,
            named_choice=self._named_choice(),
            check_answer=self.check_answer,
            prefetch=self._prefetch(),
            approval_policy=self._approval_policy,
            output=output,
            context_budget=await self._context_budget(res),
            run_program=run_program,
        )

    async def check_answer(self, answer: str, messages: Sequence[AnyMessage]) -> list[object]:
        """What the answer check sends back to the model: what the program the answer shows
        really prints, when that is not the answer (``answer_check_programs``); the answer's
        wrong arithmetic; when the run read the document search's excerpts, the numbers of
        the question the answer left unused (``agent.loop.unused_givens``), or else a value of
        the excerpts given as the answer where the question gives numbers to compute with
        (``looked_up_answer``): a looked-up value answered, the computation the question asks
        for not done; and the step an answer stopped at before its final answer
        (``agent.loop.unfinished``)."""
        problems: list[object] = list(find_miscalculations(answer))
        stopped = unfinished_answer(answer)
        if stopped is not None:
            problems.append(stopped)
        if self.settings.answer_check_programs:
            ran = await misreported_output(answer, run_program)
            if ran is not None:
                problems.insert(0, ran)
        search = self._prefetch()
        excerpts = [
            m.text
            for m in current_run(messages)
            if search is not None and isinstance(m, ToolMessage) and m.name == search[0]
        ]
        if excerpts:
            question = next((m.text for m in reversed(messages) if is_question(m)), "")
            skipped: object | None = unused_givens(question, answer)
            if skipped is None and stopped is None:  # a step's label is no value it looked up
                skipped = looked_up_answer(question, answer, "\n".join(excerpts))
            if skipped is not None:
                problems.append(skipped)
        return problems

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
                        with tag_thread(thread_id):
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


def _check_code_mode(settings: Settings, tools: ToolRegistry) -> None:
    """In code mode the model sees no tool schemas and calls only ``run_python``: any other
    tool would never be called, which is a configuration mistake to say, not to hide."""
    if settings.tool_call_mode != "code":
        return
    others = sorted(set(tools.names) - {PROGRAM_TOOL})
    if others or PROGRAM_TOOL not in tools.names:
        unused = f"{', '.join(others)} would never be called" if others else "it is missing"
        raise ConfigError(
            f"tool_call_mode=code gives the model one tool, {PROGRAM_TOOL} (the programs it "
            f"writes), and no schemas: {unused}. Use AGENT_TOOLS=run_python (or auto), or "
            "tool_call_mode native or required for these tools"
        )
