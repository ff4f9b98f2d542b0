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
        "for _ in range(2):\n    left.append(1)\n"
        "print(sum(left), math.ceil(2.5), Fraction(1, 3) + Fraction(1, 6))\n"
    )
    assert await tool.ainvoke(tool.validate({"code": code})) == "47 3 1/2"


# The interpreter walks the syntax tree (no exec): what programs models write must still run.
LANGUAGE = [
    ("def f(a, b=2, *rest, scale=1, **named):\n    return (a + b + sum(rest)) * scale\n"
     "print(f(1), f(1, 3, 4, scale=2), f(**{'a': 5}))", "3 16 7"),
    ("def outer(n):\n    def inner(k):\n        return n * k\n    return inner\n"
     "print(outer(3)(4), sorted([3, 1, 2], key=lambda x: -x), list(map(outer(2), [1, 2])))",
     "12 [3, 2, 1] [2, 4]"),
    ("squares = {n: n * n for n in range(4) if n % 2}\nodd = [x for row in [[1, 2], [3]] "
     "for x in row if x % 2]\nprint(squares, odd, sum(x for x in odd), {c for c in 'aa'})",
     "{1: 1, 3: 9} [1, 3] 4 {'a'}"),
    ("price = 3.456\nprint(f'${price:.2f} {price!r} {10:>4}|', '{} and {:.1f}'.format(1, 2))",
     "$3.46 3.456   10| 1 and 2.0"),
    ("n, total = 0, 0\nwhile True:\n    n += 1\n    if n % 2:\n        continue\n"
     "    if n > 6:\n        break\n    total += n\nelse:\n    total = -1\nprint(total)", "12"),
    ("for i in range(2):\n    pass\nelse:\n    print('done', i)", "done 1"),
    ("first, *middle, last = [1, 2, 3, 4]\ncounts = {'a': 1}\ncounts['a'] += 2\n"
     "grid = [[0] * 2]\ngrid[0][1] = 5\ndel counts['a']\nprint(first, middle, last, counts, grid)",
     "1 [2, 3] 4 {} [[0, 5]]"),
    ("try:\n    x = 1 / 0\nexcept (ValueError, ZeroDivisionError) as e:\n    x = str(e)\n"
     "finally:\n    y = 'f'\nprint(x, y)", "division by zero f"),
    ("def main():\n    print('main', __name__)\nif __name__ == '__main__':\n    main()",
     "main __main__"),
    ("x = 5\nprint(1 < x <= 5, x if x > 9 else -x, not x, x and 0 or 7, (y := 3) + y)",
     "True -5 False 7 6"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "printed"), LANGUAGE)
async def test_the_language_word_problem_programs_use(code: str, printed: str) -> None:
    assert await run_program(code) == printed


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
        ("class Box:\n    pass", "line 1: classes are not supported; use functions"),
        ("def g():\n    yield 1", "line 2: generators (yield) are not supported"),
        ("with x:\n    pass", "'with' is not supported"),
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
        (
            "def f(n):\n    try:\n        return f(n + 1)\n    except Exception:\n"
            "        return 0\nprint(f(0))",
            "RecursionError",
        ),  # a program cannot swallow it
        ("def f():\n    pass\nprint(f.x)", "line 3: AttributeError: 'x' is not available"),
        ("print('{0.real}'.format(1))", "format field '{0.real}' is not supported"),
        ("x = [1]\nx.y = 2", "line 2: cannot assign to attribute"),
        ("raise ValueError('bad input')", "line 1: ValueError: bad input"),
        ("break", "'break' outside a function or loop"),
        ("def f(a):\n    return a\nprint(f(1, 2))", "TypeError: f(): too many positional"),
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
