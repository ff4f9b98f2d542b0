"""The in-memory BM25 behind the lookup's ``bm25`` and ``trace`` signals."""

from __future__ import annotations

import numpy as np

from agent.known_errors.bm25 import TextIndex, plain_tokens, top

DOCS = [
    ("conn", "ConnectionRefusedError: [Errno 111] Connection refused"),
    ("oom", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"),
    ("disk", "OSError: [Errno 28] No space left on device"),
    ("perm", "PermissionError: [Errno 13] Permission denied: '/var/lib/x'"),
]


def test_plain_tokens_are_lower_cased_letter_and_digit_runs() -> None:
    assert plain_tokens("OSError: [Errno 28] No_space") == ["oserror", "errno", "28", "no", "space"]


def test_the_entry_sharing_the_rare_words_ranks_first() -> None:
    index = TextIndex(DOCS)
    ranked = index.rank("RuntimeError: CUDA out of memory while allocating", limit=4)
    assert ranked[0][0] == "oom"
    assert all(score > 0 for _, score in ranked)
    assert index.rank("nothing in common here", limit=4) == []


def test_skipped_entries_are_left_out_and_the_rest_keep_their_order() -> None:
    index = TextIndex(DOCS)
    query = "[Errno 28] No space left; [Errno 13] Permission denied"
    full = [i for i, _ in index.rank(query, limit=4)]
    assert full[:2] in (["disk", "perm"], ["perm", "disk"])
    kept = [i for i, _ in index.rank(query, limit=4, skip=frozenset({full[0]}))]
    assert kept == [i for i in full if i != full[0]]


def test_top_takes_the_highest_positive_scores_ties_by_index() -> None:
    scores = np.array([0.0, 2.0, 5.0, 2.0, -1.0, 7.0])
    assert top(scores, 3) == [5, 2, 1]
    assert top(scores, 10) == [5, 2, 1, 3]  # no zero or negative score
