"""Stack traces parsed into exceptions and frames, and ranked by the trace signal."""

from __future__ import annotations

from agent.known_errors.lookup import Rankings
from agent.known_errors.traces import (
    FIELD_WEIGHTS,
    TraceIndex,
    collapse_library_frames,
    differing_terms,
    mask_message,
    parse_trace,
)

JAVA = """\
org.apache.commons.cli.AlreadySelectedException: The option 'b' was specified but 'a' was
selected at offset 17
\tat org.apache.commons.cli.OptionGroup.setSelected(OptionGroup.java:105)
\tat org.apache.commons.cli.Parser.processProperties(Parser.java:296)
\tat java.lang.reflect.Method.invoke(Method.java:498)
\tat org.apache.commons.cli.ParserTestCase.testPropertyOptionGroup(ParserTestCase.java:1037)
Caused by: java.lang.IllegalStateException: group 0x1f3a is locked
\tat org.apache.commons.cli.OptionGroup.lock(OptionGroup.java:88)
\t... 3 more
"""

PYTHON = """\
Traceback (most recent call last):
  File "/srv/app/main.py", line 14, in <module>
    digest = fastcrc.crc32(payload)
  File "/srv/app/.venv/lib/python3.11/site-packages/fastcrc/__init__.py", line 22, in crc32
    return _fastcrc.crc32(data, len(data))
SystemError: PY_SSIZE_T_CLEAN macro must be defined for '#' formats
"""

NODE = """\
TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/app/src/users.js:42:17)
    at async handler (/app/src/routes.js:10:5)
    at processTicksAndRejections (node:internal/process/task_queues:95:5)
"""

GO = """\
panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.lookup(...)
\t/home/me/app/main.go:12
main.main()
\t/home/me/app/main.go:20 +0x1d
"""

DOTNET = """\
System.NullReferenceException: Object reference not set to an instance of an object.
   at Shop.Cart.Total() in C:\\src\\Shop\\Cart.cs:line 42
   at Shop.Program.Main(String[] args) in C:\\src\\Shop\\Program.cs:line 9
"""


def test_java_trace_with_a_cause_chain_and_elided_frames() -> None:
    trace = parse_trace(JAVA)
    assert trace is not None and trace.language == "java"
    assert [e.type for e in trace.exceptions] == [
        "org.apache.commons.cli.AlreadySelectedException",
        "java.lang.IllegalStateException",
    ]
    # the message continues on the next line; numbers and hex are masked
    assert trace.exceptions[0].message.endswith("selected at offset 17")
    assert trace.exceptions[1].masked == "group # is locked"
    names = [f.name for f in trace.frames]
    assert names[0] == "org.apache.commons.cli.OptionGroup.setSelected"
    assert trace.frames[0].line == 105 and not trace.frames[0].library
    assert [f.library for f in trace.frames][2] is True  # java.lang.reflect
    assert trace.frames[3].test and not trace.frames[0].test
    assert len(trace.frames) == 5  # "... 3 more" adds none


def test_python_node_go_and_dotnet_traces() -> None:
    py = parse_trace(PYTHON)
    assert py is not None and py.language == "python"
    assert py.exceptions[0].type == "SystemError"
    assert py.frames[0].name == "__init__.crc32" and py.frames[0].library  # raise site first
    assert py.frames[1].name == "main.<module>" and not py.frames[1].library

    js = parse_trace(NODE)
    assert js is not None and js.language == "javascript"
    assert js.exceptions[0].type == "TypeError"
    assert [f.name for f in js.own_frames] == ["users.getUser", "routes.handler"]
    assert js.frames[-1].library

    go = parse_trace(GO)
    assert go is not None and go.language == "go"
    assert go.exceptions[0].masked == "runtime error: index out of range [#] with length #"
    assert [(f.name, f.line) for f in go.frames] == [("main.lookup", 12), ("main.main", 20)]

    net = parse_trace(DOTNET)
    assert net is not None and net.language == "dotnet"
    assert net.frames[0].name == "Shop.Cart.Total" and net.frames[0].line == 42


