"""Reading the server's chat completions as the JSON it sent, not as the SDK's models.

The SDK's ``ChatCompletion`` is built by walking every field against its type annotations: a
tenth of the client CPU of an agent step (``bench/loop_overhead.py``). The loop needs five
fields of a reply, read here from the decoded JSON, and a reply of the wrong shape is a clear
``LLMResponseError`` instead of an ``AttributeError`` later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.errors import LLMResponseError

RawCall = tuple[str | None, str | None, str | None]  # (id, name, arguments)


@dataclass(slots=True)
class Reply:
    """What the loop reads of a completion: text, calls, why it ended, token usage."""

    content: str = ""
    calls: list[RawCall] = field(default_factory=list)
    finish_reason: str | None = None
    model: str | None = None
    completion_id: str | None = None
    usage: dict[str, int] = field(default_factory=dict)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def usage_of(raw: object) -> dict[str, int]:
    """A reply's ``usage`` object as LangChain's usage metadata ({} when there is none)."""
    if not isinstance(raw, dict):
        return {}

    def count(key: str) -> int:
        value = raw.get(key)
        return value if isinstance(value, int) else 0

    return {
        "input_tokens": count("prompt_tokens"),
        "output_tokens": count("completion_tokens"),
        "total_tokens": count("total_tokens"),
    }


def completion_reply(data: object, base_url: str) -> Reply:
    """The first choice of a non-streamed completion, or an error naming what is wrong."""
    if not isinstance(data, dict) or "choices" not in data:
        raise LLMResponseError(
            f"the LLM server at {base_url} answered with something that is not a chat "
            f"completion: {str(data)[:200]!r}; is AGENT_LLM_BASE_URL an OpenAI-compatible "
            "server (it usually ends in /v1)?"
        )
    choices = data["choices"]
    if not isinstance(choices, list) or not choices:
        raise LLMResponseError(f"the LLM server at {base_url} returned no choices")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise LLMResponseError(
            f"the LLM server at {base_url} returned a choice without a message: "
            f"{str(choice)[:200]!r}"
        )
    calls: list[RawCall] = []
    for call in message.get("tool_calls") or ():
        if not isinstance(call, dict) or call.get("type", "function") != "function":
            continue
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        calls.append(
            (_text(call.get("id")), _text(function.get("name")), _text(function.get("arguments")))
        )
    return Reply(
        content=_text(message.get("content")) or "",
        calls=calls,
        finish_reason=_text(choice.get("finish_reason")),
        model=_text(data.get("model")),
        completion_id=_text(data.get("id")),
        usage=usage_of(data.get("usage")),
    )


class StreamReader:
    """Folds the chunks of a streamed completion into a ``Reply``, piece by piece."""

    def __init__(self) -> None:
        self.reply = Reply()
        self.events = 0
        self._calls: dict[int, list[str | None]] = {}
        self._text: list[str] = []

    def feed(self, chunk: object) -> tuple[str, list[tuple[int, str | None, str]]]:
        """Take one chunk: its new text, and its new (call index, name so far, arguments)
        pieces."""
        self.events += 1
        if not isinstance(chunk, dict):
            return "", []
        reply = self.reply
        reply.completion_id = reply.completion_id or _text(chunk.get("id"))
        if chunk.get("usage") is not None:
            reply.usage = usage_of(chunk["usage"])
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return "", []
        choice: dict[str, Any] = choices[0]
        reply.finish_reason = _text(choice.get("finish_reason")) or reply.finish_reason
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return "", []
        text = _text(delta.get("content")) or ""
        if text:
            self._text.append(text)
        pieces: list[tuple[int, str | None, str]] = []
        for call in delta.get("tool_calls") or ():
            if not isinstance(call, dict):
                continue
            index = call.get("index")
            index = index if isinstance(index, int) else 0
            slot = self._calls.setdefault(index, [None, None, ""])
            slot[0] = _text(call.get("id")) or slot[0]
            function = call.get("function")
            if not isinstance(function, dict):
                continue
            slot[1] = (slot[1] or "") + (_text(function.get("name")) or "") or None
            arguments = _text(function.get("arguments"))
            if arguments:
                slot[2] = (slot[2] or "") + arguments
                pieces.append((index, slot[1], arguments))
        return text, pieces

    def finish(self) -> Reply:
        """The whole reply, its calls in index order."""
        self.reply.content = "".join(self._text)
        self.reply.calls = [(c[0], c[1], c[2]) for _, c in sorted(self._calls.items())]
        return self.reply
