"""The run_python tool: programs run in a limited child process; refusals say what to fix."""

from __future__ import annotations

import pytest

from agent.errors import ToolError
from agent.tooling import ToolArgumentsError
from tools.run_python import ProgramLimits, make_run_python_tool, run_program

# Small limits keep the runaway cases quick; the defaults are the same mechanism.
QUICK = ProgramLimits(cpu_seconds=1, wall_seconds=5.0, memory_bytes=256 * 1024 * 1024)


async def refusal(code: str, limits: ProgramLimits = QUICK) -> str:
    with pytest.raises(ToolError) as info:
        await run_program(code, limits)
    return str(info.value)


async def test_a_word_problem_program_prints_its_answer() -> None:
    tool = make_run_python_tool()
    code = (
        "import math\nfrom fractions import Fraction\n"
        "families_a, per_a = 3, 10\nfamilies_b, per_b = 15, 5\ngoal = 150\n"
        "def earned():\n    return families_a * per_a + families_b * per_b\n"
        "left = [goal - earned()]\n"
        "class Box:\n    def __init__(self, n):\n        self.n = n\n"
        "for _ in range(2):\n    left.append(Box(1).n)\n"
        "print(sum(left), math.ceil(2.5), Fraction(1, 3) + Fraction(1, 6))\n"
    )
    assert await tool.ainvoke(tool.validate({"code": code})) == "47 3 1/2"


async def test_the_schema_rejects_a_call_without_code() -> None:
    tool = make_run_python_tool()
    with pytest.raises(ToolArgumentsError) as info:
        tool.validate({"program": "print(1)"})
    assert {e.path for e in info.value.errors} >= {"code", "program"}


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("import os\nprint(os.getcwd())", "'import os' is not allowed"),
        ("print(().__class__.__bases__)", "line 1: the attribute '.__bases__' is not available"),
        ("g = (i for i in [1])\nprint(g.gi_frame)", "line 2: the attribute '.gi_frame'"),
        ("print(open('/etc/passwd').read())", "the name 'open' is not available"),
        ("print(eval('1+1'))", "the name 'eval' is not available"),
        ("print(__builtins__)", "the name '__builtins__' is not available"),
        ("from math import *\nprint(pi)", "import the names you need explicitly"),
        ("def f():\n    global x\nprint(1)", "global and nonlocal are not supported"),
        ("print(1", "line 1: SyntaxError"),
    ],
)
async def test_what_a_program_may_not_do_is_refused_before_it_runs(code: str, says: str) -> None:
    assert says in await refusal(code)


async def test_a_module_is_only_its_public_computation() -> None:
    # statistics imports sys; the program gets statistics' functions, not its imports.
    message = await refusal("import statistics\nprint(statistics.sys.modules)")
    assert "line 2: AttributeError" in message
    assert "Fix the program" in message


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("x = 1\nprint(x / 0)", "line 2: ZeroDivisionError: division by zero"),
        ("print(total)", "NameError: name 'total' is not defined"),
        ("x = 3", "the program printed nothing"),
        ("print('x' * 10_000)", "printed more than 4000 characters"),
        ("def f(n):\n    return f(n + 1)\nprint(f(0))", "RecursionError"),
    ],
)
async def test_a_failing_program_tells_the_model_what_went_wrong(code: str, says: str) -> None:
    assert says in await refusal(code)


async def test_runaway_programs_are_stopped_by_the_limits() -> None:
    assert "more than 1 s of CPU" in await refusal("while True:\n    pass")
    assert "memory" in await refusal("x = [0] * (10**9)\nprint(len(x))")
    slow = ProgramLimits(cpu_seconds=30, wall_seconds=0.5)
    assert "ran longer than 0.5 s" in await refusal("while True:\n    pass", slow)


async def test_a_too_long_program_is_refused_with_the_limit() -> None:
    message = await refusal("x = 1\n" * 1000 + "print(x)", ProgramLimits(max_length=100))
    assert "the limit is 100" in message


async def test_date_arithmetic_through_the_datetime_module() -> None:
    code = "import datetime\nprint(datetime.date(2024, 1, 31) + datetime.timedelta(days=1))"
    assert await run_program(code) == "2024-02-01"
