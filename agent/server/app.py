"""The ASGI app of ``agent serve``: the Python API over HTTP.

    POST /v1/chat/completions   OpenAI-compatible; the agent's answer is the assistant message
    GET  /v1/models             the one model this server offers: the agent
    POST /threads/{id}/runs     one run on a thread, its events as server-sent events
    GET  /threads/{id}          the thread's messages
    GET  /healthz               the process answers
    GET  /readyz                the LLM server and the thread store answer

Chat completions and threads: an OpenAI client sends the whole conversation every time, the
agent keeps it in a thread. A request names its thread with ``thread_id`` in the body (the
``openai`` client: ``extra_body={"thread_id": ...}``) or an ``X-Agent-Thread-Id`` header; the
agent then runs on that thread's history with the request's last user message. Without one, the
run gets a new thread, and the request's earlier messages reach the model as a transcript
before the question. Either way the response names the thread (``X-Agent-Thread-Id`` and a
``thread_id`` field) so the client can continue it.

Streaming: the answer's text comes as ``chat.completion.chunk`` deltas; tool steps come as
chunks with no choices and an ``agent_event`` field (the official client accepts both and
ignores what it does not know); an error after the stream began is an ``error`` event, which the
official client raises as ``APIError``. A client that disconnects cancels its run: the thread
keeps every step that finished, and the thread's lock is released for the next run.

Replicas keep nothing between requests: a thread lives in the checkpointer (SQLite for one
machine, PostgreSQL for several, ``AGENT_CHECKPOINT_URL``), so any replica serves any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, is_dataclass
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent.api import Agent
from agent.errors import (
    AgentError,
    ConfigError,
    InputError,
    LLMError,
    RunTimeoutError,
    ThreadBusyError,
    ThreadError,
)
from agent.events import (
    AgentEvent,
    AgreementEvent,
    CheckEvent,
    ErrorEvent,
    FinalEvent,
    RescueEvent,
    RunResult,
    TokenEvent,
    ToolCallEvent,
    ToolResultEvent,
)
from agent.loop import output_spec
from agent.mcp.http_guard import HttpGuard
from agent.server.wire import (
    MODEL_ID,
    BadRequest,
    ChatRequest,
    DecisionsRequest,
    RunRequest,
)
from agent.settings import Settings

THREAD_HEADER = "x-agent-thread-id"


def error_body(message: str, *, kind: str, param: str | None = None) -> dict[str, Any]:
    """An error as OpenAI's API shapes it (what its clients parse)."""
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def _status(exc: AgentError) -> tuple[int, str]:
    if isinstance(exc, InputError):
        return 400, "invalid_request_error"
    if isinstance(exc, ThreadBusyError):
        return 409, "thread_busy"
    if isinstance(exc, RunTimeoutError):
        return 504, "timeout"
    if isinstance(exc, LLMError):  # unreachable, or it answered with an error
        return 502, "upstream_error"
    if isinstance(exc, ThreadError):
        return 503, "thread_store_error"
    return 500, "agent_error"


def _error_response(exc: AgentError, thread_id: str | None = None) -> JSONResponse:
    status, kind = _status(exc)
    headers = {THREAD_HEADER: thread_id} if thread_id else None
    return JSONResponse(error_body(str(exc), kind=kind), status_code=status, headers=headers)


def _too_large(limit: int) -> str:
    return f"the request body is over {limit:,} bytes (AGENT_SERVE_MAX_BODY_BYTES)"


async def _read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, _too_large(limit))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(413, _too_large(limit))
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(400, f"the request body is not JSON: {exc}") from None


