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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.loop.agreement import parse_number

_GIVEN = re.compile(r"(?<![\w./$-])\d[\d,]*(?:\.\d+)?(?![\w/])")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class UnusedGivens:
    """The numbers of the question, as written there, that the answer does not use."""

    numbers: tuple[str, ...]

    def __str__(self) -> str:
        return f"the question gives {', '.join(self.numbers)}, which your answer does not use"


def unused_givens(question: str, answer: str) -> UnusedGivens | None:
    """The numbers ``question`` gives that appear nowhere in ``answer`` (in any digit form:
    ``12,000`` is ``12000``), or None when it uses them all or gives none."""
    used = {parse_number(n) for n in _NUMBER.findall(answer)}
    missing: dict[float, str] = {}
    for shown in _GIVEN.findall(question):
        value = parse_number(shown)
        if value is not None and value not in used and value not in (0.0, 1.0):
            missing.setdefault(value, shown.rstrip(".,"))
    return UnusedGivens(tuple(missing.values())) if missing else None


__all__ = ["UnusedGivens", "unused_givens"]
