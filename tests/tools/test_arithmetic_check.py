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


# Steps with units. The wrong ones are shaped like those the 1.5B model wrote in the documents
# suite (bench/results/mixed-*.json), where a default in milliseconds is fitted into minutes.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Since 1000 milliseconds is equal to 1 second, 2.5 minutes is equal to 1500 seconds.",
            ["2.5 minutes = 150 seconds, not 1500 seconds"],
        ),
        (
            "150 seconds / 1000 milliseconds = 1.5",
            ["150 seconds / 1000 milliseconds = 150, not 1.5"],
        ),
        ("There are 2.5 minutes / 1000 ms = 25 delays", ["2.5 minutes / 1000 ms = 150, not 25"]),
        ("300 seconds = 28 hours", ["300 seconds = 0.0833333 hours, not 28 hours"]),
        (
            "\\[ 2.5 \\text{ minutes} = 1500 \\text{ seconds} \\]",
            ["2.5 minutes = 150 seconds, not 1500 seconds"],
        ),
        (
            "\\frac{86400000 \\text{ ms}}{120000 \\text{ ms}} = 72",
            ["((86400000 ms)/(120000 ms)) = 720, not 72"],
        ),
        ("10 MiB / 16 KiB = 625", ["10 MiB / 16 KiB = 640, not 625"]),
        ("64 KB = 60000 bytes", ["64 KB = 65536 bytes, not 60000 bytes"]),  # neither 1000 nor 1024
        ("10 minutes is 6000 seconds.", ["10 minutes = 600 seconds, not 6000 seconds"]),
        (
            "The default is 60000 milliseconds (1 hour), which fits",
            ["60000 milliseconds = 0.0166667 hour, not 1 hour"],
        ),
    ],
)
def test_wrong_steps_with_units_are_found_in_base_units(text: str, expected: list[str]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "300 seconds = 0.0035 days",  # rounded to the decimals shown
        "1 day = 86400 seconds",
        "45 minutes + 1.5 hours = 135 minutes",
        "5 days * 24 = 120 hours",  # a conversion factor without its unit: right as bare numbers
        "180 minutes / 60 = 3 hours",
        "3 hours * 60 = 180 minutes",  # time * number = time, right as bare numbers
        "64 KB = 65536 bytes",  # KB as 1024
        "64 KB = 64000 bytes",  # KB as 1000
        "150 seconds / 1000 ms = 150 delays",  # a ratio, then a count
        "1 hour = 60",  # a duration on the left, a bare number on the right: which unit?
        "1000 ms = 1 check",
        "we divide 150 seconds by 1000 ms = 150 s",  # a lone quantity inside the sentence's sum
        "It takes 2 hours and 30 minutes = 160 minutes",
        "x * 2 hours = 5 hours",  # a variable in the expression
        "2 hours = 2 * 60 = 120 minutes",  # the right side is another expression
        "1 month = 30 days",  # months and years are not units it knows
        "The interval is 5 minutes is 10 things",
        "16384 bytes (16 KiB)",  # restated in brackets, rightly
        "2 minutes (120 seconds by default)",  # the bracket says more than a quantity
        "64 * 1024 bytes (64 KB)",  # the bracket restates the whole product
    ],
)
def test_steps_with_units_are_reported_only_when_surely_wrong(text: str) -> None:
    assert found(text) == []
