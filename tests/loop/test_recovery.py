from __future__ import annotations

from agent.loop import PROGRAM_TOOL, WrittenCallFilter, cut_written_call, recover_tool_calls

KNOWN = {"calculator", "add"}


def test_bare_fenced_and_tagged_calls() -> None:
    bare = '{"name": "calculator", "arguments": {"expression": "1+1"}}'
    for text in (
        bare,
        f"```json\n{bare}\n```",
        f"<tool_call>\n{bare}\n</tool_call>",
        f"<tool_call>{bare}",
    ):  # an unclosed tag, as truncated output leaves it
        calls = recover_tool_calls(text, KNOWN)
        assert [(c["name"], c["args"]) for c in calls] == [("calculator", {"expression": "1+1"})]


def test_variants_of_the_call_shape() -> None:
    calls = recover_tool_calls(
        '[{"name": "add", "parameters": {"a": 1, "b": 2}},'
        ' {"type": "function", "function": {"name": "add",'
        ' "arguments": "{\\"a\\": 3, \\"b\\": 4}"}}]',
        KNOWN,
    )
    assert [c["args"] for c in calls] == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    assert len({c["id"] for c in calls}) == 2


def test_ordinary_text_and_unknown_tools_are_not_calls() -> None:
    assert recover_tool_calls("The answer is 42.", KNOWN) == []
    assert recover_tool_calls('{"name": "rm", "arguments": {}}', KNOWN) == []
    assert recover_tool_calls('{"result": 3}', KNOWN) == []
    assert recover_tool_calls('```json\n{"name": "add", "arguments": [1]}\n```', KNOWN) == []
    assert recover_tool_calls("", KNOWN) == []


def test_call_after_reasoning_in_tools_tags_with_a_made_up_result() -> None:
    # Qwen2.5-Coder-1.5B under tool_choice=auto, verbatim shape
    text = (
        "To solve the expression 17*23+4, I'll use the calculator function:\n<tools>\n"
        '{"name": "calculator", "arguments": {"expression": "17*23+4"}}\n</tools>\n'
        "The result is 441."
    )
    calls = recover_tool_calls(text, KNOWN)
    assert [(c["name"], c["args"]) for c in calls] == [("calculator", {"expression": "17*23+4"})]


def test_a_code_fence_beside_a_call_fence_is_skipped() -> None:
    text = (
        "```python\nprint(2 + 2)\n```\nInstead:\n"
        '```json\n{"name": "add", "arguments": {"a": 2, "b": 2}}\n```'
    )
    assert [c["args"] for c in recover_tool_calls(text, KNOWN)] == [{"a": 2, "b": 2}]
    assert recover_tool_calls("```python\nprint(2 + 2)\n```", KNOWN) == []


WITH_PROGRAMS = {"calculator", "rag_search", "run_python"}


def test_a_python_block_is_a_run_python_call_when_the_agent_has_it() -> None:
    text = (
        "```python\nlizzie = 4\nprint(lizzie * 2)\n```\n"
        "Output:\n```\n8\n```\nSo the answer is 8."  # the made-up output is dropped
    )
    calls = recover_tool_calls(text, WITH_PROGRAMS)
    assert [(c["name"], c["args"]) for c in calls] == [
        ("run_python", {"code": "lizzie = 4\nprint(lizzie * 2)\n"})
    ]
    assert recover_tool_calls(text, KNOWN) == []  # without the tool, it is just an answer


def test_a_call_fenced_as_python_is_that_call_not_a_program() -> None:
    # Qwen2.5-Coder-1.5B, verbatim shape: a call in a python fence, with Python's None
    text = (
        '```python\n{"name": "rag_search", "arguments": {"query": "Hazel walked", '
        '"top_k": 5, "source": None}}\n```'
    )
    calls = recover_tool_calls(text, WITH_PROGRAMS)
    assert [(c["name"], c["args"]) for c in calls] == [
        ("rag_search", {"query": "Hazel walked", "top_k": 5, "source": None})
    ]
    # a Python literal that is not a call is skipped, as a program is without run_python
    data_then_call = (
        "```python\n{'a': None}\n```\n"
        '```json\n{"name": "calculator", "arguments": {"expression": "1+1"}}\n```'
    )
    assert [c["name"] for c in recover_tool_calls(data_then_call, KNOWN)] == ["calculator"]


