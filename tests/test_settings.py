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


def test_tool_call_mode_and_tools_default_to_auto() -> None:
    # auto mode is measured from the server (agent.llm.probe), never guessed from the name
    assert Settings.load(llm_model=DEFAULT_LOCAL_MODEL).tool_call_mode == "auto"
    assert not hasattr(Settings, "resolved_tool_call_mode")
    # every model, the small local default included, gets the three tools
    assert Settings.load(llm_model=DEFAULT_LOCAL_MODEL).resolved_tools() == {
        "calculator",
        "rag_search",
        "mcp",
    }
    assert Settings.load(tools="calculator, mcp").resolved_tools() == {"calculator", "mcp"}
    with pytest.raises(ConfigError, match="AGENT_REPAIR_CHOICE"):
        Settings.load(repair_choice="always")
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


def test_the_servers_gc_threshold_is_applied_and_zero_keeps_pythons() -> None:
    import gc

    from agent.server import tune_gc

    before = gc.get_threshold()
    try:
        assert Settings.load(serve_gc_threshold=5000).serve_gc_threshold == 5000
        tune_gc(0)
        assert gc.get_threshold() == before
        tune_gc(5000)
        assert gc.get_threshold() == (5000, before[1], before[2])
    finally:
        gc.set_threshold(*before)


def load_error(monkeypatch: pytest.MonkeyPatch, folder: Path, dotenv: str) -> str:
    """The message of the ``ConfigError`` that ``Settings.load`` raises with this ``.env``."""
    monkeypatch.chdir(folder)
    (folder / ".env").write_text(dotenv)
    with pytest.raises(ConfigError) as info:
        Settings.load()
    return str(info.value)


def test_a_bad_value_says_which_file_it_came_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    message = load_error(monkeypatch, tmp_path, "AGENT_MAX_STEPS=zero\n")
    assert f"max_steps (AGENT_MAX_STEPS in {tmp_path.resolve() / '.env'})" in message
    monkeypatch.setenv("AGENT_MAX_STEPS", "-1")  # the environment beats .env: it is the culprit
    with pytest.raises(ConfigError, match=r"max_steps \(env AGENT_MAX_STEPS\)"):
        Settings.load()


def test_a_misspelt_variable_is_an_error_not_a_silent_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dotenv = "AGENT_MAX_STEP=3\nagent_llm_modle=x\nAGENT_COLOUR=red\n"
    message = load_error(monkeypatch, tmp_path, dotenv)
    path = tmp_path.resolve() / ".env"
    assert f"AGENT_MAX_STEP in {path} is not a setting: did you mean AGENT_MAX_STEPS?" in message
    assert "AGENT_LLM_MODLE" in message and "did you mean AGENT_LLM_MODEL?" in message
    assert f"AGENT_COLOUR in {path} is not a setting: the README's Settings" in message

    (tmp_path / ".env").unlink()
    monkeypatch.setenv("AGENT_TEMPRATURE", "0.5")
    with pytest.raises(ConfigError, match="AGENT_TEMPRATURE is not a setting: did you mean "):
        Settings.load()
    # other tools' AGENT_* variables (Azure Pipelines sets these) are not ours to judge
    monkeypatch.delenv("AGENT_TEMPRATURE")
    for name in ("AGENT_OS", "AGENT_NAME", "AGENT_ID", "AGENT_TOOLSDIRECTORY", "AGENT_JOBNAME"):
        monkeypatch.setenv(name, "x")
    assert Settings.load().max_steps == Settings.model_fields["max_steps"].default
