from __future__ import annotations

import json

import pytest

from agent.loop import AnswerStream


@pytest.mark.parametrize(
    "answer",
    [
        "3456",
        'He said "hi"\nthen left \\ 100% sure',
        "emoji 😀 and é and \t tab",
    ],
)
@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_any_chunking_yields_the_exact_answer(answer: str, size: int) -> None:
    raw = json.dumps({"answer": answer})  # escapes quotes, newlines, non-ASCII as \\uXXXX
    stream = AnswerStream()
    out = "".join(stream.feed(raw[i : i + size]) for i in range(0, len(raw), size))
    assert out == answer


def test_text_before_the_answer_key_and_after_the_value_is_ignored() -> None:
    stream = AnswerStream()
    assert stream.feed('{"note": "x", "answ') == ""
    assert stream.feed('er": "ok"') == "ok"
    assert stream.feed(', "more": "ignored"}') == ""
