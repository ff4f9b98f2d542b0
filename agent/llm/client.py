"""The LLM client: chat completions against any OpenAI-compatible server (vLLM first).

Built on the ``openai`` SDK's async client for its transport, timeouts and retries (connection
errors, 408/409/429 and 5xx are retried with exponential backoff), but it posts the request body
as a plain dict: the SDK's ``create()`` first walks the whole message list against its type
annotations, which measured here as the largest client-side cost of an agent step and grows with
the square of the history (see bench/loop_overhead.py). Replies are read from their JSON the same
way (``agent.llm._wire``), not built into the SDK's models. Messages stay LangChain messages so the
graph state is the usual ``add_messages`` list.

``make_chat_model(settings)`` gives a LangChain ``ChatOpenAI`` on the same settings for users who
want to compose with LangChain; the agent loop itself uses ``LLMClient``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

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
from opentelemetry.trace import SpanKind

from agent.errors import LLMResponseError, LLMUnavailableError
from agent.llm._wire import RawCall, Reply, StreamReader, completion_reply
from agent.settings import Settings
from agent.tooling import ArgumentsDecodeError, parse_arguments
from agent.tracing import span

# A reply longer than this is not a model's answer (max_tokens bounds those): refused, not saved.
MAX_REPLY_CHARS = 1_000_000

TokenCallback = Callable[[str], None]
# (index of the call in the reply, tool name so far, new piece of the JSON arguments)
ToolArgsCallback = Callable[[int, str | None, str], None]

# A chat-template token in a reply's text is the model writing on past its turn (the server did
# not stop there: "<|im_start|>\n<|endoftext|>Human: ..."): the reply ends where it begins.
# ChatML / Llama 3 / Phi write these tokens as <|name|>, Gemma as <start_of_turn>.
_TURN_TOKEN = re.compile(r"<\|[a-z_]{2,30}\|>|<(?:start|end)_of_turn>")

# vLLM's repetition_detection: a passage of this many tokens coming AGENT_REPEAT_STOP times in a
# row ends the reply. From 8 tokens, a legitimate run of one short unit (a digit, "|---") must be
# long before it counts; 128 covers a repeated paragraph.
REPEAT_TOKENS = (8, 128)
REPEATED = "repetition"  # vLLM's finish_reason for a reply it stopped so

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
    raw_calls: Sequence[RawCall],
    *,
    cut_off: str | None = None,
) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Split the server's calls into those whose arguments decode to an object and the rest.
    ``cut_off`` says why a call may be incomplete (the reply hit ``max_tokens``)."""
    good: list[ToolCall] = []
    bad: list[InvalidToolCall] = []
    seen: set[str] = set()
    for i, (call_id, name, arguments) in enumerate(raw_calls):
        cid = call_id or f"call_{i}"
        if cid in seen:  # each result answers one call by id: a repeated id would be ambiguous
            cid = f"{cid}_{i}"
        seen.add(cid)
        try:
            args = parse_arguments(arguments)
        except ArgumentsDecodeError as exc:
            error = f"{cut_off}; {exc}" if cut_off else str(exc)
            bad.append(
                InvalidToolCall(
                    type="invalid_tool_call", id=cid, name=name, args=arguments, error=error
                )
            )
            continue
        good.append(ToolCall(type="tool_call", id=cid, name=name or "", args=args))
    return good, bad


