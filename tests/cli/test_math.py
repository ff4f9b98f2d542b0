"""LaTeX maths in an answer as the terminal shows it (display only)."""

from __future__ import annotations

import pytest

from agent.cli._math import plain_math

# as Qwen2.5-Coder-1.5B writes a GSM8K answer (bench/results)
QWEN = (
    "The truck's tank is half full:\n"
    "\\[\n\\text{Gas in the truck's tank} = \\frac{1}{2} \\times 20 = 10 \\text{ gallons}\n\\]\n"
    "Therefore, the answer is \\(\\boxed{14}\\)."
)


@pytest.mark.parametrize(
    ("tex", "shown"),
    [
        (
            QWEN,
            "The truck's tank is half full:\nGas in the truck's tank = 1/2 × 20 = 10 gallons\n"
            "Therefore, the answer is 14.",
        ),
        ("\\( P = \\frac{R + 10}{2} \\)", "P = (R + 10)/2"),
        ("\\(\\frac{124,600}{2}\\)", "124,600/2"),
        ("\\( \\frac{\\frac{1}{2}}{3} \\)", "(1/2)/3"),  # nested
        ("\\( x \\le 5 \\), \\( 90^\\circ \\), \\( \\sqrt{16} = 4 \\)", "x ≤ 5, 90°, √16 = 4"),
        ("$$ 3 \\cdot 4 \\div 2 $$", "3 · 4 ÷ 2"),
        ("\\( \\left( 2 + 3 \\right) \\% \\)", "( 2 + 3 ) %"),
        ("\\( \\unknown{x} \\)", "\\unknown{x}"),  # kept as written
    ],
)
def test_maths_spans_become_plain_text(tex: str, shown: str) -> None:
    assert plain_math(tex) == shown


@pytest.mark.parametrize(
    "text",
    [
        "no maths at all, $5 and $6",
        "C:\\Users\\ada\\file.txt is the path",
        "```python\nprint('\\\\(x\\\\)', r'\\frac{1}{2}')\n```",  # code is code
        "`\\(x\\)` in a span",
        "an unclosed \\( \\frac{1}{2} formula",
    ],
)
def test_text_outside_maths_is_kept(text: str) -> None:
    assert plain_math(text) == text
