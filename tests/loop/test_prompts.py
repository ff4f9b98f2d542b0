"""The system prompt follows the mode and asks for programs only when run_python is a tool."""

from __future__ import annotations

from agent.loop import FINAL_ANSWER, PROGRAM_TOOL, system_prompt_for


def test_programs_are_asked_for_only_with_the_program_tool() -> None:
    assert "Python program" not in system_prompt_for("native", ["calculator", "rag_search"])
    assert "Python program" not in system_prompt_for("required", ["calculator"])
    native = system_prompt_for("native", ["calculator", PROGRAM_TOOL])
    assert "reply must start with a short Python program in one ```python block" in native
    assert "the calculator for arithmetic" not in native  # one way to compute, not two
    required = system_prompt_for("required", [PROGRAM_TOOL])
    # in required mode every step is a call: the program is the tool's argument, no fence
    assert f"call {PROGRAM_TOOL} with a short Python program" in required
    assert FINAL_ANSWER in required and "```" not in required
