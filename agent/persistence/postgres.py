"""Threads in PostgreSQL: LangGraph's own ``AsyncPostgresSaver`` on a psycopg connection pool.

Set ``AGENT_CHECKPOINT_URL=postgresql://user:password@host:5432/db`` and every process or
replica that uses the same database shares the threads; ``PostgresThreadLocks`` keeps runs on
one thread apart across them. The tables are LangGraph's (``checkpoints``, ``checkpoint_blobs``,
``checkpoint_writes``, ``checkpoint_migrations``), created on first use; two processes starting
at once create them once (the migration runs under an advisory lock).

psycopg and ``langgraph-checkpoint-postgres`` are imported only here, so SQLite users do not
need them (``pip install 'agent-runtime[postgres]'``).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any

from agent.errors import ThreadError

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg_pool import AsyncConnectionPool

_SETUP_LOCK_KEY = 0x6167656E74  # "agent": serializes LangGraph's migrations across processes
_SETUP_WAIT_S = 300.0
# Checkpoint ids are time-ordered uuid6 strings: a thread's largest is its newest.
_RECENT_THREADS = (
    "SELECT thread_id FROM checkpoints WHERE checkpoint_ns = '' "
    "GROUP BY thread_id ORDER BY MAX(checkpoint_id) DESC LIMIT %s"
)
_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]*@")


def redact(url: str) -> str:
    """``url`` without its password, for messages."""
    return _PASSWORD.sub(r"\1***@", url)


def connection_error(url: str, exc: Exception) -> ThreadError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ThreadError(
        f"cannot use the thread database at {redact(url)}: {reason}. Check that PostgreSQL is "
        "running and the URL, user and password in AGENT_CHECKPOINT_URL are right"
    )


async def open_postgres(url: str, *, max_connections: int, timeout_s: float) -> PostgresThreads:
    """A pool on ``url`` and LangGraph's saver on it, tables created if missing."""
    try:
        import psycopg
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool
    except ImportError as exc:
        raise ThreadError(
            f"AGENT_CHECKPOINT_URL names PostgreSQL but {exc.name} is not installed: "
            "pip install 'agent-runtime[postgres]'"
        ) from exc
    try:  # one plain connection first: the pool would only say it timed out, not why
        probe = await psycopg.AsyncConnection.connect(url, connect_timeout=max(1, int(timeout_s)))
        await probe.close()
    except (psycopg.Error, OSError) as exc:
        raise connection_error(url, exc) from exc
    # the saver's own settings: autocommit (each write commits), no server-side prepared
    # statements (they break behind pgbouncer), rows as dicts
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=max_connections,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        timeout=timeout_s,
        open=False,
    )
    try:
        await pool.open(wait=True, timeout=timeout_s)
        saver = AsyncPostgresSaver(pool)
        async with pool.connection() as conn:
            await _take_setup_lock(conn, url)
            try:
                await saver.setup()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK_KEY,))
    except (psycopg.Error, OSError, TimeoutError) as exc:
        await pool.close()
        raise connection_error(url, exc) from exc
    except BaseException:
        await pool.close()
        raise
    return PostgresThreads(saver, pool)


async def _take_setup_lock(conn: Any, url: str) -> None:
    """The migrations' lock, by polling: a blocking ``pg_advisory_lock`` would wait inside a
    transaction, and LangGraph's ``CREATE INDEX CONCURRENTLY`` in the holder's migration waits
    for every open transaction to end: the two processes would wait for each other forever."""
    deadline = time.monotonic() + _SETUP_WAIT_S
    pause = 0.05
    while True:
        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (_SETUP_LOCK_KEY,))
        row = await cursor.fetchone()
        if row is not None and row["got"]:
            return
        if time.monotonic() >= deadline:
            raise ThreadError(
                f"another process has been creating the thread tables at {redact(url)} for "
                f"{_SETUP_WAIT_S:g} s; try again when it has finished"
            )
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)


class PostgresThreads:
    """The saver and the pool it runs on; ``aclose`` closes the pool."""

    def __init__(self, saver: AsyncPostgresSaver, pool: AsyncConnectionPool[Any]) -> None:
        self.saver = saver
        self._pool = pool

    async def thread_ids(self, limit: int | None) -> list[str]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(_RECENT_THREADS, (limit,))
            return [str(row["thread_id"]) for row in await cursor.fetchall()]

    async def aclose(self) -> None:
        await self._pool.close()


__all__ = ["PostgresThreads", "connection_error", "open_postgres", "redact"]
