"""An answer that stops before it states its answer.

A small model that works through numbered steps sometimes ends on a step about the answer
instead of the answer: "16384 / 16 = 1024 ... Step 3: Return the result", "Step 4: Formatting
the answer. The final answer should be a number, so I'll format it as a string.", or "3.
Finally, I'll format the result as a JSON object:" and an empty code block. The value it computed
is in the text, but the last number there is the step's own label, so a reader (and any
extraction of "the final number") takes 3 or 4 for the answer.

Such an answer is told so and asked for its final answer once (the answer check). Measured
offline over the 1,728 distinct GSM8K and documents answers saved in bench/results (the
agent's, the bare model's, the plain tool loop's, programs'): the test below flags 5, all the
agent's and all wrong, 3 of them with the right value computed in an earlier step; it flags no
right answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# a number that stands alone: the 2 of "HTTP/2" and the 8 of "utf8" are part of a name
_NUMBER = re.compile(r"(?<![A-Za-z_\d])(?<![A-Za-z_]/)-?\d[\d,]*(?:\.\d+)?")
# a step's label at the start of a line, after any list or heading markup: "Step 3", "3. ", "3) "
_LABEL = re.compile(
    r"^[ \t>*#-]*(?:step[ \t]+(?P<step>\d+)\b|(?P<item>\d+)[.)](?=\s))",
    re.IGNORECASE | re.MULTILINE,
)
_MARKED = re.compile(r"(?:answer is|answer:|\\boxed\{)([^\n]*)", re.IGNORECASE)
_SHOWN = 80  # characters of the step's line quoted back to the model


@dataclass(frozen=True, slots=True)
class UnfinishedAnswer:
    """An answer whose last number is the label of a step: it ends before its answer."""

    step: str  # the line of that step, cut to ``_SHOWN`` characters

    def __str__(self) -> str:
        return f'the answer stops at "{self.step}" before it gives the final answer'


def unfinished_answer(answer: str) -> UnfinishedAnswer | None:
    """``UnfinishedAnswer`` when the last number of ``answer`` is a step's label ("Step 3:
    Return the result"); None when it states a value after it, or marks one ("The answer is
    N", ``\\boxed{N}``), or has no number at all."""
    if any(_NUMBER.search(m) for m in _MARKED.findall(answer)):
        return None
    numbers = list(_NUMBER.finditer(answer))
    if not numbers:
        return None
    last = numbers[-1].start()
    labels = (m for m in _LABEL.finditer(answer) if last in (m.start("step"), m.start("item")))
    label = next(labels, None)
    if label is None:
        return None
    step = answer[label.start() :].split("\n", 1)[0].strip(" \t>*#-")
    return UnfinishedAnswer(step if len(step) <= _SHOWN else step[: _SHOWN - 3] + "...")


__all__ = ["UnfinishedAnswer", "unfinished_answer"]
