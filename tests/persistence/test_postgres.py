"""Threads in a real PostgreSQL server: shared by processes, one run at a time per thread,
nothing lost or orphaned when a process is killed mid-run, and clear errors for a bad URL.

The server is a throwaway cluster (``tests/postgres_fixtures.py``); the LLM is the scripted one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from pydantic import SecretStr

from agent import Agent, Settings, ThreadBusyError, ThreadError
from agent.persistence import PostgresThreadLocks, thread_locks
from agent.testing import Response, ScriptedServer, call
from tests.faults.test_thread_runs import assert_a_killed_holder_leaves_no_lock_behind
from tests.test_api import make_tools

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def pg_settings(settings: Settings, url: str, **more: Any) -> Settings:
    return settings.model_copy(update={"checkpoint_url": SecretStr(url), **more})


def assert_paired(history: list[AnyMessage]) -> None:
    """Every tool call has its result, and every result its call."""
    asked = {c["id"] for m in history if isinstance(m, AIMessage) for c in m.tool_calls}
    answered = {m.tool_call_id for m in history if isinstance(m, ToolMessage)}
    assert asked == answered


async def test_threads_live_in_postgres_and_outlive_the_agent(
    scripted_llm: ScriptedServer, settings: Settings, postgres_url: str
) -> None:
    settings = pg_settings(settings, postgres_url)
    scripted_llm.push(call("add", a=2, b=3), Response(content="5"))
    async with Agent(settings, tools=make_tools()) as agent:
        assert agent.persistence == "postgres"  # AGENT_CHECKPOINT_URL set: the default
        assert (await agent.arun("2+3?", thread_id="t1")).answer == "5"
    assert not (settings.data_dir / "threads.sqlite").exists()
    scripted_llm.push(Response(content="10"))
    async with Agent(settings, tools=make_tools()) as agent:  # a new agent: another replica
        assert (await agent.arun("twice that?", thread_id="t1")).answer == "10"
        history = await agent.ahistory("t1")
        threads = await agent.athreads()
    assert [type(m).__name__ for m in history] == [
        "HumanMessage", "AIMessage", "ToolMessage", "AIMessage", "HumanMessage", "AIMessage",
    ]  # fmt: skip
    # the second turn's request carried the first turn: the thread came from the database
    assert "2+3?" in str(scripted_llm.requests[-1]["messages"])
    assert [(t.thread_id, t.first_question, t.messages) for t in threads] == [("t1", "2+3?", 6)]
    scripted_llm.assert_done()


async def test_a_second_writer_waits_a_bounded_time_then_is_told_the_thread_is_busy(
    scripted_llm: ScriptedServer, settings: Settings, postgres_url: str
) -> None:
    settings = pg_settings(settings, postgres_url, thread_wait_s=0.3)
    held = thread_locks("postgres", settings)  # another replica holding the thread
    assert isinstance(held, PostgresThreadLocks)
    async with Agent(settings, tools=make_tools()) as agent:
        async with held.hold("t1", wait_s=0):
            started = time.monotonic()
            with pytest.raises(ThreadBusyError, match="AGENT_THREAD_WAIT_S"):
                await agent.arun("hello", thread_id="t1")
            assert 0.3 <= time.monotonic() - started < 5
            scripted_llm.push(Response(content="other"))  # other threads are not held
            assert (await agent.arun("hello", thread_id="t2")).answer == "other"
        assert await agent.ahistory("t1") == []  # nothing half-written
        scripted_llm.push(Response(content="hi"))  # free again: the run goes through
        assert (await agent.arun("hello", thread_id="t1")).answer == "hi"
    await held.aclose()
    scripted_llm.assert_done()


async def test_one_connection_holds_every_run_lock_of_a_process(postgres_url: str) -> None:
    """Hundreds of runs at once must not need hundreds of connections (PostgreSQL allows 100
    by default): the locks of one process share one, and still exclude each other."""
    import psycopg

    async def backends(conn: psycopg.AsyncConnection[Any]) -> int:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    locks, other = PostgresThreadLocks(postgres_url), PostgresThreadLocks(postgres_url)
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as probe:
        before = await backends(probe)
        async with contextlib.AsyncExitStack() as stack:
            for i in range(150):
                await stack.enter_async_context(locks.hold(f"t{i}", wait_s=0))
            assert await backends(probe) == before + 1
            for thread in ("t0", "t149"):  # held: in this process, and from another session
                for holder in (locks, other):
                    with pytest.raises(ThreadBusyError):
                        async with holder.hold(thread, wait_s=0):
                            pass
        async with other.hold("t0", wait_s=0):  # all released with their blocks
            pass
        await locks.aclose()
        await other.aclose()
        deadline = time.monotonic() + 10  # a closed session's backend exits just after
        while await backends(probe) != before and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert await backends(probe) == before


async def test_waiting_for_another_process_setting_up_holds_no_transaction_open(
    postgres_url: str,
) -> None:
    """LangGraph's migrations create an index CONCURRENTLY, which waits for every open
    transaction: a second process blocked in ``pg_advisory_lock`` (inside a transaction) and
    the first one's migration waited for each other forever (seen in CI). The waiter polls."""
    import psycopg

    from agent.persistence.postgres import _SETUP_LOCK_KEY, open_postgres

    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as holder:
        await holder.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK_KEY,))
        opening = asyncio.create_task(open_postgres(postgres_url, max_connections=2, timeout_s=10))
        await asyncio.sleep(1.0)
        assert not opening.done()  # it waits for the lock
        cur = await holder.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND (wait_event_type = 'Lock' OR xact_start < now() - interval '0.5 s')"
        )
        row = await cur.fetchone()
        assert row is not None and row[0] == 0  # nobody blocked inside a transaction
        await holder.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK_KEY,))
        threads = await asyncio.wait_for(opening, 30)
        await threads.aclose()


