"""The one exception tree of agent-runtime.

Mistakes the *model* makes (bad arguments, unknown tool, a tool refusing its input) are not
raised to the caller: they go back to the model as a tool message so it can repair its call.
Everything below is raised to *you*, with a message that says what to do::

    AgentError
    ├── ConfigError                    settings or wiring are wrong (bad env var, duplicate tool)
    ├── LLMError
    │   ├── LLMUnavailableError        the LLM server cannot be reached (names the URL)
    │   └── LLMResponseError           the server answered, but not with something usable
    ├── RunError                       a run stopped; ``.transcript`` holds the messages so far
    │   ├── StepBudgetExceededError    the model kept calling tools past ``max_steps``
    │   ├── RepeatedToolCallError      the model repeated an identical call in a loop
    │   ├── RepairBudgetExceededError  the model could not repair its calls within the budget
    │   ├── UsageLimitExceededError    the run used up a limit (tokens or tool calls; ``.limit``)
    │   ├── OutputValidationError      the final output kept failing ``output_type``
    │   ├── RunTimeoutError            the run passed its deadline (``run_timeout_s``)
    │   └── ToolCrashedError           a tool failed with an unexpected exception (our bug)
    ├── InputError                     a question refused before it entered a thread (too long)
    ├── ThreadError                    a thread id that is unknown or cannot be resumed
    │   └── ThreadBusyError            another run holds the thread past ``thread_wait_s``
    ├── ModelProvisionError            the local model could not be installed or verified
    ├── LocalServerError               the local vLLM server could not be started or stopped
    ├── StoreError                     the vector store failed
    │   ├── StoreLockedError           a Milvus Lite file is held by another process
    │   └── SchemaMismatchError        an existing collection does not match what we need
    ├── EmbeddingError                 the embeddings endpoint failed or answered unusably
    ├── KnowledgeBaseError             a known-error KB file is invalid
    └── MCPError                       an MCP server could not be reached or misbehaved

    ToolError                          raised *by a tool* for input it refuses; never reaches
                                       you: the runtime turns it into a tool message

Exceptions here do nothing in ``__init__`` beyond storing their fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage


class AgentError(Exception):
    """Base of every error agent-runtime raises to its caller."""


class ConfigError(AgentError):
    """Settings or wiring are wrong; the message says which and how to fix it."""


class LLMError(AgentError):
    """The LLM server failed."""


class LLMUnavailableError(LLMError):
    """The LLM server could not be reached after retries."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class LLMResponseError(LLMError):
    """The LLM server answered with an error status or an unusable body."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RunError(AgentError):
    """A run stopped before a final answer. ``transcript`` is every message so far."""

    def __init__(
        self,
        message: str,
        *,
        transcript: Sequence[BaseMessage] = (),
        thread_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.transcript = list(transcript)
        self.thread_id = thread_id


class StepBudgetExceededError(RunError):
    """The model was still calling tools when the step budget ran out."""


class RepeatedToolCallError(RunError):
    """The model made the same call with the same arguments too many times."""


class RepairBudgetExceededError(RunError):
    """The model's tool calls kept failing validation (or the tool) past the repair budget."""


class UsageLimitExceededError(RunError):
    """The run reached a usage limit; ``limit`` names its setting (``max_run_tokens``,
    ``max_tool_calls``)."""

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        transcript: Sequence[BaseMessage] = (),
        thread_id: str | None = None,
    ) -> None:
        super().__init__(message, transcript=transcript, thread_id=thread_id)
        self.limit = limit


class OutputValidationError(RunError):
    """The model's final output did not validate against ``output_type`` within the repair
    budget; ``errors`` are the last validation errors."""

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[str] = (),
        transcript: Sequence[BaseMessage] = (),
        thread_id: str | None = None,
    ) -> None:
        super().__init__(message, transcript=transcript, thread_id=thread_id)
        self.errors = list(errors)


class RunTimeoutError(RunError):
    """The run had not finished when its deadline (``run_timeout_s``) passed."""


class ToolCrashedError(RunError):
    """A tool raised something other than ``ToolError``: a bug or an infrastructure failure."""


class InputError(AgentError):
    """A question was refused before it entered a thread (longer than the model's context)."""


class ThreadError(AgentError):
    """A thread cannot be found or resumed."""


class ThreadBusyError(ThreadError):
    """Another run holds the thread, and it did not finish within ``thread_wait_s``."""


class ModelProvisionError(AgentError):
    """The local model could not be installed, verified or converted."""


class LocalServerError(AgentError):
    """The local vLLM server could not be started, reached or stopped."""


class StoreError(AgentError):
    """The vector store failed."""


class StoreLockedError(StoreError):
    """A Milvus Lite database file is held by another process."""


class SchemaMismatchError(StoreError):
    """An existing collection's schema does not match what this code needs."""


class EmbeddingError(AgentError):
    """The embeddings endpoint could not be reached or returned something unusable."""


class KnowledgeBaseError(AgentError):
    """A known-error knowledge-base file is invalid."""


class MCPError(AgentError):
    """An MCP server could not be started, reached, or returned something unusable."""


class ToolError(Exception):
    """Raised by a tool for input it refuses. The message goes back to the model verbatim.

    It is deliberately *not* an ``AgentError``: the caller never sees it.
    """
