"""Runs on one thread are serialized, across processes: no lost turn, no interleaved turn, a
bounded wait, and a lock that dies with its holder.

Real processes against one scripted server (which answers each question after a delay) and one
SQLite thread database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from agent import Agent, Settings, ThreadBusyError
from agent.persistence import ThreadLocks, thread_locks
from agent.testing import Response, ScriptedServer
from tests.test_api import make_tools

ROOT = Path(__file__).resolve().parents[2]


def echo(body: dict[str, Any]) -> Response:
    """Answer each question by name, slowly, so that concurrent runs overlap."""
    question = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    return Response(content=f"answer to {question}", delay_s=0.3)


WORKER = textwrap.dedent(
    """
    import sys
    from agent import Agent, Settings
    url, data, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    settings = Settings.load(llm_base_url=url, llm_model="scripted-model",
                             tool_call_mode="native", data_dir=data, mcp_servers=[],
                             cache_dir=data + "/cache", llm_max_retries=0)
    with Agent(settings, tools=[]) as agent:
        for i in range(n):
            agent.run(f"{name}-{i}", thread_id="shared")
    """
)


def test_two_processes_on_one_thread_keep_every_turn_in_order(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ScriptedServer(responder=echo) as llm:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, llm.url, str(data), name, "4"],
                cwd=ROOT,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("a", "b")
        ]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        settings = Settings.load(
            llm_base_url=llm.url, llm_model="scripted-model", data_dir=data, mcp_servers=[]
        )
        with Agent(settings, tools=[]) as agent:
            history = agent.history("shared")
    pairs = list(zip(history[::2], history[1::2], strict=True))
    assert len(pairs) == 8
    for question, answer in pairs:  # question, its answer, question, its answer, ...
        assert isinstance(question, HumanMessage) and isinstance(answer, AIMessage)
        assert answer.content == f"answer to {question.content}"
    assert sorted(str(q.content) for q, _ in pairs) == [f"{n}-{i}" for n in "ab" for i in range(4)]


async def test_a_second_writer_waits_a_bounded_time_then_is_told_the_thread_is_busy(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    settings = settings.model_copy(update={"thread_wait_s": 0.3})
    held = thread_locks("sqlite", settings)  # another holder of the same lock files
    async with Agent(settings, tools=make_tools()) as agent:
        async with held.hold("t1", wait_s=0):
            started = time.monotonic()
            with pytest.raises(ThreadBusyError, match="AGENT_THREAD_WAIT_S"):
                await agent.arun("hello", thread_id="t1")
            assert 0.3 <= time.monotonic() - started < 5
        assert await agent.ahistory("t1") == []  # nothing half-written
        scripted_llm.push(Response(content="hi"))  # free again: the run goes through
        assert (await agent.arun("hello", thread_id="t1")).answer == "hi"
    scripted_llm.assert_done()


HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from agent.persistence import ThreadLocks
    async def main():
        async with ThreadLocks(Path(sys.argv[1])).hold("t1", wait_s=0):
            print("held", flush=True)
            await asyncio.sleep(60)
    asyncio.run(main())
    """
)


def assert_a_killed_holder_leaves_no_lock_behind(
    holder_script: str, argument: str, locks: ThreadLocks, *, released_within_s: float
) -> None:
    """Run ``holder_script`` (it prints "held" once it holds thread t1's lock), check that
    ``locks`` cannot take t1, SIGKILL the holder, and check that ``locks`` then takes t1
    within ``released_within_s``."""
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_script, argument], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"

        async def take(wait_s: float) -> None:
            try:
                async with locks.hold("t1", wait_s=wait_s):
                    pass
            finally:
                await locks.aclose()  # what this event loop opened goes with it

        with pytest.raises(ThreadBusyError):
            asyncio.run(take(0))
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        started = time.monotonic()
        asyncio.run(take(released_within_s))  # released with the dead holder
        assert time.monotonic() - started < released_within_s
    finally:
        holder.kill()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    path = tmp_path / "threads.lock"  # the kernel drops a dead process's lock at once
    assert_a_killed_holder_leaves_no_lock_behind(
        HOLDER, str(path), ThreadLocks(path), released_within_s=5
    )
