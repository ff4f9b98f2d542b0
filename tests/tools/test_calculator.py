"""The calculator tool: correct values, clean refusals, and bounds checked before any work."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from agent.errors import ConfigError, ToolError
from agent.tooling import ToolArgumentsError
from tools.calculator import DEFAULT_LIMITS, CalculatorLimits, evaluate, make_calculator_tool

# A refusal is a few microseconds of work; this bound only catches a check that ran *after*
# the computation (factorial(10**7), 10**10**8, 2**2**64 take seconds, or never finish).
REFUSAL_DEADLINE_S = 2.0  # generous: the machine is shared and noisy


async def calc(expression: str, limits: CalculatorLimits = DEFAULT_LIMITS) -> Any:
    tool = make_calculator_tool(limits)
    return await tool.ainvoke(tool.validate({"expression": expression}))


async def refusal(expression: str, limits: CalculatorLimits = DEFAULT_LIMITS) -> str:
    started = time.perf_counter()
    with pytest.raises(ToolError) as info:
        await calc(expression, limits)
    elapsed = time.perf_counter() - started
    assert elapsed < REFUSAL_DEADLINE_S, f"refusing {expression[:40]!r} took {elapsed:.3f}s"
    return str(info.value)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("2 ** 3 ** 2", "512"),  # right-associative, as in Python
        ("-2 ** 2", "-4"),  # ** binds tighter than unary minus
        ("-3 + +5", "2"),
        ("--3", "3"),
        ("2**-1", "0.5"),
        ("7 // 2", "3"),
        ("-7 // 2", "-4"),
        ("-7 % 3", "2"),
        ("7 % -3", "-2"),
        ("7 / 2", "3.5"),
        ("(1234 + 5678) / 2", "3456"),  # integral float shown without ".0"
        ("0.1 + 0.2", "0.3"),  # 15 significant digits hide binary noise
        ("1 / 3", "0.333333333333333"),
        ("1.5 * 4", "6"),
        ("1e3 + 1", "1001"),
        ("2.5e-3 * 4", "0.01"),
        ("1_000 * 3", "3000"),
        ("1e20", "1e+20"),  # past 1e15 a float is no longer shown as an integer
        ("2 ** 100", "1267650600228229401496703205376"),  # integers are exact
        ("factorial(20)", "2432902008176640000"),
        ("factorial(5.0)", "120"),
        ("sqrt(16)", "4"),
        ("sqrt(2)", "1.4142135623731"),
        ("log(e)", "1"),
        ("log(100, 10)", "2"),
        ("log(8, 2)", "3"),
        ("log10(1000)", "3"),
        ("log2(1024)", "10"),
        ("exp(0)", "1"),
        ("sin(pi / 2)", "1"),
        ("cos(0)", "1"),
        ("tan(0)", "0"),
        ("asin(1) * 2", "3.14159265358979"),
        ("acos(1)", "0"),
        ("atan(1) * 4", "3.14159265358979"),
        ("abs(-3.5)", "3.5"),
        ("round(2.567, 2)", "2.57"),
        ("round(1234.5678, -2)", "1200"),
        ("round(2.5)", "2"),  # Python's round-half-to-even
        ("floor(-2.1)", "-3"),
        ("ceil(2.1)", "3"),
        ("min(3, 1, 2)", "1"),
        ("max(3, 1.5, 2)", "3"),
        ("hypot(3, 4)", "5"),
        ("pi", "3.14159265358979"),
        ("tau / 2", "3.14159265358979"),
        ("e ** 2", "7.38905609893065"),
        ("  2 *\n 21 ", "42"),  # models wrap lines; Python would call that a syntax error
    ],
)
async def test_values(expression: str, expected: str) -> None:
    assert await calc(expression) == expected


async def test_result_is_a_bare_string() -> None:
    result = await calc("6 * 7")
    assert isinstance(result, str)
    assert result == "42"


async def test_long_flat_sum_is_not_nesting() -> None:
    # 200 terms in 399 characters: one level of nesting as a reader sees it.
    assert await calc("+".join(["1"] * 200)) == "200"


async def test_integer_limit_is_inclusive() -> None:
    assert await calc("10 ** 999") == "1" + "0" * 999
    assert "too large" in await refusal("10 ** 999 * 10")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("9**9**9", ["too large", "9 ** 387420489", "369,693,100 digits", "limit is 1,000"]),
        ("10**100000", ["too large", "100,001 digits"]),
        ("10**10**8", ["too large", "digits"]),
        ("2**2**64", ["too large", "far more than a million digits"]),
        ("2**(10**999)", ["too large"]),
        ("factorial(100000)", ["factorial(100000) is too large", "456,574 digits"]),
        ("factorial(10**7)", ["too large"]),
        ("factorial(10**100)", ["factorial of a number over 1,000,000", "too large"]),
        ("factorial(-1)", ["non-negative whole number"]),
        ("factorial(2.5)", ["whole number", "2.5"]),
        ("10**500 * 10**500", ["too large", "1,001 digits"]),
        ("round(5, -10**9)", ["ndigits must be between -300 and 300"]),
    ],
)
async def test_size_bounds_refuse_before_computing(expression: str, expected: list[str]) -> None:
    message = await refusal(expression)
    for part in expected:
        assert part in message


async def test_deep_parentheses_refused_before_parsing() -> None:
    deep = "(" * 1000 + "1" + ")" * 1000
    assert "too long (2,001 characters; the limit is 500)" in await refusal(deep)
    message = await refusal("(" * 100 + "1" + ")" * 100)
    assert "parentheses are nested too deeply (more than 50 levels)" in message


async def test_deep_operator_nesting_refused() -> None:
    assert "nested too deeply (more than 50 levels)" in await refusal("-" * 100 + "1")
    assert "nested too deeply" in await refusal("sqrt(" * 60 + "1" + ")" * 60)
    assert "nested too deeply" in await refusal("2**" * 60 + "1")


async def test_parser_crash_on_deep_input_becomes_a_refusal() -> None:
    # With the length and depth bounds lifted, CPython's own parser hits its recursion limit.
    lifted = CalculatorLimits(max_length=10**6, max_depth=10**6)
    message = await refusal("-" * 5000 + "1", lifted)
    assert "nested too deeply to parse" in message


async def test_long_input_refused() -> None:
    message = await refusal("1+" * 300 + "1")
    assert "too long (601 characters; the limit is 500)" in message


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("x + 1", ["unknown name 'x'", "variables are not supported", "sqrt"]),
        ("(1).__class__", ["attribute access", "__class__"]),
        ("().__class__.__bases__[0]", ["subscripts", "__bases__"]),
        ("math.sqrt(2)", ["attribute access", "write sqrt directly"]),
        ("__import__('os')", ["unknown function '__import__()'"]),
        ("eval('1')", ["unknown function 'eval()'"]),
        ("(lambda: 1)()", ["lambda functions"]),
        ("lambda: 1", ["lambda functions", "lambda: 1"]),
        ("[x for x in range(3)]", ["list comprehensions"]),
        ("sum(x for x in range(3))", ["unknown function 'sum()'"]),
        ("max(x for x in range(3))", ["generator expressions"]),
        ("{x: 1 for x in range(3)}", ["dict comprehensions"]),
        ("[1, 2][0]", ["subscripts"]),
        ("'abc'", ["strings are not supported"]),
        ("True + 1", ["booleans (True/False) are not supported"]),
        ("None", ["literals like None"]),
        ("1 < 2", ["comparisons"]),
        ("1 and 2", ["boolean logic"]),
        ("not 1", ["'not' is not supported"]),
        ("1 if 2 else 3", ["conditional expressions"]),
        ("(y := 2)", ["assignment (:=)"]),
        ("f'{1}'", ["f-strings"]),
        ("1j * 2", ["complex numbers (1j)"]),
        ("sqrt", ["'sqrt' is a function", "sqrt(2)"]),
        ("abs(x=-1)", ["keyword arguments"]),
        ("max(*[1, 2])", ["star-unpacking"]),
        ("min()", ["min() takes at least 1 argument(s), got 0"]),
        ("sqrt(1, 2)", ["sqrt() takes 1 argument(s), got 2"]),
        ("round(1, 2, 3)", ["round() takes 1 or 2 argument(s), got 3"]),
        ("1,234 + 1", ["commas", "thousands separators"]),
        ("2 <<3", ["'<<' (bit shift) is not supported"]),
        ("6 & 3", ["bitwise AND"]),
        ("~1", ["bitwise NOT"]),
        ("2 x", ["not a valid expression", "invalid syntax", "Write one arithmetic expression"]),
        ("50%", ["not a valid expression"]),
        ("", ["the expression is empty"]),
        ("1\x00", ["not a valid expression"]),
    ],
)
async def test_disallowed_constructs_are_named(expression: str, expected: list[str]) -> None:
    message = await refusal(expression)
    for part in expected:
        assert part in message, message


async def test_caret_is_not_xor() -> None:
    message = await refusal("2^10")
    assert "'^' is bitwise XOR, not a power" in message
    assert "use ** for powers" in message


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 / 0", "1 / 0: division by zero"),
        ("7 // 0", "7 // 0: division by zero"),
        ("5 % 0.0", "5 % 0.0: division by zero"),
        ("0 ** -1", "division by zero"),
        ("sqrt(-1)", "sqrt(-1) is undefined (math domain error"),
        ("log(0)", "log(0) is undefined"),
        ("log(-5, 10)", "is undefined"),
        ("log(5, 1)", "base cannot be 1"),
        ("asin(2)", "asin(2) is undefined"),
        ("(-8) ** (1/3)", "complex number; only real results are supported"),
        ("1e308 * 10", "overflows"),
        ("1e999", "overflows"),
        ("exp(1000)", "exp(1000) overflows"),
        ("1.5 ** 10**999", "overflows"),
        ("10**999 / 3", "too large for a floating-point result"),
        ("hypot(10**999, 1)", "overflows"),
    ],
)
async def test_math_errors_are_refused_cleanly(expression: str, expected: str) -> None:
    assert expected in await refusal(expression)


async def test_results_never_inf_or_nan() -> None:
    # inf - inf would be nan: the overflow is refused at the first step that produces inf.
    assert "overflows" in await refusal("1e308 * 10 - 1e308 * 10")


def test_validate_reports_missing_field() -> None:
    tool = make_calculator_tool()
    with pytest.raises(ToolArgumentsError) as info:
        tool.validate({})
    assert [(e.path, e.message) for e in info.value.errors] == [
        ("expression", "required field is missing")
    ]
    assert "expression" in str(info.value)


def test_validate_reports_extra_field() -> None:
    tool = make_calculator_tool()
    with pytest.raises(ToolArgumentsError) as info:
        tool.validate({"expression": "1+1", "precision": 3})
    assert [e.path for e in info.value.errors] == ["precision"]
    assert "unexpected field" in str(info.value)


def test_validate_rejects_non_string_expression() -> None:
    tool = make_calculator_tool()
    with pytest.raises(ToolArgumentsError) as info:
        tool.validate({"expression": 12})
    assert [e.path for e in info.value.errors] == ["expression"]


def test_schema_teaches_the_syntax() -> None:
    tool = make_calculator_tool()
    assert tool.name == "calculator"
    schema = tool.parameters_schema()
    assert schema["required"] == ["expression"]
    assert schema["additionalProperties"] is False
    description = schema["properties"]["expression"]["description"]
    for taught in ("**", "^ is NOT power", "log(x, base)", "factorial", "pi", "1e3"):
        assert taught in description


def test_limits_refuse_digit_bound_past_python_str_limit() -> None:
    with pytest.raises(ConfigError, match="max_digits"):
        CalculatorLimits(max_digits=100_000)


async def test_custom_limits_apply() -> None:
    small = CalculatorLimits(max_length=20, max_depth=3, max_digits=10)
    assert await calc("2 ** 33", small) == "8589934592"
    assert "11 digits" in await refusal("2 ** 34", small)
    assert "more than 3 levels" in await refusal("-(-(-(-1)))", small)
    assert "limit is 20" in await refusal("1 + 1 + 1 + 1 + 1 + 1", small)
    assert math.isclose(float(await calc("sqrt(2) ** 2", small)), 2.0)


async def test_xor_refusal_offers_the_power_expression() -> None:
    message = await refusal("3.5 ^ 2 + 1")
    assert "Did you mean: 3.5 ** 2 + 1" in message


def test_postfix_factorial_gets_its_own_fix() -> None:
    tool = make_calculator_tool()
    with pytest.raises(ToolError, match=r"write factorial\(n\), not n!"):
        evaluate("7!", CalculatorLimits())
    assert tool.name == "calculator"
