"""Exit codes: one table for every ``agent`` command, shown in ``--help`` and the README.

Scripts can tell "fix your configuration" (2) from "the server is down" (3) from "the run gave
up" (4) without parsing messages. An ``AgentError`` maps to the code of its class, most specific
class first.
"""

from __future__ import annotations

from enum import IntEnum

from agent.errors import (
    AgentError,
    ConfigError,
    InputError,
    KnowledgeBaseError,
    LLMResponseError,
    LLMUnavailableError,
    RunError,
    ThreadError,
)


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    LLM_UNAVAILABLE = 3
    RUN_STOPPED = 4
    LLM_ERROR = 5
    THREAD = 6
    AWAITING_APPROVAL = 7
    INTERRUPTED = 130


MEANING: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "the command failed (vector store, MCP server, local vLLM, ...)",
    ExitCode.USAGE: "usage or configuration error (bad flag, bad AGENT_* variable, bad input)",
    ExitCode.LLM_UNAVAILABLE: "the LLM server cannot be reached",
    ExitCode.RUN_STOPPED: (
        "the run stopped before an answer (step/repair budget, tool crash, run deadline)"
    ),
    ExitCode.LLM_ERROR: "the LLM server answered with an error",
    ExitCode.THREAD: "the thread cannot be found or resumed, or another run holds it",
    ExitCode.AWAITING_APPROVAL: (
        "the run stopped before tool calls that need approval (agent ask --thread ID --approve "
        "CALL or --reject CALL:reason goes on)"
    ),
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}

# Most specific class first: the first match decides.
_BY_ERROR: tuple[tuple[type[AgentError], ExitCode], ...] = (
    (ConfigError, ExitCode.USAGE),
    (InputError, ExitCode.USAGE),
    (KnowledgeBaseError, ExitCode.USAGE),  # a KB file or entry that is not valid: bad input
    (LLMUnavailableError, ExitCode.LLM_UNAVAILABLE),
    (RunError, ExitCode.RUN_STOPPED),
    (LLMResponseError, ExitCode.LLM_ERROR),
    (ThreadError, ExitCode.THREAD),
)

EXIT_CODES_HELP = "Exit codes: " + "; ".join(f"{c.value} {MEANING[c]}" for c in ExitCode) + "."


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for an error leaving a command."""
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    for cls, code in _BY_ERROR:
        if isinstance(exc, cls):
            return code
    return ExitCode.FAILED


def exit_codes_table() -> str:
    """The table as Markdown rows, for the README (a test keeps the two in step)."""
    rows = ["| code | meaning |", "| --- | --- |"]
    rows += [f"| {c.value} | {MEANING[c]} |" for c in ExitCode]
    return "\n".join(rows)
