"""Every ```python block of README.md runs, against the scripted LLM server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.testing import ScriptedServer, loop_responder

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)


@pytest.fixture(scope="module")
def loop_llm() -> Iterator[ScriptedServer]:
    with ScriptedServer(responder=loop_responder(1)) as server:
        yield server


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int, loop_llm: ScriptedServer, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_")}
    env |= {
        "AGENT_LLM_BASE_URL": loop_llm.url,
        "AGENT_DATA_DIR": str(tmp_path / "data"),
        "AGENT_LLM_MAX_RETRIES": "0",
        "AGENT_MCP_SERVERS": "[]",
        "PYTHONPATH": str(README.parent),
    }
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"README block {index} failed:\n{BLOCKS[index]}\n{proc.stderr}"
    assert "done" in proc.stdout  # the scripted final answer reached the example's output