WORKER = textwrap.dedent(
    """
    import sys
    from agent import Agent, Settings
    from tests.test_api import make_tools
    url, pg, data, name, n = sys.argv[1:6]
    settings = Settings.load(llm_base_url=url, llm_model="scripted-model",
                             tool_call_mode="native", data_dir=data, mcp_servers=[],
                             cache_dir=data + "/cache", llm_max_retries=0, checkpoint_url=pg)
    with Agent(settings, tools=make_tools()) as agent:
        for i in range(int(n)):
            print(agent.run(f"{name}-{i}", thread_id="shared").answer, flush=True)
    """
)


def worker(llm: ScriptedServer, url: str, data: Path, name: str, n: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, llm.url, url, str(data), name, str(n)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def echo(body: dict[str, Any]) -> Response:
    question = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    return Response(content=f"answer to {question}", delay_s=0.3)


def test_two_processes_on_one_thread_keep_every_turn_in_order(
    tmp_path: Path, postgres_url: str
) -> None:
    with ScriptedServer(responder=echo) as llm:
        procs = [worker(llm, postgres_url, tmp_path / name, name, 4) for name in ("a", "b")]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        settings = Settings.load(
            llm_base_url=llm.url, llm_model="scripted-model", data_dir=tmp_path / "reader",
            mcp_servers=[], checkpoint_url=postgres_url,
        )  # fmt: skip
        with Agent(settings, tools=[]) as agent:
            history = agent.history("shared")
    pairs = list(zip(history[::2], history[1::2], strict=True))
    assert len(pairs) == 8
    for question, answer in pairs:
        assert isinstance(question, HumanMessage) and isinstance(answer, AIMessage)
        assert answer.content == f"answer to {question.content}"
    assert sorted(str(q.content) for q, _ in pairs) == [f"{n}-{i}" for n in "ab" for i in range(4)]


def test_a_process_killed_mid_run_leaves_the_thread_usable_on_another(
    tmp_path: Path, postgres_url: str
) -> None:
    with ScriptedServer() as llm:
        # the first replica calls a tool, then hangs waiting for the model: killed there
        llm.push(call("add", a=2, b=3), Response(content="too late", delay_s=60))
        victim = worker(llm, postgres_url, tmp_path / "a", "a", 1)
        try:
            deadline = time.monotonic() + 60
            while len(llm.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(llm.requests) == 2, "the run never reached its second model call"
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
        finally:
            victim.kill()
            victim.communicate(timeout=10)
        llm.push(Response(content="picked up"))
        survivor = worker(llm, postgres_url, tmp_path / "b", "b", 1)
        out, err = survivor.communicate(timeout=60)  # no wait for a dead holder's lock
        assert survivor.returncode == 0, err
        assert out.strip() == "picked up"
        settings = Settings.load(
            llm_base_url=llm.url, llm_model="scripted-model", data_dir=tmp_path / "reader",
            mcp_servers=[], checkpoint_url=postgres_url,
        )  # fmt: skip
        with Agent(settings, tools=make_tools()) as agent:
            history = agent.history("shared")
    questions = [m.content for m in history if isinstance(m, HumanMessage)]
    assert questions == ["a-0", "b-0"]  # the killed turn's question is kept, once
    assert_paired(history)  # its finished tool call kept with its result, none orphaned
    assert any(isinstance(m, ToolMessage) and m.content == "5" for m in history)
    assert history[-1].content == "picked up"


HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from agent.persistence import PostgresThreadLocks
    async def main():
        async with PostgresThreadLocks(sys.argv[1]).hold("t1", wait_s=0):
            print("held", flush=True)
            await asyncio.sleep(60)
    asyncio.run(main())
    """
)


def test_a_killed_holder_leaves_no_lock_behind(postgres_url: str) -> None:
    # the server notices the dead holder's closed connection and drops its session locks
    assert_a_killed_holder_leaves_no_lock_behind(
        HOLDER, postgres_url, PostgresThreadLocks(postgres_url), released_within_s=5
    )


async def test_an_unreachable_database_is_a_clear_error_without_the_password(
    settings: Settings, postgres_server: Any
) -> None:
    closed = f"postgresql://agent:s3cret@127.0.0.1:{postgres_server.port + 1}/none"
    async with Agent(pg_settings(settings, closed), tools=make_tools()) as agent:
        with pytest.raises(ThreadError) as caught:
            await agent.arun("hello", thread_id="t1")
    message = str(caught.value)
    assert "s3cret" not in message and "agent:***@127.0.0.1" in message
    assert "AGENT_CHECKPOINT_URL" in message


def test_a_url_that_is_not_postgres_is_refused(settings: Settings) -> None:
    with pytest.raises(ThreadError, match="postgresql://"):
        Agent(pg_settings(settings, "mysql://x@localhost/db"), tools=make_tools())
