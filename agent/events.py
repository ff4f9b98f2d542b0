"""What a run produces: streamed events and the final ``RunResult``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, cast

from langchain_core.messages import BaseMessage
from typing_extensions import TypeVar

from agent.errors import AgentError, RunError

# The type of ``RunResult.output``: the ``output_type`` a run was given, ``str`` without one.
OutputT = TypeVar("OutputT", default=str)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens summed over every LLM call of one run."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """One tool call the model made in a run, and what came back."""

    call_id: str
    name: str
    arguments: dict[str, Any] | str
    content: str
    is_error: bool
    duration_s: float


@dataclass(frozen=True, slots=True)
class RunResult(Generic[OutputT]):
    answer: str
    thread_id: str
    steps: int
    usage: Usage
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    messages: list[BaseMessage] = field(default_factory=list, repr=False)
    # Set when a budget ran out and the answer came from one last call with tools off: the
    # budget's message (the answer may rest on incomplete tool work).
    rescued: str | None = None
    # Steps of an earlier answer in this run that the answer check found wrong and sent back to
    # the model ("3.79 + 4.5 = 8.29, not 8.38"); the answer is the model's revision.
    corrected: list[str] = field(default_factory=list)
    # Set when the answer is not the model's first reply but the value most of the replies
    # sampled beside it reached (``AGENT_ANSWER_SAMPLES``): how many agreed, what the first said.
    agreed: str | None = None
    # The documents behind what the run's tools showed the model (a document search's files and
    # sections), in the order first shown: what the answer could draw on, listed by the runtime
    # because a small model seldom cites them.
    sources: list[str] = field(default_factory=list)
    # What the caller should know about the answer, e.g. that the server cut it off at its
    # length limit (finish_reason "length"): the answer is then incomplete.
    warnings: list[str] = field(default_factory=list)
    # The run stopped before these calls, which need a person's approval; the thread keeps
    # them. ``Agent.resume(thread_id, decisions={call_id: Approval...})`` continues it, from
    # any process. ``answer`` is empty then.
    pending: list[ToolCallRequest] = field(default_factory=list)
    # The answer as the run's ``output_type``, validated; ``None`` without one. Read ``output``.
    structured: OutputT | None = None

    @property
    def output(self) -> OutputT:
        """The answer as the ``output_type`` the run was given (a validated instance), or the
        answer text when it was given none. Raises ``RunError`` when the run stopped before an
        answer, for calls that wait for approval (``pending``)."""
        if self.pending:
            raise RunError(
                f"the run on thread {self.thread_id!r} has no output yet: {len(self.pending)} "
                "tool call(s) wait for approval (RunResult.pending; continue with resume)",
                thread_id=self.thread_id,
            )
        return self.structured if self.structured is not None else cast(OutputT, self.answer)


@dataclass(frozen=True, slots=True)
class CheckEvent:
    """The answer check found wrong steps in the answer just given; the model revises it."""

    problems: list[str]
    kind: Literal["check"] = "check"


@dataclass(frozen=True, slots=True)
class AgreementEvent:
    """The answer just streamed is replaced by the value most of the sampled replies reached
    (``AGENT_ANSWER_SAMPLES``); ``note`` says how many agreed. The final answer follows."""

    note: str
    kind: Literal["agreement"] = "agreement"


@dataclass(frozen=True, slots=True)
class RescueEvent:
    """The text streamed since the last step is not the answer: a budget ran out, or the
    model's reply was empty or looped (``reason``, also ``RunResult.rescued``). One more call
    with tools off answers from what the run has; its text and the final answer follow."""

    reason: str
    kind: Literal["rescue"] = "rescue"


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """A piece of the answer text, as the server streams it."""

    text: str
    kind: Literal["token"] = "token"


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    """The model asked for a tool call (emitted before validation and execution)."""

    call_id: str
    name: str
    arguments: dict[str, Any] | str
    kind: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True)
class ToolResultEvent:
    """A tool call finished; ``is_error`` when it went back to the model as an error."""

    call_id: str
    name: str
    content: str
    is_error: bool
    duration_s: float
    kind: Literal["tool_result"] = "tool_result"


@dataclass(frozen=True, slots=True)
class FinalEvent:
    result: RunResult[Any]
    kind: Literal["final"] = "final"


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """The run stopped with an error; it is the last event of the stream."""

    error: AgentError
    kind: Literal["error"] = "error"


AgentEvent = (
    TokenEvent
    | ToolCallEvent
    | ToolResultEvent
    | CheckEvent
    | AgreementEvent
    | RescueEvent
    | FinalEvent
    | ErrorEvent
)


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """A validated call about to run, as shown to a human approver."""

    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Approval:
    """An approver's decision: run the call, refuse it (the reason goes to the model), or run it
    with edited arguments (validated again)."""

    approved: bool
    reason: str = ""
    arguments: dict[str, Any] | None = None

    @classmethod
    def approve(cls) -> Approval:
        return cls(True)

    @classmethod
    def refuse(cls, reason: str = "the user refused this call") -> Approval:
        return cls(False, reason)

    reject = refuse

    def to_wire(self) -> dict[str, Any]:
        """The decision as plain data (it is saved in the thread when a run resumes)."""
        return {"approved": self.approved, "reason": self.reason, "arguments": self.arguments}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Approval:
        return cls(bool(data["approved"]), str(data.get("reason", "")), data.get("arguments"))

    @classmethod
    def edit(cls, arguments: dict[str, Any]) -> Approval:
        return cls(True, arguments=arguments)


ApproveHook = Callable[[ToolCallRequest], Awaitable[Approval]]
# Which calls need a person's approval, besides those of tools marked ``needs_approval``.
ApprovalPolicy = Callable[[ToolCallRequest], bool]


def decided_hook(pending: list[ToolCallRequest], decisions: Mapping[str, Any]) -> ApproveHook:
    """The approve hook of a resumed run: each pending call as decided (wire form, by call
    id), a pending call without a decision refused, the others run."""
    waiting = {r.call_id for r in pending}
    chosen = {k: Approval.from_wire(v) for k, v in decisions.items()}

    async def decide(request: ToolCallRequest) -> Approval:
        if request.call_id in chosen:
            return chosen[request.call_id]
        if request.call_id in waiting:
            return Approval.refuse("no decision was given for this call")
        return Approval.approve()

    return decide
