"""The check's last word on an answer it may not send back any more."""

from __future__ import annotations

from langchain_core.messages import AIMessage

from agent.loop.agreement import answer_value
from agent.loop.program_check import MisreportedOutput
from agent.loop.prompts import SETTLED, settle
from agent.loop.transcript import check_problems
from tools.arithmetic_check import find_miscalculations


def test_an_answer_whose_value_is_a_wrong_step_ends_with_the_calculators_value() -> None:
    # seen from Qwen2.5-Coder-1.5B: told 65536 / 16 = 4096, the revision said 4032 again
    text = "65536 / 16 = 4032.\n\nTherefore, the correct answer is `4032`."
    problems = find_miscalculations(text)
    ai = settle(AIMessage(text, id="a1"), problems)
    assert ai is not None and ai.id == "a1"  # replaces the reply in the thread
    assert ai.text == (
        f"{text}\n\n(Checked with the calculator: 65536 / 16 = 4096, not 4032. The answer is 4096.)"
    )
    assert answer_value(ai.text) == 4096
    assert check_problems([ai]) == ["65536 / 16 = 4096, not 4032"]
    assert ai.response_metadata[SETTLED] == ["65536 / 16 = 4096, not 4032"]


def test_a_ratio_of_durations_is_settled_in_base_units() -> None:
    # seen from Qwen2.5-Coder-1.5B (documents suite): a delay of 1000 ms fitted into 2.5 minutes
    text = "150 seconds / 1000 milliseconds = 1.5\n\nThe final answer is: 1.5"
    ai = settle(AIMessage(text), find_miscalculations(text))
    assert ai is not None and answer_value(ai.text) == 150
    # a wrong conversion is said, but its value carries a unit the answer may not use: it stands
    text = "2.5 minutes is equal to 1500 seconds. The answer is 1500."
    assert [str(p) for p in find_miscalculations(text)] == [
        "2.5 minutes = 150 seconds, not 1500 seconds"
    ]
    assert settle(AIMessage(text), find_miscalculations(text)) is None


def test_a_step_with_two_readings_is_said_but_never_settled() -> None:
    # seen from Qwen2.5-Coder-1.5B: 10 MiB over 64 KiB chunks is 160; read left to right the
    # step is 167772160, which the check must not make the answer
    text = "10485760 / 64 * 1024 = 16384\n\nThe answer is 16384."
    problems = find_miscalculations(text)
    assert [str(p) for p in problems] == [
        "10485760 / 64 * 1024 = 167772160 (read as 10485760 / (64 * 1024) = 160), not 16384"
    ]
    assert settle(AIMessage(text), problems) is None


def test_a_made_up_program_output_is_settled_by_what_it_prints() -> None:
    ai = settle(AIMessage("So the answer is 30."), [MisreportedOutput("18", "30")])
    assert ai is not None and answer_value(ai.text) == 18
    assert ai.text.endswith(
        "(Checked by running the program above: it prints 18. The answer is 18.)"
    )


def test_an_answer_the_wrong_step_did_not_produce_stands() -> None:
    # the wrong step is an early one: what follows from it is not the calculator's to redo
    text = "First 3.79 + 4.5 = 8.38, then 8.38 / 2 = 4.19. The answer is 4.19."
    assert settle(AIMessage(text), find_miscalculations(text)) is None
    assert settle(AIMessage("No number."), [MisreportedOutput("18", "30")]) is None
    assert settle(AIMessage("The answer is 18."), []) is None
