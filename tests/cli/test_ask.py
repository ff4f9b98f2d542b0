"""``agent ask``: the JSON shape, the human output and the exit code of each failure class."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.cli._render import tool_line
from agent.cli.exit_codes import ExitCode
from agent.testing import Response, ScriptedServer, call, error, reply
from agent.text import frame_untrusted
from tests.cli.test_math import QWEN as QWEN_ANSWER

AGENT = str(Path(sys.executable).parent / "agent")


@pytest.fixture
def env(scripted_llm: ScriptedServer, tmp_path: Path) -> dict[str, str]:
    return {
        "AGENT_LLM_BASE_URL": scripted_llm.url,
        "AGENT_LLM_MODEL": "scripted-model",
        "AGENT_DATA_DIR": str(tmp_path / "data"),
        "AGENT_TOOL_CALL_MODE": "native",
        "AGENT_LLM_MAX_RETRIES": "0",
        "AGENT_MCP_SERVERS": "[]",  # no error-lookup server process
    }


def ask(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run ``agent ask`` in-process (stdout is not a terminal here, as in a pipe)."""
    result = CliRunner().invoke(app, ["ask", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def durations_masked(out: str) -> list[str]:
    return re.sub(r"\(\d+\.\d\ds\)", "(N.NNs)", out).splitlines()


def test_json_answer_has_the_documented_shape(
    scripted_llm: ScriptedServer, env: dict[str, str]
) -> None:
    scripted_llm.push(call("calculator", expression="17 * 23"), reply("17 * 23 = 391"))
    code, out, _err = ask(env, "--json", "What is 17 * 23?")
    assert code == 0
    assert out.count("\n") == 1  # one JSON document and nothing else
    data: dict[str, Any] = json.loads(out)
    assert set(data) == {
        "answer",
        "thread_id",
        "steps",
        "usage",
        "tool_calls",
        "warnings",
        "rescued",
        "corrected",
        "sources",
        "pending",
        "output",
    }
    assert data["rescued"] is None and data["corrected"] == [] and data["sources"] == []
    assert data["output"] is None  # no --schema
    assert data["answer"] == "17 * 23 = 391" and data["steps"] == 2
    assert data["usage"] == {"input_tokens": 40, "output_tokens": 10, "total_tokens": 50}
    assert isinstance(data["thread_id"], str) and len(data["thread_id"]) == 32
    [record] = data["tool_calls"]
    assert set(record) == {"call_id", "name", "arguments", "content", "is_error", "duration_s"}
    assert record["name"] == "calculator" and record["arguments"] == {"expression": "17 * 23"}
    assert record["content"] == "391" and record["is_error"] is False
    scripted_llm.assert_done()


def test_required_mode_hides_the_final_answer_call(
    scripted_llm: ScriptedServer, env: dict[str, str]
) -> None:
    scripted_llm.push(call("final_answer", answer="hi there"))
    code, out, _err = ask(env, "--json", "--mode", "required", "say hi")
    data = json.loads(out)
    assert code == 0 and data["answer"] == "hi there" and data["tool_calls"] == []
    assert scripted_llm.requests[0]["tool_choice"] == "required"


def test_human_output_lists_tool_calls_then_the_answer(
    scripted_llm: ScriptedServer, env: dict[str, str]
) -> None:
    scripted_llm.push(call("calculator", expression="2**10"), reply("It is **1024**."))
    code, out, _err = ask(env, "What is 2**10?")
    assert code == 0
    lines = durations_masked(out)
    assert lines[0] == '[tool ok] calculator(expression="2**10") -> 1024 (N.NNs)'
    assert lines[1] == "It is **1024**."  # in a pipe the answer is printed as the model wrote it
    assert lines[2].startswith("2 steps · 50 tokens (40 in, 10 out)")
    assert "\x1b" not in out


# Qwen2.5-Coder often writes its call in the text, in the <tools> tag of its chat template, and
# goes on with a result it made up; the agent runs the call, so that text is not shown.
WRITTEN_CALL = (
    "Let me work it out.\n<tools>\n"
    '{"name": "calculator", "arguments": {"expression": "17*23+4"}}\n'
    "</tools>\nThe result is 441."
)


@pytest.mark.parametrize(
    ("first", "tool_line", "answer"),
    [
        (  # text beside a call the server parsed: commentary, not the answer
            Response(
                content="Let me work it out.",
                tool_calls=[{"name": "calculator", "arguments": {"expression": "3*3"}}],
            ),
            '[tool ok] calculator(expression="3*3") -> 9 (N.NNs)',
            "Nine.",
        ),
        (  # a call written in the text: shown as the call, not as text
            reply(WRITTEN_CALL),
            '[tool ok] calculator(expression="17*23+4") -> 395 (N.NNs)',
            "The result of 17*23+4 is 395.",
        ),
    ],
)
def test_text_before_a_tool_call_is_commentary_and_a_written_call_is_not_shown(
    scripted_llm: ScriptedServer,
    env: dict[str, str],
    first: Response,
    tool_line: str,
    answer: str,
) -> None:
    scripted_llm.push(first, reply(answer))
    code, out, _err = ask(env, "What is it?")
    assert code == 0
    assert durations_masked(out)[:3] == ["Let me work it out.", tool_line, answer]
    assert "441" not in out and "<tools>" not in out


def test_thread_option_continues_a_conversation(
    scripted_llm: ScriptedServer, env: dict[str, str]
) -> None:
    scripted_llm.push(reply("Noted."), reply("You said 7."))
    assert ask(env, "--json", "--thread", "notes", "Remember 7.")[0] == 0
    code, out, _err = ask(env, "--json", "--thread", "notes", "What did I say?")
    assert code == 0 and json.loads(out)["thread_id"] == "notes"
    sent = [m["content"] for m in scripted_llm.requests[1]["messages"][1:]]
    assert sent == ["Remember 7.", "Noted.", "What did I say?"]


def test_the_short_thread_id_a_run_prints_continues_that_thread(
    scripted_llm: ScriptedServer, env: dict[str, str]
) -> None:
    scripted_llm.push(reply("9"), reply("10"), reply("new"))
    code, out, _err = ask(env, "--json", "What is 3*3?")
    full = json.loads(out)["thread_id"]
    code, out, _err = ask(env, "--json", "--thread", full[:8], "Add 1 to that")
    assert code == 0 and json.loads(out)["thread_id"] == full
    sent = [m["content"] for m in scripted_llm.requests[1]["messages"][1:]]
    assert sent == ["What is 3*3?", "9", "Add 1 to that"]
    # a name of your own is never taken for the start of another thread's id
    code, out, _err = ask(env, "--json", "--thread", full[:3] + "-mine", "Hi")
    assert code == 0 and json.loads(out)["thread_id"] == full[:3] + "-mine"
    assert [m["content"] for m in scripted_llm.requests[2]["messages"][1:]] == ["Hi"]


@pytest.mark.parametrize("question", ["", "   \n"])
def test_an_empty_question_exits_2_without_asking_the_model(
    scripted_llm: ScriptedServer, env: dict[str, str], question: str
) -> None:
    code, _out, err = ask(env, question)
    assert code == ExitCode.USAGE and "the question is empty" in err
    assert scripted_llm.requests == []


def test_calls_needing_approval_exit_7_and_are_decided_from_another_command(
    scripted_llm: ScriptedServer, env: dict[str, str]
) -> None:
    env = {**env, "AGENT_APPROVE_TOOLS": '["calculator"]', "AGENT_TOOLS": "calculator"}
    scripted_llm.push(call("calculator", expression="6*7"))
    code, out, _err = ask(env, "--thread", "t", "What is 6*7?")
    assert code == ExitCode.AWAITING_APPROVAL
    assert "waiting for approval on thread t" in out
    [call_id] = re.findall(r"^  (\S+)  calculator", out, re.MULTILINE)
    code, _out, err = ask(env, "--thread", "t", "--approve", "nope")
    assert code == ExitCode.USAGE and "no pending call 'nope'" in err
    scripted_llm.push(call("calculator", expression="6*8"))  # the model asks again
    code, out, _err = ask(
        env, "--json", "--thread", "t", "--edit", f'{call_id}={{"expression": "6*7"}}'
    )
    assert code == ExitCode.AWAITING_APPROVAL
    [again] = json.loads(out)["pending"]
    assert scripted_llm.requests[-1]["messages"][-1]["content"] == "42"  # the edit ran
    scripted_llm.push(reply("It is 42."))
    code, out, _err = ask(env, "--thread", "t", "--reject", f"{again['call_id']}:enough")
    assert code == 0 and "It is 42." in out
    assert "did not allow this call: enough" in scripted_llm.requests[-1]["messages"][-1]["content"]
    code, _out, err = ask(env, "--approve", "x")
    assert code == ExitCode.USAGE and "--thread" in err
    scripted_llm.assert_done()


def test_schema_prints_the_answer_as_valid_json(
    scripted_llm: ScriptedServer, env: dict[str, str], tmp_path: Path
) -> None:
    schema = {
        "type": "object",
        "properties": {"product": {"type": "integer"}},
        "required": ["product"],
    }
    path = tmp_path / "product.schema.json"
    path.write_text(json.dumps(schema))
    scripted_llm.push(
        call("calculator", expression="17 * 23"),
        reply("It is 391."),
        reply('{"product": "many"}'),  # wrong type: goes back to the model
        reply('{"product": 391}'),
    )
    code, out, _err = ask(env, "--schema", str(path), "What is 17 * 23?")
    assert code == 0
    assert json.loads(out) == {"product": 391}
    sent = scripted_llm.requests[2]["response_format"]["json_schema"]["schema"]
    assert sent == {**schema, "additionalProperties": False}  # closed for guided decoding
    scripted_llm.push(reply('{"product": 6}'))
    code, out, _err = ask(env, "--json", "--schema", str(path), "2 * 3?")
    assert code == 0 and json.loads(out)["output"] == {"product": 6}
    scripted_llm.assert_done()


def test_a_bad_schema_file_exits_2_naming_it(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    code, _out, err = ask(env, "--schema", str(path), "?")
    assert code == ExitCode.USAGE and "bad.json" in err and "not JSON" in err
    path.write_text('{"type": "object", "properties": {"a": {"type": "nope"}}}')
    code, _out, err = ask(env, "--schema", str(path), "?")
    assert code == ExitCode.USAGE and "JSON Schema is not usable" in err


def test_unreachable_server_exits_3(env: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**env, "AGENT_LLM_BASE_URL": f"http://127.0.0.1:{port}/v1"}
    code, out, err = ask(env, "--json", "hello")
    assert code == ExitCode.LLM_UNAVAILABLE == 3
    data = json.loads(out)
    assert data["error"]["type"] == "LLMUnavailableError" and data["error"]["exit_code"] == 3
    assert (
        f"127.0.0.1:{port}" in data["error"]["message"] and "agent doctor" in data["error"]["hint"]
    )
    assert isinstance(data["thread_id"], str)
    assert "cannot reach the LLM server" in err  # the human message goes to stderr


def test_run_error_exits_4_and_names_the_thread(
    scripted_llm: ScriptedServer, env: dict[str, str]
) -> None:
    scripted_llm.push(call("calculator", expression="1+1"), reply(""))  # no rescue either
    code, out, err = ask(env, "--json", "--max-steps", "1", "loop")
    assert code == ExitCode.RUN_STOPPED == 4
    data = json.loads(out)
    assert data["error"]["type"] == "StepBudgetExceededError"
    assert f"agent chat --thread {data['thread_id']}" in data["error"]["hint"]
    assert "AGENT_MAX_STEPS=1" in err


def test_a_rescued_answer_says_so(scripted_llm: ScriptedServer, env: dict[str, str]) -> None:
    scripted_llm.push(call("calculator", expression="1+1"), reply("It is 2."))
    code, out, _err = ask(env, "--max-steps", "1", "1+1, with the calculator")
    assert code == 0
    said = "answering with tools off: no final answer after 1 LLM calls"
    assert said in out and out.index(said) < out.index("It is 2.")  # said as the rescue began
    assert out.count("tools off") == 1

    scripted_llm.push(call("calculator", expression="1+1"), reply("It is 2."))
    code, out, _err = ask(env, "--json", "--max-steps", "1", "1+1, with the calculator")
    assert code == 0 and "AGENT_MAX_STEPS=1" in json.loads(out)["rescued"]


def test_an_answer_from_the_documents_lists_where_their_excerpts_came_from(
    scripted_llm: ScriptedServer, env: dict[str, str], tmp_path: Path
) -> None:
    runbook = tmp_path / "runbook.md"
    runbook.write_text(
        "# Deploy\n\n## Rollback\n\nIf a release breaks production, run `make rollback` "
        "within ten minutes to restore the previous image.\n"
    )
    added = CliRunner().invoke(app, ["docs", "add", str(runbook)], env=env)
    assert added.exit_code == 0, added.output
    answer = "Run make rollback within ten minutes."
    scripted_llm.push(reply(answer), reply(answer))
    code, out, _err = ask(env, "How do I roll back a broken release?")
    assert code == 0
    # the model named no file; the runtime says what the answer could draw on, after it
    listed = "sources: runbook.md (Deploy > Rollback)"
    assert listed in out and out.index(answer) < out.index(listed)
    code, out, _err = ask(env, "--json", "How do I roll back a broken release?")
    assert code == 0 and json.loads(out)["sources"] == ["runbook.md (Deploy > Rollback)"]
    scripted_llm.assert_done()


def test_server_error_exits_5(scripted_llm: ScriptedServer, env: dict[str, str]) -> None:
    scripted_llm.push(error(500, "model exploded"))
    code, _out, err = ask(env, "hello")
    assert code == ExitCode.LLM_ERROR == 5
    assert "model exploded" in err and "LLMResponseError" in err


@pytest.mark.parametrize(
    ("args", "extra_env", "message"),
    [
        (["--max-steps", "0", "q"], {}, "--max-steps"),  # rejected by the flag's own check
        (["q"], {"AGENT_TEMPERATURE": "9"}, "AGENT_TEMPERATURE"),  # rejected by Settings
        (["--base-url", "localhost:8000", "q"], {}, "http://"),
    ],
)
def test_bad_configuration_exits_2(
    env: dict[str, str], args: list[str], extra_env: dict[str, str], message: str
) -> None:
    code, out, err = ask({**env, **extra_env}, *args)
    assert code == 2
    assert message in out + err


def test_help_teaches_usage_with_examples() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["--help"]).output
    assert "agent ask" in top and "agent chat" in top
    ask_help = " ".join(runner.invoke(app, ["ask", "--help"]).output.split())
    assert "Examples" in ask_help and "--json" in ask_help
    assert "Exit codes" in ask_help and "3 the LLM server cannot be reached" in ask_help
    chat_help = runner.invoke(app, ["chat", "--help"]).output
    assert "agent chat --thread" in chat_help and "Esc-Enter" in chat_help


def test_installed_command_exit_code_and_plain_output(
    scripted_llm: ScriptedServer, env: dict[str, str], tmp_path: Path
) -> None:
    """The real entry point in a real pipe: no ANSI codes, the documented exit code."""
    scripted_llm.push(reply("plain **text**"))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_")}
    full_env.update(env, TERM="xterm-256color")
    done = subprocess.run(
        [AGENT, "ask", "hi"], env=full_env, cwd=tmp_path, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("plain **text**\n") and "\x1b" not in done.stdout
    done = subprocess.run(
        [AGENT, "ask", "--json", "hi"],
        env={**full_env, "AGENT_LLM_BASE_URL": "http://127.0.0.1:9/v1"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 3
    assert json.loads(done.stdout)["error"]["type"] == "LLMUnavailableError"


def test_a_tool_line_shows_a_searchs_excerpts_not_their_untrusted_frame() -> None:
    # the model reads a search's result framed as untrusted data; a person reads the excerpts
    framed = frame_untrusted("[1] docs/limits.md: at most 40 nodes\n[2] ...", source="rag_search")
    line = tool_line("rag_search", {"query": "nodes"}, framed, False, 0.5)
    assert line.startswith('[tool ok] rag_search(query="nodes") -> [1] docs/limits.md: at most')
    assert "untrusted_data" not in line


def test_the_screen_shows_plain_maths_and_json_keeps_the_model_s_text(
    scripted_llm: ScriptedServer, env: dict[str, str]
) -> None:
    scripted_llm.push(reply(QWEN_ANSWER))
    code, out, _err = ask(env, "gas?")
    assert code == 0
    assert "Gas in the truck's tank = 1/2 × 20 = 10 gallons" in out and "\\frac" not in out

    scripted_llm.push(reply(QWEN_ANSWER))
    code, out, _err = ask(env, "--json", "gas?")
    assert code == 0 and json.loads(out)["answer"] == QWEN_ANSWER
