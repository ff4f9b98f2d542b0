"""The signature prefilter: a regex is skipped only when it could not have matched."""

from __future__ import annotations

import random
import re

import pytest

from agent.known_errors import load_kb, parse_templates_csv
from agent.known_errors.importer import template_to_regex
from agent.known_errors.prefilter import required_words, text_words

TEMPLATES = (
    "EventId,EventTemplate\n"
    "E1,Receiving block blk_<*> src: /<*>:<*> dest: /<*>:<*>\n"
    "E2,PacketResponder <*> for block blk_<*> terminating\n"
    "E3,jk2_init() Found child <*> in scoreboard slot <*>\n"
    "E4,<*>\n"
)


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (template_to_regex("Receiving block blk_<*> src: /<*>"), {"Receiving", "block", "src"}),
        (r"module 'numpy' has no attribute 'float'", {"numpy", "has", "no", "attribute", "float"}),
        (r"ERROR 2002 \(HY000\): Can.t connect", {"2002", "HY000"}),  # edges unknown: not required
        (r"No module named '(\w+)'", {"module", "named"}),
        (r"foo|bar", set()),  # an alternative: neither word is required
        (r"(?i)connection refused", set()),  # case-insensitive: the case of a word is unknown
        (r"abc\s*def", set()),  # "abcdef" also matches: neither word has a fixed edge
        (r"x(?:optional words)?y z", set()),
    ],
)
def test_required_words(pattern: str, words: set[str]) -> None:
    assert required_words(re.compile(pattern)) == words


def _texts() -> list[str]:
    entries = [*load_kb(), *parse_templates_csv(TEMPLATES, prefix="demo", source="demo.csv")]
    texts = [example for entry in entries for example in entry.examples]
    texts += [
        "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.0.0.1:50010",
        "PacketResponder 1 for block blk_38865049064139660 terminating",
        "jk2_init() Found child 6725 in scoreboard slot 10",
        # as logged, the header first, and glued to the message with no space between
        "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_3 "
        "terminating",
        "[Sun Dec 04 04:47:44 2005] [notice] jk2_init() Found child 6725 in scoreboard slot 10",
        "[notice]jk2_init() Found child 6725 in scoreboard slot 10",
    ]
    rng = random.Random(7)
    mutated = []
    for text in texts:  # near misses: a word dropped, glued to the next, or case-flipped
        words = text.split(" ")
        if len(words) > 2:
            i = rng.randrange(len(words) - 1)
            mutated.append(" ".join(words[:i] + words[i + 1 :]))
            mutated.append(" ".join(words[:i] + [words[i] + words[i + 1]] + words[i + 2 :]))
        mutated.append(text.swapcase())
    return texts + mutated


def test_filtering_never_drops_a_regex_that_matches() -> None:
    entries = [*load_kb(), *parse_templates_csv(TEMPLATES, prefix="demo", source="demo.csv")]
    patterns = [e.pattern for e in entries if e.pattern is not None]
    texts = _texts()
    matched = skipped = 0
    for text in texts:
        words = text_words(text)
        for pattern in patterns:
            hit = pattern.search(text) is not None
            kept = required_words(pattern) <= words
            assert kept or not hit, (pattern.pattern, text)
            matched += hit
            skipped += not kept
    assert matched >= len(patterns) // 2  # the examples do exercise the patterns
    assert skipped > len(texts) * len(patterns) // 2  # and most searches are saved
