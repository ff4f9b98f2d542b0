"""Keep Python's collector off the heap a process starts with.

Python's full collections walk every tracked object, and a process that imported LangGraph,
LangChain, pydantic and the OpenAI client holds about 245,000 of them before its first run.
Runs in flight promote their own objects to the oldest generation, so with 64 runs at once the
full passes come often, and each walks the libraries again: 0.5 s of 4.4 s of CPU for 256
runs of `bench/loop_overhead.py`'s agent with SQLite threads. ``gc.freeze`` moves what is alive
then to a permanent generation no collection walks (as forking servers do before they fork).
Reference counting still frees a frozen object when its last reference goes; the price is
that a reference cycle among those objects that becomes garbage later is never freed;
what is alive at an agent's first run is almost all modules, classes and functions, which
live as long as the process. ``AGENT_GC_FREEZE=false`` leaves the collector as it is.
"""

from __future__ import annotations

import atexit
import gc
import threading

_lock = threading.Lock()
_frozen = False


def freeze_startup_heap() -> None:
    """Collect, then freeze what is left; once per process."""
    global _frozen
    with _lock:
        if _frozen:
            return
        _frozen = True
    gc.collect()
    gc.freeze()
    # Back into the collector at exit: what Python's shutdown collects must not be frozen
    # (extension modules such as Triton's, loaded with the embedder, report what was never
    # freed as leaks on stderr).
    atexit.register(gc.unfreeze)
