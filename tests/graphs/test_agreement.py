"""Answer by agreement: replies sampled beside the first one vote on a numeric answer.

Driven through the real Agent against a scripted server that answers by what a request is:
the greedy reply (no ``seed``) or sample ``seed`` N.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from agent import Agent, AgreementEvent, FinalEvent, RunResult, Settings, TokenEvent
from agent.loop.agreement import AGREEMENT, answer_value
from agent.loop.prompts import PLAIN_PROMPT, PROGRAM_PROMPT
from agent.testing import Response, ScriptedServer, call, error, reply
from tests.test_api import make_tools


class Replies:
    """What the scripted server answers: the greedy reply per step, each seed's sample, and
    the replies to a request for a program and for a plain reply (``AGENT_ANSWER_PROGRAM``)."""

    def __init__(self, steps: list[Response], samples: Mapping[int, Response]) -> None:
        self.steps = steps
        self.samples = samples
        self.program = reply("no program")
        self.plain = reply("no answer")

    def __call__(self, body: dict[str, Any]) -> Response:
        if is_program_request(body):
            return self.program
        if is_plain_request(body):
            return self.plain
        seed = body.get("seed")
        return self.steps.pop(0) if seed is None else self.samples[seed]


def is_program_request(body: dict[str, Any]) -> bool:
    return body["messages"][0]["content"] == PROGRAM_PROMPT


def is_plain_request(body: dict[str, Any]) -> bool:
    return body["messages"][0]["content"] == PLAIN_PROMPT


REPLIES = Replies([], {})


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    REPLIES.program = reply("no program")
    REPLIES.plain = reply("no answer")
    with ScriptedServer(responder=REPLIES) as s:
        yield s


def answer(
    server: ScriptedServer,
    settings: Settings,
    steps: list[Response],
    samples: Mapping[int, Response],
    **overrides: Any,
) -> RunResult:
    """Ask once; the first reply of each step is from ``steps``, seed N's sample is
    ``samples[N]``."""
    replies = REPLIES
    replies.steps[:] = steps
    replies.samples = samples
    s = settings.model_copy(update={"llm_base_url": server.url, "answer_samples": 2, **overrides})
    with Agent(s, tools=make_tools()) as agent:
        result = agent.run("How many apples are left?")
    assert not replies.steps, "the greedy script was not used up"
    return result


def test_the_value_most_replies_reach_replaces_the_first_reply(
    server: ScriptedServer, settings: Settings
) -> None:
    result = answer(
        server,
        settings,
        [reply("3 * 48 = 154, so 154 - 7 = 147. The answer is 147.")],
        {1: reply("3 * 48 = 144; 144 - 7 = 137. The answer is 137."), 2: reply("So 137.")},
    )
    assert result.answer == "3 * 48 = 144; 144 - 7 = 137. The answer is 137."
    assert result.agreed == "2 of 3 sampled replies reached 137; the first reply said 147"
    # every reply's tokens are counted (the scripted server reports 25 a reply)
    assert result.usage.total_tokens == 75
    samples = server.sampled
    assert sorted(r["seed"] for r in samples) == [1, 2]
    assert all(r["temperature"] == 0.7 and not r.get("stream") for r in samples)
    # the samples see the same conversation and tools as the first reply
    first = server.requests[0]
    assert all(r["messages"] == first["messages"] and r["tools"] == first["tools"] for r in samples)


def test_the_first_reply_stays_unless_strictly_more_replies_disagree(
    server: ScriptedServer, settings: Settings
) -> None:
    result = answer(
        server,
        settings,
        [reply("The answer is 45.")],
        {1: reply("The answer is 150."), 2: reply("The answer is 45.")},
    )
    assert result.answer == "The answer is 45." and result.agreed is None
    note = result.messages[-1].response_metadata[AGREEMENT]
    assert note == {
        "replies": 3,
        "by": "samples",
        "values": ["45", "150", "45"],
        "program": None,
        "chosen": "45",
        "replaced": False,
    }

    tie = answer(
        server,
        settings,
        [reply("The answer is 45.")],
        {1: reply("The answer is 150."), 2: reply("The answer is 7.")},
    )
    assert tie.answer == "The answer is 45." and tie.agreed is None


def test_a_tool_call_starts_no_samples(server: ScriptedServer, settings: Settings) -> None:
    result = answer(
        server,
        settings,
        [call("add", a=1, b=2), reply("It is done.")],
        {1: reply("It is 3."), 2: reply("It is 3.")},
    )
    # the first step was a call: the tool ran and no sample was asked for; the answer has no
    # number, so samples (started on its first token) are not waited for and do not vote
    assert [c.name for c in result.tool_calls] == ["add"]
    assert result.answer == "It is done." and result.agreed is None
    assert len(server.requests) == 2
    assert all(any(m["role"] == "tool" for m in r["messages"]) for r in server.sampled)
    assert AGREEMENT not in result.messages[-1].response_metadata


def test_samples_that_call_tools_or_fail_do_not_vote(
    server: ScriptedServer, settings: Settings
) -> None:
    result = answer(
        server,
        settings,
        [reply("The answer is 12.")],
        {1: call("add", a=5, b=5), 2: error(500, "sample failed")},
    )
    assert result.answer == "The answer is 12." and result.agreed is None
    assert result.messages[-1].response_metadata[AGREEMENT]["replies"] == 1


def test_slow_samples_are_cancelled_after_the_grace_period(
    server: ScriptedServer, settings: Settings
) -> None:
    slow = Response(content="The answer is 99.", delay_s=30.0)
    result = answer(server, settings, [reply("The answer is 12.")], {1: slow, 2: slow})
    # had the run waited for them, they would have outvoted the first reply
    assert result.answer == "The answer is 12." and result.agreed is None
    assert result.messages[-1].response_metadata[AGREEMENT]["replies"] == 1


def test_off_when_answer_samples_is_zero_and_in_required_mode(
    server: ScriptedServer, settings: Settings
) -> None:
    off = answer(server, settings, [reply("The answer is 12.")], {}, answer_samples=0)
    assert off.answer == "The answer is 12."
    required = answer(
        server,
        settings,
        [call("final_answer", reasoning="", answer="The answer is 12.")],
        {},
        tool_call_mode="required",
    )
    assert required.answer == "The answer is 12."
    assert server.sampled == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The answer is 1,234.", 1234.0),
        ("She pays $12.50 in all.", 12.5),
        ("So 3 + 4 = \\boxed{7} apples, 2 of them red.", 7.0),
        ("It took -3 degrees.", -3.0),
        ("No number here.", None),
        # the answer line wins over numbers after it and over the question's numbers on it
        ("The answer is 2125 gallons for the 400-mile trip.", 2125.0),
        ("The answer is \\(\\boxed{115}\\).\nThat makes an average of $50.", 115.0),
        ("Answer: 18\n(3 days at 6 a day)", 18.0),
        ("The answer is yes, 5 apples in all.", 5.0),
        ("The answer is unknown.", None),
        # a later "answer is" with no number after it is not the answer line
        ("The final answer is: 70 of the 100 lines.\nThis answer is based on the text.", 70.0),
    ],
)
def test_answer_value(text: str, value: float | None) -> None:
    assert answer_value(text) == value


def test_a_replaced_answer_is_announced_in_the_stream(
    server: ScriptedServer, settings: Settings
) -> None:
    REPLIES.steps[:] = [reply("The answer is 147.")]
    REPLIES.samples = {1: reply("The answer is 137."), 2: reply("It is 137.")}
    s = settings.model_copy(update={"llm_base_url": server.url, "answer_samples": 2})
    with Agent(s, tools=make_tools()) as agent:
        events = list(agent.stream("How many apples are left?"))
    kinds = [e.kind for e in events]
    # the first reply is streamed as it comes, then the vote replaces it, then the final
    assert kinds[-2:] == ["agreement", "final"] and "token" in kinds
    streamed = "".join(e.text for e in events if isinstance(e, TokenEvent))
    assert streamed == "The answer is 147."
    agreement = events[-2]
    assert isinstance(agreement, AgreementEvent)
    assert agreement.note == "2 of 3 sampled replies reached 137; the first reply said 147"
    final = events[-1]
    assert isinstance(final, FinalEvent) and final.result.answer == "The answer is 137."


def program(*lines: str) -> Response:
    return reply("```python\n" + "\n".join(lines) + "\n```")


def test_an_answer_its_program_agrees_with_stands_and_nothing_is_sampled(
    server: ScriptedServer, settings: Settings
) -> None:
    REPLIES.program = program("baskets = 3", "apples = baskets * 48 - 7", "print(apples)")
    REPLIES.plain = Response(content="The answer is 99.", delay_s=30.0)  # never waited for
    result = answer(
        server,
        settings,
        [reply("3 * 48 = 144, so 144 - 7 = 137. The answer is 137.")],
        {},
        answer_samples=0,
        answer_program=True,
    )
    assert result.answer == "3 * 48 = 144, so 144 - 7 = 137. The answer is 137."
    assert result.agreed is None and server.sampled == []
    note = result.messages[-1].response_metadata[AGREEMENT]
    assert note["by"] == "opinions" and note["program"] == "137" and note["values"] == ["137"]
    # the program's tokens are counted with the reply's (the scripted server reports 25 each)
    assert result.usage.total_tokens == 50
    (asked,) = [r for r in server.requests if is_program_request(r)]
    # the program is asked for with no tool schemas, on the conversation's text
    assert not asked.get("tools")
    assert [m["role"] for m in asked["messages"]] == ["system", "user"]
    assert asked["messages"][1]["content"] == "How many apples are left?"


def test_where_the_program_disagrees_the_plain_reply_decides(
    server: ScriptedServer, settings: Settings
) -> None:
    REPLIES.program = program("print(3 * 48 - 7)")
    REPLIES.plain = reply("3 * 48 = 144 and 144 - 7 = 137.\nThe answer is 137")
    result = answer(
        server,
        settings,
        [reply("3 * 48 = 154, so 154 - 7 = 147. The answer is 147.")],
        {},
        answer_samples=0,
        answer_program=True,
    )
    # 137: the program and the plain reply; 147: the first reply alone
    assert result.answer == "3 * 48 = 144 and 144 - 7 = 137.\nThe answer is 137"
    assert result.agreed == (
        "a plain step-by-step reply and a program both reached 137; the first reply said 147"
    )
    note = result.messages[-1].response_metadata[AGREEMENT]
    assert note["program"] == "137" and note["values"] == ["147", "137"]
    assert result.usage.total_tokens == 75  # three replies
    assert server.sampled == []  # three greedy opinions, nothing sampled
    (plain,) = [r for r in server.requests if is_plain_request(r)]
    assert not plain.get("tools") and "seed" not in plain
    assert [m["content"] for m in plain["messages"][1:]] == ["How many apples are left?"]


@pytest.mark.parametrize(
    ("program_lines", "plain_text"),
    [
        (("print(147)",), "The answer is 150."),  # the program confirms the first reply
        (("print(137)",), "The answer is 150."),  # no two agree
        (("import os", "print(os.getcwd())"), "The answer is 150."),  # the program fails
        (("print(137)",), "I cannot tell."),  # the plain reply gives no number
    ],
)
def test_the_first_reply_stands_unless_the_program_and_plain_reply_agree(
    server: ScriptedServer,
    settings: Settings,
    program_lines: tuple[str, ...],
    plain_text: str,
) -> None:
    REPLIES.program = program(*program_lines)
    REPLIES.plain = reply(plain_text)
    result = answer(server, settings, [reply("The answer is 147.")], {}, answer_program=True)
    assert result.answer == "The answer is 147." and result.agreed is None
    assert result.messages[-1].response_metadata[AGREEMENT]["chosen"] == "147"


def test_no_vote_where_no_program_the_model_wrote_may_run(
    server: ScriptedServer, settings: Settings
) -> None:
    REPLIES.program = program("print(137)")
    REPLIES.plain = reply("The answer is 137.")
    on = answer(
        server, settings, [reply("The answer is 147.")], {}, answer_samples=0, answer_program=True
    )
    assert on.answer == "The answer is 137." and on.agreed is not None
    asked = [r for r in server.requests if is_program_request(r)]
    # answer_check_programs=false promises that no program the model wrote is run
    off = answer(
        server,
        settings,
        [reply("The answer is 147.")],
        {},
        answer_samples=0,
        answer_program=True,
        answer_check_programs=False,
    )
    assert off.answer == "The answer is 147." and off.agreed is None
    assert [r for r in server.requests if is_program_request(r)] == asked


def test_a_slow_plain_reply_is_not_waited_for_past_the_first_replys_time(
    server: ScriptedServer, settings: Settings
) -> None:
    REPLIES.program = program("print(137)")
    REPLIES.plain = Response(content="The answer is 137.", delay_s=30.0)
    result = answer(server, settings, [reply("The answer is 147.")], {}, answer_program=True)
    # had the run waited for it, it would have outvoted the first reply with the program
    assert result.answer == "The answer is 147." and result.agreed is None
    assert result.messages[-1].response_metadata[AGREEMENT]["values"] == ["147"]


def test_tool_results_go_to_the_opinions_as_text_and_earlier_turns_without_them(
    server: ScriptedServer, settings: Settings
) -> None:
    REPLIES.program = program("print(1 + 2)")
    REPLIES.steps[:] = [call("add", a=1, b=2), reply("It is 4."), reply("The answer is 12.")]
    REPLIES.plain = reply("The tool says 3. The answer is 3.")
    s = settings.model_copy(update={"llm_base_url": server.url, "answer_program": True})
    with Agent(s, tools=make_tools()) as agent:
        first = agent.run("What is 1 + 2?", thread_id="t")
        asked_first = [r for r in server.requests if is_program_request(r)]
        REPLIES.program = program("print(7)")
        REPLIES.plain = reply("3 * 4 = 12. The answer is 12.")
        second = agent.run("Now multiply that by 4.", thread_id="t")
    # the answer after the tool's result is voted on: the program and the plain reply saw it
    assert first.answer == "The tool says 3. The answer is 3."
    assert first.agreed == (
        "a plain step-by-step reply and a program both reached 3; the first reply said 4"
    )
    (asked,) = asked_first
    assert [m["role"] for m in asked["messages"]] == ["system", "user"]
    assert asked["messages"][1]["content"] == (
        'Tool results for the question below:\n\nadd {"a": 1, "b": 2} returned:\n3\n\n'
        "Question: What is 1 + 2?"
    )
    # the follow-up: the program (7) and the plain reply (12) vote on the conversation's text,
    # the earlier turn's tool steps left out
    assert second.answer == "The answer is 12." and second.agreed is None
    assert second.messages[-1].response_metadata[AGREEMENT]["values"] == ["12", "12"]
    *_, asked = [r for r in server.requests if is_program_request(r)]
    *_, plain = [r for r in server.requests if is_plain_request(r)]
    roles = [(m["role"], m["content"]) for m in asked["messages"][1:]]
    assert (
        [(m["role"], m["content"]) for m in plain["messages"][1:]]
        == roles
        == [
            ("user", "What is 1 + 2?"),
            ("assistant", "The tool says 3. The answer is 3."),
            ("user", "Now multiply that by 4."),
        ]
    )
