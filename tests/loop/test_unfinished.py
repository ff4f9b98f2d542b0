"""unfinished_answer: an answer that stops at a step before it states its answer."""

from __future__ import annotations

from agent import Agent, Settings
from agent.loop import check_feedback
from agent.loop.unfinished import UnfinishedAnswer, unfinished_answer
from agent.testing import ScriptedServer, reply
from tests.test_api import make_tools

# as the 1.5B model ended answers to documents questions (bench/results)
STOPPED = (
    "Step 1: Find the defaults\n- Readable stream: `16384`\n- objectMode stream: `16`\n\n"
    "Step 2: Divide the highWaterMark values\n- `16384 / 16 = 1024`\n\nStep 3: Return the result"
)
PLANNED = (
    "Step 3: Calculate the total\n4 tries/server * 3 servers = 12 tries\n\n"
    "**Step 4: Formatting the answer**\n"
    "The final answer should be a number, so I'll format it as a string."
)
EMPTY_BLOCK = (
    "1. The default is `4294967295`.\n2. (4294967295 + 1) / 65536 = 65536\n"
    "3. Finally, I'll format the result as a JSON object:\n   * ```json\n   *"
)


def test_an_answer_whose_last_number_is_a_steps_label_is_unfinished() -> None:
    assert unfinished_answer(STOPPED) == UnfinishedAnswer("Step 3: Return the result")
    assert unfinished_answer(PLANNED) == UnfinishedAnswer("Step 4: Formatting the answer")
    found = unfinished_answer(EMPTY_BLOCK)
    assert found == UnfinishedAnswer("3. Finally, I'll format the result as a JSON object:")
    assert str(found).startswith("the answer stops at \"3. Finally, I'll format")


def test_an_answer_that_states_or_marks_a_value_is_finished() -> None:
    assert unfinished_answer(STOPPED + "\n16384 / 16 = 1024 is the answer.") is None
    assert unfinished_answer("Step 3: Return the result.\nThe answer is 1024.\n4. Done") is None
    assert unfinished_answer("Step 2: \\boxed{1024}\nStep 3: Check it") is None
    assert unfinished_answer("Therefore, the final answer is:\n0.0006144") is None  # not "0."
    assert unfinished_answer("Step 3: Make 5 tries.") is None  # a number after the label
    assert unfinished_answer("Step 3: Return the result") is not None
    assert unfinished_answer("No number here.") is None


def test_the_feedback_quotes_the_step_and_asks_for_the_final_answer() -> None:
    text = check_feedback(["2 + 2 = 4, not 5", UnfinishedAnswer("Step 3: Return the result")])
    steps, stopped = text.split("\n\n")
    assert steps.startswith("I checked the arithmetic") and "Step 3" not in steps
    assert stopped.startswith('Your answer stops at "Step 3: Return the result" without')


def test_an_unfinished_answer_goes_back_once_and_its_ending_is_the_answer(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply(STOPPED), reply("The answer is 1024."))
    with Agent(settings, tools=make_tools()) as agent:
        result = agent.run("highWaterMark of a stream over that of an objectMode stream?")
    scripted_llm.assert_done()
    assert result.answer == "The answer is 1024."
    assert result.corrected == [str(UnfinishedAnswer("Step 3: Return the result"))]
    sent = scripted_llm.requests[1]["messages"][-1]
    assert sent["role"] == "user" and sent["content"].startswith('Your answer stops at "Step 3')

    scripted_llm.push(reply(STOPPED), reply(STOPPED))  # asked once: what it says then stands
    with Agent(settings, tools=make_tools()) as agent:
        assert agent.run("the same?").answer == STOPPED
    scripted_llm.assert_done()