M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _validated(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(400, f"{where}: {first['msg']}", param=where) from None


def question_for(request: ChatRequest, *, continuing: bool) -> str:
    """The question the agent answers: the last user message; on a new thread, the earlier
    messages of the request before it, as a transcript."""
    last = request.messages[-1]
    if last.role != "user" or not last.text().strip():
        raise BadRequest(400, "the last message must be a user message with text", param="messages")
    earlier = request.messages[:-1]
    if continuing or not earlier:
        return last.text()
    lines = [f"{m.role}: {m.text()}" for m in earlier if m.text().strip()]
    return "Earlier in this conversation:\n" + "\n".join(lines) + "\n\nNow: " + last.text()


def _usage(result: RunResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.usage.input_tokens,
        "completion_tokens": result.usage.output_tokens,
        "total_tokens": result.usage.total_tokens,
    }


def _event_payload(event: AgentEvent) -> dict[str, Any]:
    if isinstance(event, ErrorEvent):
        return {"kind": "error", "type": type(event.error).__name__, "message": str(event.error)}
    if isinstance(event, FinalEvent):
        r = event.result
        return {
            "kind": "final",
            "answer": r.answer,
            "thread_id": r.thread_id,
            "steps": r.steps,
            "usage": asdict(r.usage),
            "warnings": r.warnings,
            "sources": r.sources,
            "pending": [asdict(p) for p in r.pending],
        }
    assert is_dataclass(event)
    return asdict(event)


def _waiting_note(result: RunResult) -> str:
    """The assistant message of a run that stopped for approval (chat clients show it)."""
    calls = "; ".join(
        f"{p.name} {json.dumps(p.arguments)} (call {p.call_id})" for p in result.pending
    )
    return (
        f"Waiting for approval of: {calls}. POST /threads/{result.thread_id}/decisions "
        'with {"decisions": {"<call id>": {"action": "approve" | "reject" | "edit"}}} to go on.'
    )


def _answer_text(result: RunResult[Any]) -> str:
    if result.pending:
        return _waiting_note(result)
    if result.structured is not None:  # the request's response_format
        return json.dumps(result.structured, ensure_ascii=False)
    return result.answer


def _output_type(chat: ChatRequest) -> dict[str, Any] | None:
    """The request's ``response_format`` as the run's ``output_type``, checked up front."""
    if chat.response_format is None:
        return None
    schema = chat.response_format.output_type()
    if schema is not None:
        try:
            output_spec(schema)
        except ConfigError as exc:
            raise BadRequest(400, str(exc), param="response_format") from None
    return schema


def message_json(message: AnyMessage) -> dict[str, Any]:
    """A thread message as the chat-completions API shapes messages."""
    if isinstance(message, HumanMessage):
        return {"role": "user", "content": message.content}
    if isinstance(message, ToolMessage):
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if isinstance(message, AIMessage):
        out: dict[str, Any] = {"role": "assistant", "content": message.content or None}
        if message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": json.dumps(c["args"])},
                }
                for c in message.tool_calls
            ]
        return out
    return {"role": message.type, "content": message.content}


async def _cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """``work``'s result, or its cancellation when the client goes away first."""
    task = asyncio.ensure_future(work)

    async def watch() -> None:  # the body is read: the next message is the disconnect
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise asyncio.CancelledError("the client disconnected")
    return task.result()


