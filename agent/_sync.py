"""The sync face of an async API: coroutines run on a private event loop in a daemon thread."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class SyncRunner:
    """Starts its loop on first use; ``close`` runs a last coroutine there and stops it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._loop is not None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._running_loop()).result()

    def iterate(self, stream: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        """Items of ``stream()`` as they come. Closing the iterator early (or Ctrl-C) cancels
        the stream."""
        items: queue.Queue[tuple[T] | None] = queue.Queue()

        async def pump() -> None:
            try:
                async for item in stream():
                    items.put((item,))
            finally:
                items.put(None)

        future = asyncio.run_coroutine_threadsafe(pump(), self._running_loop())
        try:
            while (boxed := items.get()) is not None:
                yield boxed[0]
            future.result()
        finally:
            if not future.done():
                future.cancel()
                # Wait for the cancellation to land; its outcome is of no interest.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    future.result(timeout=10)

    def close(self, last: Coroutine[Any, Any, None] | None = None) -> None:
        """Run ``last`` on the loop (if it was started), then stop the loop and its thread."""
        if self._loop is None or self._thread is None:
            if last is not None:
                last.close()
            return
        if last is not None:
            self.call(last)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self._loop = self._thread = None
