"""Bad input from the user's side ends with one clear line and a non-zero exit, never a
traceback or a hang: a damaged thread database, bytes that are not text, markup in names.

Each runs the installed ``agent`` command in its own process, with a timeout: a hang fails the
test instead of hanging the suite.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli.exit_codes import ExitCode
from agent.testing import ScriptedServer

AGENT = str(Path(sys.executable).parent / "agent")


@pytest.fixture
def env(scripted_llm: ScriptedServer, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AGENT_LLM_BASE_URL": scripted_llm.url,
        "AGENT_LLM_MODEL": "scripted-model",
        "AGENT_DATA_DIR": str(tmp_path / "data"),
        "AGENT_CACHE_DIR": str(tmp_path / "cache"),
        "AGENT_TOOL_CALL_MODE": "native",
        "AGENT_LLM_MAX_RETRIES": "0",
        "AGENT_MCP_SERVERS": "[]",
        "AGENT_TOOLS": "calculator",
    }


def agent(env: dict[str, str], *args: str, stdin: bytes = b"") -> tuple[int, str]:
    done = subprocess.run(
        [AGENT, *args], env=env, input=stdin, capture_output=True, timeout=120, check=False
    )
    return done.returncode, done.stderr.decode(errors="replace") + done.stdout.decode(
        errors="replace"
    )


def damage(db: Path, how: str) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    if how == "random bytes":
        db.write_bytes(os.urandom(8192))
    elif how == "truncated":
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE t (x BLOB)")
            conn.executemany("INSERT INTO t VALUES (?)", [(os.urandom(2000),)] * 50)
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 3 + 7])
    else:  # a directory where the file should be
        db.mkdir()


@pytest.mark.parametrize("how", ["random bytes", "truncated", "a directory"])
def test_a_damaged_thread_database_is_one_clear_error_and_the_command_ends(
    env: dict[str, str], tmp_path: Path, how: str
) -> None:
    damage(tmp_path / "data" / "threads.sqlite", how)
    code, out = agent(env, "ask", "hi")
    assert code == ExitCode.THREAD, out
    assert "thread database" in out and "Traceback" not in out


def test_binary_input_to_triage_is_refused_clearly(env: dict[str, str]) -> None:
    code, out = agent(env, "triage", "--no-llm", "-", stdin=b"\x00\x01\xff\xfe" * 100)
    assert code == ExitCode.USAGE, out
    assert "not text" in out and "Traceback" not in out


def test_invalid_utf8_in_a_question_is_refused_clearly(env: dict[str, str]) -> None:
    done = subprocess.run(
        [AGENT.encode(), b"ask", b"caf\xe9 \xff?"], env=env, capture_output=True, timeout=120
    )
    out = done.stderr.decode(errors="replace") + done.stdout.decode(errors="replace")
    assert done.returncode == ExitCode.USAGE, out
    assert "UTF-8" in out and "Traceback" not in out


def test_markup_in_a_file_name_is_printed_not_interpreted(
    env: dict[str, str], tmp_path: Path
) -> None:
    doc = tmp_path / "[bold]notes[red].md"
    doc.write_text("# Notes\n\nThe build uses make.\n")
    wide = {**env, "COLUMNS": "400"}  # the table keeps the long temp path on one line
    for args in (["docs", "add", str(doc)], ["docs", "list"], ["docs", "remove", str(doc)]):
        code, out = agent(wide, *args)
        assert code == 0, out
        assert "Traceback" not in out
        if args[1] != "add":
            assert "[bold]notes[red].md" in out  # the name as it is, markup shown literally
    code, out = agent(wide, "docs", "list")  # a new process: the removed file stays removed
    assert code == 0 and "notes" not in out, out


def test_a_garbage_vector_store_file_is_named_in_one_clear_error(
    env: dict[str, str], tmp_path: Path
) -> None:
    store = tmp_path / "data" / "milvus.db"
    store.parent.mkdir(parents=True)
    store.write_bytes(os.urandom(4096))
    code, out = agent(env, "docs", "list")
    assert code not in (0, None), out
    assert "milvus.db" in out and "Traceback" not in out


def test_adding_only_missing_paths_is_one_error_before_any_progress(
    env: dict[str, str], tmp_path: Path
) -> None:
    missing = str(tmp_path / "nope.md")
    code, out = agent(env, "docs", "add", missing)
    assert code == ExitCode.USAGE, out
    assert f"no such file or directory: {missing}" in " ".join(out.split())
    assert "ingest" not in out  # no progress bar for nothing to do
    assert not (tmp_path / "data").exists()  # the store was never opened


@pytest.mark.parametrize(
    "args",
    [
        ["errors", "show", "no-such-entry"],
        ["errors", "remove", "no-such-entry"],
        ["docs", "remove"],
        ["triage", "/no/such.log"],
        ["docs", "add", "/no/such.md"],
    ],
    ids=["errors-show", "errors-remove", "docs-remove", "triage", "docs-add"],
)
def test_bad_input_is_the_same_one_line_error_in_every_command(
    env: dict[str, str], args: list[str]
) -> None:
    code, out = agent(env, *args)
    assert code == ExitCode.USAGE, out
    assert out.startswith("error (InputError): "), out
    assert "Traceback" not in out