def _sse(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


class AgentApp:
    """The routes over one ``Agent``."""

    def __init__(self, agent: Agent, *, max_body_bytes: int) -> None:
        self.agent = agent
        self.max_body_bytes = max_body_bytes

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        checks = await self.agent.acheck_ready()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    async def models(self, request: Request) -> Response:
        model = {
            "id": MODEL_ID,
            "object": "model",
            "created": 0,
            "owned_by": "agent-runtime",
            "root": self.agent.settings.llm_model,
        }
        return JSONResponse({"object": "list", "data": [model]})

    async def chat_completions(self, request: Request) -> Response:
        try:
            chat = _validated(ChatRequest, await _read_json(request, self.max_body_bytes))
            given = chat.thread_id or request.headers.get(THREAD_HEADER)
            thread_id = given or uuid.uuid4().hex
            question = question_for(chat, continuing=given is not None)
            output = _output_type(chat)
        except BadRequest as exc:
            body = error_body(str(exc), kind="invalid_request_error", param=exc.param)
            return JSONResponse(body, status_code=exc.status)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        headers = {THREAD_HEADER: thread_id}
        if chat.stream:
            stream = self._chat_stream(
                question, thread_id, completion_id, created, chat.model, output
            )
            return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
        try:
            result = await _cancel_on_disconnect(
                request, self.agent.arun(question, thread_id=thread_id, output_type=output)
            )
        except AgentError as exc:
            return _error_response(exc, thread_id)
        body = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": chat.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": _answer_text(result)},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": _usage(result),
            "thread_id": thread_id,
            "sources": result.sources,  # what the document excerpts the agent read came from
        }
        if result.pending:
            body["pending_approval"] = [asdict(p) for p in result.pending]
        return JSONResponse(body, headers=headers)

    async def _chat_stream(
        self,
        question: str,
        thread_id: str,
        completion_id: str,
        created: int,
        model: str,
        output: dict[str, Any] | None,
    ) -> AsyncIterator[bytes]:
        def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
            choices = (
                [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
            )
            return _sse(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": choices,
                    **extra,
                }
            )

        yield chunk({"role": "assistant", "content": ""})
        streamed = False
        async for event in self.agent.astream(question, thread_id=thread_id, output_type=output):
            if isinstance(event, TokenEvent):
                if output is None:  # with a response_format, the content is the JSON at the end
                    streamed = True
                    yield chunk({"content": event.text})
            elif isinstance(
                event, ToolCallEvent | ToolResultEvent | CheckEvent | AgreementEvent | RescueEvent
            ):  # text before a tool step, check, vote or rescue was not the answer
                streamed = False
                yield chunk(None, agent_event=_event_payload(event))
            elif isinstance(event, FinalEvent):
                result = event.result
                if not streamed or result.pending:  # the answer came from an unstreamed step
                    yield chunk({"content": _answer_text(result)})
                pending = {"pending_approval": [asdict(p) for p in result.pending]}
                yield chunk(
                    {},
                    "stop",
                    usage=_usage(result),
                    thread_id=thread_id,
                    **(pending if result.pending else {}),
                )
            else:  # an ErrorEvent, the stream's last
                assert isinstance(event, ErrorEvent)
                _, kind = _status(event.error)
                yield _sse(error_body(str(event.error), kind=kind))
        yield _sse("[DONE]")

    async def thread(self, request: Request) -> Response:
        thread_id = request.path_params["thread_id"]
        try:
            history = await self.agent.ahistory(thread_id)
        except AgentError as exc:
            return _error_response(exc, thread_id)
        if not history:
            body = error_body(f"no thread {thread_id!r}", kind="not_found", param="thread_id")
            return JSONResponse(body, status_code=404)
        return JSONResponse(
            {"thread_id": thread_id, "messages": [message_json(m) for m in history]}
        )

    async def runs(self, request: Request) -> Response:
        thread_id = request.path_params["thread_id"]
        try:
            run = _validated(RunRequest, await _read_json(request, self.max_body_bytes))
        except BadRequest as exc:
            body = error_body(str(exc), kind="invalid_request_error", param=exc.param)
            return JSONResponse(body, status_code=exc.status)

        async def events() -> AsyncIterator[bytes]:
            async for event in self.agent.astream(run.input, thread_id=thread_id):
                payload = _event_payload(event)
                yield _sse(payload, event=payload["kind"])

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={THREAD_HEADER: thread_id}
        )

    async def decisions(self, request: Request) -> Response:
        """Decide the tool calls a stopped run waits on; the run goes on, its result back."""
        thread_id = request.path_params["thread_id"]
        try:
            body = _validated(DecisionsRequest, await _read_json(request, self.max_body_bytes))
            decided = {call_id: d.approval() for call_id, d in body.decisions.items()}
        except BadRequest as exc:
            error = error_body(str(exc), kind="invalid_request_error", param=exc.param)
            return JSONResponse(error, status_code=exc.status)
        try:
            result = await _cancel_on_disconnect(
                request, self.agent.aresume(thread_id, decisions=decided)
            )
        except AgentError as exc:
            return _error_response(exc, thread_id)
        payload = _event_payload(FinalEvent(result))
        return JSONResponse(payload, headers={THREAD_HEADER: thread_id})


def create_app(
    agent: Agent, *, guard: HttpGuard, max_body_bytes: int = 1_000_000
) -> Callable[..., Awaitable[None]]:
    """The ASGI app: ``agent``'s routes behind the Host/Origin checks and the bearer token."""
    routes = AgentApp(agent, max_body_bytes=max_body_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await agent.aclose()  # this loop's LLM connections and thread store

    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/healthz", routes.healthz),
            Route("/readyz", routes.readyz),
            Route("/v1/models", routes.models),
            Route("/v1/chat/completions", routes.chat_completions, methods=["POST"]),
            Route("/threads/{thread_id}", routes.thread),
            Route("/threads/{thread_id}/runs", routes.runs, methods=["POST"]),
            Route("/threads/{thread_id}/decisions", routes.decisions, methods=["POST"]),
        ],
    )
    guarded = guard.wrap(app, open_paths=("/healthz",))
    host_allowed = guard.host_check()

    async def checked(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            host = headers.get(b"host")
            origin = headers.get(b"origin")
            if not host_allowed(
                host.decode("latin-1") if host else None,
                origin.decode("latin-1") if origin else None,
            ):
                response = JSONResponse(
                    error_body(
                        "Host or Origin not allowed (AGENT_SERVE_ALLOWED_HOSTS)", kind="forbidden"
                    ),
                    status_code=421,
                )
                await response(scope, receive, send)
                return
        await guarded(scope, receive, send)

    return checked


def guard_for(settings: Settings, host: str) -> HttpGuard:
    """The checks for ``agent serve`` bound to ``host``; refuses a non-loopback address
    without ``AGENT_SERVE_TOKEN`` (``ConfigError``)."""
    return HttpGuard.for_bind(
        host,
        settings.serve_token,
        settings.serve_allowed_hosts,
        token_env="AGENT_SERVE_TOKEN",
        exposes="run the agent and read its threads",
    )


__all__ = ["ChatRequest", "create_app", "guard_for", "message_json", "question_for"]
