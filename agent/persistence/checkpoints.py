"""Opening a checkpointer and listing the threads it holds."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from agent.errors import ThreadError
from agent.persistence.locks import PostgresThreadLocks, ThreadLocks
from agent.persistence.postgres import PostgresThreads, open_postgres
from agent.settings import Settings

Persistence = Literal["sqlite", "postgres", "memory", "none"]
CONNECT_TIMEOUT_S = 10.0  # to open the PostgreSQL pool: a wrong host fails in seconds, not never

# Checkpoint ids are time-ordered uuid6 strings: a thread's largest is its newest.
_RECENT_THREADS = (
    "SELECT thread_id FROM checkpoints WHERE checkpoint_ns = '' "
    "GROUP BY thread_id ORDER BY MAX(checkpoint_id) DESC LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """A saved conversation, as ``Agent.threads()`` lists it."""

    thread_id: str
    first_question: str
    updated_at: datetime | None
    messages: int


@dataclass
class Checkpoints:
    """A checkpointer (``None`` for no persistence) and the connection it owns, if any.

    An ``aiosqlite`` connection belongs to the event loop that opened it: open one per loop.
    """

    saver: BaseCheckpointSaver[Any] | None
    _conn: aiosqlite.Connection | None = None
    _postgres: PostgresThreads | None = None

    async def thread_ids(self, limit: int | None) -> list[str]:
        """Thread ids, most recently updated first where the store knows (SQL stores)."""
        if self._postgres is not None:
            return await self._postgres.thread_ids(limit)
        if self._conn is not None:
            args = (-1 if limit is None else limit,)
            async with self._conn.execute(_RECENT_THREADS, args) as cursor:
                return [str(row[0]) for row in await cursor.fetchall()]
        if isinstance(self.saver, InMemorySaver):
            return list(self.saver.storage)
        return []

    async def aclose(self) -> None:
        if self._postgres is not None:
            postgres, self._postgres = self._postgres, None
            await postgres.aclose()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()


async def open_checkpoints(
    persistence: Persistence, settings: Settings, *, memory: InMemorySaver | None = None
) -> Checkpoints:
    """The checkpointer for ``persistence``; ``memory`` is the process-wide saver to share."""
    if persistence == "none":
        return Checkpoints(None)
    if persistence == "memory":
        return Checkpoints(memory if memory is not None else InMemorySaver())
    if persistence == "postgres":
        postgres = await open_postgres(
            postgres_url(settings),
            max_connections=settings.checkpoint_pool_size,
            timeout_s=CONNECT_TIMEOUT_S,
        )
        return Checkpoints(postgres.saver, _postgres=postgres)
    path = settings.threads_db
    conn: aiosqlite.Connection | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), timeout=10.0)
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
    except (OSError, sqlite3.Error) as exc:
        if conn is not None:
            await conn.close()
        raise ThreadError(
            f"cannot open the thread database {path}: {exc}. If another process holds it "
            "locked, wait for it or set AGENT_CHECKPOINT_PATH to another file."
        ) from exc
    return Checkpoints(saver, conn)


def default_persistence(settings: Settings) -> Persistence:
    """PostgreSQL when ``AGENT_CHECKPOINT_URL`` is set, else the SQLite file."""
    return "postgres" if settings.checkpoint_url is not None else "sqlite"


def postgres_url(settings: Settings) -> str:
    if settings.checkpoint_url is None:
        raise ThreadError(
            "persistence 'postgres' needs a database URL: set AGENT_CHECKPOINT_URL="
            "postgresql://user:password@host:5432/db"
        )
    url = settings.checkpoint_url.get_secret_value()
    if not url.startswith(("postgresql://", "postgres://")):
        raise ThreadError(
            "AGENT_CHECKPOINT_URL must be a postgresql:// URL "
            "(postgresql://user:password@host:5432/db)"
        )
    return url


def thread_locks(persistence: Persistence, settings: Settings) -> ThreadLocks:
    """The locks that keep runs on one thread apart: advisory locks in the PostgreSQL thread
    database or files beside the SQLite one (shared by every process using it), or in-process
    locks for the other kinds."""
    if persistence == "postgres":
        return PostgresThreadLocks(postgres_url(settings))
    if persistence == "sqlite":
        path = settings.threads_db
        return ThreadLocks(path.with_name(path.name + ".locks"))
    return ThreadLocks(None)
