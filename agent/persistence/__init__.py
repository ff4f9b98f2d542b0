"""Threads: where a conversation's checkpoints live, and how to list them.

``open_checkpoints`` gives the LangGraph checkpointer for a persistence kind: ``"sqlite"`` (the
default, ``Settings.threads_db``, shared by every process that opens the same file),
``"postgres"`` (``AGENT_CHECKPOINT_URL``; the default when it is set; shared by every replica),
``"memory"`` (this process only) or ``"none"`` (no thread survives its run). ``thread_locks``
keeps runs on one thread apart, across processes for SQLite and across machines for
PostgreSQL.
"""

from agent.persistence.checkpoints import (
    Checkpoints,
    Persistence,
    ThreadInfo,
    default_persistence,
    open_checkpoints,
    thread_locks,
)
from agent.persistence.locks import PostgresThreadLocks, ThreadLocks

__all__ = [
    "Checkpoints",
    "Persistence",
    "ThreadInfo",
    "PostgresThreadLocks",
    "ThreadLocks",
    "default_persistence",
    "open_checkpoints",
    "thread_locks",
]