def test_text_without_frames_is_not_a_trace() -> None:
    assert parse_trace("ERROR dfs.DataNode: Exception in receiveBlock for block 42") is None
    assert parse_trace("ValueError: bad value") is None


def test_masking_keeps_words_and_drops_variable_parts() -> None:
    assert mask_message("open /var/lib/x.db failed after 3 tries at 0xdeadbeef") == (
        "open # failed after # tries at #"
    )


def test_the_trace_of_the_same_code_path_ranks_first() -> None:
    other = JAVA.replace("OptionGroup.setSelected(OptionGroup.java:105)", "Util.strip(Util.java:7)")
    index = TraceIndex([("cli-group", JAVA), ("cli-util", other), ("py", PYTHON)])
    assert len(index) == 3
    query = JAVA.replace("testPropertyOptionGroup", "testPropertyOptionGroup2")
    ranked = index.rank(query)
    assert ranked[0][0] == "cli-group" and ranked[0][1] > ranked[1][1]
    assert index.rank("no trace here") == []


def test_a_score_is_the_share_of_the_querys_own_score_at_any_kb_size() -> None:
    """The same trace scores about 1 whether the KB holds 2 entries or 40; a trace that shares
    only the runtime's frames scores a small share of it."""
    other = JAVA.replace("OptionGroup.setSelected(OptionGroup.java:105)", "Util.strip(Util.java:7)")
    fillers = [
        (f"filler-{i}", JAVA.replace("org.apache.commons.cli", f"com.example.app{i}"))
        for i in range(38)
    ]
    for docs in ([("cli-group", JAVA), ("cli-util", other)], [("cli-group", JAVA), *fillers]):
        best, score = TraceIndex(docs).rank(JAVA)[0]
        assert best == "cli-group" and 0.9 <= score <= 1.1, (len(docs), score)
    stranger = (
        "java.lang.IllegalStateException: cart is closed\n"
        "\tat com.shop.Cart.add(Cart.java:12)\n"
        "\tat com.shop.CartTest.testAdd(CartTest.java:30)\n"
        "\tat sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)\n"
    )
    ranked = TraceIndex([("cli-group", JAVA), ("cli-util", other)]).rank(stranger)
    assert all(score < 0.2 for _, score in ranked), ranked


def test_a_trace_is_never_matched_to_another_languages_trace() -> None:
    """A Python traceback that shares the Java trace's words (here its whole message, as text
    an example may quote) is still not its known error; a Java trace of another path is."""
    python = (
        "Traceback (most recent call last):\n"
        '  File "/srv/cli/options.py", line 105, in set_selected\n'
        "    raise AlreadySelectedException(message)\n"
        "AlreadySelectedException: The option 'b' was specified but 'a' was selected OptionGroup"
        " setSelected Parser processProperties\n"
    )
    other_java = JAVA.replace(
        "OptionGroup.setSelected(OptionGroup.java:105)", "Util.x(Util.java:7)"
    )
    index = TraceIndex([("py", python), ("java", other_java)])
    assert [i for i, _ in index.rank(JAVA)] == ["java"]
    assert [i for i, _ in TraceIndex([("py", python)]).rank(JAVA)] == []
    assert [i for i, _ in TraceIndex([("py", python)]).rank(python)] == ["py"]


def test_fusion_judges_trace_covered_entries_by_the_trace_signal_alone() -> None:
    rankings = Rankings(
        per_signal={
            "trace": [("a", 9.0), ("b", 4.0)],
            "bm25": [("b", 3.0), ("msg-only", 2.0)],
            "dense": [("b", 0.9), ("msg-only", 0.8)],
        },
        trace_covered=frozenset({"a", "b"}),
    )
    fused = rankings.for_fusion()
    assert fused["trace"] == [("a", 9.0), ("b", 4.0)]
    assert fused["bm25"] == [("msg-only", 2.0)] and fused["dense"] == [("msg-only", 0.8)]
    assert Rankings(per_signal={"bm25": [("x", 1.0)]}).for_fusion() == {"bm25": [("x", 1.0)]}


