"""One run at a time per thread, across processes: a second writer waits, bounded, or is told.

Without this, two processes running on one thread both read its last checkpoint, both append
a turn, and the last to save wins: the other's question stays without its answer. A run holds
the thread's lock from reading the thread until its last checkpoint is written.

With SQLite the lock is an ``flock`` on a small file beside the database, one per thread
(``threads.sqlite.locks/<hash>``): the kernel drops it when its holder dies, even by SIGKILL,
so a crashed run never leaves a thread locked. ``flock`` locks belong to an open file, so two
runs in the same process exclude each other too. In-memory threads use a lock per thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Final

from agent.errors import ThreadBusyError

_Release = Callable[[], None]
_TryLock = Callable[[], _Release | None]

_POLL_S: Final = 0.05
_MAX_POLL_S: Final = 0.5


class ThreadLocks:
    """Locks for the threads of one store: files in ``directory``, or in-process locks."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._local: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextlib.asynccontextmanager
    async def hold(self, thread_id: str, *, wait_s: float) -> AsyncIterator[None]:
        """Hold ``thread_id``'s lock for the block; wait up to ``wait_s`` seconds for it, then
        raise ``ThreadBusyError``."""
        release = await self._acquire(thread_id, wait_s)
        try:
            yield
        finally:
            release()

    async def _acquire(self, thread_id: str, wait_s: float) -> _Release:
        try_once = self._file_lock(thread_id) if self.directory else self._memory_lock(thread_id)
        deadline = time.monotonic() + wait_s
        pause = _POLL_S
        while True:
            release = try_once()
            if release is not None:
                return release
            if time.monotonic() >= deadline:
                raise ThreadBusyError(
                    f"thread {thread_id!r} is busy: another run on it has not finished after "
                    f"{wait_s:g} s (AGENT_THREAD_WAIT_S). Try again when it has, or use another "
                    "thread."
                )
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, _MAX_POLL_S)

    def _file_lock(self, thread_id: str) -> _TryLock:
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / hashlib.sha256(thread_id.encode()).hexdigest()[:32]

        def try_once() -> _Release | None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            return lambda: os.close(fd)  # closing the file releases its lock

        return try_once

    def _memory_lock(self, thread_id: str) -> _TryLock:
        with self._guard:
            lock = self._local.setdefault(thread_id, threading.Lock())

        def try_once() -> _Release | None:
            return lock.release if lock.acquire(blocking=False) else None

        return try_once
