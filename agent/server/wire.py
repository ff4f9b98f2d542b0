"""What ``agent serve`` accepts: the request bodies, validated before any run starts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.events import Approval

MODEL_ID = "agent"


class _ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[_ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """What the server reads of an OpenAI chat-completions request; the rest (temperature,
    tools, ...) is the agent's own business and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    thread_id: str | None = Field(None, min_length=1, max_length=200)


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str = Field(min_length=1)


class Decision(BaseModel):
    """A person's decision on one pending tool call (``Approval`` in the Python API)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["approve", "reject", "edit"]
    reason: str = Field("the user refused this call", max_length=2000)
    arguments: dict[str, Any] | None = None

    def approval(self) -> Approval:
        if self.action == "approve":
            return Approval.approve()
        if self.action == "reject":
            return Approval.reject(self.reason)
        if self.arguments is None:
            raise BadRequest(400, "an edit needs the new arguments", param="arguments")
        return Approval.edit(self.arguments)


class DecisionsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decisions: dict[str, Decision] = Field(min_length=1)


class BadRequest(Exception):
    """A request the server refuses before any run starts: its HTTP status and the field."""

    def __init__(self, status: int, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
