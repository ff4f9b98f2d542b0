"""A question naming two things to look up is searched by its clauses too, and only such a one;
a question naming an API reads the section headed by it first."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.rag import DocumentStore
from agent.rag._queries import in_named_sections, interleave, named_apis, query_parts
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


def _ranked_whole(documents: DocumentStore, path: Path, query: str, *, top_k: int) -> list[Hit]:
    """Ingest ``path``, then rank the whole ``query`` as one search (no parts, no scoping)."""
    documents.ingest([path])
    coll = documents.collection()
    assert coll is not None
    return coll.search(documents.embedder.embed_query(query), text=query, top_k=top_k)


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
    whole = _ranked_whole(documents, tmp_path / "fs.md", READ_WRITE, top_k=2)
    assert not any("16384" in h.text for h in whole)  # searched whole: the reader twice
    hits = documents.search(READ_WRITE, top_k=2)
    assert "64 * 1024" in hits[0].text and "16384" in hits[1].text


@pytest.mark.parametrize(
    ("query", "names"),
    [
        (READ_WRITE, ["fs.createReadStream", "fs.createWriteStream"]),
        ("What is the default server.keepAliveTimeout?", ["server.keepAliveTimeout"]),
        ("Is --stack-trace-limit set by NODE_OPTIONS?", ["--stack-trace-limit", "NODE_OPTIONS"]),
        ("Janet has 3 apples and Mr. Smith gives her 4 more. How many does she have?", []),
        ("Compare config.yaml and Node.js at 10 a.m.", []),
    ],
)
def test_named_apis_are_the_identifiers_without_call_parentheses(
    query: str, names: list[str]
) -> None:
    assert named_apis(query) == names


def _hit(hid: str, section: str, text: str = "") -> Hit:
    return Hit(hid, 1.0, text or hid, {"section": section})


def test_in_named_sections_ranks_the_named_sections_chunks_by_the_clauses_code_terms() -> None:
    query = "What is the default maxStringLength of util.inspect()? Subtract it from 25,000."
    ranking = [
        _hit("mention", "Util > util.format(format[, ...args])", "uses util.inspect()"),
        _hit("intro", "Util > `util.inspect(object[, options])`", "Returns a string."),
        _hit("other", "Errors"),
        _hit("option", "Util > `util.inspect(object[, options])`", "* `maxStringLength` 10000"),
    ]
    scoped = in_named_sections(named_apis(query), [query], [ranking])
    assert [[h.id for h in r] for r in scoped] == [["option", "intro"]]
    for other in ("How many apples?", "What is os.cpus()?"):  # names no API; no section is its
        assert in_named_sections(named_apis(other), [other], [ranking]) == []


def test_each_part_scopes_its_own_api_with_its_own_ranking() -> None:
    parts = ["the default highWaterMark of fs.createReadStream()", "that of fs.createWriteStream()"]
    read = [
        _hit("r", "fs > `fs.createReadStream(path)`"),
        _hit("w1", "fs > `fs.createWriteStream()`"),
    ]
    write = [
        _hit("w2", "fs > `fs.createWriteStream(path)`"),
        _hit("r2", "fs > `fs.createReadStream()`"),
    ]
    whole = " divided by ".join(parts)
    scoped = in_named_sections(named_apis(whole), [*parts, whole], [read, write, []])
    assert [[h.id for h in r] for r in scoped] == [["r"], ["w2"]]


def test_a_question_naming_an_api_gets_the_section_headed_by_it_first(
    documents: DocumentStore, tmp_path: Path
) -> None:
    query = (
        "What is the default server.keepAliveTimeout of an HTTP server? How many fit in an hour?"
    )
    mentions = " ".join(
        f"Idle connections of an HTTP server are closed after server.keepAliveTimeout; {what}."
        for what in ("see the hour limits", "an HTTP server resets it", "how many per hour")
    )
    (tmp_path / "http.md").write_text(
        "# HTTP\n\n## Class: `http.Server`\n\n"
        "### `server.closeIdleConnections()`\n\n"
        f"Closes every idle HTTP server connection. {mentions}\n\n"
        f"### `server.closeAllConnections()`\n\nCloses all HTTP server connections. {mentions}\n\n"
        "### `server.keepAliveTimeout`\n\n"
        "* {number} Timeout in milliseconds. **Default:** `5000`.\n\n"
        "### `server.timeout`\n\n* {number} **Default:** 0.\n"
    )
    whole = _ranked_whole(documents, tmp_path / "http.md", query, top_k=1)
    assert "5000" not in whole[0].text  # ranked by the whole question: a section mentioning it
    hits = documents.search(query, top_k=2)
    assert "**Default:** `5000`" in hits[0].text
    assert hits[0].fields["section"] == "HTTP > Class: `http.Server` > `server.keepAliveTimeout`"
