"""Shared fixtures: the scripted LLM server and settings pointing at it, in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.settings import Settings
from agent.testing import ScriptedServer

pytest_plugins = ["tests.milvus_fixtures", "tests.postgres_fixtures"]


@pytest.fixture
def scripted_llm() -> Iterator[ScriptedServer]:
    """A scripted OpenAI-compatible server; push responses, then run; leftovers fail the test."""
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def settings(scripted_llm: ScriptedServer, tmp_path: Path) -> Settings:
    return Settings.load(
        llm_base_url=scripted_llm.url,
        llm_model="scripted-model",
        tool_call_mode="native",
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        llm_max_retries=0,
        mcp_servers=[],
    )
