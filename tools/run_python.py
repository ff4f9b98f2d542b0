"""The ``run_python`` tool: run a short program the model wrote and return what it printed.

Why a program: a code model asked to write one program for a word problem, and nothing else,
answers more GSM8K questions than it does reasoning in prose (``bench/agent_tasks.py``, the
``program`` arm). Inside the agent, with the other tools in its prompt, that gain has not
shown yet on the 1.5B default, so the tool is opt-in (``AGENT_TOOLS=...,run_python``); the
"Programs" of bench/RESULTS.md has the figures.

A program is checked against an allow-list first (``tools._program.check``; a refusal
goes back to the model as a ``ToolError`` naming the line), then runs in a child Python
(``-I -S``: no site-packages, no environment) under ``ProgramLimits``: CPU seconds, address
space, no files written, a wall-clock timeout and a cap on printed output. See
``tools/_program/`` for what a program may use and what this does not protect
against. The agent also runs a ```python block the model wrote as text, as a call of this tool
(``agent.loop.recover_tool_calls``): that is how small models write programs."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from agent.errors import ToolError
from agent.loop import PROGRAM_TOOL
from agent.tooling import FunctionTool
from tools._program.check import MODULES, ProgramError, check

__all__ = ["ProgramLimits", "RunPythonArgs", "make_run_python_tool", "run_program"]

_CHILD: Final = Path(__file__).with_name("_program") / "child.py"


@dataclass(frozen=True, slots=True)
class ProgramLimits:
    """What one program may use. Defaults suit grade-school to undergraduate arithmetic."""

    max_length: int = 4000
    """Characters of source."""
    cpu_seconds: int = 5
    wall_seconds: float = 10.0
    memory_bytes: int = 512 * 1024 * 1024
    """Address space of the child process (the interpreter itself takes about 20 MB)."""


DEFAULT_PROGRAM_LIMITS: Final = ProgramLimits()


class RunPythonArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        description=(
            "A short, complete Python program that computes the result and prints it with "
            "print(). Use variables named after the quantities in the problem. Available: "
            f"the usual builtins and 'import' of {', '.join(MODULES)}; no files, network or "
            "other modules."
        ),
    )


async def run_program(code: str, limits: ProgramLimits = DEFAULT_PROGRAM_LIMITS) -> str:
    """What ``code`` printed; ``ToolError`` saying why if it was refused or failed."""
    if len(code) > limits.max_length:
        raise ToolError(
            f"the program is too long ({len(code):,} characters; the limit is "
            f"{limits.max_length:,}): write a shorter one"
        )
    try:
        check(code)  # refuse early, without starting a process
    except ProgramError as exc:
        raise ToolError(str(exc)) from None
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-S", str(_CHILD), str(limits.cpu_seconds),
        str(limits.memory_bytes),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={}, cwd="/",
    )  # fmt: skip
    try:
        stdout, stderr = await asyncio.wait_for(
            process.communicate(code.encode()), limits.wall_seconds
        )
    except TimeoutError:
        raise ToolError(
            f"the program ran longer than {limits.wall_seconds:g} s and was stopped; "
            "make it compute the result directly"
        ) from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return _result(stdout, stderr, process.returncode, limits)


def _result(stdout: bytes, stderr: bytes, returncode: int | None, limits: ProgramLimits) -> str:
    try:
        report = json.loads(stdout)
    except ValueError:
        # The child died before it could report: a resource limit (SIGXCPU, an allocation
        # failing outside Python's MemoryError), never the program's own exception.
        if returncode == -signal.SIGXCPU:
            reason = f"it used more than {limits.cpu_seconds} s of CPU"
        elif b"MemoryError" in stderr:
            reason = "it exceeded the memory limit"
        else:
            reason = f"the interpreter exited with status {returncode}"
        raise ToolError(f"the program was stopped: {reason}") from None
    if "error" in report:
        raise ToolError(f"{report['error']}. Fix the program and run it again.")
    output = str(report["output"]).strip()
    if not output:
        raise ToolError("the program printed nothing: print the result with print(...)")
    return output


def make_run_python_tool(
    limits: ProgramLimits = DEFAULT_PROGRAM_LIMITS,
) -> FunctionTool[RunPythonArgs]:
    async def run_python(args: RunPythonArgs) -> str:
        return await run_program(args.code, limits)

    return FunctionTool(
        run_python,
        RunPythonArgs,
        name=PROGRAM_TOOL,
        description=(
            "Run a short Python program and return what it printed. Use it for any "
            "calculation with more than one step: write the quantities as variables, "
            "compute the answer, print it."
        ),
        timeout_s=limits.wall_seconds + 5,
    )
