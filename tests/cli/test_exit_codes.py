"""One exit-code table: the README shows it, every command's --help ends with it."""

from __future__ import annotations

import re
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.cli._common import hint_for
from agent.cli.exit_codes import EXIT_CODES_HELP, ExitCode, exit_code_for, exit_codes_table
from agent.errors import (
    ConfigError,
    KnowledgeBaseError,
    LLMResponseError,
    LLMUnavailableError,
    ThreadError,
)
from agent.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_shows_the_table() -> None:
    text = README.read_text()
    block = re.search(r"<!-- exit-codes:.*?-->\n(.*?)\n<!-- /exit-codes -->", text, re.DOTALL)
    assert block is not None, "README lost its exit-code table"
    assert block.group(1).strip() == exit_codes_table()


@pytest.mark.parametrize(
    "args",
    [[], ["ask"], ["chat"], ["triage"], ["doctor"], ["llm", "pull"], ["errors", "list"]],
    ids=lambda a: " ".join(a) or "agent",
)
def test_every_help_ends_with_the_table(args: list[str]) -> None:
    result = CliRunner().invoke(app, [*args, "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.replace("│", " ").split())
    assert " ".join(EXIT_CODES_HELP.split()) in flat


def test_errors_map_to_their_class_code() -> None:
    assert exit_code_for(ConfigError("x")) is ExitCode.USAGE
    assert exit_code_for(LLMUnavailableError("x", url="http://h/v1")) is ExitCode.LLM_UNAVAILABLE
    assert exit_code_for(ThreadError("x")) is ExitCode.THREAD
    assert exit_code_for(KnowledgeBaseError("x")) is ExitCode.USAGE  # a bad KB file
    assert exit_code_for(KeyboardInterrupt()) is ExitCode.INTERRUPTED


def test_doctor_says_where_threads_and_stores_live_even_with_the_server_down(
    tmp_path: Path,
) -> None:
    env = {"AGENT_LLM_BASE_URL": "http://127.0.0.1:9/v1", "AGENT_DATA_DIR": str(tmp_path / "d")}
    result = CliRunner().invoke(app, ["doctor"], env=env)
    assert result.exit_code == ExitCode.LLM_UNAVAILABLE, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        f"threads: {tmp_path / 'd' / 'threads.sqlite'}",
        f"documents: {tmp_path / 'd' / 'milvus.db'}",
        f"error KB: {tmp_path / 'd' / 'errors.db'}",
    ]
    assert lines[3] == "settings not at their default:"
    assert "  AGENT_LLM_BASE_URL=http://127.0.0.1:9/v1  (env)" in lines


def test_doctor_lists_the_settings_set_and_where_each_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("AGENT_MAX_STEPS=3\nAGENT_LLM_API_KEY=sk-secret\n")
    env = {"AGENT_LLM_BASE_URL": "http://127.0.0.1:9/v1", "AGENT_DATA_DIR": str(tmp_path / "d")}
    result = CliRunner().invoke(app, ["doctor", "--model", "m"], env=env)
    assert result.exit_code == ExitCode.LLM_UNAVAILABLE, result.output
    lines = result.stdout.splitlines()
    env_file = tmp_path / ".env"
    assert f"  AGENT_MAX_STEPS=3  ({env_file})" in lines
    assert f"  AGENT_LLM_API_KEY=****  ({env_file})" in lines  # a secret is not printed
    assert "  --model=m  (flag)" in lines
    assert "sk-secret" not in result.output


def test_a_404_from_a_base_url_without_v1_suggests_adding_it() -> None:
    missing = LLMResponseError("Error code: 404", status_code=404)
    bare = Settings.load(llm_base_url="http://127.0.0.1:8000")
    assert "try AGENT_LLM_BASE_URL=http://127.0.0.1:8000/v1" in hint_for(missing, bare)
    # with /v1 a 404 is a model the server does not serve
    served = Settings.load(llm_base_url="http://127.0.0.1:8000/v1/")
    assert "does the server serve" in hint_for(missing, served)


def test_doctor_at_a_server_that_has_no_such_path_says_where_the_api_is(tmp_path: Path) -> None:
    # a real HTTP server that answers 404 for /models, as vLLM does without the /v1
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        env = {"AGENT_LLM_BASE_URL": base, "AGENT_DATA_DIR": str(tmp_path / "d")}
        result = CliRunner().invoke(app, ["doctor"], env=env)
        server.shutdown()
    assert result.exit_code == ExitCode.USAGE, result.output
    flat = " ".join(result.stderr.split())  # as the console wraps it
    assert f"answer under /v1: AGENT_LLM_BASE_URL={base}/v1" in flat
