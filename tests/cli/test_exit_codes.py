"""One exit-code table: the README shows it, every command's --help ends with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.cli.exit_codes import EXIT_CODES_HELP, ExitCode, exit_code_for, exit_codes_table
from agent.errors import ConfigError, KnowledgeBaseError, LLMUnavailableError, ThreadError

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
    assert exit_code_for(KnowledgeBaseError("x")) is ExitCode.FAILED
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
