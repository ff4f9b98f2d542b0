"""The SQLite thread store: LangGraph's own ``SqliteSaver``, run inline on the event loop.

LangGraph's ``AsyncSqliteSaver`` drives ``aiosqlite``, which hands every cursor, statement,
commit and close to its worker thread separately: about a hundred thread hops for a five-step
run, and with them the checkpoints cost more client CPU than the whole agent loop
(``bench/loop_overhead.py``). One hop per operation still cost as much again as the SQL. Here
each operation runs inline: a WAL-mode write is one short transaction (tens of microseconds)
that only another process's write can block. So the inline connection never waits
(``busy_timeout`` 0): when another process holds the write lock, the operation goes to a
worker thread with a connection of its own that waits for it, up to 10 s, off the event loop.
The tables and the code are LangGraph's, so files written by either saver read back in the
other.

Durability (``AGENT_CHECKPOINT_SYNC``): ``normal`` (the default) is WAL with
``synchronous=NORMAL``: a step is in the WAL before the run goes on, so a killed process loses
nothing; a power cut or an OS crash can lose the last steps. ``full`` waits for the disk at
every commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.sqlite import SqliteSaver

R = TypeVar("R")

SyncMode = Literal["normal", "full"]

# Checkpoint ids are time-ordered uuid6 strings: a thread's largest is its newest.
_RECENT_THREADS = (
    "SELECT thread_id FROM checkpoints WHERE checkpoint_ns = '' "
    "GROUP BY thread_id ORDER BY MAX(checkpoint_id) DESC LIMIT ?"
)


_BUSY_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_WAIT_S: Final = 10.0


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in _BUSY_CODES


class InlineSqliteSaver(SqliteSaver):
    """``SqliteSaver`` whose async methods run inline, or on a worker when the file is busy."""

    def __init__(self, conn: sqlite3.Connection, waiting: SqliteSaver) -> None:
        super().__init__(conn)
        self._waiting = waiting
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="agent-threads-db")

    @classmethod
    async def open(cls, path: Path, *, sync: SyncMode = "normal") -> InlineSqliteSaver:
        """Open (and create) the database at ``path`` and its tables."""

        def connect(timeout_s: float) -> sqlite3.Connection:
            conn = sqlite3.connect(str(path), timeout=timeout_s, check_same_thread=False)
            try:
                conn.execute(f"PRAGMA synchronous={sync.upper()}")
            except BaseException:
                conn.close()
                raise
            return conn

        waiting = SqliteSaver(await asyncio.to_thread(connect, _WAIT_S))
        try:
            await asyncio.to_thread(waiting.setup)
            saver = cls(await asyncio.to_thread(connect, 0.0), waiting)
        except BaseException:
            waiting.conn.close()
            raise
        saver.is_setup = True
        saver._has_task_path = waiting._has_task_path
        return saver

    async def _run(self, op: Callable[[SqliteSaver], R]) -> R:
        try:
            return op(self)
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, op, self._waiting)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._run(lambda s: SqliteSaver.get_tuple(s, config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # noqa: A002 - the base class's name
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        def collect(s: SqliteSaver) -> list[CheckpointTuple]:
            return list(SqliteSaver.list(s, config, filter=filter, before=before, limit=limit))

        for item in await self._run(collect):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._run(
            lambda s: SqliteSaver.put(s, config, checkpoint, metadata, new_versions)
        )

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._run(lambda s: SqliteSaver.put_writes(s, config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._run(lambda s: SqliteSaver.delete_thread(s, thread_id))

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return await self._run(
            lambda s: SqliteSaver.get_delta_channel_history(s, config=config, channels=channels)
        )

    async def thread_ids(self, limit: int | None) -> list[str]:
        """Thread ids, the most recently updated first."""

        def query(s: SqliteSaver) -> list[str]:
            with s.cursor(transaction=False) as cur:
                cur.execute(_RECENT_THREADS, (-1 if limit is None else limit,))
                return [str(row[0]) for row in cur.fetchall()]

        return await self._run(query)

    async def aclose(self) -> None:
        self.conn.close()
        try:
            await asyncio.get_running_loop().run_in_executor(self._worker, self._waiting.conn.close)
        finally:
            self._worker.shutdown(wait=False)
