"""Numbers the question gives that an answer drawn from looked-up documents leaves unused.

A small model that looks a value up often answers with that value and stops: asked for the
default ``historySize`` and how many of 100 lines are no longer kept, it answers "30". The
question's own numbers (100) are missing from such an answer, so the answer check sends it
back once, naming them. Only numbers that stand alone count: ``HTTP/2``, ``utf8`` or ``v20``
are names, not givens, and 0 and 1 are left out: an answer uses them without writing them
("subtract 1" done as ``65537 - 1``, but also "1 << 15" written as 32768).

Measured on the saved GSM8K runs (bench/results), where nothing is looked up, the same test
flags 28 % of right agent answers and 34 % of wrong ones: a model that reasons it out in text
often drops a given it used, or one that does not matter. So the check runs only on answers of
a run that read a document search's excerpts, where an unused given means a computation not
done.

A model that restates the question ("With keepAlive on and 7 hosts, ...") uses its numbers in
words and still answers the value it looked up ("... the default maxFreeSockets is 256").
``looked_up_answer`` catches that: the answer's value is a number the excerpts state and none
of the question's. Measured offline over the 331 distinct documents answers then saved from
the agent, with the top 3 excerpts the search returns for each question: of those
``unused_givens`` passes, it flags 13 of the 133 wrong answers the check had not sent back and
none of the 119 right ones (among answers already revised once, which the check does not send
back again, 4 wrong and 1 right).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.loop.agreement import answer_value, parse_number

_GIVEN = re.compile(r"(?<![\w./$-])\d[\d,]*(?:\.\d+)?(?![\w/])")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
# a number the documents state: not part of a name, nor an excerpt's label ("[2] file: ...")
_STATED = re.compile(r"(?<![\w./$\[-])\d[\d,]*(?:\.\d+)?(?![\w/\]])")


@dataclass(frozen=True, slots=True)
class UnusedGivens:
    """The numbers of the question, as written there, that the answer does not use."""

    numbers: tuple[str, ...]

    def __str__(self) -> str:
        return f"the question gives {', '.join(self.numbers)}, which your answer does not use"


def _givens(question: str) -> dict[float, str]:
    """The numbers ``question`` gives, by value, as first written there (0 and 1 left out)."""
    found: dict[float, str] = {}
    for shown in _GIVEN.findall(question):
        value = parse_number(shown)
        if value is not None and value not in (0.0, 1.0):
            found.setdefault(value, shown.rstrip(".,"))
    return found


def unused_givens(question: str, answer: str) -> UnusedGivens | None:
    """The numbers ``question`` gives that appear nowhere in ``answer`` (in any digit form:
    ``12,000`` is ``12000``), or None when it uses them all or gives none."""
    used = {parse_number(n) for n in _NUMBER.findall(answer)}
    missing = [shown for value, shown in _givens(question).items() if value not in used]
    return UnusedGivens(tuple(missing)) if missing else None


@dataclass(frozen=True, slots=True)
class LookedUpAnswer:
    """An answer whose value is a number the documents state, where the question gives others
    to compute with: the value looked up, answered as it is."""

    value: str  # the answer's value
    givens: tuple[str, ...]  # the question's numbers, as written there

    def __str__(self) -> str:
        return (
            f"the answer is {self.value}, a value the documents state, not one computed with "
            f"{', '.join(self.givens)} from the question"
        )


def looked_up_answer(question: str, answer: str, excerpts: str) -> LookedUpAnswer | None:
    """``LookedUpAnswer`` when the value ``answer`` gives is written in ``excerpts`` and is
    none of the numbers ``question`` gives (0 and 1 are never taken for either); None when it
    is, when the question gives no number, or when the answer has no value."""
    value = answer_value(answer)
    if value is None or value in (0.0, 1.0):
        return None
    givens = _givens(question)
    if not givens or value in givens:
        return None
    if value not in {parse_number(n) for n in _STATED.findall(excerpts)}:
        return None
    return LookedUpAnswer(format(value, ".15g"), tuple(givens.values()))


__all__ = ["LookedUpAnswer", "UnusedGivens", "looked_up_answer", "unused_givens"]