# seen from Qwen2.5-Coder-1.5B on the mixed suite: a right answer, then a broken search call
BROKEN_SEARCH = (
    '{"name": "rag_search", "arguments": {"query": "default headersTimeout?", "top_k": 5, '
    '"source": null, "arguments": {"text": "default headersTimeout?"}}'  # one brace short
)


def test_a_broken_call_is_cut_from_the_answer_with_its_lead_in() -> None:
    known = {"rag_search", "calculator"}
    answer = "60000 ms is 60 s, and 60 * 60 = 3600.\n\nThe final answer is 3600."
    for block in (
        f"```json\n{BROKEN_SEARCH}\n```",
        BROKEN_SEARCH,
        "{" + BROKEN_SEARCH,  # {{"name": ...
        f"<tool_call>\n{BROKEN_SEARCH}",
        f"<tools>\n{BROKEN_SEARCH}",  # the tag Qwen2.5-Coder copies from its chat template
        '{"type": "function", "function": {"name": "rag_search", "arguments": {',
    ):
        text = f"{answer}\n\nTherefore, the final answer is:\n{block}"
        assert recover_tool_calls(text, known) == []
        assert cut_written_call(text, known) == answer


def test_text_without_a_known_tools_call_is_kept_whole() -> None:
    known = {"rag_search"}
    for text in (
        "The answer is 42.",
        'Use this config:\n```json\n{"name": "my-app", "port": 8080}\n```',
        '{"name": "rm", "arguments": {}}',  # not a tool of this agent
        "The steps are:\n1. add\n2. divide",
    ):
        assert cut_written_call(text, known) == text
    # a reply that is nothing but a broken call leaves nothing: the loop rescues it
    assert cut_written_call(BROKEN_SEARCH, known) == ""


def streamed(text: str, known: set[str], size: int) -> str:
    """What ``WrittenCallFilter`` lets through of ``text`` fed in pieces of ``size``."""
    shown: list[str] = []
    stream = WrittenCallFilter(known, shown.append)
    for start in range(0, len(text), size):
        stream.feed(text[start : start + size])
    stream.close()
    return "".join(shown)


CALL = '{"name": "calculator", "arguments": {"expression": "17*23+4"}}'


def test_a_written_call_and_what_follows_it_never_stream() -> None:
    before = "Let me work it out.\n"
    for block in (
        f"```json\n{CALL}\n```",
        f"<tools>\n{CALL}\n</tools>",
        f"<tool_call>{CALL}</tool_call>",
        f"[{CALL}]",
        "{" + CALL,
        '{"type": "function", "function": ' + CALL + "}",
        "{'name': 'calculator', 'arguments': {'expression': None}}",  # a Python dict
        BROKEN_SEARCH,  # a call that will not parse is cut from the answer all the same
    ):
        text = f"{before}{block}\nThe result is 441."
        for size in (1, 2, 5, len(text)):  # however the server splits the deltas
            assert streamed(text, {"calculator", "rag_search"}, size) == before, (block, size)


def test_text_that_only_looks_like_a_call_streams_whole() -> None:
    for text in (
        "The answer is 42.",
        'Use this config:\n```json\n{"name": "my-app", "port": 8080}\n```',
        '{"name": "rm", "arguments": {}}',  # not a tool of this agent
        '{"name": "calc"}',  # a known tool's name is only a prefix of it
        "In Java, `class A { int x[] = {1}; }` and <b>bold</b>, with a < b.",
        "```python\nprint(1)\n```",  # a program is text unless run_python is a tool
        "It ends on an open brace {",  # what waits at the end is sent by close()
    ):
        for size in (1, 3, len(text)):
            assert streamed(text, {"calculator", "rag_search"}, size) == text, (text, size)
    program = "Here:\n```python\nprint(1)\n```"
    assert streamed(program, {PROGRAM_TOOL}, 2) == "Here:\n"
