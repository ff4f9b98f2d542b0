"""The answer check finds wrong arithmetic steps, in plain text and LaTeX, and nothing else.

The answers here are shaped like the ones Qwen2.5-Coder writes on GSM8K (bench/agent_tasks.py):
LaTeX display blocks, units after results, money, percentages, list items, equations with
variables.
"""

from __future__ import annotations

import pytest

from tools.arithmetic_check import Miscalculation, find_miscalculations


def found(text: str) -> list[str]:
    return [str(m) for m in find_miscalculations(text)]


def test_a_wrong_sum_in_a_latex_block_is_found_with_the_right_value() -> None:
    answer = (
        "Adding these together:\n\\[\n3.79 + 4.5 = 8.38\n\\]\n\\[\n8.38 + 3.95 = 12.33\n\\]\n"
        "Therefore the average is \\(\\boxed{4.02}\\) inches."
    )
    assert find_miscalculations(answer) == [Miscalculation("3.79 + 4.5", "8.38", "8.29")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\[ 3.5 \\times 60 = 200 \\text{ minutes} \\]", ["3.5 * 60 = 210, not 200"]),
        ("\\[\\frac{20.10}{5} = 4.2\\]", ["((20.10)/(5)) = 4.02, not 4.2"]),
        ("The total is $34 - $29 = $6.", ["34 - 29 = 5, not 6"]),
        ("- Total: 10 + 6 + 6 = 24 dollars", ["10 + 6 + 6 = 22, not 24"]),
        ("so 1,200 + 300 = 1,400 people", ["1200 + 300 = 1500, not 1400"]),
        ("50 \\cdot 20\\% = 15", ["50 * 20% = 10, not 15"]),
        ("3 x 4 = 13 apples", ["3 * 4 = 12, not 13"]),
        ("2(3 + 4) = 15", ["2(3 + 4) = 14, not 15"]),
        ("Step 2. 5 + 3 = 9", ["5 + 3 = 8, not 9"]),
        ("16 - 33 = 17 truckloads", ["16 - 33 = -17, not 17"]),
        ("`0x10001 - 1 = 0x10000`, then `0x10000 / 256 = 4096`", ["65536 / 256 = 256, not 4096"]),
    ],
)
def test_wrong_steps_are_found_whatever_the_notation(text: str, expected: list[str]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "3.79 + 4.5 = 8.29",  # right
        "\\frac{20.01}{5} = 4.002 \\approx 4.00",  # rounded to the decimals shown
        "100 / 3 = 33 people",  # a whole number within 0.5
        "10 / 40 = 25%",  # a percentage of the result
        "\\frac{5}{100} \\times 180 = 0.05 \\times 180 = 9",  # a chain of right steps
        "B + 12 + 2 = 15",  # a variable in the expression
        "20 + 200 = 2x + 200",  # a variable on the right
        "60d = 2400",  # no operator
        "3.5 hours x 60 = 300",  # a word inside the expression: not sure what it means
        "x = 5 + 3",  # the right side is an expression
        "if a == 2 + 3 then",  # a comparison, not a step
        "1 / 0 = 5",  # refused by the calculator: skipped, never reported
        "64 * 1024 / 64 * 1024 = 1",  # the product after "/" read as the divisor
        "The meeting is on 2024-12-04.",
        "",
    ],
)
def test_nothing_is_reported_that_is_not_surely_wrong(text: str) -> None:
    assert found(text) == []


def test_at_most_three_distinct_problems_are_reported() -> None:
    text = "\n".join(f"{i} + 1 = {i + 5}" for i in range(10)) + "\n0 + 1 = 5"
    assert found(text) == ["0 + 1 = 1, not 5", "1 + 1 = 2, not 6", "2 + 1 = 3, not 7"]


def test_punctuation_after_a_result_ends_it_but_a_list_does_not() -> None:
    assert found("First 3.79 + 4.5 = 8.38, then we halve it.") == ["3.79 + 4.5 = 8.29, not 8.38"]
    assert found("so 2 + 2 = 5.") == ["2 + 2 = 4, not 5"]
    assert found("2 + 2 = 4,5,6") == []
