"""The run protocol wired by ``graphs.agent_graph``: prompts, calls, answer checks, output."""

from agent.loop._answer_stream import AnswerStream, WrittenCallFilter
from agent.loop._recovery import PROGRAM_TOOL, cut_written_call, recover_tool_calls
from agent.loop.agreement import complete_by_agreement
from agent.loop.budgets import add_usage, budget_error, limit_error
from agent.loop.final_answer import FINAL_ANSWER, final_answer_spec
from agent.loop.givens import unused_givens
from agent.loop.output import OutputSpec, output_feedback, output_prompt, output_spec
from agent.loop.probe import (
    ProbeResult,
    ServerProfile,
    cached_profile,
    describe_mode,
    probe_server,
    server_profile,
)
from agent.loop.program_opinion import RunProgram, second_opinions
from agent.loop.prompts import RESCUE_PROMPT, check_feedback, settle, system_prompt_for
from agent.loop.runner import ToolStep, awaiting_approval, run_tool_calls
from agent.loop.transcript import (
    ANSWER_CHECK,
    INTERRUPTED,
    close_interrupted_calls,
    current_run,
    first_question,
    is_question,
    not_run,
    pending_calls,
    run_result,
    uncommitted_messages,
)
from agent.loop.trim import complete_within, estimate_tokens, fit_messages

__all__ = [
    "ANSWER_CHECK",
    "FINAL_ANSWER",
    "INTERRUPTED",
    "PROGRAM_TOOL",
    "RESCUE_PROMPT",
    "AnswerStream",
    "add_usage",
    "awaiting_approval",
    "budget_error",
    "complete_by_agreement",
    "OutputSpec",
    "ProbeResult",
    "RunProgram",
    "ServerProfile",
    "ToolStep",
    "WrittenCallFilter",
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
    "limit_error",
    "not_run",
    "output_feedback",
    "output_prompt",
    "output_spec",
    "probe_server",
    "recover_tool_calls",
    "pending_calls",
    "run_result",
    "run_tool_calls",
    "second_opinions",
    "server_profile",
    "settle",
    "system_prompt_for",
    "uncommitted_messages",
    "unused_givens",
]
