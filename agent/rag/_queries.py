"""A question that names code, searched the way an API reference is read.

**The section of a named API first.** "What is the default ``server.keepAliveTimeout`` of an
HTTP server?" is answered by the section headed ``server.keepAliveTimeout``; ranked by the
whole question, that section came fourth (behind sections that only mention it) and the top 3
missed it. So, for each API a query names, the hits (from a deeper pool) whose heading path
names it form a ranking of their own, shown first; among them, those whose text holds more of
the clause's other code terms ("maxStringLength" in "the default maxStringLength of
``util.inspect()``") come first, since an options list spans several chunks of one section.

**One part at a time.** A question that names two things to look up is searched one part at a
time.

"What is the default highWaterMark of fs.createReadStream() divided by the default
highWaterMark of fs.createWriteStream()?" needs an excerpt about each function. Searched whole,
the two halves pull toward one place: over the Node.js docs (bench/agent_tasks.py's documents
suite) the top 3 held the reader's default and never the writer's, and the 1.5B model answered
as if both were 64 KiB. Searched by its two clauses, each clause's best excerpt comes first.

Only a question with two or more clauses that each name a code identifier is split: a dotted
name (``fs.createReadStream()``, ``http.Agent``), a command-line flag (``--stack-trace-limit``)
or a constant (``NODE_REPL_HISTORY_SIZE``). A product or file name (``Node.js``,
``config.yaml``) is not one, nor an abbreviation (``a.m``, ``Ph.D``): over the 7,473 GSM8K
train questions none is split. A question about one thing, and any prose question, is searched
as it was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from agent.store import Hit

MAX_PARTS: Final = 4
#: How deep the ranking is searched for the sections of the APIs a query names.
NAMED_POOL: Final = 30

_IDENTIFIER: Final = re.compile(
    r"--[a-z][\w-]+|[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+(?:\(\))?|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b"
)
# camelCase and PascalCase-with-a-hump words: option and property names (maxStringLength)
_CAMEL: Final = re.compile(r"\b(?:[a-z]+|[A-Z][a-z]+)[A-Z][A-Za-z0-9]*\b")
_FILE_NAME: Final = re.compile(r"\.(?:js|ts|py|md|json|ya?ml|toml|txt|html?|csv|log)$", re.I)
_CLAUSE_BREAK: Final = re.compile(
    r"[?;]|,\s|\.\s|\b(?:divided by|multiplied by|and|minus|plus|times|over|than|versus)\b",
    re.IGNORECASE,
)


def query_parts(query: str) -> list[str]:
    """The clauses of ``query`` that each name a code identifier, when there are two or more
    (at most ``MAX_PARTS``); else ``[]``: the query is searched whole."""
    parts: list[str] = []
    for clause in _CLAUSE_BREAK.split(query):
        clause = clause.strip(" .,:")
        if any(_is_identifier(n) for n in _IDENTIFIER.findall(clause)) and clause not in parts:
            parts.append(clause)
    return parts[:MAX_PARTS] if len(parts) >= 2 else []


def _is_identifier(name: str) -> bool:
    """A flag, a constant, a call, or a dotted name with a member of three characters or more:
    not an abbreviation ("a.m", "Ph.D", "e.g") nor a file or product name ("Node.js")."""
    if name.startswith("--") or "_" in name or name.endswith("()"):
        return True
    return not _FILE_NAME.search(name) and any(len(m) >= 3 for m in name.split(".")[1:])


def named_apis(query: str) -> list[str]:
    """The code identifiers ``query`` names (``_is_identifier``), without a call's ``()``: what
    a heading of an API reference would name."""
    names = (n.removesuffix("()") for n in _IDENTIFIER.findall(query) if _is_identifier(n))
    return list(dict.fromkeys(names))[:MAX_PARTS]


def in_named_sections(
    names: Sequence[str], queries: Sequence[str], rankings: Sequence[Sequence[Hit]]
) -> list[list[Hit]]:
    """For each API of ``names`` (``named_apis`` of the whole query, the last of ``queries``),
    the hits of the ranking of the clause naming it (else the whole query's) whose heading path
    names it, those holding more of that clause's other code terms first, else in rank order.
    Rankings for APIs no section is headed by are left out."""
    scoped: list[list[Hit]] = []
    for name in names:
        at = next((i for i, q in enumerate(queries) if name in q), len(queries) - 1)
        terms = [t for t in _code_terms(queries[at]) if t != name]
        hits = [h for h in rankings[at] if name in str(h.fields.get("section") or "")]
        if hits:
            scoped.append(sorted(hits, key=lambda h: -sum(t in h.text for t in terms)))
    return scoped


def _code_terms(text: str) -> list[str]:
    return list(dict.fromkeys([*named_apis(text), *_CAMEL.findall(text)]))


def interleave(rankings: Sequence[Sequence[Hit]], top_k: int) -> list[Hit]:
    """The rankings' first hits, then their second ones, and so on, each chunk once, at most
    ``top_k``: every part's best excerpt is shown before any part's second best."""
    merged: list[Hit] = []
    seen: set[str] = set()
    for rank in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if rank < len(ranking) and ranking[rank].id not in seen:
                seen.add(ranking[rank].id)
                merged.append(ranking[rank])
    return merged[:top_k]
