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


class _JsonSchema(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = "output"
    schema_: dict[str, Any] = Field(alias="schema")


class ResponseFormat(BaseModel):
    """OpenAI's ``response_format``: the answer as JSON (``json_object``) or as JSON valid under
    a schema of an object (``json_schema``), the Python API's ``output_type``."""

    model_config = ConfigDict(extra="allow")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JsonSchema | None = None

    def output_type(self) -> dict[str, Any] | None:
        if self.type == "text":
            return None
        if self.type == "json_object":
            return {"type": "object", "additionalProperties": True}
        if self.json_schema is None:
            raise BadRequest(
                400, "response_format json_schema needs its json_schema", param="response_format"
            )
        return self.json_schema.schema_


class ChatRequest(BaseModel):
    """What the server reads of an OpenAI chat-completions request; the rest (temperature,
    tools, ...) is the agent's own business and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    thread_id: str | None = Field(None, min_length=1, max_length=200)
    response_format: ResponseFormat | None = None


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
