"""What the loop calls: any ``ChatClient``. Besides ``LLMClient`` (an OpenAI-compatible URL),
``LangChainClient`` runs a LangChain chat model (``ChatOpenAI`` for any provider, or any
``BaseChatModel`` with ``bind_tools``), and ``FallbackClient`` asks a second server when the
first still fails after its retries.

The loop's validation, repairs, budgets and limits do not depend on which one it is.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    InvalidToolCall,
    ToolCall,
)
from opentelemetry.trace import SpanKind

from agent.errors import LLMError, LLMResponseError, LLMUnavailableError
from agent.llm.client import LLMClient, TokenCallback, ToolArgsCallback, end_of_turn
from agent.settings import Settings
from agent.tracing import span


@runtime_checkable
class ChatClient(Protocol):
    """One chat completion with tools, as the agent loop needs it."""

    base_url: str  # where the model is, for messages (a URL, or "langchain:ChatX")
    model: str
    samples: bool  # complete() honours temperature and seed: replies can be sampled

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
    ) -> AIMessage: ...

    async def context_length(self) -> int | None: ...

    async def count_tokens(self, text: str) -> tuple[int, int] | None: ...

    async def served_models(self, timeout_s: float = 5.0) -> list[str]: ...

    async def aclose(self) -> None: ...


def _model_name(model: BaseChatModel) -> str:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def _lc_tool_choice(choice: str | dict[str, Any] | None) -> str | None:
    """The OpenAI ``tool_choice`` in LangChain's spelling: ``"any"`` forces some tool, a tool's
    name forces that one."""
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return str(name) if name else None
    return "any" if choice == "required" else choice


class LangChainClient:
    """Runs a LangChain chat model as the agent's LLM.

    ``tool_choice`` goes through ``bind_tools`` (``"any"`` / a tool name); ``response_format``
    (guided JSON for structured output) is bound only for OpenAI-style models, which take it;
    other models get the schema from the prompt and the validation errors back. The model's
    own exceptions become ``LLMUnavailableError`` / ``LLMResponseError``.

    Every call runs on one event loop of its own (``_model_loop``), whatever loop the agent
    runs on: chat models keep async HTTP clients bound to the first loop that used them
    (``ChatOpenAI`` shares one per base URL), so a model used from ``Agent.run`` (the agent's
    private loop) and then from ``asyncio.run(agent.arun(...))`` would fail with "Event loop
    is closed". Streamed pieces come back to the caller's loop in order."""

    def __init__(self, model: BaseChatModel) -> None:
        self.chat_model = model
        self.model = _model_name(model)
        where = getattr(model, "openai_api_base", None) or getattr(model, "base_url", None)
        self.base_url = f"langchain:{type(model).__name__}" + (f":{where}" if where else "")
        # OpenAI-style models take temperature and seed per call; others are not sampled
        self.samples = _takes_response_format(model)

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
        caller = asyncio.get_running_loop()

        def relay(fn: Callable[..., None] | None) -> Callable[..., None] | None:
            if fn is None:
                return None

            def relayed(*args: Any) -> None:
                caller.call_soon_threadsafe(fn, *args)

            return relayed

        call = self._call(
            messages,
            tools,
            tool_choice,
            relay(on_token),
            relay(on_tool_args),
            max_tokens,
            response_format,
            {"temperature": temperature, "seed": seed},
        )
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, _model_loop()))

    async def _call(
        self,
        messages: Sequence[BaseMessage],
        tools: list[dict[str, Any]],
        tool_choice: str | dict[str, Any] | None,
        on_token: TokenCallback | None,
        on_tool_args: ToolArgsCallback | None,
        max_tokens: int | None,
        response_format: dict[str, Any] | None,
        sampling: dict[str, float | int | None],
    ) -> AIMessage:
        runnable: Any = self.chat_model
        if tools:
            choice = _lc_tool_choice(tool_choice)
            kwargs = {"tool_choice": choice} if choice is not None else {}
            runnable = runnable.bind_tools(tools, **kwargs)
        bound: dict[str, Any] = {}
        if response_format is not None and _takes_response_format(self.chat_model):
            bound["response_format"] = response_format
        if max_tokens is not None:
            bound["max_tokens"] = max_tokens
        if self.samples:
            bound.update((k, v) for k, v in sampling.items() if v is not None)
        if bound:
            runnable = runnable.bind(**bound)
        with span(
            f"chat {self.model}",
            kind=SpanKind.CLIENT,
            gen_ai__operation__name="chat",
            gen_ai__request__model=self.model,
        ):
            try:
                if on_token is None and on_tool_args is None:
                    reply = await runnable.ainvoke(list(messages))
                else:
                    reply = await _stream(runnable, list(messages), on_token, on_tool_args)
            except LLMError:
                raise
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                raise LLMUnavailableError(
                    f"the chat model {self.model} ({self.base_url}) cannot be reached: {exc}",
                    url=self.base_url,
                ) from exc
            except openai.APIStatusError as exc:
                raise LLMResponseError(
                    f"the chat model {self.model} answered {exc.status_code}: {exc.message}",
                    status_code=exc.status_code,
                ) from exc
            except Exception as exc:  # any provider's failure is the LLM's, not the loop's
                raise LLMResponseError(
                    f"the chat model {self.model} ({self.base_url}) failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        return _as_message(reply)

    async def context_length(self) -> int | None:
        return None

    async def count_tokens(self, text: str) -> tuple[int, int] | None:
        return None

    async def served_models(self, timeout_s: float = 5.0) -> list[str]:
        return [self.model]

    async def aclose(self) -> None:
        return None


_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_LOCK = threading.Lock()


def _model_loop() -> asyncio.AbstractEventLoop:
    """The event loop, in a daemon thread, where LangChain models run (started once)."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="langchain-models", daemon=True).start()
            _LOOP = loop
        return _LOOP


def _takes_response_format(model: BaseChatModel) -> bool:
    from langchain_openai.chat_models.base import BaseChatOpenAI  # noqa: PLC0415 - optional

    return isinstance(model, BaseChatOpenAI)


async def _stream(
    runnable: Any,
    messages: list[BaseMessage],
    on_token: TokenCallback | None,
    on_tool_args: ToolArgsCallback | None,
) -> AIMessageChunk | None:
    total: AIMessageChunk | None = None
    names: dict[int, str] = {}
    async for chunk in runnable.astream(messages):
        if not isinstance(chunk, AIMessageChunk):
            continue
        total = chunk if total is None else total + chunk
        if on_token is not None and chunk.text:
            on_token(chunk.text)
        for piece in chunk.tool_call_chunks:
            index = piece.get("index") or 0
            if piece.get("name"):
                names[index] = names.get(index, "") + str(piece["name"])
            if on_tool_args is not None and piece.get("args"):
                on_tool_args(index, names.get(index), str(piece["args"]))
    return total


def _as_message(reply: Any) -> AIMessage:
    """The loop's ``AIMessage``: text content, calls with ids, usage and metadata kept."""
    if not isinstance(reply, AIMessage):
        raise LLMResponseError(f"the chat model returned {type(reply).__name__}, not an AI message")
    calls = [
        ToolCall(type="tool_call", id=c.get("id") or f"call_{i}", name=c["name"], args=c["args"])
        for i, c in enumerate(reply.tool_calls)
    ]
    invalid = [
        InvalidToolCall(
            type="invalid_tool_call",
            id=c.get("id") or f"call_bad_{i}",
            name=c.get("name"),
            args=c.get("args"),
            error=c.get("error") or "the arguments are not a JSON object",
        )
        for i, c in enumerate(reply.invalid_tool_calls)
    ]
    return AIMessage(
        content=end_of_turn(reply.text),
        tool_calls=calls,
        invalid_tool_calls=invalid,
        response_metadata=dict(reply.response_metadata),
        usage_metadata=reply.usage_metadata,
    )


def _falls_back(exc: LLMError) -> bool:
    """Failures a second server may not have: unreachable, or a 5xx after the retries."""
    if isinstance(exc, LLMUnavailableError):
        return True
    return isinstance(exc, LLMResponseError) and (exc.status_code or 0) >= 500


class FallbackClient:
    """The primary client, and the fallback when the primary still fails after its retries
    (unreachable, 5xx). A reply from the fallback carries ``response_metadata["fallback"]``
    saying why; a request the primary refused (4xx: too long, bad schema) is not retried."""

    def __init__(self, primary: ChatClient, fallback: ChatClient) -> None:
        self.primary = primary
        self.fallback = fallback
        self.base_url = primary.base_url
        self.model = primary.model
        self.samples = primary.samples and fallback.samples

    async def complete(self, messages: Sequence[BaseMessage], **kwargs: Any) -> AIMessage:
        """``ChatClient.complete`` on the primary, else on the fallback."""
        try:
            return await self.primary.complete(messages, **kwargs)
        except LLMError as exc:
            if not _falls_back(exc):
                raise
            reason = str(exc)
        ai = await self.fallback.complete(messages, **kwargs)
        ai.response_metadata["fallback"] = (
            f"answered by the fallback model {self.fallback.model} at "
            f"{self.fallback.base_url}: {reason}"
        )
        return ai

    async def context_length(self) -> int | None:
        lengths = [await self.primary.context_length(), await self.fallback.context_length()]
        known = [n for n in lengths if n is not None]
        return min(known) if known else None  # a request must fit either server

    async def count_tokens(self, text: str) -> tuple[int, int] | None:
        return await self.primary.count_tokens(text)

    async def served_models(self, timeout_s: float = 5.0) -> list[str]:
        return await self.primary.served_models(timeout_s)

    async def aclose(self) -> None:
        await self.primary.aclose()
        await self.fallback.aclose()


def probe_target(client: ChatClient) -> ChatClient:
    """The model whose tool calling ``tool_call_mode=auto`` probes: the client itself, or the
    primary of a fallback pair."""
    if isinstance(client, FallbackClient):
        return probe_target(client.primary)
    return client


def make_client(settings: Settings, model: BaseChatModel | None = None) -> ChatClient:
    """The client a run uses: ``model`` (a LangChain chat model) or the settings' server, with
    ``LLM_FALLBACK_BASE_URL``'s server behind it when that is set."""
    primary: ChatClient = LangChainClient(model) if model is not None else LLMClient(settings)
    if not settings.llm_fallback_base_url:
        return primary
    key = settings.llm_fallback_api_key or settings.llm_api_key
    fallback = LLMClient(
        settings,
        base_url=settings.llm_fallback_base_url,
        model=settings.llm_fallback_model or settings.llm_model,
        api_key=key.get_secret_value(),
    )
    return FallbackClient(primary, fallback)
