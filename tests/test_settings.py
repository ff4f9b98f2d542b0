from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.settings import DEFAULT_LOCAL_MODEL, Settings


def test_env_and_dotenv_and_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("AGENT_MAX_STEPS=7\nAGENT_LLM_MODEL=from-dotenv\n")
    monkeypatch.setenv("AGENT_LLM_MODEL", "from-env")
    s = Settings.load()
    assert s.max_steps == 7  # .env
    assert s.llm_model == "from-env"  # env beats .env
    assert Settings.load(llm_model="explicit").llm_model == "explicit"  # arguments beat env


def test_invalid_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_MAX_STEPS", "zero")
    with pytest.raises(ConfigError) as info:
        Settings.load()
    assert "AGENT_MAX_STEPS" in str(info.value)
    with pytest.raises(ConfigError, match="must start with http"):
        Settings.load(max_steps=3, llm_base_url="localhost:8000")
    with pytest.raises(ConfigError, match="AGENT_TOOL_CALL_MODE"):
        Settings.load(max_steps=3, tool_call_mode="sometimes")


def test_tool_call_mode_default_follows_the_model() -> None:
    assert Settings.load(llm_model=DEFAULT_LOCAL_MODEL).resolved_tool_call_mode() == "required"
    assert Settings.load(llm_model="Qwen/Qwen3-32B").resolved_tool_call_mode() == "native"
    assert (
        Settings.load(llm_model="x", tool_call_mode="required").resolved_tool_call_mode()
        == "required"
    )


def test_default_tools_follow_the_model() -> None:
    assert Settings.load(llm_model=DEFAULT_LOCAL_MODEL).resolved_tools() == {"calculator"}
    assert Settings.load(llm_model="Qwen/Qwen3-32B").resolved_tools() == {
        "calculator",
        "rag_search",
        "mcp",
    }
    assert Settings.load(tools="calculator, mcp").resolved_tools() == {"calculator", "mcp"}
    with pytest.raises(ConfigError, match="AGENT_TOOLS"):
        Settings.load(tools="calculator,weather")


def test_docs_collection_reads_its_env_name_and_the_old_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.load().docs_collection == "documents"
    monkeypatch.setenv("DOCS_COLLECTION", "unprefixed")  # the AGENT_ prefix is still required
    assert Settings.load().docs_collection == "documents"
    (tmp_path / ".env").write_text("AGENT_RAG_COLLECTION=from-dotenv\n")
    assert Settings.load().docs_collection == "from-dotenv"
    monkeypatch.setenv("AGENT_RAG_COLLECTION", "old-name")  # the name before the rename
    assert Settings.load().docs_collection == "old-name"
    monkeypatch.setenv("AGENT_DOCS_COLLECTION", "new-name")  # the new name wins
    assert Settings.load().docs_collection == "new-name"
    assert Settings.load(docs_collection="explicit").docs_collection == "explicit"