def test_runs_of_library_frames_fold_to_their_first_frame() -> None:
    runner = [
        "\tat sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)",
        "\tat java.lang.reflect.Method.invoke(Method.java:498)",
        "\tat junit.framework.TestCase.runTest(TestCase.java:176)",
        "\tat junit.framework.TestCase.runBare(TestCase.java:141)",
        "\tat org.apache.tools.ant.Main.runBuild(Main.java:811)",
    ]
    trace = "\n".join(
        [
            "junit.framework.ComparisonFailure: expected:<[a]> but was:<[b]>",
            "\tat junit.framework.Assert.assertEquals(Assert.java:100)",
            "\tat junit.framework.Assert.assertEquals(Assert.java:107)",
            "\tat org.example.ParserTest.testQuotes(ParserTest.java:55)",
            *runner,
            "Caused by: java.lang.IllegalStateException: closed",
            "\tat org.example.Parser.next(Parser.java:12)",
            "\t... 7 more",
        ]
    )
    assert collapse_library_frames(trace).split("\n") == [
        "junit.framework.ComparisonFailure: expected:<[a]> but was:<[b]>",
        # two in a row stay as they are
        "\tat junit.framework.Assert.assertEquals(Assert.java:100)",
        "\tat junit.framework.Assert.assertEquals(Assert.java:107)",
        "\tat org.example.ParserTest.testQuotes(ParserTest.java:55)",
        runner[0],
        "\t... 4 library frames (java.lang.reflect, junit.framework, org.apache.tools.ant)",
        "Caused by: java.lang.IllegalStateException: closed",
        "\tat org.example.Parser.next(Parser.java:12)",
        "\t... 7 more",
    ]
    # nothing to fold: the text comes back as it was
    assert collapse_library_frames(DOTNET) == DOTNET
    assert collapse_library_frames(PYTHON) == PYTHON


def test_what_an_assertions_values_differ_in() -> None:
    marked = (
        "expected:<var a = {};\n/**\n * @[return {undefined}\n * @]constructor> "
        "but was:<var a = {};\n/**\n * @[]constructor>"
    )
    assert sorted(differing_terms(marked)) == ["-*", "-@", "-return", "-undefined", "-{", "-}"]
    assert differing_terms("expected:<3> but was:<1>") == ["-3", "+1"]
    closure = (
        "\nExpected: function f(){b:try{}finally{break b}}\n"
        "Result: function f(){b:try{}finally{}}\nNode tree inequality:"
    )
    assert sorted(differing_terms(closure)) == ["-b", "-break"]
    assert differing_terms("expected a warning") == []


def comparison(test: str, expected: str, actual: str) -> str:
    cls = test.split(".")[0]
    return (
        f"junit.framework.ComparisonFailure: expected:<{expected}> but was:<{actual}>\n"
        "\tat junit.framework.Assert.assertEquals(Assert.java:100)\n"
        f"\tat com.google.javascript.jscomp.{test}({cls}.java:799)\n"
    )


def test_a_test_failing_on_the_same_difference_finds_its_bug() -> None:
    """Another test of the bug, in another bug's test class, around other code: the
    difference decides."""
    bug = comparison(
        "CodePrinterTest.testTypes", "/**[ @return {undefined}]*/ var t1", "/**[]*/ var t1"
    )
    other = comparison("TypeCheckTest.testConst", "/**[ @const]*/ x", "/**[]*/ x")
    query = comparison("TypeCheckTest.testCtor", "/**[ @return {undefined}]*/ x", "/**[]*/ x")
    entries = [("bug", bug), ("other", other)]
    assert [entry for entry, _ in TraceIndex(entries).rank(query)] == ["bug", "other"]
    without = TraceIndex(entries, weights={**FIELD_WEIGHTS, "diff": 0.0}).rank(query)
    assert without[0][0] == "other"  # the class and the code around it point at the other
