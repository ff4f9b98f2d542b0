"""Run the program an answer shows and compare what it prints with the answer it gives.

Small code models write a program in their answer and then make up its output ("Running this,
we get: 30.0" for a program that prints 18.0). The answer check (``AgentCore.check_answer``)
runs the program with the ``run_python`` tool's sandbox (an allow-listed interpreter in a
limited child process, ``tools.run_python.run_program``) and sends a mismatch back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agent.errors import ToolError
from agent.loop._recovery import PROGRAM_TOOL, recover_tool_calls
from agent.loop.agreement import answer_value

RunProgram = Callable[[str], Awaitable[str]]  # a program's text -> what it printed

_FENCED = re.compile(r"```.*?(?:```|$)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class MisreportedOutput:
    """The program an answer shows prints one value and the answer gives another."""

    printed: str
    answered: str

    def __str__(self) -> str:
        return f"the program in your answer prints {self.printed}, not {self.answered}"


async def misreported_output(answer: str, run_program: RunProgram) -> MisreportedOutput | None:
    """The answer's first ```python program, run, when what it prints is not the value the
    answer gives (its "The answer is" line, ``\\boxed{}`` or last number outside code blocks).

    Small code models write a program in their answer and then make up its output ("Running
    this, we get: 30.0" for a program that prints 18.0). Of the 424 distinct agent answers
    saved in bench/results before this check, 16 show a program and this finds a mismatch in
    9: all 9 answers wrong, 4 of their programs printing the right value, no right answer
    flagged. A program that fails, or an answer that gives no value outside its code, says
    nothing sure: ``None``."""
    found = recover_tool_calls(answer, {PROGRAM_TOOL})
    code = found[0]["args"].get("code") if found else None
    answered = answer_value(_FENCED.sub(" ", answer))
    if not isinstance(code, str) or answered is None:
        return None
    try:
        printed = answer_value(await run_program(code))
    except ToolError:
        return None
    if printed is None or _agrees(printed, answered):
        return None
    return MisreportedOutput(_shown(printed), _shown(answered))


def _agrees(printed: float, answered: float) -> bool:
    """Equal once rounded to the decimals the answer shows (``0.33`` for 0.3333...)."""
    if "e" in repr(answered):
        return math.isclose(printed, answered, rel_tol=1e-6)
    decimals = 0 if answered.is_integer() else len(repr(answered).partition(".")[2])
    return math.isclose(round(printed, decimals), answered, rel_tol=1e-9, abs_tol=1e-12)


def _shown(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e18 else f"{value:.10g}"


__all__ = ["MisreportedOutput", "RunProgram", "misreported_output"]
