"""The LLM client: chat completions against any OpenAI-compatible server (vLLM first).

Built on the ``openai`` SDK's async client for its transport, timeouts and retries (connection
errors, 408/409/429 and 5xx are retried with exponential backoff), but it posts the request body
as a plain dict: the SDK's ``create()`` first walks the whole message list against its type
annotations, which measured here as the largest client-side cost of an agent step and grows with
the square of the history (see bench/loop_overhead.py). Messages stay LangChain messages so the
graph state is the usual ``add_messages`` list.

``make_chat_model(settings)`` gives a LangChain ``ChatOpenAI`` on the same settings for users who
want to compose with LangChain; the agent loop itself uses ``LLMClient``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import httpx2
import openai
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from agent.errors import LLMResponseError, LLMUnavailableError
from agent.settings import Settings
from agent.tooling import ArgumentsDecodeError, parse_arguments

TokenCallback = Callable[[str], None]
# (index of the call in the reply, tool name so far, new piece of the JSON arguments)
ToolArgsCallback = Callable[[int, str | None, str], None]

# The SDK needs this option to attach the bearer token to a low-level post.
_REQUEST_OPTIONS: Any = {"security": {"bearer_auth": True}}


def to_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """LangChain messages -> the chat.completions wire format."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if isinstance(m, SystemMessage):
            out.append({"role": "system", "content": m.content})
        elif isinstance(m, HumanMessage):
            out.append({"role": "user", "content": m.content})
        elif isinstance(m, AIMessage):
            msg: dict[str, Any] = {"role": "assistant", "content": m.content or None}
            calls = [
                _wire_call(tc["id"], tc["name"], json.dumps(tc["args"], ensure_ascii=False))
                for tc in m.tool_calls
            ] + [_wire_call(tc["id"], tc["name"], tc["args"]) for tc in m.invalid_tool_calls]
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
        elif isinstance(m, ToolMessage):
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        else:
            raise TypeError(f"unsupported message type {type(m).__name__}")
    return out


def _wire_call(call_id: str | None, name: str | None, arguments: str | None) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name or "", "arguments": arguments or ""},
    }


def _parse_tool_calls(
    raw_calls: Sequence[tuple[str | None, str | None, str | None]],
) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Split the server's calls into those whose arguments decode to an object and the rest."""
    good: list[ToolCall] = []
    bad: list[InvalidToolCall] = []
    for i, (call_id, name, arguments) in enumerate(raw_calls):
        cid = call_id or f"call_{i}"
        try:
            args = parse_arguments(arguments)
        except ArgumentsDecodeError as exc:
            bad.append(
                InvalidToolCall(
                    type="invalid_tool_call", id=cid, name=name, args=arguments, error=str(exc)
                )
            )
            continue
        good.append(ToolCall(type="tool_call", id=cid, name=name or "", args=args))
    return good, bad


def _usage(raw: Any) -> dict[str, int]:
    if raw is None:
        return {}
    return {
        "input_tokens": raw.prompt_tokens or 0,
        "output_tokens": raw.completion_tokens or 0,
        "total_tokens": raw.total_tokens or 0,
    }


