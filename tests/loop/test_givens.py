"""unused_givens: the numbers a question gives that an answer leaves out."""

from __future__ import annotations

from agent.loop import check_feedback, unused_givens
from agent.loop.givens import LookedUpAnswer, UnusedGivens, looked_up_answer


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


EXCERPTS = (
    "[1] file: http.md | section: HTTP > `new Agent([options])`\n"
    "* `maxFreeSockets` {number} Maximum number of sockets per host to leave open in a free "
    "state. **Default:** `256`.\n[2] file: net.md | section: Net\nPort up to 65535, in utf8."
)
QUESTION = "What is the default maxFreeSockets? With 7 hosts, at most how many free sockets?"


def test_an_answer_that_is_a_stated_value_is_named_with_the_givens_it_skipped() -> None:
    found = looked_up_answer(QUESTION, "With 7 hosts, the answer is 256.", EXCERPTS)
    assert found == LookedUpAnswer("256", ("7",))
    assert str(found) == (
        "the answer is 256, a value the documents state, not one computed with 7 from the question"
    )
    text = check_feedback([found])
    assert text.startswith("Your final answer, 256, is a value from the documents, but my ")


def test_a_computed_value_a_given_or_an_excerpts_label_is_no_looked_up_answer() -> None:
    assert looked_up_answer(QUESTION, "256 * 7 = 1792. The answer is 1792.", EXCERPTS) is None
    assert looked_up_answer(QUESTION, "The answer is 7.", EXCERPTS) is None  # a given
    assert looked_up_answer("How many per 6 hosts?", "The answer is 2.", EXCERPTS) is None
    assert looked_up_answer("How many per 6 hosts?", "It is 8.", EXCERPTS) is None  # a name
    assert looked_up_answer("What is the default?", "It is 256.", EXCERPTS) is None  # no givens
    assert looked_up_answer(QUESTION, "It is a lot.", EXCERPTS) is None
