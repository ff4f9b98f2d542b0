"""The heap a process starts with is frozen at an agent's first run, once, unless turned off.

Each case runs in a fresh interpreter: freezing is once per process, and this one's heap has
long been frozen by an earlier test."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.testing import Response, ScriptedServer

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = textwrap.dedent(
    """
    import gc, json, sys
    import sentence_transformers  # the embedder's: loads extension modules that check for leaks
    from agent import Agent, Settings
    url, data = sys.argv[1:3]
    settings = Settings.load(llm_base_url=url, llm_model="scripted-model",
                             tool_call_mode="native", data_dir=data, mcp_servers=[],
                             cache_dir=data + "/cache", llm_max_retries=0)
    seen = {"before": gc.get_freeze_count()}
    with Agent(settings, tools=[]) as agent:
        seen["answer"] = agent.run("hi").answer
        seen["after_first"] = gc.get_freeze_count()
        later = [[1]]  # alive from now on: frozen only if a later run froze again
        agent.run("again")
    with Agent(settings, tools=[]) as other:
        other.run("a second agent")
    seen["after_all"] = gc.get_freeze_count()
    seen["later_collectable"] = any(o is later for o in gc.get_objects())  # not frozen
    print(json.dumps(seen))
    """
)


@pytest.mark.parametrize("freeze", ["true", "false"])
def test_the_first_run_freezes_the_startup_heap_once(tmp_path: Path, freeze: str) -> None:
    with ScriptedServer() as llm:
        llm.push(Response(content="hello"), Response(content="x"), Response(content="y"))
        proc = subprocess.run(
            [sys.executable, "-c", PROGRAM, llm.url, str(tmp_path)],
            cwd=ROOT,
            env={**_env(), "AGENT_GC_FREEZE": freeze},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "leaked" not in proc.stderr  # frozen objects go back to the collector at exit
        llm.assert_done()
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["before"] == 0
    assert seen["answer"] == "hello"
    if freeze == "true":
        assert seen["after_first"] > 100_000  # the imported libraries
        assert seen["later_collectable"]  # not frozen again by the later runs
        assert seen["after_all"] <= seen["after_first"]  # frozen objects still go when freed
    else:
        assert seen["after_first"] == seen["after_all"] == 0
        assert seen["later_collectable"]


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AGENT_")}
