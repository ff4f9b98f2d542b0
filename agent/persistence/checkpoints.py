"""Opening a checkpointer and listing the threads it holds."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from agent.errors import ThreadError
from agent.persistence.locks import PostgresThreadLocks, ThreadLocks
from agent.persistence.postgres import PostgresThreads, open_postgres
from agent.persistence.sqlite import InlineSqliteSaver
from agent.settings import Settings

Persistence = Literal["sqlite", "postgres", "memory", "none"]
CONNECT_TIMEOUT_S = 10.0  # to open the PostgreSQL pool: a wrong host fails in seconds, not never


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """A saved conversation, as ``Agent.threads()`` lists it."""

    thread_id: str
    first_question: str
    updated_at: datetime | None
    messages: int


@dataclass
class Checkpoints:
    """A checkpointer (``None`` for no persistence) and the connections it owns, if any.

    Open one per event loop: a PostgreSQL pool belongs to the loop that opened it.
    """

    saver: BaseCheckpointSaver[Any] | None
    _sqlite: InlineSqliteSaver | None = None
    _postgres: PostgresThreads | None = None

    async def thread_ids(self, limit: int | None) -> list[str]:
        """Thread ids, most recently updated first where the store knows (SQL stores)."""
        if self._postgres is not None:
            return await self._postgres.thread_ids(limit)
        if self._sqlite is not None:
            return await self._sqlite.thread_ids(limit)
        if isinstance(self.saver, InMemorySaver):
            return list(self.saver.storage)
        return []

    async def aclose(self) -> None:
        if self._postgres is not None:
            postgres, self._postgres = self._postgres, None
            await postgres.aclose()
        if self._sqlite is not None:
            sqlite, self._sqlite = self._sqlite, None
            await sqlite.aclose()


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        saver = await InlineSqliteSaver.open(path, sync=settings.checkpoint_sync)
    except (OSError, sqlite3.Error) as exc:
        raise ThreadError(
            f"cannot open the thread database {path}: {exc}. If another process holds it "
            "locked, wait for it or set AGENT_CHECKPOINT_PATH to another file."
        ) from exc
    return Checkpoints(saver, _sqlite=saver)


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
    database or a lock file beside the SQLite one (shared by every process using it), or
    in-process locks for the other kinds."""
    if persistence == "postgres":
        return PostgresThreadLocks(postgres_url(settings))
    if persistence == "sqlite":
        path = settings.threads_db
        return ThreadLocks(path.with_name(path.name + ".lock"))
    return ThreadLocks(None)
