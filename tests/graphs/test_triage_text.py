"""The explain step's text: an answer the length cap cut keeps whole sentences."""

from __future__ import annotations

from typing import cast

import pytest

from agent.known_errors import ErrorMatch, KnownError
from agent.known_errors.lookup import Signal, SignalHit
from graphs.triage_graph import ANSWER_MAX_CHARS, in_contention, whole_sentences

SENTENCE = "The date parser accepts a pattern it should reject. "
CUT = (
    "Lower the per-device batch size or the maximum sequence length, enable gradient "
    "checkpointing, free cached memory between steps (and stop other work if another process "
    "shares the GPU), gradient"
)


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
        # a cut as seen (the MCP tool, a CUDA OOM): the server stopped 7 characters short of
        # the cap, mid-sentence; the one full stop is too early to cut back to
        (CUT, CUT + "…"),
    ],
    ids=["whole", "short", "cut-mid-sentence", "one-long-sentence", "cut-a-token-short"],
)
def test_whole_sentences(text: str, expected: str) -> None:
    assert whole_sentences(text) == expected


def _match(entry_id: str, score: float, **signals: float) -> ErrorMatch:
    entry = KnownError(id=entry_id, title=entry_id, examples=["E: x"], cause="c", fix="f")
    hits: dict[Signal, SignalHit] = {
        cast(Signal, name): SignalHit(rank=1, score=value) for name, value in signals.items()
    }
    return ErrorMatch(
        id=entry_id, title=entry_id, score=score, matched_by=list(hits), signals=hits, entry=entry
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


def test_a_trace_match_keeps_only_runner_ups_with_nearly_its_trace_score() -> None:
    # fused scores of a trace input are rank-based near-ties; the trace scores tell them apart
    best = _match("bug-76", 0.049, trace=0.74)
    tied = _match("bug-77", 0.048, trace=0.70)  # at least 0.8 of the best's trace score
    weaker = _match("bug-89", 0.048, trace=0.55)
    words_only = _match("python-x", 0.047, bm25=9.0)
    regex = _match("java-npe", 0.047, signature=1.0)  # a signature match is always evidence
    got = in_contention([best, tied, weaker, words_only, regex])
    assert [m.id for m in got] == ["bug-76", "bug-77", "java-npe"]
    # without a trace score on the best match the fused rule alone applies
    assert in_contention([words_only, weaker]) == [words_only, weaker]
