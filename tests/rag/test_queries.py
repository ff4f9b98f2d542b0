"""A question naming two things to look up is searched by its clauses too, and only such a one."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.rag import DocumentStore
from agent.rag._queries import interleave, query_parts
from agent.store import Hit

READ_WRITE = (
    "According to the Node.js API documentation, what is the default highWaterMark of "
    "fs.createReadStream() divided by the default highWaterMark of fs.createWriteStream()?"
)


@pytest.mark.parametrize(
    ("query", "parts"),
    [
        (
            READ_WRITE,
            [
                "what is the default highWaterMark of fs.createReadStream()",
                "the default highWaterMark of fs.createWriteStream()",
            ],
        ),
        (
            "What is NODE_REPL_HISTORY_SIZE minus the default historySize of readline?",
            [],  # one identifier: "readline" alone is a word
        ),
        (
            "Is --stack-trace-limit larger than util.inspect.defaultOptions.depth?",
            ["Is --stack-trace-limit larger", "util.inspect.defaultOptions.depth"],
        ),
        ("What is the default keepAliveMsecs of an http.Agent? How many fit in 2.5 minutes?", []),
        ("Janet has 3 apples and Mr. Smith gives her 4 more. How many does she have?", []),
        ("Compare config.yaml and Node.js", []),  # file and product names are not identifiers
        ("The gym is open from 10:00 a.m. to 2:00 p.m. and the Ph.D. takes 5 years", []),
        ("how do I rotate the keys?", []),
    ],
)
def test_only_clauses_naming_identifiers_are_parts(query: str, parts: list[str]) -> None:
    assert query_parts(query) == parts


def test_interleave_shows_every_parts_best_before_any_second_best() -> None:
    a, b, c, d = (Hit(x, 1.0, x) for x in "abcd")
    assert [h.id for h in interleave([[a, b], [c, a], [d]], top_k=3)] == ["a", "c", "d"]
    assert [h.id for h in interleave([[a, b], [c, a], [d]], top_k=9)] == ["a", "c", "d", "b"]
    assert interleave([[a, b]], top_k=1) == [a]  # one search: its own ranking
    assert interleave([], top_k=3) == []


def test_a_two_part_question_gets_an_excerpt_for_each_part(
    documents: DocumentStore, tmp_path: Path
) -> None:
    reader = " ".join(
        f"fs.createReadStream() option {name}: the highWaterMark of the read stream {what}."
        for name, what in [
            ("start", "is not changed by start"),
            ("end", "is not changed by end"),
            ("encoding", "applies to decoded strings too"),
        ]
    )
    (tmp_path / "fs.md").write_text(
        "# File system\n\n"
        "## fs.createReadStream(path[, options])\n\n"
        f"The highWaterMark of fs.createReadStream() defaults to 64 * 1024 bytes. {reader}\n\n"
        "## fs.createReadStream() and highWaterMark\n\n"
        f"Reading with fs.createReadStream(): the highWaterMark is the read size. {reader}\n\n"
        "## fs.createWriteStream(path[, options])\n\n"
        "A write stream buffers writes. highWaterMark default: 16384.\n"
    )
    documents.ingest([tmp_path / "fs.md"])
    coll = documents.collection()
    assert coll is not None
    whole = coll.search(documents.embedder.embed_query(READ_WRITE), text=READ_WRITE, top_k=2)
    assert not any("16384" in h.text for h in whole)  # searched whole: the reader twice
    hits = documents.search(READ_WRITE, top_k=2)
    assert "64 * 1024" in hits[0].text and "16384" in hits[1].text
