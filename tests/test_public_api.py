"""The public surface: what ``from agent import ...`` and each subsystem's ``__all__`` promise.

Changing a pinned list here is a decision about the API, so it shows in review.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import agent

TOP_LEVEL = {
    # the agent and its settings
    "Agent",
    "Settings",
    "Persistence",
    "ThreadInfo",
    # tools
    "tool",
    "Tool",
    "FunctionTool",
    "JsonSchemaTool",
    "Sourced",
    # a run and its events
    "RunResult",
    "Usage",
    "AgentEvent",
    "TokenEvent",
    "ToolCallEvent",
    "ToolResultEvent",
    "FinalEvent",
    "ErrorEvent",
    "ToolCallRecord",
    "ToolCallRequest",
    "Approval",
    "ApprovalPolicy",
    "ApproveHook",
    "CheckEvent",
    "AgreementEvent",
    "RescueEvent",
    # triage
    "TriageRequest",
    "TriageReport",
    # the error tree
    "AgentError",
    "ConfigError",
    "EmbeddingError",
    "InputError",
    "KnowledgeBaseError",
    "LLMError",
    "LLMResponseError",
    "LLMUnavailableError",
    "LocalServerError",
    "MCPError",
    "ModelProvisionError",
    "RepairBudgetExceededError",
    "RepeatedToolCallError",
    "RunError",
    "RunTimeoutError",
    "UsageLimitExceededError",
    "OutputValidationError",
    "SchemaMismatchError",
    "StepBudgetExceededError",
    "StoreError",
    "StoreLockedError",
    "ThreadBusyError",
    "ThreadError",
    "ToolCrashedError",
    "ToolError",
}

SUBPACKAGE_SURFACES: dict[str, set[str]] = {
    "agent.api": {"Agent"},
    "agent.cli": {"app", "main"},
    "agent.known_errors": {
        "ALL_SIGNALS",
        "DEFAULT_WEIGHTS",
        "ErrorIndex",
        "ErrorMatch",
        "KnowledgeBase",
        "KnownError",
        "LOOKUP_ERROR",
        "LOOKUP_ERROR_DESCRIPTION",
        "LookupErrorArgs",
        "LookupResult",
        "MAX_TEXT_CHARS",
        "MatchSummary",
        "QAPair",
        "Rankings",
        "ReducedLog",
        "Signal",
        "SignalHit",
        "UNDOCUMENTED_TAG",
        "dump_kb_yaml",
        "import_file",
        "is_close",
        "load_kb",
        "load_kb_file",
        "load_qa_file",
        "lookup_known_errors",
        "parse_kb_text",
        "parse_qa_jsonl",
        "parse_templates_csv",
        "plan_qa_import",
        "reduce_log",
        "rrf_fuse",
        "starter_kb_files",
        "template_to_regex",
    },
    "agent.llm": {
        "REPEATED",
        "ChatClient",
        "FallbackClient",
        "LLMClient",
        "LangChainClient",
        "make_chat_model",
        "make_client",
        "probe_target",
        "to_openai_messages",
    },
    "agent.local": {
        "LOCAL_MODELS",
        "LocalModelPaths",
        "LocalModelSpec",
        "OnProgress",
        "ProgressEvent",
        "ProvisionReport",
        "ServerConfig",
        "Stage",
        "check_vllm_importable",
        "ensure_local_model",
        "is_provisioned",
        "local_model_paths",
        "local_model_spec",
        "read_pid_file",
        "served_models",
        "start_server",
        "stop_server",
        "wait_forever",
    },
    "agent.loop": {
        "AnswerStream",
        "WrittenCallFilter",
        "add_usage",
        "awaiting_approval",
        "budget_error",
        "complete_by_agreement",
        "limit_error",
        "second_opinions",
        "RunProgram",
        "ANSWER_CHECK",
        "FINAL_ANSWER",
        "INTERRUPTED",
        "OutputSpec",
        "PROGRAM_TOOL",
        "ProbeResult",
        "RESCUE_PROMPT",
        "ServerProfile",
        "ToolStep",
        "cached_profile",
        "check_feedback",
        "close_interrupted_calls",
        "complete_within",
        "current_run",
        "cut_written_call",
        "describe_mode",
        "estimate_tokens",
        "final_answer_spec",
        "first_question",
        "fit_messages",
        "is_question",
        "not_run",
        "output_feedback",
        "output_prompt",
        "output_spec",
        "probe_server",
        "recover_tool_calls",
        "pending_calls",
        "run_result",
        "run_tool_calls",
        "server_profile",
        "settle",
        "system_prompt_for",
        "uncommitted_messages",
        "unused_givens",
    },
    "agent.mcp": {"BUILTIN_ERRORS", "MCPToolset", "ServerSpec", "parse_server"},
    "agent.persistence": {
        "Checkpoints",
        "Persistence",
        "PostgresThreadLocks",
        "ThreadInfo",
        "ThreadLocks",
        "default_persistence",
        "open_checkpoints",
        "thread_locks",
    },
    "agent.server": {"MODEL_ID", "THREAD_HEADER", "create_app", "guard_for", "serve", "tune_gc"},
    "agent.rag": {
        "Chunk",
        "DocumentStats",
        "DocumentStore",
        "IngestReport",
        "ProgressFn",
        "SourceInfo",
        "chunk_text",
    },
    "agent.store": {
        "Collection",
        "CollectionSpec",
        "Consistency",
        "Embedder",
        "EmbeddingCache",
        "FieldKind",
        "FieldSpec",
        "Hit",
        "LocalEmbedder",
        "OpenAIEmbedder",
        "SearchMode",
        "VectorStore",
        "Vectors",
        "all_of",
        "eq",
        "has_any",
        "is_lite_uri",
        "literal",
        "make_embedder",
        "one_of",
    },
    "agent.testing": {
        "Response",
        "ScriptedServer",
        "call",
        "calls",
        "error",
        "loop_responder",
        "prompt_tokens",
        "reply",
        "schema_instance",
        "spawn_loop_server",
    },
    "agent.tooling": {
        "ArgumentsDecodeError",
        "FieldError",
        "FunctionTool",
        "JsonSchemaTool",
        "Sourced",
        "Tool",
        "ToolArgumentsError",
        "ToolOutput",
        "ToolRegistry",
        "close_schema",
        "decode_arguments",
        "format_path",
        "parse_arguments",
        "pydantic_field_errors",
        "render_output",
        "strict_schema",
        "tool",
        "tools_from_openai_specs",
        "validation_schema",
    },
}

SUBPACKAGES = sorted(m.name for m in pkgutil.iter_modules(agent.__path__, "agent.") if m.ispkg)


def test_top_level_all_is_the_pinned_surface() -> None:
    assert set(agent.__all__) == TOP_LEVEL
    assert len(agent.__all__) == len(set(agent.__all__)), "a name is listed twice"


@pytest.mark.parametrize("name", sorted(TOP_LEVEL))
def test_every_top_level_name_resolves(name: str) -> None:
    assert getattr(agent, name) is not None


def test_no_top_level_name_shadows_a_submodule() -> None:
    # ``import agent.x`` rebinds ``agent.x`` to the module, so a public ``x`` would flip
    # between a function and a module depending on import order.
    submodules = {m.name for m in pkgutil.iter_modules(agent.__path__)}
    assert not submodules & set(agent.__all__)


def test_our_errors_share_one_tree_and_the_models_do_not() -> None:
    ours = [getattr(agent, n) for n in agent.__all__ if n.endswith("Error") and n != "ToolError"]
    assert ours and all(issubclass(e, agent.AgentError) for e in ours)
    # a tool raises ToolError for the model to read and repair; the caller never sees it
    assert not issubclass(agent.ToolError, agent.AgentError)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Agnet'"):
        _ = agent.Agnet  # type: ignore[attr-defined]


def test_import_agent_stays_light() -> None:
    # ``import agent`` (and so ``agent --help``) must not pull in the heavy engines.
    code = (
        "import sys, agent; heavy = [m for m in ('langgraph', 'pymilvus', 'torch', "
        "'sentence_transformers', 'openai') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_subpackage_surface_is_pinned() -> None:
    assert set(SUBPACKAGE_SURFACES) == set(SUBPACKAGES), "a subpackage was added or removed"


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_subpackage_exports_exactly_its_pinned_names(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    assert set(exported) == SUBPACKAGE_SURFACES[package]
    assert exported, f"{package} exports nothing"
    assert len(exported) == len(set(exported))
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{package}.__all__ lists names it does not define: {missing}"
