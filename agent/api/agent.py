"""``Agent``: runs the graph, sync or async, streaming or not, with an ``output_type``.

Threads persist in SQLite (``Settings.threads_db``): pass the same ``thread_id`` to continue a
conversation, also from a new process. A run that stopped on an error (say the LLM server was
down) keeps its state; ``resume(thread_id)`` finishes it, and a new question on the thread closes
the interrupted calls first so the conversation stays valid.

Async resources (HTTP pool, SQLite connection) belong to one event loop, so the agent keeps one
set per loop; the sync methods run on a private loop in a background thread.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from langchain_core.messages import AnyMessage

from agent.api._core import AgentCore, LoopResources, OutputType
from agent.api._support import resume_command
from agent.errors import (
    AgentError,
    InputError,
    ThreadError,
)
from agent.events import (
    AgentEvent,
    Approval,
    ApproveHook,
    ErrorEvent,
    FinalEvent,
    RunResult,
)
from agent.loop import (
    first_question,
    output_spec,
    pending_calls,
    run_result,
)
from agent.persistence import (
    ThreadInfo,
)

T = TypeVar("T")


class Agent(AgentCore):
    """A tool-calling agent over an OpenAI-compatible LLM server, or any LangChain chat model.

    ``model``: a model name on the settings' server (``AGENT_LLM_MODEL`` otherwise), or a
    LangChain chat model (``ChatOpenAI(...)`` for any provider) that then answers instead of
    the server; validation, repairs, budgets and limits apply the same.
    """

    @overload
    async def arun(
        self,
        question: str,
        *,
        output_type: type[T],
        thread_id: str | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult[T]: ...
    @overload
    async def arun(
        self,
        question: str,
        *,
        output_type: Mapping[str, Any] | None = None,
        thread_id: str | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult[Any]: ...
    async def arun(
        self,
        question: str,
        *,
        output_type: OutputType | None = None,
        thread_id: str | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult[Any]:
        """Answer ``question`` (on ``thread_id``, continuing it if it exists). With
        ``output_type`` (a pydantic model, dataclass or other type pydantic validates, or a
        JSON Schema of an object), ``result.output`` is the answer as a validated value."""
        thread_id = thread_id or uuid.uuid4().hex
        spec = output_spec(output_type) if output_type is not None else None
        res = await self._resources()
        ctx = await self._context(res, approve, output=spec)
        async with self._run_on(thread_id):
            inputs = await self._input(res, question, thread_id)
            state = await res.graph.ainvoke(
                inputs, self._config(thread_id), context=ctx, durability=self._durability
            )
        return run_result(state, thread_id, spec)

    @overload
    async def aresume(
        self,
        thread_id: str,
        *,
        output_type: type[T],
        decisions: Mapping[str, Approval] | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult[T]: ...
    @overload
    async def aresume(
        self,
        thread_id: str,
        *,
        output_type: Mapping[str, Any] | None = None,
        decisions: Mapping[str, Approval] | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult[Any]: ...
    async def aresume(
        self,
        thread_id: str,
        *,
        output_type: OutputType | None = None,
        decisions: Mapping[str, Approval] | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult[Any]:
        """Finish the run on ``thread_id`` that stopped: on an error, or before tool calls that
        need approval (``RunResult.pending``). For those, ``decisions`` maps every pending
        call id to ``Approval.approve()``, ``Approval.reject(reason)`` (the reason goes to the
        model) or ``Approval.edit(arguments)`` (validated like any call). Any process that
        shares the thread store may resume. ``output_type`` as for ``arun``."""
        res = await self._resources()
        if self.persistence == "none":
            raise ThreadError("resume needs persistence ('sqlite', 'postgres' or 'memory')")
        config = self._config(thread_id)
        spec = output_spec(output_type) if output_type is not None else None
        ctx = await self._context(res, approve, output=spec)
        async with self._run_on(thread_id):
            snapshot = await res.graph.aget_state(config)
            if not snapshot.next:
                raise InputError(f"thread {thread_id!r} has no unfinished run to resume")
            command = resume_command(thread_id, pending_calls(snapshot.interrupts), decisions)
            state = await res.graph.ainvoke(
                command, config, context=ctx, durability=self._durability
            )
        return run_result(state, thread_id, spec)

    async def astream(
        self,
        question: str,
        *,
        output_type: OutputType | None = None,
        thread_id: str | None = None,
        approve: ApproveHook | None = None,
    ) -> AsyncIterator[AgentEvent]:
        """Events as they happen; ends with a ``FinalEvent`` (its ``result.output`` typed by
        ``output_type``, as for ``arun``) or an ``ErrorEvent``."""
        thread_id = thread_id or uuid.uuid4().hex
        try:
            spec = output_spec(output_type) if output_type is not None else None
            res = await self._resources()
            ctx = await self._context(res, approve, stream_tokens=True, output=spec)
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
        yield FinalEvent(run_result(state, thread_id, spec))

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

    async def _thread_info(self, res: LoopResources, thread_id: str) -> ThreadInfo:
        snapshot = await res.graph.aget_state(self._config(thread_id))
        messages: list[AnyMessage] = snapshot.values.get("messages", [])
        updated = datetime.fromisoformat(snapshot.created_at) if snapshot.created_at else None
        return ThreadInfo(thread_id, first_question(messages), updated, len(messages))

    # ---- sync wrappers -----------------------------------------------------------------------

    @overload
    def run(
        self,
        question: str,
        *,
        output_type: type[T],
        thread_id: str | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult[T]: ...
    @overload
    def run(
        self,
        question: str,
        *,
        output_type: Mapping[str, Any] | None = None,
        thread_id: str | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult[Any]: ...
    def run(
        self,
        question: str,
        *,
        output_type: OutputType | None = None,
        thread_id: str | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult[Any]:
        return self._sync.call(
            self.arun(question, output_type=output_type, thread_id=thread_id, approve=approve)
        )

    @overload
    def resume(
        self,
        thread_id: str,
        *,
        output_type: type[T],
        decisions: Mapping[str, Approval] | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult[T]: ...
    @overload
    def resume(
        self,
        thread_id: str,
        *,
        output_type: Mapping[str, Any] | None = None,
        decisions: Mapping[str, Approval] | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult[Any]: ...
    def resume(
        self,
        thread_id: str,
        *,
        output_type: OutputType | None = None,
        decisions: Mapping[str, Approval] | None = None,
        approve: ApproveHook | None = None,
    ) -> RunResult[Any]:
        return self._sync.call(
            self.aresume(thread_id, output_type=output_type, decisions=decisions, approve=approve)
        )

    def history(self, thread_id: str) -> list[AnyMessage]:
        return self._sync.call(self.ahistory(thread_id))

    def threads(self, limit: int | None = 20) -> list[ThreadInfo]:
        return self._sync.call(self.athreads(limit))

    def stream(
        self,
        question: str,
        *,
        output_type: OutputType | None = None,
        thread_id: str | None = None,
        approve: ApproveHook | None = None,
    ) -> Iterator[AgentEvent]:
        """Sync ``astream``. Closing the iterator early (or Ctrl-C) cancels the run."""
        return self._sync.iterate(
            lambda: self.astream(
                question, output_type=output_type, thread_id=thread_id, approve=approve
            )
        )
