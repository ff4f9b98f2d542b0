"""The explain step's text: an answer the length cap cut keeps whole sentences."""

from __future__ import annotations

import pytest

from agent.known_errors import ErrorMatch, KnownError
from graphs.triage_graph import ANSWER_MAX_CHARS, in_contention, whole_sentences

SENTENCE = "The date parser accepts a pattern it should reject. "


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Short and whole.", "Short and whole."),
        ("Short without a stop", "Short without a stop"),  # not cut: left as written
        (
            (SENTENCE * 8)[: ANSWER_MAX_CHARS - 10] + " and then",
            (SENTENCE * 3).rstrip(),
        ),
        ("x" * ANSWER_MAX_CHARS + ",", "x" * ANSWER_MAX_CHARS + "…"),
    ],
    ids=["whole", "short", "cut-mid-sentence", "one-long-sentence"],
)
def test_whole_sentences(text: str, expected: str) -> None:
    assert whole_sentences(text) == expected


def _match(entry_id: str, score: float) -> ErrorMatch:
    entry = KnownError(id=entry_id, title=entry_id, examples=["E: x"], cause="c", fix="f")
    return ErrorMatch(
        id=entry_id, title=entry_id, score=score, matched_by=[], signals={}, entry=entry
    )


def test_only_matches_near_the_best_reach_the_prompt() -> None:
    # a signature match far ahead of two loose word-overlap hits: only it is explained from
    assert [
        m.id for m in in_contention([_match("a", 0.08), _match("b", 0.03), _match("c", 0.029)])
    ] == ["a"]
    # rank-fused near-ties all stay
    close = [_match("a", 0.049), _match("b", 0.048), _match("c", 0.047)]
    assert in_contention(close) == close
    assert in_contention([]) == []