class LLMClient:
    """Calls ``/chat/completions``; returns an ``AIMessage`` with tool calls and usage."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = settings.llm_base_url
        self._client = openai.AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value(),
            timeout=httpx2.Timeout(settings.llm_timeout_s, connect=settings.llm_connect_timeout_s),
            max_retries=settings.llm_max_retries,
        )

    async def aclose(self) -> None:
        await self._client.close()

    def _payload(
        self,
        messages: Sequence[BaseMessage],
        tools: list[dict[str, Any]],
        tool_choice: str | dict[str, Any] | None,
        stream: bool,
        max_tokens: int | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {
            "model": s.llm_model,
            "messages": to_openai_messages(messages),
            "temperature": s.temperature,
        }
        if max_tokens is not None or s.max_tokens is not None:
            body["max_tokens"] = max_tokens if max_tokens is not None else s.max_tokens
        if tools:
            body["tools"] = tools
            if tool_choice is not None:
                body["tool_choice"] = tool_choice
        if response_format is not None:
            body["response_format"] = response_format
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def complete(
        self,
        messages: Sequence[BaseMessage],
        *,
        tools: list[dict[str, Any]],
        tool_choice: str | dict[str, Any] | None = None,
        on_token: TokenCallback | None = None,
        on_tool_args: ToolArgsCallback | None = None,
        max_tokens: int | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> AIMessage:
        """One chat completion. With a callback the reply is streamed: each text delta goes to
        ``on_token``, each piece of tool-call arguments to ``on_tool_args``, as they arrive.
        ``response_format`` (``{"type": "json_schema", ...}``) has vLLM decode the reply to a
        JSON schema (structured outputs)."""
        streaming = on_token is not None or on_tool_args is not None
        body = self._payload(
            messages,
            tools,
            tool_choice,
            stream=streaming,
            max_tokens=max_tokens,
            response_format=response_format,
        )
        try:
            if not streaming:
                completion = await self._client.post(
                    "/chat/completions",
                    cast_to=ChatCompletion,
                    body=body,
                    options=_REQUEST_OPTIONS,
                )
                return self._from_completion(completion)
            stream = await self._client.post(
                "/chat/completions",
                cast_to=ChatCompletion,
                body=body,
                options=_REQUEST_OPTIONS,
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            )
            return await self._from_stream(stream, on_token, on_tool_args)
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise LLMUnavailableError(
                f"cannot reach the LLM server at {self.base_url} ({exc.__class__.__name__}: "
                f"{exc}); is it running? Start the local one with `agent llm serve`, or point "
                "AGENT_LLM_BASE_URL at your vLLM server.",
                url=self.base_url,
            ) from exc
        except openai.APIStatusError as exc:
            raise LLMResponseError(
                f"the LLM server at {self.base_url} answered {exc.status_code}: {_error_text(exc)}",
                status_code=exc.status_code,
            ) from exc

    def _from_completion(self, completion: ChatCompletion) -> AIMessage:
        if not completion.choices:
            raise LLMResponseError(f"the LLM server at {self.base_url} returned no choices")
        choice = completion.choices[0]
        msg = choice.message
        raw = [
            (c.id, c.function.name, c.function.arguments)
            for c in msg.tool_calls or ()
            if c.type == "function"
        ]
        good, bad = _parse_tool_calls(raw)
        return AIMessage(
            content=msg.content or "",
            tool_calls=good,
            invalid_tool_calls=bad,
            # The server's completion id is kept as metadata, not as the message id: ids are
            # how add_messages merges, and a restarted server may reuse them.
            response_metadata={
                "finish_reason": choice.finish_reason,
                "model_name": completion.model,
                "completion_id": completion.id,
            },
            usage_metadata=_usage(completion.usage) or None,
        )

    async def _from_stream(
        self,
        stream: openai.AsyncStream[ChatCompletionChunk],
        on_token: TokenCallback | None,
        on_tool_args: ToolArgsCallback | None,
    ) -> AIMessage:
        text: list[str] = []
        calls: dict[int, list[str | None]] = {}
        finish_reason: str | None = None
        usage: dict[str, int] = {}
        msg_id: str | None = None
        async for chunk in stream:
            msg_id = msg_id or chunk.id
            if chunk.usage is not None:
                usage = _usage(chunk.usage)
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            finish_reason = choice.finish_reason or finish_reason
            delta = choice.delta
            if delta.content:
                text.append(delta.content)
                if on_token is not None:
                    on_token(delta.content)
            for tc in delta.tool_calls or ():
                slot = calls.setdefault(tc.index, [None, None, ""])
                if tc.id:
                    slot[0] = tc.id
                if tc.function is not None:
                    if tc.function.name:
                        slot[1] = (slot[1] or "") + tc.function.name
                    if tc.function.arguments:
                        slot[2] = (slot[2] or "") + tc.function.arguments
                        if on_tool_args is not None:
                            on_tool_args(tc.index, slot[1], tc.function.arguments)
        good, bad = _parse_tool_calls([(c[0], c[1], c[2]) for _, c in sorted(calls.items())])
        return AIMessage(
            content="".join(text),
            tool_calls=good,
            invalid_tool_calls=bad,
            response_metadata={"finish_reason": finish_reason, "completion_id": msg_id},
            usage_metadata=usage or None,
        )


def _error_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and "message" in inner:
            return str(inner["message"])
        return json.dumps(body)[:500]
    return str(exc.message)[:500]


def make_chat_model(settings: Settings) -> ChatOpenAI:
    """A LangChain ``ChatOpenAI`` on the same settings, for composing with LangChain."""
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        temperature=settings.temperature,
        max_completion_tokens=settings.max_tokens,
        timeout=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
    )


__all__ = ["LLMClient", "make_chat_model", "to_openai_messages"]
