"""One run at a time per thread, across processes: a second writer waits, bounded, or is told.

Without this, two processes running on one thread both read its last checkpoint, both append
a turn, and the last to save wins: the other's question stays without its answer. A run holds
the thread's lock from reading the thread until its last checkpoint is written.

With SQLite the lock is a byte of one empty file beside the database (``threads.sqlite.lock``):
an open-file-description lock (Linux ``F_OFD_SETLK``) on the byte at the thread's hash, so one
file serves every thread. The kernel drops it when its holder dies, even by SIGKILL, so a
crashed run never leaves a thread locked; it belongs to an open file, so two runs in the same
process exclude each other too. Where the kernel has no such locks (macOS), an ``flock`` on a
file per thread in ``threads.sqlite.lock.d/`` does the same. In-memory threads use a lock per
thread.

With PostgreSQL (``PostgresThreadLocks``) it is a session advisory lock on the thread's key:
every replica that shares the database sees it, and the server drops it when the holder's
connection ends, a killed process's included. One connection per process (per event loop)
holds the locks of all its runs, so 256 runs at once need one connection, not 256 (PostgreSQL
allows 100 by default); runs of one process on the same thread are kept apart in-process
first, as a session's advisory locks are reentrant.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from agent.errors import ThreadBusyError

if TYPE_CHECKING:
    import psycopg

_Release = Callable[[], Awaitable[None]]

_POLL_S: Final = 0.05
_MAX_POLL_S: Final = 0.5
# struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks), padded
_FLOCK: Final = struct.Struct("hhqqi4x")
_OFD_SETLK: Final[int | None] = getattr(fcntl, "F_OFD_SETLK", None)


class ThreadLocks:
    """Locks for the threads of one store: bytes of the lock file ``path``, or in-process
    locks."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._held: set[str] = set()  # in-process: the threads held now, nothing kept after
        self._guard = threading.Lock()

    @contextlib.asynccontextmanager
    async def hold(self, thread_id: str, *, wait_s: float) -> AsyncIterator[None]:
        """Hold ``thread_id``'s lock for the block; wait up to ``wait_s`` seconds for it, then
        raise ``ThreadBusyError``."""
        release = await self._acquire(thread_id, wait_s)
        try:
            yield
        finally:
            await release()

    async def _acquire(self, thread_id: str, wait_s: float) -> _Release:
        deadline = time.monotonic() + wait_s
        pause = _POLL_S
        while True:
            release = self._file_lock(thread_id) if self.path else self._memory_lock(thread_id)
            if release is not None:
                return release
            if time.monotonic() >= deadline:
                raise _busy(thread_id, wait_s)
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, _MAX_POLL_S)

    def _file_lock(self, thread_id: str) -> _Release | None:
        assert self.path is not None
        digest = hashlib.sha256(thread_id.encode()).digest()
        if _OFD_SETLK is None:
            path = self.path.with_name(self.path.name + ".d") / digest.hex()[:32]
        else:
            path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if _OFD_SETLK is None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:  # the byte at a 62-bit hash of the thread: far past any real file's end
                offset = int.from_bytes(digest[:8], "big") >> 2
                fcntl.fcntl(fd, _OFD_SETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0))
        except (BlockingIOError, PermissionError):  # EAGAIN, or EACCES on some systems
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise

        async def release() -> None:
            os.close(fd)  # closing the file releases its lock

        return release

    def _memory_lock(self, thread_id: str) -> _Release | None:
        with self._guard:
            if thread_id in self._held:
                return None
            self._held.add(thread_id)

        async def release() -> None:
            with self._guard:
                self._held.discard(thread_id)

        return release

    async def aclose(self) -> None:
        """Release what this object keeps open (nothing, for file and in-process locks)."""


def _busy(thread_id: str, wait_s: float) -> ThreadBusyError:
    return ThreadBusyError(
        f"thread {thread_id!r} is busy: another run on it has not finished after "
        f"{wait_s:g} s (AGENT_THREAD_WAIT_S). Try again when it has, or use another thread."
    )


def advisory_key(thread_id: str) -> int:
    """The thread's advisory-lock key: 64 bits of its hash, as PostgreSQL's signed bigint."""
    return int.from_bytes(hashlib.sha256(b"agent-thread:" + thread_id.encode()).digest()[:8],
                          "big", signed=True)  # fmt: skip


class PostgresThreadLocks(ThreadLocks):
    """Thread locks as PostgreSQL session advisory locks (see the module docstring)."""

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0) -> None:
        super().__init__(None)
        self._url = url
        self._connect_timeout_s = connect_timeout_s
        # psycopg connections belong to the event loop that opened them: one per loop
        self._conns: dict[asyncio.AbstractEventLoop, psycopg.AsyncConnection[Any]] = {}

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        import psycopg  # only with PostgreSQL threads

        from agent.persistence.postgres import connection_error

        loop = asyncio.get_running_loop()
        for gone in [other for other in self._conns if other.is_closed()]:
            del self._conns[gone]  # their sockets went with their loops
        conn = self._conns.get(loop)
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=max(1, int(self._connect_timeout_s))
            )
        except psycopg.Error as exc:
            raise connection_error(self._url, exc) from exc
        self._conns[loop] = conn
        return conn

    async def _acquire(self, thread_id: str, wait_s: float) -> _Release:
        """The thread in this process first, then in the database: a try-lock on the shared
        connection, polled with backoff up to ``wait_s``."""
        import psycopg

        from agent.persistence.postgres import connection_error

        deadline = time.monotonic() + wait_s
        local = await super()._acquire(thread_id, wait_s)
        key = advisory_key(thread_id)
        try:
            pause = _POLL_S
            while True:
                conn = await self._connection()
                try:
                    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                    row = await cur.fetchone()
                except psycopg.OperationalError as exc:  # the connection broke: not ours now
                    await conn.close()
                    raise connection_error(self._url, exc) from exc
                if row is not None and row[0]:
                    break
                if time.monotonic() >= deadline:
                    raise _busy(thread_id, wait_s)
                await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(pause * 2, _MAX_POLL_S)
        except BaseException:
            await local()
            raise

        async def release() -> None:
            try:
                if not conn.closed and not conn.broken:  # a lost one took its locks along
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except psycopg.OperationalError:
                await conn.close()
            finally:
                await local()

        return release

    async def aclose(self) -> None:
        """Close this event loop's connection (releasing any lock still held on it)."""
        conn = self._conns.pop(asyncio.get_running_loop(), None)
        if conn is not None:
            await conn.close()
