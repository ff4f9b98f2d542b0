"""The answer check's program run: the program an answer shows, run in the run_python sandbox,
against the value the answer gives."""

from __future__ import annotations

from agent.loop import check_feedback
from agent.loop.program_check import MisreportedOutput, misreported_output
from tools.run_python import run_program

PROGRAM = (
    "```python\nlimit = 3\nwindow = 600\nper_hour = limit / window * 60 * 60\nprint(per_hour)\n```"
)


async def test_a_made_up_output_is_reported_with_what_the_program_prints() -> None:
    # seen from Qwen2.5-Coder-1.5B on the mixed suite: the program is right, its output made up
    answer = f"Let's compute:\n\n{PROGRAM}\n\nRunning this, we get:\n\n```python\n30.0\n```\n\n"
    answer += "So the answer is \\boxed{30}."
    found = await misreported_output(answer, run_program)
    assert found == MisreportedOutput(printed="18", answered="30")
    feedback = check_feedback([found])
    assert "it prints 18, but your answer says 30" in feedback
    assert "calculator" not in feedback  # not listed as a wrong arithmetic step


async def test_agreeing_failing_or_unclaimed_programs_say_nothing() -> None:
    async def nothing(answer: str) -> MisreportedOutput | None:
        return await misreported_output(answer, run_program)

    assert await nothing(f"{PROGRAM}\nThe answer is 18.") is None
    assert await nothing(f"{PROGRAM}\nThe answer is 18.0 renegotiations.") is None
    assert await nothing("```python\nprint(1 / 3)\n```\nThe answer is 0.33.") is None  # rounded
    assert await nothing("```python\nprint(1 / 0)\n```\nThe answer is 5.") is None  # it fails
    assert await nothing("```python\nimport os\nprint(1)\n```\nThe answer is 5.") is None
    assert await nothing(PROGRAM) is None  # no value outside the code: nothing claimed
    assert await nothing("No program here. The answer is 30.") is None
