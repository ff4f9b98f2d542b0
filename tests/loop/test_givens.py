"""unused_givens: the numbers a question gives that an answer leaves out."""

from __future__ import annotations

from agent.loop import check_feedback, unused_givens
from agent.loop.givens import UnusedGivens


def test_a_given_the_answer_does_not_use_is_named_as_the_question_wrote_it() -> None:
    question = "The default maxHeaderSize is what? If 12,000 bytes are used, how many are left?"
    assert unused_givens(question, "The default is 16384 bytes.") == UnusedGivens(("12,000",))
    assert unused_givens(question, "16384 - 12000 = 4384") is None  # any digit form counts
    assert unused_givens(question, "16,384 - 12,000 = 4,384") is None


def test_names_zero_and_one_are_not_givens() -> None:
    question = "In HTTP/2 with utf8 and v20, subtract 1 from the value, then add 0 and 7."
    assert unused_givens(question, "The value is 65536.") == UnusedGivens(("7",))
    assert unused_givens("What is the default port?", "9229") is None


def test_each_missing_value_is_named_once_in_question_order() -> None:
    found = unused_givens("Take 5 minutes, then 2.5 hours, then 5 more.", "It is 42.")
    assert found == UnusedGivens(("5", "2.5"))
    assert str(found) == "the question gives 5, 2.5, which your answer does not use"


def test_the_feedback_names_wrong_steps_and_unused_givens_together() -> None:
    text = check_feedback(["2 + 2 = 4, not 5", UnusedGivens(("30",))])
    steps, givens = text.split("\n\n")
    assert steps.startswith("I checked the arithmetic") and "- 2 + 2 = 4, not 5" in steps
    assert givens.startswith("Your answer does not use 30 from my question.")
    assert check_feedback(["2 + 2 = 4, not 5"]) == steps  # arithmetic alone: as before
