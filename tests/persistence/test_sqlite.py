"""The SQLite thread store: inline writes that never block the event loop, files LangGraph's
own async saver wrote, and one lock file for every thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import aiosqlite
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from agent import Agent, Settings, ThreadBusyError
from agent.persistence import ThreadLocks
from agent.testing import Response, ScriptedServer, call
from tests.test_api import make_tools


async def test_a_run_waits_off_the_event_loop_while_another_process_writes(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    """Another connection holds the write lock for a while (as another process's long write
    would): the run's writes wait for it on the worker, the event loop keeps running, and the
    thread comes out whole."""
    async with Agent(settings, tools=make_tools()) as agent:
        scripted_llm.push(Response(content="warm"))
        await agent.arun("warm up")  # creates the database
        blocker = sqlite3.connect(str(settings.threads_db), isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the write lock, until COMMIT
        scripted_llm.push(call("add", a=2, b=3), Response(content="5"))
        run = asyncio.create_task(agent.arun("2+3?", thread_id="t"))
        gaps: list[float] = []
        last = time.monotonic()
        for _ in range(40):  # 0.4 s with the lock held
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
        assert not run.done()  # its first checkpoint is waiting for the lock
        blocker.execute("COMMIT")
        blocker.close()
        result = await asyncio.wait_for(run, 30)
        assert result.answer == "5"
        assert max(gaps) < 0.2  # the loop was never held for the lock's duration
        history = await agent.ahistory("t")
    assert [type(m) for m in history] == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    scripted_llm.assert_done()


async def test_threads_round_trip_through_langgraphs_own_async_saver(
    scripted_llm: ScriptedServer, settings: Settings, tmp_path: Path
) -> None:
    """Databases from before this store (LangGraph's ``AsyncSqliteSaver`` on aiosqlite) keep
    their threads, and the other way round: a thread read with that saver and written by it
    into a new file continues there."""
    async with Agent(settings, tools=make_tools()) as agent:
        scripted_llm.push(call("add", a=2, b=3), Response(content="5"))
        await agent.arun("2+3?", thread_id="t")
        before = await agent.ahistory("t")
    copied = settings.model_copy(update={"checkpoint_path": tmp_path / "copy.sqlite"})
    async with (
        aiosqlite.connect(str(settings.threads_db)) as src,
        aiosqlite.connect(str(copied.threads_db)) as dst,
    ):
        reader, writer = AsyncSqliteSaver(src), AsyncSqliteSaver(dst)
        await writer.setup()
        tuples = [t async for t in reader.alist({"configurable": {"thread_id": "t"}})]
        assert len(tuples) > 3
        for t in reversed(tuples):  # oldest first
            parent = t.parent_config or {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
            await writer.aput(parent, t.checkpoint, t.metadata, {})
    async with Agent(copied, tools=make_tools()) as agent:
        assert await agent.ahistory("t") == before
        scripted_llm.push(Response(content="still here"))
        assert (await agent.arun("and now?", thread_id="t")).answer == "still here"
        assert len(await agent.ahistory("t")) == len(before) + 2
    scripted_llm.assert_done()


async def test_one_lock_file_serves_every_thread(tmp_path: Path) -> None:
    path = tmp_path / "threads.lock"
    locks = ThreadLocks(path)
    async with locks.hold("a", wait_s=0), locks.hold("b", wait_s=0):  # two threads at once
        with pytest.raises(ThreadBusyError):
            async with locks.hold("a", wait_s=0):
                pass
    async with locks.hold("a", wait_s=0):  # released with its block
        pass
    assert sorted(p.name for p in path.parent.iterdir()) == ["threads.lock"]


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
async def test_each_durability_keeps_the_finished_run(
    scripted_llm: ScriptedServer, settings: Settings, durability: str
) -> None:
    """``AGENT_DURABILITY``: a finished run reads back whole in every mode; 'exit' writes one
    checkpoint for it where the others write one per step of the model (its LLM call, the
    tool calls it asked for and the check of its answer), after LangGraph's two for the
    question (its input, then the state with it)."""
    settings = settings.model_copy(update={"durability": durability})
    async with Agent(settings, tools=make_tools()) as agent:
        scripted_llm.push(call("add", a=2, b=3), Response(content="5"))
        assert (await agent.arun("2+3?", thread_id="t")).answer == "5"
        history = await agent.ahistory("t")
    assert [type(m) for m in history] == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    with sqlite3.connect(str(settings.threads_db)) as db:
        (saved,) = db.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = 't'").fetchone()
    assert saved == (1 if durability == "exit" else 2 + 2)
    scripted_llm.assert_done()