class LLMClient:
    """Calls ``/chat/completions``; returns an ``AIMessage`` with tool calls and usage."""

    def __init__(
        self,
        settings: Settings,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
    ) -> None:
        """A client of ``settings``' server and model, or of ``base_url`` / ``model`` (the
        fallback server) with the same timeouts and retries."""
        self.settings = settings
        self.base_url = base_url or settings.llm_base_url
        self.model = model or settings.llm_model
        self.samples = True  # temperature and seed go in the request
        self._api_key = api_key or settings.llm_api_key.get_secret_value()
        self._host = urlsplit(self.base_url).hostname
        self._context: int | None = None
        self._repeat_stop = settings.repeat_stop  # 0 once the server refuses the field
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._api_key,
            timeout=httpx2.Timeout(settings.llm_timeout_s, connect=settings.llm_connect_timeout_s),
            max_retries=settings.llm_max_retries,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def context_length(self) -> int | None:
        """The model's context in tokens as the server reports it (vLLM lists
        ``max_model_len`` in ``/models``); ``None`` where it does not say. Asked once."""
        if self._context is None:
            try:
                page = await self._client.with_options(timeout=10.0, max_retries=0).models.list()
            except openai.APIError:
                return None  # asked again next run: the run itself reports a server that is down
            self._context = 0  # answered, and silent on it: not asked again
            for card in page.data:
                length = (card.model_extra or {}).get("max_model_len")
                if card.id == self.model and isinstance(length, int) and length > 0:
                    self._context = length
        return self._context or None

    async def served_models(self, timeout_s: float = 5.0) -> list[str]:
        """The ids ``/models`` lists (raises the client's error when the server is down)."""
        page = await self._client.with_options(timeout=timeout_s, max_retries=0).models.list()
        return [m.id for m in page.data]

    async def count_tokens(self, text: str) -> tuple[int, int] | None:
        """``(tokens in text, the model's context length)`` from vLLM's ``/tokenize``, or
        ``None`` where the server has no such endpoint (or does not answer it)."""
        root = self.base_url.removesuffix("/v1")
        headers = {"Authorization": f"Bearer {self._api_key}"}
        body = {"model": self.model, "prompt": text, "add_special_tokens": False}
        try:
            async with httpx2.AsyncClient(timeout=self.settings.llm_timeout_s) as http:
                response = await http.post(f"{root}/tokenize", json=body, headers=headers)
            data = response.json() if response.status_code == 200 else {}
            return int(data["count"]), int(data["max_model_len"])
        except (httpx2.HTTPError, ValueError, KeyError, TypeError):
            return None

    def _payload(
        self,
        messages: Sequence[BaseMessage],
        tools: list[dict[str, Any]],
        tool_choice: str | dict[str, Any] | None,
        stream: bool,
        max_tokens: int | None = None,
        response_format: dict[str, Any] | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages),
            "temperature": s.temperature if temperature is None else temperature,
        }
        if seed is not None:
            body["seed"] = seed
        if max_tokens is not None or s.max_tokens is not None:
            body["max_tokens"] = max_tokens if max_tokens is not None else s.max_tokens
        if self._repeat_stop:
            low, high = REPEAT_TOKENS
            body["repetition_detection"] = {
                "min_pattern_size": low,
                "max_pattern_size": high,
                "min_count": self._repeat_stop,
            }
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
        temperature: float | None = None,
        seed: int | None = None,
    ) -> AIMessage:
        """One chat completion. With a callback the reply is streamed: each text delta goes to
        ``on_token``, each piece of tool-call arguments to ``on_tool_args``, as they arrive.
        ``response_format`` (``{"type": "json_schema", ...}``) has vLLM decode the reply to a
        JSON schema (structured outputs). ``temperature`` (default: the setting's) and
        ``seed`` are for sampled replies."""
        with span(
            f"chat {self.model}",
            kind=SpanKind.CLIENT,
            gen_ai__operation__name="chat",
            gen_ai__provider__name="openai",
            gen_ai__request__model=self.model,
            gen_ai__request__max_tokens=max_tokens or self.settings.max_tokens,
            server__address=self._host,
        ) as current:
            body = self._payload(
                messages,
                tools,
                tool_choice,
                stream=on_token is not None or on_tool_args is not None,
                max_tokens=max_tokens,
                response_format=response_format,
                temperature=temperature,
                seed=seed,
            )
            try:
                reply = await self._complete(body, on_token, on_tool_args)
            except LLMResponseError as exc:  # a server that knows no repetition_detection
                if body.pop("repetition_detection", None) is None or exc.status_code != 400:
                    raise
                if "repetition_detection" not in str(exc):
                    raise
                self._repeat_stop = 0
                reply = await self._complete(body, on_token, on_tool_args)
            usage = reply.usage_metadata
            if usage is not None:
                current.set_attribute("gen_ai.usage.input_tokens", usage["input_tokens"])
                current.set_attribute("gen_ai.usage.output_tokens", usage["output_tokens"])
            finish = reply.response_metadata.get("finish_reason")
            if finish:
                current.set_attribute("gen_ai.response.finish_reasons", [str(finish)])
            return reply

    async def _complete(
        self,
        body: dict[str, Any],
        on_token: TokenCallback | None,
        on_tool_args: ToolArgsCallback | None,
    ) -> AIMessage:
        try:
            if not body.get("stream"):
                data = await self._client.post(
                    "/chat/completions", cast_to=object, body=body, options=_REQUEST_OPTIONS
                )
                reply = completion_reply(data, self.base_url)
                _check_size(len(reply.content), self.base_url)
                return self._message(reply)
            stream = await self._client.post(
                "/chat/completions",
                cast_to=object,
                body=body,
                options=_REQUEST_OPTIONS,
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
            return await self._from_stream(stream, on_token, on_tool_args)
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise LLMUnavailableError(
                f"cannot reach the LLM server at {self.base_url} ({exc.__class__.__name__}: "
                f"{exc}); is it running? Start the local one with `agent llm serve --detach`, "
                "or point AGENT_LLM_BASE_URL at your vLLM server.",
                url=self.base_url,
            ) from exc
        except openai.APIStatusError as exc:
            raise LLMResponseError(
                f"the LLM server at {self.base_url} answered {exc.status_code}: {_error_text(exc)}",
                status_code=exc.status_code,
            ) from exc
        except openai.APIError as exc:  # an error event in the stream
            raise LLMResponseError(
                f"the LLM server at {self.base_url} sent an error in its reply: {exc.message}"
            ) from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LLMResponseError(
                f"the LLM server at {self.base_url} sent a reply or event that is not JSON "
                f"({exc}); is AGENT_LLM_BASE_URL an OpenAI-compatible server?"
            ) from exc

    def _cut_off(self, finish_reason: str | None) -> str | None:
        if finish_reason == REPEATED:
            return (
                "the server stopped the reply: it repeated one passage "
                f"{self._repeat_stop} times (AGENT_REPEAT_STOP)"
            )
        if finish_reason != "length":
            return None
        limit = self.settings.max_tokens
        return (
            f"the reply was cut off at max_tokens={limit} (AGENT_MAX_TOKENS)"
            if limit is not None
            else "the reply was cut off at the server's length limit"
        )

    def _message(self, reply: Reply) -> AIMessage:
        good, bad = _parse_tool_calls(reply.calls, cut_off=self._cut_off(reply.finish_reason))
        # The server's completion id is kept as metadata, not as the message id: ids are how
        # add_messages merges, and a restarted server may reuse them.
        metadata = {"finish_reason": reply.finish_reason, "completion_id": reply.completion_id}
        if reply.model is not None:
            metadata["model_name"] = reply.model
        content = end_of_turn(reply.content)
        if reply.finish_reason == REPEATED:
            content = once(content)
        return AIMessage(
            content=content,
            tool_calls=good,
            invalid_tool_calls=bad,
            response_metadata=metadata,
            usage_metadata=reply.usage or None,
        )

    async def _from_stream(
        self,
        stream: openai.AsyncStream[object],
        on_token: TokenCallback | None,
        on_tool_args: ToolArgsCallback | None,
    ) -> AIMessage:
        reader = StreamReader()
        size = 0
        async with contextlib.aclosing(stream):  # also when a check below gives up on it
            async for chunk in stream:
                text, pieces = reader.feed(chunk)
                if text:
                    size = _check_size(size + len(text), self.base_url)
                    if on_token is not None:
                        on_token(text)
                for index, name, arguments in pieces:
                    size = _check_size(size + len(arguments), self.base_url)
                    if on_tool_args is not None:
                        on_tool_args(index, name, arguments)
        if not reader.events:
            raise LLMResponseError(
                f"the LLM server at {self.base_url} sent no completion events (its reply was "
                "empty or not an event stream); is AGENT_LLM_BASE_URL an OpenAI-compatible "
                "server (it usually ends in /v1)?"
            )
        return self._message(reader.finish())


def end_of_turn(text: str) -> str:
    """``text`` up to the first chat-template token in it (all of it when there is none)."""
    found = _TURN_TOKEN.search(text)
    return text if found is None else text[: found.start()].rstrip()


def once(text: str, copies: int = 3) -> str:
    """``text`` with a passage repeated at its end (``copies`` times or more in a row, as
    the server stopped it) kept once; all of ``text`` when it ends in no such run."""
    n = len(text)
    for period in range(1, min(n // copies, 4096) + 1):
        if text[n - (copies - 1) * period :] == text[n - copies * period : n - period]:
            start = n - copies * period
            while start > 0 and text[start - 1] == text[start - 1 + period]:
                start -= 1
            whole = (n - start) // period  # the reply ends where a copy ends
            return text[: n - (whole - 1) * period].rstrip()
    return text


def _check_size(size: int, url: str) -> int:
    if size > MAX_REPLY_CHARS:
        raise LLMResponseError(
            f"the LLM server at {url} sent a reply over {MAX_REPLY_CHARS:,} characters; it was "
            "dropped, not saved (does the server honour max_tokens?)"
        )
    return size


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


__all__ = ["LLMClient", "end_of_turn", "make_chat_model", "once", "to_openai_messages"]
