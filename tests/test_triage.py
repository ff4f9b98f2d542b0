"""Triage: `agent triage` on real tracebacks, with and without the LLM, and answer parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.cli.exit_codes import ExitCode
from agent.testing import ScriptedServer, reply
from agent.triage import parse_answer

# A real traceback of the PY_SSIZE_T_CLEAN pitfall (an old C extension on Python 3.10+).
SSIZE_T_TRACEBACK = """\
2024-05-01 10:00:00,001 INFO loading plugins
Traceback (most recent call last):
  File "/srv/app/main.py", line 14, in <module>
    digest = fastcrc.crc32(payload)
  File "/srv/app/.venv/lib/python3.11/site-packages/fastcrc/__init__.py", line 22, in crc32
    return _fastcrc.crc32(data, len(data))
SystemError: PY_SSIZE_T_CLEAN macro must be defined for '#' formats
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("triage")


@pytest.fixture
def env(
    scripted_llm: ScriptedServer, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return {
        "AGENT_LLM_BASE_URL": scripted_llm.url,
        "AGENT_LLM_MODEL": "scripted-model",
        "AGENT_DATA_DIR": str(data_dir),
        "AGENT_CACHE_DIR": str(tmp_path_factory.getbasetemp() / "shared-cache"),
        "AGENT_TOOL_CALL_MODE": "native",
        "AGENT_LLM_MAX_RETRIES": "0",
        "HF_HUB_OFFLINE": "1",
    }


def triage(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["triage", *args], env=env, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_triage_without_llm_returns_the_right_entry_first(
    env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "crash.log"
    log.write_text(SSIZE_T_TRACEBACK, encoding="utf-8")
    code, out, _ = triage(env, str(log), "--no-llm", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["matches"][0]["id"] == "python-py-ssize-t-clean"
    assert report["matches"][0]["matched_by"] == ["signature", "bm25"]
    assert report["answer"] is None and report["cited_ids"] == []
    assert report["lines_in"] == 7
    # where the user's code failed, from the trace itself: fastcrc's frame is a dependency's
    assert report["location"] == "main.<module> (/srv/app/main.py:14)"


def test_the_argument_may_be_the_error_text_itself(env: dict[str, str], tmp_path: Path) -> None:
    message = SSIZE_T_TRACEBACK.strip().splitlines()[-1]  # pasted: a space, so no file's name
    code, out, _ = triage(env, message, "--no-llm", "--json")
    assert code == 0
    assert json.loads(out)["matches"][0]["id"] == "python-py-ssize-t-clean"
    # one word is an error's text too, unless it looks like a path
    code, out, _ = triage(env, "ECONNREFUSED", "--no-llm", "--json")
    assert code == 0 and json.loads(out)["matches"], out
    # a path names a file: a missing one is an error that says what to give
    for missing in (str(tmp_path / "crash.lgo"), "crash.lgo"):
        code, _, err = triage(env, missing, "--no-llm")
        assert code == ExitCode.USAGE
        assert f"no such file: {missing}" in " ".join(err.split())
        assert "the error's text in quotes" in " ".join(err.split())
    code, _, err = triage(env, "  ", "--no-llm")
    assert code == ExitCode.USAGE and "the log is empty" in err


def explanation(**fields: object) -> str:
    return json.dumps(
        {
            "cause": "fastcrc's C extension parses '#' formats without PY_SSIZE_T_CLEAN, which "
            "Python 3.10+ rejects.",
            "fix": "upgrade fastcrc, or add #define PY_SSIZE_T_CLEAN before #include <Python.h> "
            "and rebuild.",
            "cited": [1],  # the first entry listed: python-py-ssize-t-clean
            "confidence": "high",
            **fields,
        }
    )


def test_triage_from_stdin_explains_in_one_structured_call(
    env: dict[str, str], scripted_llm: ScriptedServer
) -> None:
    scripted_llm.push(reply(explanation()))
    code, out, err = triage(env, "-", stdin=SSIZE_T_TRACEBACK)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Matched known errors"
    assert lines[1].startswith("1. python-py-ssize-t-clean  (score ")
    assert "Cause: fastcrc's C extension parses '#' formats" in out
    assert "Fix: upgrade fastcrc, or add #define PY_SSIZE_T_CLEAN" in out
    assert "Citations: python-py-ssize-t-clean  (confidence high)" in out
    assert "Where: main.<module> (/srv/app/main.py:14)" in lines
    scripted_llm.assert_done()
    # one call, no tools: the retrieved entries are in the prompt, and the server must decode
    # to a schema whose citations can only be the retrieved ids
    (request,) = scripted_llm.requests
    assert "tools" not in request
    prompt = request["messages"][-1]["content"]
    assert "PY_SSIZE_T_CLEAN" in prompt and "1. id: python-py-ssize-t-clean" in prompt
    schema = request["response_format"]["json_schema"]["schema"]
    assert request["response_format"]["type"] == "json_schema"
    assert schema["required"] == ["cause", "fix", "cited", "confidence"]
    # the entries' numbers: the one with evidence (its signature), not the two Python-trace
    # entries of the KB ranked after it for sharing Python's frames
    assert schema["properties"]["cited"]["items"]["enum"] == [1]


JSON_TRACEBACK = """Traceback (most recent call last):
  File "/home/me/app/client.py", line 9, in fetch_config
    return json.loads(resp.text)
  File "/usr/lib/python3.11/json/decoder.py", line 355, in raw_decode
    raise JSONDecodeError("Expecting value", s, err.value) from None
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
"""


def test_the_model_reads_only_entries_with_evidence_of_their_own(
    env: dict[str, str], scripted_llm: ScriptedServer
) -> None:
    # the starter KB's two Python-trace entries share only Python's own frames with this
    # traceback: the lookup ranks them behind the signature's match, and the model, shown them
    # as candidates, once explained the input with one of them
    code, out, _ = triage(env, "-", "--no-llm", "--json", stdin=JSON_TRACEBACK)
    report = json.loads(out)
    matches = report["matches"]
    assert matches[0]["id"] == "python-json-decode-expecting-value"
    assert ["trace"] in [m["matched_by"] for m in matches[1:]]
    assert report["evidence"] == ["python-json-decode-expecting-value"]
    code, out, _ = triage(env, "-", "--no-llm", stdin=JSON_TRACEBACK)
    assert "(score" in out and "; matched by signature, bm25)" in out
    assert "; nearest by trace)" in out  # listed, not said to match
    scripted_llm.push(reply(explanation()))
    code, out, err = triage(env, "-", stdin=JSON_TRACEBACK)
    assert code == 0, err
    prompt = scripted_llm.requests[-1]["messages"][-1]["content"]
    assert "1. id: python-json-decode-expecting-value" in prompt
    assert "2. id:" not in prompt
    assert "Citations: python-json-decode-expecting-value" in out


def test_an_unusable_reply_gets_one_retry_that_names_the_problem(
    env: dict[str, str], scripted_llm: ScriptedServer
) -> None:
    scripted_llm.push(
        reply(explanation(cited=["made-up-id"])),  # a server without structured outputs
        reply(explanation()),
    )
    code, out, err = triage(env, "-", "--json", stdin=SSIZE_T_TRACEBACK)
    assert code == 0, err
    report = json.loads(out)
    assert report["fallback"] is False and report["cited_ids"] == ["python-py-ssize-t-clean"]
    assert report["citations"][0]["rank"] == 1 and report["citations"][0]["score"] > 0
    assert set(report["timings_ms"]) == {"reduce", "lookup", "explain"}
    scripted_llm.assert_done()
    retry = scripted_llm.requests[1]["messages"]
    assert retry[-2]["role"] == "assistant" and "made-up-id" in retry[-2]["content"]
    assert "cites made-up-id, which the search did not return" in retry[-1]["content"]


def test_an_entry_whose_text_applies_is_named_by_its_number_not_retyped(
    env: dict[str, str], scripted_llm: ScriptedServer
) -> None:
    # a sentence of its own for the cause; entry 1's fix by number, without citing it
    scripted_llm.push(reply(explanation(fix=1, cited=[])))
    code, out, err = triage(env, "-", "--json", stdin=SSIZE_T_TRACEBACK)
    assert code == 0, err
    report = json.loads(out)
    top = report["matches"][0]
    assert report["fallback"] is False and top["id"] == "python-py-ssize-t-clean"
    assert report["cause"].startswith("fastcrc's C extension parses")
    assert report["fix"] == top["fix"].strip()  # the KB's text in full, not cut to 200 chars
    assert report["from_kb"] == {"fix": "python-py-ssize-t-clean"}
    assert report["cited_ids"] == ["python-py-ssize-t-clean"]  # quoting an entry cites it
    schema = scripted_llm.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["fix"]["anyOf"][1] == {"type": "integer", "enum": [1]}
    assert (
        "give that entry's number instead of its text"
        in (scripted_llm.requests[0]["messages"][0]["content"])
    )
    # the CLI says whose text each part is
    scripted_llm.push(reply(explanation(cause=1, fix=1)))
    code, out, err = triage(env, "-", stdin=SSIZE_T_TRACEBACK)
    assert code == 0, err
    assert f"Cause (from python-py-ssize-t-clean): {top['cause'].strip()[:40]}" in out
    assert "Fix (from python-py-ssize-t-clean): In the C source put `#define" in out
    # one entry's cause with another's fix: the cause says which error it is, its fix follows
    # (a log with a second error, whose entry is listed second)
    two_errors = SSIZE_T_TRACEBACK + "OSError: [Errno 28] No space left on device\n"
    scripted_llm.push(reply(explanation(cause=1, fix=2, cited=[2, 1])))
    code, out, err = triage(env, "-", "--json", stdin=two_errors)
    assert code == 0, err
    report = json.loads(out)
    both = "python-py-ssize-t-clean"
    assert report["from_kb"] == {"cause": both, "fix": both}
    assert report["fix"] == top["fix"].strip()
    assert report["cited_ids"] == [both]  # entry 2 was cited for its fix, no longer used
    # a number that names no listed entry goes back to the model, named
    scripted_llm.push(reply(explanation(cause=7)), reply(explanation()))
    code, out, err = triage(env, "-", "--json", stdin=SSIZE_T_TRACEBACK)
    assert code == 0, err
    assert json.loads(out)["from_kb"] == {}
    problem = scripted_llm.requests[-1]["messages"][-1]["content"]
    assert "does not match the schema (cause: Input should be a valid string)" in problem
    scripted_llm.assert_done()


def test_two_unusable_replies_fall_back_to_the_top_entry(
    env: dict[str, str], scripted_llm: ScriptedServer
) -> None:
    scripted_llm.push(reply("The cause is a missing macro."), reply(explanation(fix="  ")))
    code, out, err = triage(env, "-", "--json", stdin=SSIZE_T_TRACEBACK)
    assert code == 0, err
    report = json.loads(out)
    assert report["fallback"] is True and report["answer"] is None
    assert report["cited_ids"] == ["python-py-ssize-t-clean"]
    assert report["fix"].startswith("In the C source put `#define")
    both = "python-py-ssize-t-clean"
    assert report["from_kb"] == {"cause": both, "fix": both}
    scripted_llm.assert_done()
    assert "it is not valid JSON" in scripted_llm.requests[1]["messages"][-1]["content"]


def test_triage_with_llm_down_still_prints_the_kb_fix(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "crash.log"
    log.write_text(SSIZE_T_TRACEBACK, encoding="utf-8")
    down = {**env, "AGENT_LLM_BASE_URL": "http://127.0.0.1:9/v1"}
    code, out, err = triage(down, str(log))
    assert code == 0
    assert "Fix (from python-py-ssize-t-clean): In the C source put `#define" in out
    assert "warning: no explanation from the LLM" in err
    code, out, _ = triage(down, str(log), "--json")
    report = json.loads(out)
    assert report["fallback"] is True and "127.0.0.1:9" in report["llm_error"]
    assert report["cited_ids"] == ["python-py-ssize-t-clean"] and report["confidence"] == "low"


# A line that reports no error: it shares words with entries, but none is its cause.
HDFS_INFO = (
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block "
    "blk_38865049064139660 terminating\n"
)


def test_a_line_no_known_error_matches_is_said_so_without_asking_the_model(
    env: dict[str, str], scripted_llm: ScriptedServer
) -> None:
    code, out, err = triage(env, "-", "--json", stdin=HDFS_INFO)
    assert code == 0, err
    report = json.loads(out)
    assert report["no_match"] is True
    assert report["location"] is None  # a log line has no frames
    assert report["matches"]  # the nearest entries are still listed, as such
    assert report["cause"] is None and report["fix"] is None and report["cited_ids"] == []
    assert report["answer"].startswith("No known error matches this input")
    code, out, err = triage(env, "-", stdin=HDFS_INFO)
    assert code == 0, err
    assert out.splitlines()[0].startswith("No known error matches this input")
    assert "Nearest entries" in out and "Matched known errors" not in out
    assert f"1. {report['matches'][0]['id']}  (score" in out  # listed, as the nearest
    assert "nearest by" in out and "matched by" not in out  # not said to match
    assert "Cause" not in out and "Fix" not in out
    assert scripted_llm.requests == []  # nothing to explain from
    # an error no signature matches, close in meaning to an entry, is a match
    refused = (
        "requests.exceptions.ConnectionError: HTTPConnectionPool(host=localhost, port=8000): Max "
        "retries exceeded (Caused by NewConnectionError: [Errno 111] Connection refused)\n"
    )
    code, out, err = triage(env, "-", "--json", "--no-llm", stdin=refused)
    report = json.loads(out)
    assert code == 0 and report["no_match"] is False
    assert report["matches"][0]["id"] == "http-connection-refused"
    assert "signature" not in report["matches"][0]["matched_by"]


# A traceback of an error no starter-KB entry knows: it shares with the KB's Python tracebacks
# only the traceback's frame (File "...", line N, in ...) and words of the runtime.
UNKNOWN_TRACEBACK = """\
Traceback (most recent call last):
  File "/srv/shop/cart.py", line 88, in checkout
    total = apply_coupon(order, code)
  File "/srv/shop/coupons.py", line 41, in apply_coupon
    raise CouponExpired(code)
shop.coupons.CouponExpired: coupon SPRING24 expired on 2024-04-30
"""


def test_an_imported_template_with_no_cause_yet_is_shown_without_asking_the_model(
    env: dict[str, str], scripted_llm: ScriptedServer, tmp_path: Path
) -> None:
    env = {**env, "AGENT_DATA_DIR": str(tmp_path / "data")}  # a KB of its own
    templates = tmp_path / "HDFS_templates.csv"
    templates.write_text(
        "EventId,EventTemplate\n"
        "E2,Receiving block <*> src: /<*> dest: /<*>\n"
        "E10,PacketResponder <*> for block <*> terminating\n"
    )
    result = CliRunner().invoke(app, ["errors", "import", str(templates)], env=env)
    assert result.exit_code == 0, result.output
    code, out, err = triage(env, "-", "--json", stdin=HDFS_INFO)
    assert code == 0, err
    report = json.loads(out)
    assert report["matches"][0]["id"] == "hdfs-E10"
    assert report["fallback"] is True and report["llm_error"] is None
    assert report["cause"].startswith("Not documented yet")
    assert scripted_llm.requests == []  # a model could only restate "not documented yet"
    assert "warning" not in err


def test_a_trace_of_an_unknown_error_is_no_match_while_a_known_one_matches(
    env: dict[str, str], scripted_llm: ScriptedServer
) -> None:
    code, out, err = triage(env, "-", "--json", stdin=UNKNOWN_TRACEBACK)
    assert code == 0, err
    report = json.loads(out)
    assert report["no_match"] is True, report["matches"]
    assert scripted_llm.requests == []
    code, out, err = triage(env, "-", "--json", "--no-llm", stdin=SSIZE_T_TRACEBACK)
    assert code == 0 and json.loads(out)["no_match"] is False


def test_empty_input_is_a_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = triage(env, "-", stdin="  \n")
    assert code == 2 and "the log is empty" in err
    empty = tmp_path / "empty.log"
    empty.write_text("", encoding="utf-8")
    code, _, err = triage(env, str(empty))  # the same message, not min_length's
    assert code == 2 and "the log is empty" in err, err


def test_parse_answer_reads_sections_and_keeps_only_known_citations() -> None:
    answer = (
        "**Cause:** the KV cache is too small\nfor 32k tokens.\n"
        "**Fix:** pass --max-model-len 8192 [vllm-kv-cache-too-small-for-max-model-len].\n"
        "Known errors: [vllm-kv-cache-too-small-for-max-model-len], [made-up], [torch-x]"
    )
    cause, fix, cited = parse_answer(
        answer, {"vllm-kv-cache-too-small-for-max-model-len", "torch-x"}
    )
    assert cause == "the KV cache is too small\nfor 32k tokens."
    assert fix == "pass --max-model-len 8192 [vllm-kv-cache-too-small-for-max-model-len]."
    assert cited == ["vllm-kv-cache-too-small-for-max-model-len", "torch-x"]
    assert parse_answer("no structure here", {"a"}) == (None, None, [])


def test_a_java_trace_reaches_the_model_without_its_runner_frames(
    env: dict[str, str], scripted_llm: ScriptedServer
) -> None:
    runner = "\n".join(
        f"\tat org.junit.runners.ParentRunner$3.run(ParentRunner.java:{290 + i})" for i in range(40)
    )
    trace = (
        "java.util.ConcurrentModificationException\n"
        "\tat java.util.ArrayList$Itr.checkForComodification(ArrayList.java:911)\n"
        "\tat java.util.ArrayList$Itr.next(ArrayList.java:861)\n"
        "\tat com.shop.Cart.removeExpired(Cart.java:88)\n"
        "\tat com.shop.CartTest.testRemoveExpired(CartTest.java:41)\n"
        f"{runner}\n"
    )
    scripted_llm.push(reply(explanation(cited=[1])))
    code, out, err = triage(env, "-", "--json", stdin=trace)
    assert code == 0, err
    report = json.loads(out)
    # the first frame of the project's code that is not a test's, not the JDK's
    assert report["location"] == "com.shop.Cart.removeExpired (Cart.java:88)"
    assert report["answer"].startswith("Where: com.shop.Cart.removeExpired (Cart.java:88)\nCause: ")
    (request,) = scripted_llm.requests
    prompt = request["messages"][-1]["content"]
    # the project's frames are all there, with the JDK frame where it was thrown; none of the
    # runner's 40 frames, nor the JDK's second
    assert "java.util.ArrayList$Itr.checkForComodification(ArrayList.java:911)" in prompt
    assert "com.shop.Cart.removeExpired(Cart.java:88)" in prompt
    assert "com.shop.CartTest.testRemoveExpired(CartTest.java:41)" in prompt
    assert "ArrayList.java:861" not in prompt
    assert "ParentRunner" not in prompt and "library frames" not in prompt
