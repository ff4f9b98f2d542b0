"""Importers: our KB format and Loghub-style templates CSVs."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from agent.errors import KnowledgeBaseError
from agent.known_errors import (
    UNDOCUMENTED_TAG,
    dump_kb_yaml,
    import_file,
    load_kb,
    template_to_regex,
)

CSV = """EventId,EventTemplate
E1,<*>:<*> Served block blk_<*> to /<*>
E2,Receiving block blk_<*> src: /<*>:<*> dest: /<*>:<*>
E3,BLOCK* ask <*>:<*> to delete  blk_<*>
E4,"Verification succeeded for blk_<*>"
E5,<*>
"""

LINES = {
    "10.250.19.102:50010 Served block blk_-3544583377289625738 to /10.250.19.102": "E1",
    (
        "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 "
        "dest: /10.250.19.102:50010"
    ): "E2",
    "BLOCK* ask 10.250.14.224:50010 to delete  blk_-6037189021045548498": "E3",
    "Verification succeeded for blk_-4980916519894289629": "E4",
}


def test_templates_csv_becomes_entries_with_derived_signatures(tmp_path: Path) -> None:
    path = tmp_path / "HDFS_2k.log_templates.csv"
    path.write_text(CSV, encoding="utf-8")
    entries = import_file(path)
    assert [e.id for e in entries] == ["hdfs-E1", "hdfs-E2", "hdfs-E3", "hdfs-E4", "hdfs-E5"]
    by_event = {e.id.split("-", 1)[1]: e for e in entries}
    for line, event in LINES.items():
        pattern = by_event[event].pattern
        assert pattern is not None and pattern.search(line), (event, line)
        # every other specific template rejects the line: its literal text ends the line
        for other, entry in by_event.items():
            if other not in (event, "E5"):
                assert entry.pattern is not None and not entry.pattern.search(line)
    # the same lines as logged, header first, find the same templates
    for line, event in LINES.items():
        logged = f"081109 203615 148 INFO dfs.DataNode$DataXceiver: {line}"
        assert by_event[event].pattern.search(logged), (event, logged)  # type: ignore[union-attr]
    e1 = by_event["E1"]
    assert e1.title == "<*>:<*> Served block blk_<*> to /<*>"
    assert e1.examples == [e1.title]
    assert UNDOCUMENTED_TAG in e1.tags and "hdfs" in e1.tags
    assert "Not documented yet" in e1.cause


def test_template_regex_escapes_literals_and_matches_a_lines_message() -> None:
    regex = template_to_regex("Job <*> (attempt [1]) cost $<*>.00")
    pattern = re.compile(regex)
    assert pattern.search("Job 42 (attempt [1]) cost $7.00")
    assert not pattern.search("Job 42 (attempt 1) cost $7.00")
    # the header a logger writes before the message, as a pasted line has it
    assert pattern.search(
        "2015-10-18 18:01:47,978 INFO [main] app: Job 42 (attempt [1]) cost $7.00"
    )
    assert not pattern.search("BigJob 42 (attempt [1]) cost $7.00")  # a word must start there
    assert not pattern.search("Job 42 (attempt [1]) cost $7.00 and more")  # the line's end
    match = pattern.search("a line\nJob 42 (attempt [1]) cost $7.00\nanother")
    assert match is not None and match.group("v0") == "42" and match.group("v1") == "7"
    # a template starting with a wildcard takes the header in its first group
    served = re.compile(template_to_regex("<*> Served block blk_<*> to /<*>"))
    line = "081109 204005 35 INFO dfs.DataNode: 10.250.19.102:50010 Served block blk_-35 to /10.2"
    hit = served.search(line)
    assert (
        hit is not None
        and hit.group("v0") == "081109 204005 35 INFO dfs.DataNode: 10.250.19.102:50010"
    )


def test_a_csv_without_the_columns_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("Id,Template\nE1,x\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="EventId and EventTemplate"):
        import_file(path)


def test_duplicate_event_ids_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dup_templates.csv"
    path.write_text("EventId,EventTemplate\nE1,a <*>\nE1,b <*>\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"line 3: duplicate EventId 'E1'"):
        import_file(path)


def test_our_format_imports_as_is(tmp_path: Path) -> None:
    source = next(iter(load_kb()))
    path = tmp_path / "mine.yaml"
    path.write_text(dump_kb_yaml([source]), encoding="utf-8")
    assert import_file(path) == [source]


def test_unknown_extension_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "kb.txt"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="unknown file type .txt"):
        import_file(path)


def test_almost_matching_lines_do_not_backtrack_catastrophically() -> None:
    # plain lazy groups take ~25 s here (C(60, 6) ways to split the line); atomic ones microseconds
    pattern = re.compile(template_to_regex(" ".join(["<*>"] * 6) + " NEVER"))
    line = " ".join(f"w{i}" for i in range(60))
    started = time.perf_counter()
    assert pattern.search(line) is None
    assert time.perf_counter() - started < 1.0
    # earliest-first still finds matches that need a later occurrence of the last literal
    done = re.compile(template_to_regex("<*> to <*> done"))
    assert done.search("a to b to c done then done")
