"""agent-runtime: a validated tool-calling agent for open models served by vLLM.

The public surface is what this module exports (``__all__``)::

    from agent import Agent, Settings, tool

    with Agent() as agent:
        print(agent.run("What is (1234 + 5678) / 2?").answer)

The error tree is imported at once; everything else loads on first use, so ``import agent``
(and the ``agent --help`` command) does not pull in LangGraph, Milvus or the embedding model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agent.errors import (
    AgentError,
    ConfigError,
    EmbeddingError,
    InputError,
    KnowledgeBaseError,
    LLMError,
    LLMResponseError,
    LLMUnavailableError,
    LocalServerError,
    MCPError,
    ModelProvisionError,
    OutputValidationError,
    RepairBudgetExceededError,
    RepeatedToolCallError,
    RunError,
    RunTimeoutError,
    SchemaMismatchError,
    StepBudgetExceededError,
    StoreError,
    StoreLockedError,
    ThreadBusyError,
    ThreadError,
    ToolCrashedError,
    ToolError,
    UsageLimitExceededError,
)

if TYPE_CHECKING:
    from agent.api import Agent
    from agent.events import (
        AgentEvent,
        AgreementEvent,
        Approval,
        ApprovalPolicy,
        ApproveHook,
        CheckEvent,
        ErrorEvent,
        FinalEvent,
        RescueEvent,
        RunResult,
        TokenEvent,
        ToolCallEvent,
        ToolCallRecord,
        ToolCallRequest,
        ToolResultEvent,
        Usage,
    )
    from agent.persistence import Persistence, ThreadInfo
    from agent.settings import Settings
    from agent.tooling import FunctionTool, JsonSchemaTool, Sourced, Tool, tool
    from agent.triage import TriageReport, TriageRequest

_LAZY: dict[str, str] = {
    "Agent": "agent.api",
    "AgentEvent": "agent.events",
    "Approval": "agent.events",
    "ApprovalPolicy": "agent.events",
    "ApproveHook": "agent.events",
    "AgreementEvent": "agent.events",
    "CheckEvent": "agent.events",
    "ErrorEvent": "agent.events",
    "FinalEvent": "agent.events",
    "RescueEvent": "agent.events",
    "RunResult": "agent.events",
    "TokenEvent": "agent.events",
    "ToolCallEvent": "agent.events",
    "ToolCallRecord": "agent.events",
    "ToolCallRequest": "agent.events",
    "ToolResultEvent": "agent.events",
    "Usage": "agent.events",
    "Persistence": "agent.persistence",
    "ThreadInfo": "agent.persistence",
    "Settings": "agent.settings",
    "FunctionTool": "agent.tooling",
    "JsonSchemaTool": "agent.tooling",
    "Sourced": "agent.tooling",
    "Tool": "agent.tooling",
    "tool": "agent.tooling",
    "TriageReport": "agent.triage",
    "TriageRequest": "agent.triage",
}

__all__ = [
    "Agent",
    "AgentError",
    "AgentEvent",
    "Approval",
    "ApprovalPolicy",
    "ApproveHook",
    "AgreementEvent",
    "CheckEvent",
    "ConfigError",
    "EmbeddingError",
    "ErrorEvent",
    "FinalEvent",
    "FunctionTool",
    "InputError",
    "JsonSchemaTool",
    "KnowledgeBaseError",
    "LLMError",
    "LLMResponseError",
    "LLMUnavailableError",
    "LocalServerError",
    "MCPError",
    "ModelProvisionError",
    "OutputValidationError",
    "Persistence",
    "RepairBudgetExceededError",
    "RepeatedToolCallError",
    "RescueEvent",
    "RunError",
    "RunResult",
    "RunTimeoutError",
    "SchemaMismatchError",
    "Settings",
    "Sourced",
    "StepBudgetExceededError",
    "StoreError",
    "StoreLockedError",
    "ThreadBusyError",
    "ThreadError",
    "ThreadInfo",
    "TokenEvent",
    "Tool",
    "ToolCallEvent",
    "ToolCallRecord",
    "ToolCallRequest",
    "ToolCrashedError",
    "ToolError",
    "ToolResultEvent",
    "TriageReport",
    "TriageRequest",
    "Usage",
    "UsageLimitExceededError",
    "tool",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
